"""Reading AIHub satellite label files and rasterizing their polygons.

One reader serves the data pipeline (:class:`LoadPolygonAnnotations`), the
dataset tools and the inference writer, so a mask made anywhere in the project
is the same mask.

The label files are GeoJSON-like ``FeatureCollection`` objects whose polygons
live in ``properties`` as pixel-coordinate strings (``building_imcoords``,
``road_imcoords``: ``"x1,y1,x2,y2,..."``). ``geometry`` only holds the tile's
lon/lat footprint.

Pixel convention: pixel (row ``r``, column ``c``) is inside a polygon when its
centre ``(c + 0.5, r + 0.5)`` is; vertices stay floats; anything outside the
tile is clipped.

Coordinates far outside the tile: the reader accepts vertices up to
:data:`MAX_COORDINATE` (1e9) pixels from the origin and clips them like any
other; a feature with a vertex beyond it (``1e308``, say) is skipped like a
feature with NaN, with the per-file warning naming the file, the feature and
the value (:class:`LabelFileError` in strict mode). The rasterizer itself
takes any finite coordinates without overflow, and one polygon never changes
the pixels of another. Its memory is bounded by the tile plus a fixed chunk
of edge/column crossings, whatever the number of vertices.
"""
from __future__ import annotations

import gc
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import (Dict, Iterable, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import numpy as np

try:  # orjson parses the large label files several times faster.
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is an install requirement
    _orjson = None

__all__ = [
    'LabelFileError', 'SIALabelWarning', 'LabelPolygon', 'LabelFile',
    'DEFAULT_CLASS_MAP', 'DEFAULT_PRIORITY', 'MAX_COORDINATE',
    'parse_imcoords', 'read_label_file', 'PackedPolygons', 'polygon_coverage',
    'rasterize_polygons', 'rasterize_label_files', 'parse_footprint',
    'format_imcoords', 'read_feature_collection', 'describe_features',
    'unusable_message', 'warn_skipped'
]

#: ``*_imcoords`` key -> class id of the 3-class task.
DEFAULT_CLASS_MAP: Dict[str, int] = {
    'building_imcoords': 1,
    'road_imcoords': 2,
}
#: Class ids from highest to lowest priority where polygons overlap.
DEFAULT_PRIORITY: Tuple[int, ...] = (2, 1)
#: Largest coordinate magnitude, in pixels, that the reader accepts. A vertex
#: beyond it is far outside any tile and can only come from broken data; its
#: feature is skipped (with the per-file warning, or an error in strict mode)
#: rather than drawn. Up to this bound the crossings of polygon edges with
#: pixel-centre lines are computed to within a few 1e-6 px, with no
#: overflow.
MAX_COORDINATE = 1e9

_EMPTY_VALUES = ('', 'EMPTY')
_PLAIN_NUMBERS = re.compile(r'[0-9eE+\-., \t\r\n]*')


class LabelFileError(ValueError):
    """A label file, or a feature in strict mode, that cannot be used.

    The message always names the file (and the feature when there is one).
    """

    def __init__(self, path: str, reason: str,
                 feature: Optional[int] = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.feature = feature
        where = self.path if feature is None else \
            f'{self.path}, feature {feature}'
        super().__init__(f'{where}: {reason}')


class SIALabelWarning(UserWarning):
    """Features of a label file were skipped because they cannot be drawn."""


@dataclass(slots=True)
class LabelPolygon:
    """One polygon of a label file.

    Attributes:
        points (np.ndarray): ``(N, 2)`` float64 vertices ``(x, y)`` in pixels.
        key (str): The property it came from, e.g. ``'building_imcoords'``.
        feature (int): Index of its feature in the file.
        type_id (str): The feature's ``type_id`` ('' when absent).
        type_name (str): The feature's ``type_name`` ('' when absent).
    """
    points: np.ndarray
    key: str
    feature: int
    type_id: str = ''
    type_name: str = ''


@dataclass
class LabelFile:
    """The content of one label file.

    Attributes:
        path (str): The file read.
        polygons (list[LabelPolygon]): Every drawable polygon of the keys asked.
        skipped (list[tuple[int, str]]): ``(feature index, reason)`` of the
            features that could not be drawn.
        num_features (int): Number of features in the file.
        footprint (np.ndarray | None): ``(K, 2)`` lon/lat points of the first
            feature's ``geometry`` (the tile footprint), if any.
        image_ids (list[str]): The distinct ``image_id`` values of the
            features (informative only; never used to build paths).
        unusable (str | None): Why a file with features gave no polygon at
            all (only ``object_imcoords`` boxes, polygons in map
            coordinates, ...), naming what it holds; None otherwise (also
            for a file whose polygons are all of another class of the
            task, such as a road file read for buildings).
    """
    path: str
    polygons: List[LabelPolygon] = field(default_factory=list)
    skipped: List[Tuple[int, str]] = field(default_factory=list)
    num_features: int = 0
    footprint: Optional[np.ndarray] = None
    image_ids: List[str] = field(default_factory=list)
    unusable: Optional[str] = None


def parse_imcoords(text: str) -> np.ndarray:
    """Parse an ``x1,y1,x2,y2,...`` string into an ``(N, 2)`` float array.

    A trailing comma and surrounding whitespace are accepted.

    Args:
        text (str): The coordinate string.

    Returns:
        np.ndarray: ``(N, 2)`` float64 vertices.

    Raises:
        ValueError: With the reason when the string is not a polygon: a token
            that is not a number, an odd number of values, NaN or infinity, a
            value beyond :data:`MAX_COORDINATE` pixels, or fewer than 3
            points.
    """
    body = text.strip()
    if body.endswith(','):
        body = body[:-1]
    tokens = body.split(',')
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise ValueError(f'token {bad.strip()!r} is not a number') from None
    if values.size % 2:
        raise ValueError(f'odd number of values ({values.size})')
    if not np.isfinite(values).all():
        raise ValueError('NaN or infinite coordinate')
    far = np.abs(values) > MAX_COORDINATE
    if far.any():
        raise ValueError(
            f'coordinate {values[far][0]:.6g} is beyond +-{MAX_COORDINATE:g} '
            'pixels, far outside any tile')
    if values.size < 6:
        raise ValueError(f'fewer than 3 points ({values.size // 2})')
    return values.reshape(-1, 2)


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _parse_many(texts: Sequence[str]) -> list:
    """Parse many coordinate strings; a failing one gives its reason (str).

    All strings are converted to floats in one numpy call, which costs a
    fraction of one call per polygon on files with hundreds of polygons; the
    few strings the checks flag are parsed again one by one for the reason.
    """
    if not texts:
        return []
    bodies = []
    for text in texts:
        body = text.strip()
        bodies.append(body[:-1] if body.endswith(',') else body)
    counts = np.fromiter((b.count(',') + 1 for b in bodies), dtype=np.int64,
                         count=len(bodies))
    joined = ','.join(bodies)
    values = None
    if _orjson is not None and _PLAIN_NUMBERS.fullmatch(joined):
        # Only digits, signs, points, exponents, commas and blanks: a JSON
        # array of numbers, which orjson reads ~10x faster than numpy.
        try:
            values = np.array(_orjson.loads('[' + joined + ']'),
                              dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            values = None
    if values is None:
        try:
            values = np.array(joined.split(','), dtype=np.float64)
        except ValueError:
            values = None
    out: list = []
    if values is not None:
        ends = np.cumsum(counts)
        # Both bounds hold for every value (NaN fails them) in every real
        # file: no per-polygon check is needed then.
        if -MAX_COORDINATE <= values.min() and \
                values.max() <= MAX_COORDINATE:
            all_usable = True
        else:
            all_usable = np.logical_and.reduceat(
                np.abs(values) <= MAX_COORDINATE, ends - counts)
        good = (all_usable & (counts % 2 == 0) & (counts >= 6)).tolist()
        starts = (ends - counts).tolist()
        ends = ends.tolist()
        for body, start, end, ok in zip(bodies, starts, ends, good):
            out.append(values[start:end].reshape(-1, 2) if ok else body)
    else:
        out = list(bodies)
    for i, item in enumerate(out):
        if isinstance(item, str):
            try:
                out[i] = parse_imcoords(item)
            except ValueError as e:
                out[i] = str(e)
    return out


def format_imcoords(points: np.ndarray, decimals: int = 4) -> str:
    """Write ``(N, 2)`` vertices as an ``x1,y1,x2,y2,...`` string.

    Args:
        points (np.ndarray): ``(N, 2)`` vertices.
        decimals (int): Digits after the decimal point. Defaults to 4.

    Returns:
        str: The coordinate string, without trailing zeros.
    """
    flat = np.asarray(points, dtype=np.float64).reshape(-1)
    whole = flat.astype(np.int64) if np.isfinite(flat).all() and (
        np.abs(flat) < 2.0**53).all() else None
    if whole is not None and (whole == flat).all() and \
            not np.signbit(flat[whole == 0]).any():
        # Pixel outlines: whole numbers, which numpy's formatter writes as
        # Python's str() of an int does, five times slower; orjson writes
        # the same digits several times faster still.
        if _orjson is not None:
            return _orjson.dumps(
                whole, option=_orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode()
        return ','.join(map(str, whole.tolist()))
    return ','.join(
        np.format_float_positional(v, precision=decimals, trim='-')
        for v in flat)


def read_label_bytes(path: str) -> bytes:
    """A label file's content, without a UTF-8 byte-order mark."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise LabelFileError(path, f'cannot be read ({e.strerror})') from e
    return raw[3:] if raw.startswith(b'\xef\xbb\xbf') else raw


def _refuse_constant(name: str) -> None:
    raise json.JSONDecodeError(f'{name} is not JSON', name, 0)


def _json_loads(text: str) -> object:
    """The json module's reading, without its NaN and Infinity extension."""
    return json.loads(text, parse_constant=_refuse_constant)


def _decode(path: str, raw: Optional[bytes] = None) -> dict:
    if raw is None:
        raw = read_label_bytes(path)
    # The document is a tree without reference cycles, freed by reference
    # counting; its thousands of new dicts would otherwise trigger cyclic
    # collections that scan the whole heap of a training process (torch and
    # mmseg hold ~300k objects), which costs more than the parsing itself.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        # orjson reads bytes directly (and checks they are UTF-8).
        try:
            return _orjson.loads(raw) if _orjson is not None else \
                _json_loads(raw.decode('utf-8'))
        except json.JSONDecodeError as e:
            if 'infinity' not in e.msg:
                raise
            # orjson refuses a number beyond the float range (JSON sets no
            # range); the json module reads it as infinite, which the
            # readers report for the feature holding it (or ignore where
            # nothing reads it), as the fast reader of mmseg_sia._geojson
            # does.
            return _json_loads(raw.decode('utf-8'))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        try:
            raw.decode('utf-8')
        except UnicodeDecodeError as bad:
            raise LabelFileError(
                path, f'is not UTF-8 text (byte {bad.start}: '
                f'{bad.reason})') from e
        raise LabelFileError(
            path, f'is not valid JSON ({e.msg} at line {e.lineno} '
            f'column {e.colno})') from e
    finally:
        if gc_enabled:
            gc.enable()


def parse_footprint(geometry: object) -> Optional[np.ndarray]:
    """Read a tile footprint from a feature's ``geometry``.

    Both spellings of the data are accepted: a GeoJSON ring list
    ``{"coordinates": [[[lon, lat, 0], ...]]}`` and a bare point list
    ``{"coordinates": [[lon, lat, 0], ...]}``.

    Args:
        geometry: The ``geometry`` value of a feature.

    Returns:
        np.ndarray | None: ``(K, 2)`` lon/lat points (a repeated closing point
        removed), or None when there is no usable geometry.
    """
    if not isinstance(geometry, Mapping):
        return None
    coords = geometry.get('coordinates')
    if not isinstance(coords, list) or not coords:
        return None
    # Unwrap ring lists until we reach a list of points.
    while (isinstance(coords, list) and coords and isinstance(coords[0], list)
           and coords[0] and isinstance(coords[0][0], list)):
        coords = coords[0]
    try:
        pts = np.array([[float(p[0]), float(p[1])] for p in coords],
                       dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        return None
    if len(pts) > 1 and np.abs(pts[0] - pts[-1]).max() < 1e-12:
        pts = pts[:-1]
    if not np.isfinite(pts).all():
        return None
    return pts


def _json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's words ('an object', ...)."""
    if isinstance(value, bool):
        return 'true/false'
    if isinstance(value, (int, float)):
        return f'a number ({value!r})'
    if isinstance(value, dict):
        return 'an object'
    if isinstance(value, list):
        return 'an array'
    if isinstance(value, str):
        return 'a string'
    return 'null' if value is None else f'a {type(value).__name__}'


def read_feature_collection(path: str, raw: Optional[bytes] = None
                            ) -> Tuple[dict, list]:
    """Read a file as a GeoJSON-like FeatureCollection.

    The one check of both readers (:func:`read_label_file`, and
    :func:`mmseg_sia.maplabels.read_map_label_file` for map coordinates).

    Args:
        path (str): The file (UTF-8, with or without a byte-order mark).
        raw (bytes, optional): Its content as :func:`read_label_bytes`
            gives it, when already read. Defaults to None (read it).

    Returns:
        tuple[dict, list]: The document and its ``features`` list.

    Raises:
        LabelFileError: When the file cannot be read, is not UTF-8 or JSON,
            is not an object or has no ``features`` array.
    """
    data = _decode(path, raw)
    if not isinstance(data, dict):
        raise LabelFileError(
            path, f'is not a FeatureCollection (top level is '
            f'{_json_kind(data)}, expected an object)')
    features = data.get('features')
    if not isinstance(features, list):
        what = 'missing' if features is None else \
            f'{_json_kind(features)}, not an array'
        raise LabelFileError(
            path, f'is not a FeatureCollection ("features" is {what})')
    return data, features


def warn_skipped(path: str, skipped: Sequence[Tuple[int, str]],
                 num_features: int, category: Optional[type] = None,
                 stacklevel: int = 2) -> None:
    """The one warning about a file's features that cannot be drawn: the
    file, how many, and the first ten by index with the reason.

    ``stacklevel`` is that of a ``warnings.warn`` call in the caller (2: the
    warning points at the caller's caller)."""
    listed = '; '.join(f'{i}: {why}' for i, why in skipped[:10])
    more = '' if len(skipped) <= 10 else f'; ... {len(skipped) - 10} more'
    warnings.warn(
        f'{path}: skipped {len(skipped)} of {num_features} features that '
        f'cannot be drawn (feature {listed}{more})',
        category or SIALabelWarning, stacklevel=stacklevel + 1)


def _leaves(coords, limit: int = 64):
    """The first ``limit`` numbers of a nested coordinate list."""
    stack = [coords]
    found = 0
    while stack and found < limit:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            found += 1
            yield item


def describe_features(features: Sequence) -> dict:
    """What the features of a label file hold, to say why it gave no
    polygon.

    Counts each non-empty ``*_imcoords`` key (pixel polygons of the first
    release, ``object_imcoords`` being detection boxes), ``geometry`` types,
    whether the geometry is in map coordinates (a value beyond lon/lat
    range) and the ``ANN_CD`` property of the land-cover release.

    Args:
        features (Sequence): The ``features`` list of a FeatureCollection.

    Returns:
        dict: ``features`` (int), ``pixel_keys`` (Counter of non-empty
        ``*_imcoords`` keys), ``geometries`` (Counter of geometry types),
        ``map_coordinates`` (bool), ``ann_cd`` (features with ``ANN_CD``)
        and ``summary`` (str).
    """
    from collections import Counter

    keys: Counter = Counter()
    geometries: Counter = Counter()
    ann_cd = 0
    far = False
    for feature in features:
        if not isinstance(feature, dict):
            continue
        props = feature.get('properties')
        if isinstance(props, dict):
            for key, value in props.items():
                if key.endswith('_imcoords') and isinstance(value, str) and \
                        value.strip() not in _EMPTY_VALUES:
                    keys[key] += 1
            ann_cd += 'ANN_CD' in props
        geom = feature.get('geometry')
        if isinstance(geom, dict):
            geometries[str(geom.get('type'))] += 1
            if not far:
                try:
                    pts = np.array(list(_leaves(geom.get('coordinates'))),
                                   dtype=np.float64)
                    far = bool(pts.size) and float(np.abs(pts).max()) > 360
                except (TypeError, ValueError):
                    pass
    parts = [f'{n} with {k}' for k, n in sorted(keys.items())]
    if geometries:
        where = 'map coordinates' if far else 'lon/lat (a tile footprint)'
        parts.append(', '.join(f'{n} {t}' for t, n in sorted(
            geometries.items())) + f' geometries in {where}')
    if ann_cd:
        parts.append(f'{ann_cd} with ANN_CD (land-cover labels: read them '
                     'with SIALandCoverDataset)')
    return dict(features=len(features), pixel_keys=keys,
                geometries=geometries, map_coordinates=far, ann_cd=ann_cd,
                summary=f'{len(features)} features: ' +
                ('; '.join(parts) or 'nothing recognised'))


def unusable_message(features: Sequence,
                     pixel_keys: Iterable[str] = tuple(DEFAULT_CLASS_MAP)
                     ) -> Optional[str]:
    """Why features that gave no polygon are of no use, or None.

    None when there is no feature, or some feature has a polygon under one
    of ``pixel_keys`` (a road file read for buildings only is fine).
    """
    info = describe_features(features)
    if not info['features'] or any(info['pixel_keys'].get(k)
                                   for k in pixel_keys):
        return None
    return ('has features but no polygon the reader can use (' +
            info['summary'] + ')')


def read_label_file(path: str,
                    keys: Iterable[str] = tuple(DEFAULT_CLASS_MAP),
                    strict: bool = False,
                    warn: bool = True) -> LabelFile:
    """Read the polygons of one AIHub label file.

    Args:
        path (str): The ``.json`` label file.
        keys (Iterable[str]): Properties that hold polygons to read.
            Defaults to ``('building_imcoords', 'road_imcoords')``.
        strict (bool): Raise :class:`LabelFileError` on the first feature that
            cannot be drawn instead of skipping it. Defaults to False.
        warn (bool): Emit one :class:`SIALabelWarning` per file listing the
            skipped features, or saying what a file with features but no
            usable polygon holds (:attr:`LabelFile.unusable`: so such a file
            never reads as silent background). Defaults to True.

    Returns:
        LabelFile: The polygons, skipped features and footprint.

    Raises:
        LabelFileError: When the file cannot be read as a FeatureCollection
            (unreadable, not UTF-8, not JSON, no ``features`` list), or in
            strict mode when a feature cannot be drawn.
    """
    path = os.fspath(path)
    keys = tuple(keys)
    _, features = read_feature_collection(path)

    result = LabelFile(path=path, num_features=len(features))
    image_ids: Dict[str, None] = {}
    problems: Dict[int, str] = {}
    # (feature index, key, coordinate string, properties) of every polygon
    # to parse; parsed all at once below.
    pending: List[Tuple[int, str, str, dict]] = []
    for index, feature in enumerate(features):
        if not isinstance(feature, dict):  # JSON objects load as dicts
            problems[index] = 'is not an object'
            continue
        props = feature.get('properties')
        if not isinstance(props, dict):
            problems[index] = 'has no "properties" object'
            continue
        if result.footprint is None:
            result.footprint = parse_footprint(feature.get('geometry'))
        image_id = props.get('image_id')
        if isinstance(image_id, str):
            image_ids[image_id] = None
        for key in keys:
            text = props.get(key)
            if text is None:
                continue
            if not isinstance(text, str):
                problems[index] = (f'{key} is {_json_kind(text)}, '
                                   'expected a coordinate string')
                break
            if text.strip() in _EMPTY_VALUES:
                continue
            pending.append((index, key, text, props))

    for (index, key, _, props), points in zip(
            pending, _parse_many([item[2] for item in pending])):
        if isinstance(points, str):
            problems.setdefault(index, f'{key}: {points}')
        elif index not in problems:
            result.polygons.append(
                LabelPolygon(
                    points=points,
                    key=key,
                    feature=index,
                    type_id=str(props.get('type_id', '') or ''),
                    type_name=str(props.get('type_name', '') or '')))
    if problems:
        # A feature with any bad polygon is skipped whole.
        result.polygons = [
            p for p in result.polygons if p.feature not in problems
        ]
        first = min(problems)
        if strict:
            raise LabelFileError(path, problems[first], feature=first)
        result.skipped = sorted(problems.items())
    result.image_ids = list(image_ids)
    if result.skipped and warn:
        warn_skipped(path, result.skipped, len(features), SIALabelWarning)
    if features and not result.polygons and not result.skipped:
        # Never silent background: say what the file holds instead.
        result.unusable = unusable_message(
            features, set(keys) | set(DEFAULT_CLASS_MAP))
        if result.unusable is not None and warn:
            warnings.warn(f'{path}: {result.unusable}', SIALabelWarning,
                          stacklevel=2)
    return result


# Most crossings of one polygon drawn through a row buffer (4 bytes each).
# A polygon with more (a whole scene's road region) is drawn as a parity
# plane of the map's size instead, so working memory stays bounded whatever
# the polygons: the planes plus at most this many crossings.
_CHUNK = 1 << 22


def _rings(polygon) -> list:
    """The rings of a polygon given as one ``(N, 2)`` ring or as a list of
    rings."""
    if isinstance(polygon, (list, tuple)) and polygon and \
            np.ndim(polygon[0]) == 2:
        return list(polygon)
    return [polygon]


_NO_RING = np.zeros((0, 2))


def _usable_rings(packed: PackedPolygons
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, ring sizes and per-polygon ring counts of the rings with 3
    vertices or more (the others enclose no area); polygons left without a
    ring are dropped."""
    sizes = np.asarray(packed.ring_sizes, dtype=np.int64)
    counts = np.asarray(packed.ring_counts, dtype=np.int64)
    points = np.asarray(packed.points)
    if sizes.size and sizes.min() >= 3:
        return points.astype(np.float64, copy=False), sizes, counts
    keep = sizes >= 3
    owner = np.repeat(np.arange(len(counts)), counts)
    kept = np.bincount(owner[keep], minlength=len(counts))
    points = np.compress(np.repeat(keep, sizes), points, 0).astype(
        np.float64, copy=False)
    return points, sizes[keep], kept[kept > 0]


def _first_unfinite(packed: PackedPolygons) -> int:
    """Index of the first polygon with a NaN or infinite coordinate in a
    ring of 3 vertices or more."""
    sizes = np.asarray(packed.ring_sizes, dtype=np.int64)
    finite = np.isfinite(np.asarray(packed.points, np.float64)).all(1)
    ring = np.repeat(np.arange(len(sizes)), sizes)[~finite]
    ring = ring[sizes[ring] >= 3].min()
    owner = np.repeat(np.arange(len(packed.ring_counts)), packed.ring_counts)
    return int(owner[ring])


class PackedPolygons(NamedTuple):
    """Many polygons as flat arrays, the rasterizer's input without a Python
    object per ring (what a label reader that has all its coordinates in one
    array gives, e.g. :func:`~mmseg_sia.maplabels.rasterize_map_label_files`).

    Attributes:
        points (np.ndarray): ``(N, 2)`` float vertices ``(x, y)`` of every
            ring, one after another, each ring open (no repeated first point).
        ring_sizes (np.ndarray): ``(R,)`` int vertex count of each ring.
        ring_counts (np.ndarray): ``(P,)`` int ring count of each polygon:
            polygon ``i`` is the next ``ring_counts[i]`` rings (exterior and
            holes, filled even-odd together).
    """
    points: np.ndarray
    ring_sizes: np.ndarray
    ring_counts: np.ndarray

    @classmethod
    def from_polygons(cls, polygons: Sequence) -> 'PackedPolygons':
        """Pack polygons given as ``(N, 2)`` rings or lists of rings."""
        rings = [_rings(p) for p in polygons]
        # Rings of fewer than 3 vertices enclose nothing: kept as empty
        # rings (so the polygons keep their indices), whatever their form.
        flat = [r if len(r) >= 3 else _NO_RING for poly in rings
                for r in poly]
        points = np.concatenate(flat).astype(np.float64, copy=False) \
            if flat else _NO_RING
        return cls(points,
                   np.fromiter(map(len, flat), np.int64, len(flat)),
                   np.fromiter(map(len, rings), np.int64, len(rings)))


class _Edges:
    """The edges of a set of polygons and the pixel-centre columns they cross.

    Column ``c`` is crossed by an edge when ``xlo <= c + 0.5 < xhi``.
    Half-open, so a vertex exactly on a scan line counts once and every
    column holds an even number of crossings per polygon. These comparisons
    are exact in floating point for every column of the map.
    """

    def __init__(self, polygons: Union[Sequence[np.ndarray],
                                       PackedPolygons],
                 height: int, width: int) -> None:
        self.height, self.width = height, width
        # A polygon is one ring, or a list of rings (exterior and holes)
        # whose crossings are paired together; or all of them packed.
        if isinstance(polygons, PackedPolygons):
            pts, ring_counts, poly_rings = _usable_rings(polygons)
            given = polygons
        elif any(isinstance(p, (list, tuple)) for p in polygons):
            given = PackedPolygons.from_polygons(polygons)
            pts, ring_counts, poly_rings = _usable_rings(given)
        else:  # arrays only, one ring each: the common case, kept lean
            flat = [p for p in polygons if len(p) >= 3]
            ring_counts = np.fromiter((len(r) for r in flat),
                                      dtype=np.int64, count=len(flat))
            pts = np.concatenate(flat).astype(np.float64, copy=False) \
                if flat else None
            poly_rings = None
            given = None
        if pts is None or not len(pts):
            self.total = 0
            return
        if poly_rings is None or len(poly_rings) == len(ring_counts):
            counts = ring_counts
        else:
            ring_ends = np.cumsum(ring_counts)
            counts = np.diff(ring_ends[np.cumsum(poly_rings) - 1],
                             prepend=0)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError('polygons must be (N, 2) arrays of (x, y)')
        low, high = pts.min(), pts.max()  # NaN propagates
        if not -np.inf < low <= high < np.inf:
            if given is None:
                given = PackedPolygons.from_polygons(polygons)
            raise ValueError(f'polygon {_first_unfinite(given)} has a NaN '
                             'or infinite coordinate')
        starts = np.cumsum(counts) - counts
        from . import _rasterize  # numba: imported when first drawing
        n = len(pts)
        self.x0 = np.ascontiguousarray(pts[:, 0])
        self.y0 = np.ascontiguousarray(pts[:, 1])
        self.x1, self.y1 = np.empty(n), np.empty(n)
        self.col0 = np.empty(n, np.int64)
        self.ncols = np.empty(n, np.int64)
        self.total, self._deepest = _rasterize.edge_table(
            self.x0, self.y0, ring_counts, width, self.x1, self.y1,
            self.col0, self.ncols, np.zeros(width + 1, np.int64))
        # Edge range of each polygon (polygon i owns edges starts[i]:ends[i]).
        self.starts = starts
        self.ends = starts + counts

    def draw(self, steps: np.ndarray, covered: Optional[np.ndarray]) -> None:
        """Add the runs of the polygons to ``steps``; those with more than
        ``_CHUNK`` crossings are drawn into ``covered``, which is given when
        :meth:`needs_parity` (see :func:`mmseg_sia._rasterize.lane_steps`).
        """
        if not self.total:
            return
        shape = (0, 0) if covered is None else (self.height + 1, self.width)
        from . import _rasterize  # numba: imported when first drawing
        _rasterize.lane_steps(
            self.x0, self.y0, self.x1, self.y1, self.col0, self.ncols,
            self.starts, self.ends, self.height, _CHUNK, steps,
            np.zeros(shape, np.uint8),
            np.zeros((0, 0), np.uint8) if covered is None else covered)

    def deepest(self) -> int:
        """Most crossings in one column (twice the most runs, so a bound on
        the coverage depth)."""
        return int(self._deepest) if self.total else 0

    def needs_parity(self) -> bool:
        """Whether a polygon has more than ``_CHUNK`` crossings."""
        return bool(self.total > _CHUNK and (
            np.add.reduceat(self.ncols, self.starts) > _CHUNK).any())


def _draw_lanes(lanes: Sequence, height: int, width: int,
                classes: Sequence[int], background: int = 0) -> np.ndarray:
    """Draw several polygon sets into one class map: the last set covering
    a pixel gives it its class, else ``background``.

    The runs of every set are written as +1/-1 steps into a plane per set,
    summed down the columns by :func:`mmseg_sia._rasterize.assemble`. The
    planes use the narrowest unsigned type that holds the depth (at most the
    runs of a column). Working memory is the planes plus at most ``_CHUNK``
    crossings, however many vertices the polygons have.

    Returns:
        np.ndarray: ``(height, width)`` uint8 map.
    """
    if height <= 0 or width <= 0:
        return np.full((max(height, 0), max(width, 0)), background, np.uint8)
    edges = [_Edges(polys, height, width) for polys in lanes]
    deepest = max(e.deepest() for e in edges) // 2
    dtype = np.uint8 if deepest < 2**8 else \
        np.uint16 if deepest < 2**16 else np.uint32
    steps = np.zeros((len(edges), height + 1, width), dtype=dtype)
    parity = [e.needs_parity() for e in edges]
    covered = np.zeros((len(edges), height, width) if any(parity)
                       else (0, 0, 0), dtype=np.uint8)
    for lane, lane_edges in enumerate(edges):
        lane_edges.draw(steps[lane], covered[lane] if parity[lane] else None)
    del edges  # free the edge tables before the map is made
    seg = np.empty((height, width), dtype=np.uint8)
    from . import _rasterize
    _rasterize.assemble(steps, covered, np.asarray(classes, np.uint8),
                        background, seg)
    return seg


def polygon_coverage(polygons: Sequence[np.ndarray], height: int,
                     width: int) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie inside any polygon.

    OpenCV's ``fillPoly`` is not used for this: it rounds vertices to a
    fixed-point grid, also paints the pixels its outline passes through (not
    the centre rule), and fills several polygons given in one call with the
    even-odd rule, so overlapping polygons cancel. Here different polygons
    are united, and within one polygon the even-odd rule applies. A polygon
    may be a list of rings (an exterior and its holes, as GeoJSON gives
    them): the crossings of its rings are paired together, so a hole is
    empty.

    Any finite coordinates are accepted; crossings are exact to a few units
    in the last place of the vertices' magnitude (a few 1e-6 px up to
    :data:`MAX_COORDINATE`). Working memory is bounded by the mask plus a
    fixed chunk of crossings, however many vertices the polygons have.

    Args:
        polygons (Sequence | PackedPolygons): ``(N_i, 2)`` float vertices
            ``(x, y)`` per polygon, or a list of such rings per polygon; or
            all of them packed in flat arrays.
        height (int): Mask height.
        width (int): Mask width.

    Returns:
        np.ndarray: ``(height, width)`` bool mask.

    Raises:
        ValueError: When a polygon has a NaN or infinite coordinate.
    """
    return _draw_lanes([polygons], height, width, [1]).view(bool)


def _any_polygon(polygons) -> bool:
    """Whether a class's polygons (a sequence or packed) hold any."""
    if isinstance(polygons, PackedPolygons):
        return len(polygons.ring_counts) > 0
    return bool(polygons)


def rasterize_polygons(polygons: Mapping[int, Sequence[np.ndarray]],
                       shape: Tuple[int, int],
                       priority: Optional[Sequence[int]] = None,
                       background: int = 0) -> np.ndarray:
    """Draw polygons of several classes into one class-id map.

    Args:
        polygons (Mapping[int, Sequence[np.ndarray]]): Class id -> polygons
            (each an ``(N, 2)`` ring or a list of rings, see
            :func:`polygon_coverage`), or a :class:`PackedPolygons`.
        shape (tuple[int, int]): ``(height, width)`` of the map.
        priority (Sequence[int], optional): Class ids from highest to lowest
            priority where polygons of different classes overlap. Classes not
            listed rank below the listed ones, higher ids first. Defaults to
            None (higher class id wins).
        background (int): Value of pixels no polygon covers. Defaults to 0.

    Returns:
        np.ndarray: ``uint8`` map of the given shape.
    """
    height, width = int(shape[0]), int(shape[1])
    priority = list(priority or [])
    rest = sorted((c for c in polygons if c not in priority), reverse=True)
    # From lowest to highest priority: the last one drawn wins.
    order = [c for c in reversed(priority + rest) if _any_polygon(
        polygons.get(c))]
    if not order:
        return np.full((height, width), background, dtype=np.uint8)
    return _draw_lanes([polygons[c] for c in order], height, width, order,
                       background)


def rasterize_label_files(paths: Iterable[str],
                          shape: Tuple[int, int],
                          class_map: Mapping[str, int] = DEFAULT_CLASS_MAP,
                          priority: Optional[Sequence[int]] = DEFAULT_PRIORITY,
                          strict: bool = False,
                          warn: bool = True) -> Tuple[np.ndarray, list]:
    """Read label files and rasterize their polygons into one class-id map.

    Args:
        paths (Iterable[str]): Label files of one tile (e.g. its building and
            road files).
        shape (tuple[int, int]): ``(height, width)`` of the tile.
        class_map (Mapping[str, int]): Polygon property -> class id.
            Defaults to :data:`DEFAULT_CLASS_MAP`.
        priority (Sequence[int], optional): Class ids from highest to lowest
            overlap priority. Defaults to :data:`DEFAULT_PRIORITY` (road over
            building).
        strict (bool): Raise on the first feature that cannot be drawn.
            Defaults to False.
        warn (bool): Warn once per file about skipped features. Defaults to
            True.

    Returns:
        tuple[np.ndarray, list[LabelFile]]: The ``uint8`` map and the files read.

    Raises:
        LabelFileError: As :func:`read_label_file`.
    """
    by_class: Dict[int, List[np.ndarray]] = {}
    files = []
    for path in paths:
        label = read_label_file(path, keys=class_map, strict=strict,
                                warn=warn)
        files.append(label)
        for poly in label.polygons:
            by_class.setdefault(class_map[poly.key], []).append(poly.points)
    return rasterize_polygons(by_class, shape, priority), files
