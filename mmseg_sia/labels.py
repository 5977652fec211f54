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


def _decode(path: str) -> dict:
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise LabelFileError(path, f'cannot be read ({e.strerror})') from e
    if raw.startswith(b'\xef\xbb\xbf'):
        raw = raw[3:]
    # The document is a tree without reference cycles, freed by reference
    # counting; its thousands of new dicts would otherwise trigger cyclic
    # collections that scan the whole heap of a training process (torch and
    # mmseg hold ~300k objects), which costs more than the parsing itself.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        # orjson reads bytes directly (and checks they are UTF-8).
        return _orjson.loads(raw) if _orjson is not None else json.loads(
            raw.decode('utf-8'))
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


def read_feature_collection(path: str) -> Tuple[dict, list]:
    """Read a file as a GeoJSON-like FeatureCollection.

    The one check of both readers (:func:`read_label_file`, and
    :func:`mmseg_sia.maplabels.read_map_label_file` for map coordinates).

    Args:
        path (str): The file (UTF-8, with or without a byte-order mark).

    Returns:
        tuple[dict, list]: The document and its ``features`` list.

    Raises:
        LabelFileError: When the file cannot be read, is not UTF-8 or JSON,
            is not an object or has no ``features`` array.
    """
    data = _decode(path)
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


# Most edge/column crossings worked on at once. It bounds the rasterizer's
# working memory (~100 bytes a crossing, so ~25 MB) whatever the polygons:
# a lane whose crossings fit is drawn in one go (every real tile: ~20,000);
# otherwise its polygons are drawn in groups of at most this many crossings,
# and a polygon with more crossings than this on its own is drawn as a
# parity plane accumulated in chunks of edges.
_CHUNK = 1 << 18
# Largest sort key of :meth:`_Edges.spans` numbering every column of every
# polygon (an int64 then); above it, only the columns each polygon spans.
_KEY_LIMIT = 2**62
# Above this magnitude ``(xc - x0) * (y1 - y0)`` could overflow: such edges
# (only reachable through the array API; the reader stops at
# ``MAX_COORDINATE``) are intersected in a scaled form instead.
_SAFE_MAGNITUDE = 1e150


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
    points = points[np.repeat(keep, sizes)].astype(np.float64, copy=False)
    return points, sizes[keep], kept[kept > 0]


def _first_unfinite(packed: PackedPolygons) -> int:
    """Index of the first polygon with a NaN or infinite coordinate in a
    ring of 3 vertices or more."""
    sizes = np.asarray(packed.ring_sizes, dtype=np.int64)
    finite = np.isfinite(np.asarray(packed.points, np.float64)).all(1)
    ring_bad = ~np.logical_and.reduceat(finite, np.cumsum(sizes) - sizes) \
        & (sizes >= 3) if sizes.size else np.zeros(0, bool)
    owner = np.repeat(np.arange(len(packed.ring_counts)), packed.ring_counts)
    return int(owner[np.flatnonzero(ring_bad)[0]])


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
        self.num_polys = len(ring_counts) if poly_rings is None else \
            len(poly_rings)
        if pts is None or not len(pts):
            self.num_polys = 0
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
        # Each ring closes on itself.
        ring_starts = starts if counts is ring_counts else \
            np.cumsum(ring_counts) - ring_counts
        nxt = np.arange(len(pts)) + 1
        nxt[ring_starts + ring_counts - 1] = ring_starts
        self.x0, self.y0 = pts[:, 0], pts[:, 1]
        self.x1, self.y1 = self.x0[nxt], self.y0[nxt]
        lo = np.minimum(self.x0, self.x1)
        lo -= 0.5
        np.ceil(lo, out=lo)
        hi = np.maximum(self.x0, self.x1)
        hi -= 0.5
        np.ceil(hi, out=hi)
        np.clip(lo, 0, width, out=lo)
        np.clip(hi, 0, width, out=hi)
        self.col0 = lo.astype(np.int64)
        self.ncols = hi.astype(np.int64) - self.col0
        # Edge range of each polygon (polygon i owns edges starts[i]:ends[i]).
        self.counts = counts
        self.starts = starts
        self.ends = starts + counts
        self.total = int(self.ncols.sum())
        self.wild = None
        if max(high, -low) > _SAFE_MAGNITUDE:
            self.wild = np.maximum(
                np.maximum(np.abs(self.x0), np.abs(self.x1)),
                np.maximum(np.abs(self.y0), np.abs(self.y1))) > \
                _SAFE_MAGNITUDE
            with np.errstate(over='ignore'):  # wild edges: not used
                self.dx, self.dy = self.x1 - self.x0, self.y1 - self.y0
        else:
            self.dx, self.dy = self.x1 - self.x0, self.y1 - self.y0

    def poly_crossings(self) -> np.ndarray:
        """Number of crossings of each polygon."""
        csum = np.concatenate([[0], np.cumsum(self.ncols)])
        return csum[self.ends] - csum[self.starts]

    def crossings(self, first: int, last: int
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crossings of the edges ``first:last`` with the column centres.

        Returns:
            tuple: ``edge``, ``cols`` (int64) and ``rows`` of every crossing,
            edge by edge and column by column. A crossing at height ``y``
            starts or ends the runs of its column at row ``ceil(y - 0.5)``
            (pixel ``r`` is below it when ``y <= r + 0.5``), clipped to
            ``[0, height]``; ``rows`` holds these whole numbers as float64.
        """
        ncols = self.ncols[first:last]
        edges = np.flatnonzero(ncols > 0)
        ncols = ncols[edges]
        if first:
            edges += first
        edge = np.repeat(edges, ncols)
        # Edge k's crossings are columns col0[k], col0[k] + 1, ...
        cols = np.arange(edge.size)
        cols -= np.repeat(np.cumsum(ncols) - ncols - self.col0[edges], ncols)
        ys = cols + 0.5
        if self.wild is None or not self.wild[first:last].any():
            _cross_y(ys, self.x0[edge], self.y0[edge], self.dx[edge],
                     self.dy[edge])
        else:
            wild = self.wild[edge]
            tame = ~wild
            e = edge[tame]
            ys[tame] = _cross_y(ys[tame], self.x0[e], self.y0[e],
                                self.dx[e], self.dy[e])
            e = edge[wild]
            ys[wild] = _cross_y_scaled(ys[wild], self.x0[e], self.y0[e],
                                       self.x1[e], self.y1[e], self.height)
        ys -= 0.5
        np.ceil(ys, out=ys)
        np.clip(ys, 0, self.height, out=ys)
        return edge, cols, ys

    def spans(self, first: int, last: int
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vertical runs of pixels inside each of the polygons ``first:last``.

        Within one polygon, crossings are paired in order along the column
        (the even-odd rule, so a self-crossing ring leaves holes as GeoJSON
        readers do).

        Returns:
            tuple: ``cols``, ``row_a``, ``row_b`` (int64): pixel ``(r, c)``
            is covered by a run when ``row_a <= r < row_b``. Runs are clipped
            to the map and never empty.
        """
        empty = np.zeros(0, dtype=np.int64)
        if first >= last:
            return empty, empty, empty
        e0, e1 = int(self.starts[first]), int(self.ends[last - 1])
        edge, cols, rows = self.crossings(e0, e1)
        if edge.size == 0:
            return empty, empty, empty
        height, width = self.height, self.width
        # Pixel r is inside a run when ya <= r + 0.5 < yb: a crossing at y
        # starts or ends runs at row ceil(y - 0.5). Sorting the crossings of
        # a (polygon, column) by that row instead of by y pairs the same row
        # values (the rounding is monotonic; ties pair alike either way), so
        # one integer key does: a slot per (polygon, column), ``height + 1``
        # wide, plus the row.
        count = last - first
        span = height + 1
        if count * width * span <= _KEY_LIMIT:
            # Slot polygon * width + column (polygon counted from first):
            # the key alone gives back column and row, so a plain sort (no
            # argsort) does, in int32 when the keys fit.
            dtype = np.int32 if count * width * span < 2**31 else np.int64
            slot = np.repeat(np.arange(0, count * width, width, dtype=dtype),
                             self.counts[first:last])[
                edge - e0 if e0 else edge]
            slot += cols.astype(dtype, copy=False)
            key = slot * dtype(span)
            key += rows.astype(dtype)
            key.sort()
            row_a, row_b = key[0::2], key[1::2]
            cols = row_a // span
            row_a = row_a - cols * span
            row_b = row_b % span
            cols %= width
        else:
            # So many polygons that such keys would not fit: number only the
            # columns each polygon spans (at most half its crossings).
            starts = self.starts[first:last] - e0
            col0 = self.col0[e0:e1]
            low = np.minimum.reduceat(col0, starts)
            high = np.maximum.reduceat(col0 + self.ncols[e0:e1], starts)
            spread = high - low
            base = np.cumsum(spread) - spread - low
            slot = np.repeat(base, self.counts[first:last])[
                edge - e0 if e0 else edge]
            slot += cols
            key = slot * span
            key += rows.astype(np.int64)
            order = np.argsort(key)
            rows = key[order] % span
            cols = cols[order][0::2]
            row_a, row_b = rows[0::2], rows[1::2]
        keep = row_a < row_b
        return (cols[keep].astype(np.int64, copy=False),
                row_a[keep].astype(np.int64, copy=False),
                row_b[keep].astype(np.int64, copy=False))

    def parity(self, index: int) -> np.ndarray:
        """Even-odd coverage of polygon ``index`` alone, in bounded memory.

        Pixel ``(r, c)`` is inside when the number of the polygon's crossings
        in column ``c`` with ``y <= r + 0.5`` is odd (the same rule as the
        runs of :meth:`spans`). The crossings are made ``_CHUNK`` at a time
        and counted into one ``(height + 1) x width`` plane.

        Returns:
            np.ndarray: ``(height, width)`` bool mask.
        """
        height, width = self.height, self.width
        size = (height + 1) * width
        toggles = np.zeros(size, dtype=np.uint8)  # counts mod 256
        one = np.uint8(1)  # same dtype as the array: numpy's fast ufunc.at
        e0, e1 = int(self.starts[index]), int(self.ends[index])
        reach = np.cumsum(self.ncols[e0:e1])
        cuts = np.searchsorted(reach, np.arange(_CHUNK, int(reach[-1]),
                                                _CHUNK), side='right')
        bounds = [e0] + (cuts + e0).tolist() + [e1]
        for first, last in zip(bounds[:-1], bounds[1:]):
            if first >= last:
                continue
            _, cols, rows = self.crossings(first, last)
            # A crossing toggles the pixels whose centre is at or below it:
            # from its row down.
            rows = rows.astype(np.int64)
            rows *= width
            rows += cols
            np.add.at(toggles, rows, one)
        plane = toggles.reshape(height + 1, width)[:height]
        np.cumsum(plane, axis=0, dtype=np.uint8, out=plane)
        return (plane & 1).view(bool)


def _cross_y(xc: np.ndarray, x0: np.ndarray, y0: np.ndarray, dx: np.ndarray,
             dy: np.ndarray) -> np.ndarray:
    """``y`` where edges from ``(x0, y0)`` by ``(dx, dy)`` cross ``x = xc``,
    written over ``xc`` (float64), which is returned.

    ``y0 + (xc - x0) * dy / dx``: multiplying before dividing keeps
    crossings that fall exactly on a pixel centre exact for vertices on a
    fine grid. No floating point error can occur for the edges it is given:
    ``x0 != x1`` (the edge spans a column), so ``dx = x1 - x0`` is not 0
    (gradual underflow); all values are finite and at most
    ``_SAFE_MAGNITUDE``, so no product or difference overflows. The fuzz
    test checks that no numpy warning is ever raised.
    """
    xc -= x0
    xc *= dy
    xc /= dx
    xc += y0
    return xc


def _cross_y_scaled(xc: np.ndarray, x0: np.ndarray, y0: np.ndarray,
                    x1: np.ndarray, y1: np.ndarray,
                    height: int) -> np.ndarray:
    """:func:`_cross_y` for any finite coordinates, clipped to the map.

    Everything is scaled by 1/4 (exact but near underflow, where it moves
    values by less than 1e-307 px) so no difference can overflow, and
    the edge is parametrised by ``t = (xc - x0) / (x1 - x0)`` in ``[0, 1]``
    (rounding is monotonic, so ``t`` cannot leave it), so the interpolated
    ``y`` stays between the scaled end points.
    """
    s = 0.25
    with np.errstate(over='raise', invalid='raise', divide='raise'):
        t = (xc * s - x0 * s) / (x1 * s - x0 * s)
        ys = y0 * s + t * (y1 * s - y0 * s)
    np.clip(ys, -s, (height + 1.0) * s, out=ys)
    ys /= s
    return ys


def _running_sum(steps: np.ndarray, block: int) -> None:
    """Running sum down the rows of ``(lanes, rows, width)`` ``steps``.

    Within every block of rows at once, then each block's last row carried
    into the next block (numpy's own ``cumsum`` is several times slower
    along either axis here). ``rows`` is a multiple of ``block``.
    """
    nl, rows, width = steps.shape
    blocks = steps.reshape(nl, rows // block, block, width)
    for i in range(1, block):
        np.add(blocks[:, :, i], blocks[:, :, i - 1], out=blocks[:, :, i])
    for k in range(1, rows // block):
        np.add(blocks[:, k], blocks[:, k - 1, -1:], out=blocks[:, k])


def _add_spans(flat: np.ndarray, base: int, width: int, one,
               spans: Tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Write runs as +1/-1 steps into a flattened step plane."""
    cols, row_a, row_b = spans
    if cols.size:
        at = base + cols
        np.add.at(flat, at + row_a * width, one)
        # Unsigned wrap-around: the running sums stay exact depths.
        np.subtract.at(flat, at + row_b * width, one)


def _coverage_lanes(lanes: Sequence[Sequence[np.ndarray]], height: int,
                    width: int) -> np.ndarray:
    """Coverage depth of several polygon sets at once.

    The runs of every set are written as +1/-1 steps into a plane per set and
    summed down the columns. The planes use the narrowest unsigned type that
    cannot overflow: a pixel's depth is at most the number of runs in its
    column. Working memory is the planes plus at most ``_CHUNK`` crossings,
    however many vertices the polygons have.

    Returns:
        np.ndarray: ``(len(lanes), height, width)`` depth; > 0 means covered.
    """
    nl = len(lanes)
    # Row count padded to whole blocks; row ``height`` takes the run ends.
    block = 32
    rows = -(-(height + 1) // block) * block
    if height <= 0 or width <= 0:
        return np.zeros((nl, max(height, 0), max(width, 0)), dtype=np.uint8)
    edges = [_Edges(polys, height, width) for polys in lanes]
    if all(e.total <= _CHUNK for e in edges):
        # Every real tile: all crossings of a lane at once.
        spans = [e.spans(0, e.num_polys) for e in edges]
        del edges  # free the edge tables before the planes are made
        deepest = max((int(np.bincount(cols, minlength=1).max())
                       for cols, _, _ in spans if cols.size), default=0)
        dtype = np.uint8 if deepest < 2**8 else \
            np.uint16 if deepest < 2**16 else np.uint32
        steps = np.zeros((nl, rows, width), dtype=dtype)
        flat = steps.reshape(-1)
        one = dtype(1)  # same dtype as the array: numpy's fast ufunc.at path
        for lane, lane_spans in enumerate(spans):
            _add_spans(flat, lane * rows * width, width, one, lane_spans)
        _running_sum(steps, block)
        return steps[:, :height]
    return _coverage_lanes_chunked(edges, rows, block)


def _coverage_lanes_chunked(edges: Sequence[_Edges], rows: int,
                            block: int) -> np.ndarray:
    """:func:`_coverage_lanes` for polygons with very many crossings.

    Polygons are drawn in groups of at most ``_CHUNK`` crossings; a polygon
    with more on its own is drawn by :meth:`_Edges.parity`. Depths count
    runs (at most half the edges of a lane) plus one where any parity plane
    covers the pixel, in ``uint32``.
    """
    height, width = edges[0].height, edges[0].width
    nl = len(edges)
    steps = np.zeros((nl, rows, width), dtype=np.uint32)
    flat = steps.reshape(-1)
    one = np.uint32(1)
    covered = np.zeros((nl, height, width), dtype=bool)
    for lane, lane_edges in enumerate(edges):
        if not lane_edges.num_polys:
            continue
        base = lane * rows * width
        group_start, group_size = 0, 0
        for index, count in enumerate(lane_edges.poly_crossings().tolist()):
            if count > _CHUNK:
                _add_spans(flat, base, width, one,
                           lane_edges.spans(group_start, index))
                covered[lane] |= lane_edges.parity(index)
                group_start, group_size = index + 1, 0
            elif group_size + count > _CHUNK:
                _add_spans(flat, base, width, one,
                           lane_edges.spans(group_start, index))
                group_start, group_size = index, count
            else:
                group_size += count
        _add_spans(flat, base, width, one,
                   lane_edges.spans(group_start, lane_edges.num_polys))
    _running_sum(steps, block)
    depth = steps[:, :height]
    depth += covered
    return depth


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
    return _coverage_lanes([polygons], height, width)[0] > 0


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
    depth = _coverage_lanes([polygons[c] for c in order], height, width)
    ascending = all(a < b for a, b in zip([background] + order[:-1], order))
    if ascending and background == 0 and height and width:
        # Higher priority is a higher id: the class of a pixel is the largest
        # ``class_id * covered`` over the planes, all in cheap uint8 ops.
        for i, (plane, class_id) in enumerate(zip(depth, order)):
            covered = (plane != 0).view(np.uint8)  # 0/1 bytes
            if class_id != 1:
                covered *= np.uint8(class_id)
            if i == 0:
                seg = covered
            else:
                np.maximum(seg, covered, out=seg)
        return seg
    seg = np.full((height, width), background, dtype=np.uint8)
    for plane, class_id in zip(depth, order):
        np.copyto(seg, class_id, where=plane != 0)
    return seg


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
