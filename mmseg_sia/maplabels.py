"""Label files whose polygons are in map coordinates.

AIHub's land-cover release (토지피복지도 항공위성 이미지) and most GIS exports
give buildings and roads as GeoJSON ``geometry`` (Polygon or MultiPolygon,
with holes) in a projected CRS, and the class as a property such as
``ANN_CD``. This module reads such files strictly (every feature that cannot
be drawn is named), maps the polygons to an image's pixel plane through a
:class:`~mmseg_sia.georef.Georef` and draws them with the one rasterizer of
:mod:`mmseg_sia.labels`, so the pixel-centre rule is the same as for the
``*_imcoords`` polygons of the first release.
"""
from __future__ import annotations

import dataclasses
import gc
import itertools
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import (Container, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import numpy as np

from .labels import (LabelFileError, PackedPolygons, SIALabelWarning,
                     describe_features, rasterize_polygons,
                     read_feature_collection, read_label_bytes,
                     unusable_message, warn_skipped)

__all__ = [
    'LANDCOVER_CODES', 'LANDCOVER_BUILDING_ROAD', 'MapPolygon', 'MapLabelFile',
    'SIAMapLabelWarning', 'class_value', 'read_map_label_file',
    'map_polygons_by_class', 'label_crs',
    'describe_label_contents', 'unusable_reason', 'rasterize_map_label_files',
    'draw_map_labels'
]

#: ``ANN_CD`` of the land-cover release -> (Korean name, English name).
LANDCOVER_CODES: Dict[int, Tuple[str, str]] = {
    10: ('건물', 'building'),
    20: ('주차장', 'parking'),
    30: ('도로', 'road'),
    40: ('가로수', 'street trees'),
    50: ('논', 'paddy'),
    55: ('비닐하우스', 'greenhouse'),
    60: ('밭', 'field'),
    71: ('활엽수림', 'broadleaf forest'),
    75: ('침엽수림', 'conifer forest'),
    80: ('나지', 'bare land'),
    95: ('수역', 'water'),
    100: ('비대상지', 'non-target'),
}

#: The default class map of the land-cover set: building 1, road 2, every
#: other documented code background (0). A code not in the map is warned
#: about, never drawn as background silently.
LANDCOVER_BUILDING_ROAD: Dict[int, int] = {
    code: {10: 1, 30: 2}.get(code, 0) for code in LANDCOVER_CODES
}

# Stands in for a ring that is not a list of positions (its feature is
# skipped with the reason): three points, so every ring has a first one.
_UNREAD_RING = np.zeros((3, 2))


class SIAMapLabelWarning(SIALabelWarning):
    """A map-coordinate label file gave fewer polygons than it holds."""


@dataclass(slots=True)
class MapPolygon:
    """One polygon (one part of a MultiPolygon) of a label file.

    Attributes:
        rings (list[np.ndarray]): ``(N, 2)`` float64 rings in map
            coordinates, exterior first, then holes; open (the repeated
            closing point removed).
        value (int | str | None): The class attribute's value (an integral
            number or digit string becomes an int).
        feature (int): Index of its feature in the file.
        part (int): Index of the part within a MultiPolygon (0 otherwise).
    """
    rings: List[np.ndarray]
    value: object
    feature: int
    part: int = 0


@dataclass
class _PackedParts:
    """The polygons of a label file as flat arrays (see
    :class:`~mmseg_sia.labels.PackedPolygons`), with each polygon's class
    value, feature and part; what the drawing uses, without a Python object
    per ring."""
    points: np.ndarray
    ring_sizes: np.ndarray
    ring_counts: np.ndarray
    values: List[object]
    features: np.ndarray
    parts: np.ndarray

    def take(self, keep: np.ndarray) -> '_PackedParts':
        """The polygons where the ``(P,)`` bool ``keep`` is true."""
        rings = np.repeat(keep, self.ring_counts)
        # np.compress: the rows of a boolean mask, several times faster
        # than indexing an (N, 2) array with it.
        return _PackedParts(
            np.compress(np.repeat(rings, self.ring_sizes), self.points, 0),
            self.ring_sizes[rings], self.ring_counts[keep],
            list(itertools.compress(self.values, keep.tolist())),
            self.features[keep], self.parts[keep])

    def select(self, keep: np.ndarray) -> PackedPolygons:
        """The polygons where ``keep`` is true, as the rasterizer takes
        them."""
        chosen = self.take(keep)
        return PackedPolygons(chosen.points, chosen.ring_sizes,
                              chosen.ring_counts)

    def polygons(self) -> List['MapPolygon']:
        """One :class:`MapPolygon` per polygon, its rings as views."""
        ends = np.cumsum(self.ring_sizes).tolist()
        starts = [0] + ends[:-1]
        rings = [self.points[a:b] for a, b in zip(starts, ends)]
        out = []
        at = 0
        for n, value, feature, part in zip(self.ring_counts.tolist(),
                                           self.values,
                                           self.features.tolist(),
                                           self.parts.tolist()):
            out.append(MapPolygon(rings[at:at + n], value, feature, part))
            at += n
        return out


@dataclass
class MapLabelFile:
    """The content of one map-coordinate label file.

    Attributes:
        path (str): The file read.
        crs (pyproj.CRS | None): From the file's ``crs`` member, if any.
        polygons (list[MapPolygon]): Every drawable polygon (made when first
            asked for; the drawing reads the packed arrays).
        skipped (list[tuple[int, str]]): ``(feature, reason)`` of the
            features that cannot be drawn.
        num_features (int): Number of features in the file.
        values (Counter): How many polygons carry each class value.
        unusable (str | None): For a file with features of which none can
            be drawn, what it holds (see
            :func:`~mmseg_sia.labels.describe_features`).
        unread (int): Features whose coordinates were not read, their class
            being none of ``only`` (:func:`read_map_label_file`); their
            polygons are counted in ``values``.
        packed: The same polygons as flat arrays (every vertex in one
            ``(N, 2)`` array, ring sizes, ring counts, and each polygon's
            class value, feature and part), as the reader made them; None
            once ``polygons`` is set.
    """
    path: str
    crs: object = None
    skipped: List[Tuple[int, str]] = field(default_factory=list)
    num_features: int = 0
    values: Counter = field(default_factory=Counter)
    unusable: Optional[str] = None
    unread: int = 0
    packed: Optional[_PackedParts] = field(default=None, repr=False)
    _polygons: Optional[List['MapPolygon']] = field(default=None,
                                                    repr=False)

    @property
    def polygons(self) -> List['MapPolygon']:
        """Every drawable polygon, one :class:`MapPolygon` each."""
        if self._polygons is None:
            self._polygons = [] if self.packed is None else \
                self.packed.polygons()
        return self._polygons

    @polygons.setter
    def polygons(self, polygons: Sequence['MapPolygon']) -> None:
        self._polygons = list(polygons)
        self.packed = None


def class_value(value: object) -> object:
    """Normalise a class attribute: ``10``, ``10.0`` and ``'10'`` are 10.

    Other strings are kept stripped; None stays None.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip('+-').isdigit():
            return int(text)
        return text
    return value


def _ring(coords: object) -> np.ndarray:
    """One ring as ``(N, 2)`` floats; raises ValueError with the reason."""
    if not isinstance(coords, list):
        raise ValueError(f'a ring is a {type(coords).__name__}, not a list '
                         'of positions')
    try:
        return np.array([(p[0], p[1]) for p in coords], dtype=np.float64)
    except OverflowError:  # an integer beyond the float range
        raise ValueError('NaN or infinite coordinate') from None
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValueError('a ring position is not a list of numbers') from None


def label_crs(data: Mapping, path: str):
    """The CRS named by a GeoJSON file's ``crs`` member, or None."""
    member = data.get('crs')
    if member is None:
        return None
    from .georef import parse_crs
    return parse_crs(member, path, 'crs')


def _structure(geometry: object) -> List[list]:
    """The polygons of a geometry as nested lists, checked cheaply: a list
    of polygons, each a non-empty list of rings, each a list. Raises
    ValueError with the reason."""
    if geometry is None:
        raise ValueError('has no geometry (null)')
    if not isinstance(geometry, dict):
        raise ValueError(f'geometry is a {type(geometry).__name__}, not an '
                         'object')
    kind = geometry.get('type')
    coords = geometry.get('coordinates')
    if kind == 'Polygon':
        polys = [coords]
    elif kind == 'MultiPolygon':
        if not isinstance(coords, list) or not coords:
            raise ValueError('MultiPolygon has no polygons')
        polys = coords
    else:
        raise ValueError(
            f'geometry type {kind!r} is not Polygon or MultiPolygon')
    for poly in polys:
        if not isinstance(poly, list) or not poly:
            raise ValueError('polygon has no rings')
        for ring in poly:
            if not isinstance(ring, list) or not ring:
                raise ValueError('a ring is not a non-empty list of '
                                 'positions')
    return polys


def _positions(rings: List[list]) -> Optional[np.ndarray]:
    """All positions of many rings as one ``(N, 2)`` array, or None when
    they are not all 2 or 3 plain numbers (then each ring is read alone)."""
    # numpy would also read '1.5' or True as a number: the first value of
    # every ring is checked to be a real number (a file that writes
    # coordinates as text does so throughout).
    for ring in rings:
        head = ring[0]
        if not isinstance(head, list) or not head or \
                type(head[0]) not in (int, float):
            return None
    positions = list(itertools.chain.from_iterable(rings))
    sizes = set(map(len, positions))
    if len(sizes) != 1 or not sizes <= {2, 3}:
        return None
    size, = sizes
    try:
        # A flat stream of floats: faster than numpy reading nested lists.
        flat = np.fromiter(itertools.chain.from_iterable(positions),
                           dtype=np.float64, count=size * len(positions))
    except (ValueError, TypeError, OverflowError):
        return None
    return flat.reshape(len(positions), size)[:, :2]


def read_map_label_file(path: Union[str, os.PathLike],
                        attribute: str = 'ANN_CD',
                        strict: bool = False,
                        warn: bool = True,
                        only: Optional[Container] = None) -> MapLabelFile:
    """Read the Polygon and MultiPolygon features of a GeoJSON label file.

    Args:
        path: The ``.json`` / ``.geojson`` FeatureCollection (UTF-8, with or
            without a byte-order mark).
        attribute (str): The property holding the class. Defaults to
            ``'ANN_CD'``.
        strict (bool): Raise on the first feature that cannot be drawn.
            Defaults to False.
        warn (bool): Warn once per file about the features skipped (so a
            file whose features are all unusable, such as a first-release
            file with pixel polygons, is never read as silent background).
            Defaults to True.
        only (Container, optional): Read the coordinates of the features
            whose (normalised) class value is in it, and only count the
            others' polygons in :attr:`MapLabelFile.values` (their
            coordinates are not checked): what a drawing of some classes
            needs. Defaults to None (every feature).

    Returns:
        MapLabelFile: The polygons and what was skipped.

    Raises:
        LabelFileError: When the file is not a FeatureCollection (unreadable,
            not UTF-8, not JSON, no ``features`` list), or in strict mode a
            feature cannot be drawn.
        GeorefError: When its ``crs`` member names no known CRS.
    """
    path = os.fspath(path)
    # Tens of thousands of small lists: keep the cyclic collector (which
    # would scan a training process's whole heap) out of it, as _decode does.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_map_label_file(path, attribute, strict, warn, only)
    finally:
        if gc_enabled:
            gc.enable()


def _read_map_label_file(path: str, attribute: str, strict: bool,
                         warn: bool, only: Optional[Container]
                         ) -> MapLabelFile:
    raw = read_label_bytes(path)
    fast = _read_regular(raw, attribute, only)
    features = None
    if fast is not None:
        crs, num_features, problems = fast.crs, fast.num_features, \
            dict(fast.problems)
        unread, num_unread = Counter(fast.unread), fast.num_unread
        packed = _PackedParts(fast.points, fast.ring_sizes, fast.ring_counts,
                              fast.values, fast.features, fast.parts)
    else:
        data, features = read_feature_collection(path, raw)
        crs, num_features = data.get('crs'), len(features)
        problems, unread, num_unread, packed = _read_features(
            features, attribute, only)
    result = MapLabelFile(path=path, crs=label_crs({'crs': crs}, path),
                          num_features=num_features, unread=num_unread)
    result.values.update(unread)
    packed = _checked_rings(packed, problems)
    if problems:  # the polygons of features skipped left out
        packed = packed.take(np.fromiter(
            (f not in problems for f in packed.features.tolist()), bool,
            len(packed.features)))
    result.packed = packed
    result.values.update(packed.values)
    if problems:
        first = min(problems)
        if strict:
            raise LabelFileError(path, problems[first], feature=first)
        result.skipped = sorted(problems.items())
        if warn:
            warn_skipped(path, result.skipped, num_features,
                         SIAMapLabelWarning, stacklevel=3)
    if num_features and not len(packed.values) and not result.unread:
        # Every feature skipped: say what the file holds as well (a
        # first-release file given to the land-cover reader, ...).
        if features is None:
            features = read_feature_collection(path, raw)[1]
        result.unusable = ('has features but no polygon the reader can use '
                           f'({describe_features(features)["summary"]})')
    return result


def _cached_class_value(cache: Dict[object, object], raw: object) -> object:
    """:func:`class_value`, once per distinct value of a file."""
    try:
        return cache[raw]
    except KeyError:
        value = cache[raw] = class_value(raw)
        return value
    except TypeError:  # a list or object: not hashable
        return class_value(raw)


def _read_regular(raw: bytes, attribute: str, only: Optional[Container]):
    """:func:`mmseg_sia._geojson.read_regular`, or None where msgspec,
    simdjson or numba is missing."""
    try:
        from ._geojson import read_regular
    except ImportError:
        return None
    return read_regular(raw, attribute, only, _cached_class_value)


def _read_features(features: list, attribute: str,
                   only: Optional[Container]):
    """The general reader's walk over parsed features: (problems, unread
    polygons per value, unread features, the polygons packed with their
    closing positions)."""
    problems: Dict[int, str] = {}
    unread: Counter = Counter()
    num_unread = 0
    # Every ring of every usable feature, converted to numbers in one call
    # below; each polygon (part) as (feature, value, part, ring count).
    rings: List[list] = []
    parts: List[Tuple[int, object, int, int]] = []
    normalised: Dict[object, object] = {}  # class_value, once per value
    for index, feature in enumerate(features):
        if not isinstance(feature, dict):
            problems[index] = 'is not an object'
            continue
        props = feature.get('properties')
        if not isinstance(props, dict) or attribute not in props:
            problems[index] = f'has no property {attribute!r}'
            continue
        try:
            polys = _structure(feature.get('geometry'))
        except ValueError as e:
            problems[index] = str(e)
            continue
        value = _cached_class_value(normalised, props[attribute])
        if only is not None and value not in only:
            unread[value] += len(polys)
            num_unread += 1
            continue
        for part, poly in enumerate(polys):
            rings.extend(poly)
            parts.append((index, value, part, len(poly)))
    points = _positions(rings) if rings else None
    if points is not None:
        lens = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
    else:  # irregular positions: ring by ring, with the reason of each
        arrays = []
        for ring in rings:
            try:
                arrays.append(_ring(ring))
            except ValueError as e:
                arrays.append(str(e))
        at = 0
        for index, _, _, n in parts:
            for k, ring in enumerate(arrays[at:at + n], at):
                if isinstance(ring, str):
                    problems.setdefault(index, ring)
                    arrays[k] = _UNREAD_RING  # its feature is skipped
            at += n
        points = np.concatenate(arrays) if arrays else np.zeros((0, 2))
        lens = np.fromiter(map(len, arrays), np.int64, len(arrays))
    return problems, unread, num_unread, _PackedParts(
        points, lens, np.fromiter((n for _, _, _, n in parts), np.int64,
                                  len(parts)),
        [value for _, value, _, _ in parts],
        np.fromiter((i for i, _, _, _ in parts), np.int64, len(parts)),
        np.fromiter((k for _, _, k, _ in parts), np.int64, len(parts)))


def _checked_rings(packed: _PackedParts, problems: Dict[int, str]
                   ) -> _PackedParts:
    """The polygons without the repeated closing positions; rings with a
    NaN or infinite coordinate, or fewer than 3 distinct points, make
    their feature a problem."""
    from ._rasterize import open_rings  # numba: imported when first read

    points, lens = packed.points, packed.ring_sizes
    if not len(lens):
        return packed
    opened = np.empty((len(points), 2))
    count = np.empty_like(lens)
    opened = opened[:open_rings(points, lens, opened, count)]
    finite = np.isfinite(points)
    finite = np.ones(len(lens), bool) if finite.all() else \
        np.logical_and.reduceat(finite.all(1), np.cumsum(lens) - lens)
    bad = np.flatnonzero(~finite | (count < 3))
    if bad.size:
        owner = np.repeat(packed.features, packed.ring_counts)
        for r in bad.tolist():
            problems.setdefault(
                int(owner[r]), 'NaN or infinite coordinate'
                if not finite[r] else
                f'a ring has fewer than 3 distinct points ({count[r]})')
    return dataclasses.replace(packed, points=opened, ring_sizes=count)


def _warn_unknown(values: Counter, cmap: Mapping, source: str) -> None:
    """Warn once about the class values (with their polygon counts) that
    the class map does not hold."""
    unknown = {v: n for v, n in values.items() if v not in cmap}
    if unknown:
        found = ', '.join(f'{v!r} ({n} polygon{"s" if n > 1 else ""})'
                          for v, n in sorted(unknown.items(), key=str))
        warnings.warn(
            f'{source}: class values not in the class map, not drawn: '
            f'{found} (class map {sorted(cmap, key=str)})',
            SIAMapLabelWarning, stacklevel=3)


def map_polygons_by_class(polygons: Sequence[MapPolygon],
                          georef,
                          class_map: Mapping[object, int],
                          crs=None,
                          skip_background: bool = True,
                          source: str = '',
                          warn: bool = True) -> Dict[int, List[np.ndarray]]:
    """Map polygons to the image's pixel plane, grouped by class id.

    Args:
        polygons (Sequence[MapPolygon]): The polygons.
        georef (Georef): The image's georeference.
        class_map (Mapping): Class value (e.g. ``ANN_CD``) -> class id.
        crs (pyproj.CRS, optional): The polygons' CRS; None means the
            image's.
        skip_background (bool): Leave out class 0 (it draws nothing over
            the background of the map). Defaults to True.
        source (str): The file(s) named in warnings.
        warn (bool): Warn about class values not in ``class_map``. Defaults
            to True.

    Returns:
        dict[int, list]: Class id -> pixel polygons: an ``(N, 2)`` ring, or
        a list of rings (exterior and holes) for a polygon with holes.

    Raises:
        GeorefError: When the polygons cannot be brought into the image's
            CRS.
    """
    cmap = {class_value(k): int(v) for k, v in class_map.items()}
    if warn:
        _warn_unknown(Counter(p.value for p in polygons), cmap, source)
    chosen = [
        p for p in polygons if p.value in cmap and not (
            skip_background and cmap[p.value] == 0)
    ]
    by_class: Dict[int, List[np.ndarray]] = {}
    if chosen:
        rings = [r for p in chosen for r in p.rings]
        # All coordinates taken to pixels at once (one pyproj call when the
        # CRSs differ), then cut back into rings as views.
        pixel = georef.map_to_pixel(np.concatenate(rings), crs)
        ends = np.cumsum([len(r) for r in rings]).tolist()
        at = 0
        start = 0
        for p in chosen:
            n = len(p.rings)
            stop = ends[at + n - 1]
            if n == 1:
                # One ring as is.
                drawn = pixel[start:stop]
            else:
                # Exterior and holes as a list of rings, which the
                # rasterizer fills even-odd together.
                drawn = [pixel[a:b] for a, b in zip(
                    [start] + ends[at:at + n - 1], ends[at:at + n])]
            by_class.setdefault(cmap[p.value], []).append(drawn)
            at += n
            start = stop
    return by_class


def describe_label_contents(path: Union[str, os.PathLike]) -> dict:
    """What a label file holds (:func:`~mmseg_sia.labels.describe_features`
    of its features), to say why it gave no polygon.

    Raises:
        LabelFileError: When the file is not a FeatureCollection.
    """
    return describe_features(read_feature_collection(os.fspath(path))[1])


def unusable_reason(path: Union[str, os.PathLike],
                    pixel_keys: Iterable[str] = ('building_imcoords',
                                                 'road_imcoords')
                    ) -> Optional[str]:
    """Why a first-release label file with features gave no pixel polygon,
    or None (see :func:`~mmseg_sia.labels.unusable_message`).

    :func:`~mmseg_sia.labels.read_label_file` gives the same as
    :attr:`LabelFile.unusable`, and warns with it.
    """
    return unusable_message(read_feature_collection(os.fspath(path))[1],
                            pixel_keys)


def rasterize_map_label_files(paths: Iterable[str],
                              georef,
                              class_map: Mapping[object, int],
                              priority: Optional[Sequence[int]] = (2, 1),
                              attribute: str = 'ANN_CD',
                              crs=None,
                              polygons: Sequence[Tuple[object, list]] = (),
                              polygons_crs=None,
                              shape: Optional[Tuple[int, int]] = None,
                              source: str = '',
                              strict: bool = False,
                              warn: bool = True
                              ) -> Tuple[np.ndarray, List[MapLabelFile]]:
    """Read map-coordinate label files and draw them into one class-id map.

    The one drawing path of :class:`LoadPolygonAnnotations` and the dataset
    tools for labels in map coordinates. The polygons' CRS is the file's
    ``crs`` member, else the META file's EPSG (when ``georef`` comes from
    one), else ``crs``, else the image's.

    Args:
        paths (Iterable[str]): GeoJSON label files.
        georef (Georef): The image's georeference.
        class_map (Mapping): Class value -> class id.
        priority (Sequence[int], optional): Overlap priority, as
            :func:`~mmseg_sia.labels.rasterize_polygons`. Defaults to road (2)
            over building (1).
        attribute (str): The class property. Defaults to 'ANN_CD'.
        crs: The labels' CRS when neither file nor META names one (an EPSG
            code, a string or a :class:`pyproj.CRS`).
        polygons (Sequence[tuple]): Further ``(class value, rings)`` already
            read (e.g. from a vector file), in ``polygons_crs``.
        polygons_crs: Their CRS (None: as ``crs``).
        shape (tuple[int, int], optional): ``(height, width)``; defaults to
            the georeference's.
        source (str): Names ``polygons`` in warnings.
        strict (bool): Raise on the first feature that cannot be drawn.
        warn (bool): Warn about skipped features and unmapped values.

    Returns:
        tuple[np.ndarray, list[MapLabelFile]]: The ``uint8`` map and the
        files read, after one for ``polygons`` (when given) named
        ``source``, in ``polygons_crs``.

    Raises:
        LabelFileError: A file that is not a FeatureCollection (or, strict, a
            feature that cannot be drawn).
        GeorefError: Labels that cannot be brought into the image's CRS.
    """
    from .georef import parse_crs

    shape = georef.shape if shape is None else tuple(shape[:2])
    fallback = None if crs is None else parse_crs(crs, None, 'crs (config)')
    if georef.source == 'meta':
        fallback = georef.crs
    skip_zero = 0 not in (priority or ())
    files = []
    if polygons:
        given = MapLabelFile(path=source, crs=polygons_crs,
                             num_features=len(polygons))
        given.polygons = [MapPolygon(list(rings), value, i)
                          for i, (value, rings) in enumerate(polygons)]
        given.values.update(p.value for p in given.polygons)
        files.append(given)
    cmap = {class_value(k): int(v) for k, v in class_map.items()}
    # Only the classes drawn are read to numbers (fields, forests and water
    # of a land-cover tile are left as parsed); strict mode checks all.
    only = None if strict else {
        v for v, c in cmap.items() if c or not skip_zero}
    files += [read_map_label_file(p, attribute, strict, warn, only)
              for p in paths]
    by_class: Dict[int, List[PackedPolygons]] = {}
    for f in files:
        if warn:
            _warn_unknown(f.values, cmap, f.path)
        if f.packed is None:  # given polygons
            for class_id, drawn in map_polygons_by_class(
                    f.polygons, georef, cmap, f.crs or fallback,
                    skip_background=skip_zero, source=f.path,
                    warn=False).items():
                by_class.setdefault(class_id, []).append(
                    PackedPolygons.from_polygons(drawn))
            continue
        # The file's polygons stay packed: their class ids looked up once
        # per value, every point mapped to pixels in one call.
        packed = f.packed
        ids = {v: cmap.get(v, -1) for v in set(packed.values)}
        if skip_zero:
            ids = {v: c if c else -1 for v, c in ids.items()}
        if all(c < 0 for c in ids.values()):
            continue
        classes = np.fromiter((ids[v] for v in packed.values), np.int64,
                              len(packed.values))
        pixel = dataclasses.replace(packed, points=georef.map_to_pixel(
            packed.points, f.crs or fallback))
        for class_id in sorted({c for c in ids.values() if c >= 0}):
            by_class.setdefault(class_id, []).append(
                pixel.select(classes == class_id))
    by_class = {c: _concatenate(packs) for c, packs in by_class.items()}
    return rasterize_polygons(by_class, shape, priority), files


def _concatenate(packs: Sequence[PackedPolygons]) -> PackedPolygons:
    """One :class:`~mmseg_sia.labels.PackedPolygons` of several."""
    if len(packs) == 1:
        return packs[0]
    return PackedPolygons(*(np.concatenate(arrays)
                            for arrays in zip(*packs)))


def draw_map_labels(spec: Mapping,
                    img_path: Optional[str],
                    shape: Tuple[int, int],
                    priority: Optional[Sequence[int]] = (2, 1),
                    strict: bool = False,
                    warn: bool = True) -> tuple:
    """Draw the ``map_labels`` of a data info, as the pipeline does.

    The one place where :class:`LoadPolygonAnnotations` and the dataset
    tools turn a land-cover or vector data info into a class-id map. The
    image's georeference is ``spec['georef']``, else the image's own
    (GeoTIFF tags, world file), else its META file ``spec['meta_path']``.

    Args:
        spec (Mapping): ``class_map`` and ``paths`` (label files, class in
            ``attribute``) and/or ``polygons`` (``(value, rings)`` pairs in
            ``polygons_crs``); optional ``meta_path``, ``crs``, ``georef``,
            ``source`` (see :class:`LoadPolygonAnnotations`).
        img_path (str, optional): The image.
        shape (tuple[int, int]): ``(height, width)`` of the image as loaded.
        priority (Sequence[int], optional): Overlap priority. Defaults to
            road (2) over building (1).
        strict (bool): Raise on the first feature that cannot be drawn.
        warn (bool): Warn about skipped features and unmapped values.

    Returns:
        tuple: ``(seg, files, georef)``: the ``uint8`` map, the
        :class:`MapLabelFile` s drawn (given ``polygons`` first, under
        ``source``) and the georeference used.

    Raises:
        GeorefError: When the image has no georeference, its META file
            cannot be used, or the labels cannot be brought into its CRS.
        LabelFileError: As :func:`read_map_label_file`.
    """
    from .georef import GeorefError, resolve_georef

    georef = spec.get('georef') or resolve_georef(
        img_path, spec.get('meta_path'), shape=shape)
    if georef is None:
        raise GeorefError(
            img_path, 'has no georeference for its map-coordinate labels '
            '(no GeoTIFF tags, no world file, no META file)')
    seg, files = rasterize_map_label_files(
        spec.get('paths', ()), georef, spec['class_map'],
        priority=priority,
        attribute=spec.get('attribute', 'ANN_CD'),
        crs=spec.get('crs'),
        polygons=spec.get('polygons', ()),
        polygons_crs=spec.get('polygons_crs'),
        shape=shape,
        source=spec.get('source', img_path or ''),
        strict=strict,
        warn=warn)
    return seg, files, georef
