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

import gc
import itertools
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from .labels import (LabelFileError, SIALabelWarning, _decode,
                     rasterize_polygons)

__all__ = [
    'LANDCOVER_CODES', 'LANDCOVER_BUILDING_ROAD', 'MapPolygon', 'MapLabelFile',
    'SIAMapLabelWarning', 'class_value', 'read_map_label_file',
    'map_polygons_by_class', 'label_crs',
    'describe_label_contents', 'unusable_reason', 'rasterize_map_label_files'
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

_POLYGON_TYPES = ('Polygon', 'MultiPolygon')


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
class MapLabelFile:
    """The content of one map-coordinate label file.

    Attributes:
        path (str): The file read.
        crs (pyproj.CRS | None): From the file's ``crs`` member, if any.
        polygons (list[MapPolygon]): Every drawable polygon.
        skipped (list[tuple[int, str]]): ``(feature, reason)`` of the
            features that cannot be drawn.
        num_features (int): Number of features in the file.
        values (Counter): How many polygons carry each class value.
    """
    path: str
    crs: object = None
    polygons: List[MapPolygon] = field(default_factory=list)
    skipped: List[Tuple[int, str]] = field(default_factory=list)
    num_features: int = 0
    values: Counter = field(default_factory=Counter)


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
        pts = np.array([(p[0], p[1]) for p in coords], dtype=np.float64)
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValueError('a ring position is not a list of numbers') from None
    if pts.size and not np.isfinite(pts).all():
        raise ValueError('NaN or infinite coordinate')
    if len(pts) > 1 and (pts[0] == pts[-1]).all():
        pts = pts[:-1]
    if len(pts) < 3:
        raise ValueError(f'a ring has fewer than 3 distinct points '
                         f'({len(pts)})')
    return pts


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
    try:
        # A flat stream of floats: faster than numpy reading nested lists.
        flat = np.fromiter(itertools.chain.from_iterable(positions),
                           dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return flat.reshape(len(positions), -1)[:, :2]


def read_map_label_file(path: Union[str, os.PathLike],
                        attribute: str = 'ANN_CD',
                        strict: bool = False,
                        warn: bool = True) -> MapLabelFile:
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
        return _read_map_label_file(path, attribute, strict, warn)
    finally:
        if gc_enabled:
            gc.enable()


def _read_map_label_file(path: str, attribute: str, strict: bool,
                         warn: bool) -> MapLabelFile:
    data = _decode(path)
    if not isinstance(data, dict):
        raise LabelFileError(
            path, f'is not a FeatureCollection (top level is '
            f'{type(data).__name__}, expected an object)')
    features = data.get('features')
    if not isinstance(features, list):
        what = 'missing' if features is None else \
            f'a {type(features).__name__}, not a list'
        raise LabelFileError(
            path, f'is not a FeatureCollection ("features" is {what})')
    result = MapLabelFile(path=path, crs=label_crs(data, path),
                          num_features=len(features))
    problems: Dict[int, str] = {}
    # Every ring of every usable feature, with its feature, value and
    # polygon number, converted to numbers in one call below.
    rings: List[list] = []
    owners: List[Tuple[int, object, int]] = []
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
        value = class_value(props[attribute])
        for part, poly in enumerate(polys):
            rings.extend(poly)
            owners.extend([(index, value, part)] * len(poly))
    arrays: List[object] = []
    points = _positions(rings) if rings else None
    if points is not None:
        lens = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
        ends = np.cumsum(lens)
        starts = ends - lens
        closed = (lens > 1) & (points[starts] == points[ends - 1]).all(1)
        count = lens - closed
        finite = np.logical_and.reduceat(np.isfinite(points).all(1), starts)
        for s, n, ok in zip(starts.tolist(), count.tolist(),
                            finite.tolist()):
            if not ok:
                arrays.append('NaN or infinite coordinate')
            elif n < 3:
                arrays.append(f'a ring has fewer than 3 distinct points '
                              f'({n})')
            else:
                arrays.append(points[s:s + n])
    else:
        for ring in rings:
            try:
                arrays.append(_ring(ring))
            except ValueError as e:
                arrays.append(str(e))
    for (index, _, _), ring in zip(owners, arrays):
        if isinstance(ring, str):
            problems.setdefault(index, ring)
    last = None
    for (index, value, part), ring in zip(owners, arrays):
        if index in problems:
            continue
        if (index, part) != last:
            result.polygons.append(MapPolygon([], value, index, part))
            result.values[value] += 1
            last = (index, part)
        result.polygons[-1].rings.append(ring)
    if problems:
        first = min(problems)
        if strict:
            raise LabelFileError(path, problems[first], feature=first)
        result.skipped = sorted(problems.items())
        if warn:
            listed = '; '.join(f'{i}: {why}'
                               for i, why in result.skipped[:10])
            more = '' if len(result.skipped) <= 10 else \
                f'; ... {len(result.skipped) - 10} more'
            warnings.warn(
                f'{path}: skipped {len(result.skipped)} of {len(features)} '
                f'features that cannot be drawn (feature {listed}{more})',
                SIAMapLabelWarning, stacklevel=3)
    return result


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
    unknown = Counter(p.value for p in polygons if p.value not in cmap)
    if unknown and warn:
        found = ', '.join(f'{v!r} ({n} polygon{"s" if n > 1 else ""})'
                          for v, n in sorted(unknown.items(), key=str))
        warnings.warn(
            f'{source}: class values not in the class map, not drawn: '
            f'{found} (class map {sorted(cmap, key=str)})',
            SIAMapLabelWarning, stacklevel=2)
    chosen = [
        p for p in polygons if p.value in cmap and not (
            skip_background and cmap[p.value] == 0)
    ]
    by_class: Dict[int, List[np.ndarray]] = {}
    if chosen:
        rings = [r for p in chosen for r in p.rings]
        pixel = georef.rings_to_pixel(rings, crs)
        at = 0
        for p in chosen:
            n = len(p.rings)
            # One ring as is; exterior and holes as a list of rings, which
            # the rasterizer fills even-odd together.
            by_class.setdefault(cmap[p.value], []).append(
                pixel[at] if n == 1 else pixel[at:at + n])
            at += n
    return by_class


def describe_label_contents(path: Union[str, os.PathLike]) -> dict:
    """What a label file holds, to say why it gave no polygon.

    Counts, over its features: each non-empty ``*_imcoords`` key (pixel
    polygons of the first release, ``object_imcoords`` being detection
    boxes), ``geometry`` types, whether the geometry is in map coordinates
    (a value beyond lon/lat range) and the ``ANN_CD`` property of the
    land-cover release.

    Args:
        path: A JSON label file.

    Returns:
        dict: ``features`` (int), ``pixel_keys`` (Counter of non-empty
        ``*_imcoords`` keys), ``geometries`` (Counter of geometry types),
        ``map_coordinates`` (bool), ``ann_cd`` (features with ``ANN_CD``)
        and ``summary`` (str).

    Raises:
        LabelFileError: When the file is not a FeatureCollection.
    """
    path = os.fspath(path)
    data = _decode(path)
    features = data.get('features') if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise LabelFileError(path, 'is not a FeatureCollection')
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
                        value.strip() not in ('', 'EMPTY'):
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


def unusable_reason(path: Union[str, os.PathLike],
                    pixel_keys: Iterable[str] = ('building_imcoords',
                                                 'road_imcoords')
                    ) -> Optional[str]:
    """Why a label file with features gave no pixel polygon, or None.

    None when some feature has a polygon under one of ``pixel_keys`` (a
    road file read for buildings only is not a problem).

    Args:
        path: A first-release label file that gave no polygon.
        pixel_keys (Iterable[str]): The polygon keys of the task.

    Returns:
        str | None: The message for the user, naming what was found.
    """
    info = describe_label_contents(path)
    if not info['features'] or any(info['pixel_keys'].get(k)
                                   for k in pixel_keys):
        return None
    return ('has features but no polygon the reader can use (' +
            info['summary'] + ')')


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
        files read.

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
    sources = []
    if polygons:
        sources.append((source, [
            MapPolygon(list(rings), value, i)
            for i, (value, rings) in enumerate(polygons)
        ], polygons_crs))
    files = [read_map_label_file(p, attribute, strict, warn) for p in paths]
    sources += [(f.path, f.polygons, f.crs) for f in files]
    by_class: Dict[int, List[np.ndarray]] = {}
    for where, polys, pcrs in sources:
        for class_id, drawn in map_polygons_by_class(
                polys, georef, class_map, pcrs or fallback,
                skip_background=skip_zero, source=where, warn=warn).items():
            by_class.setdefault(class_id, []).extend(drawn)
    return rasterize_polygons(by_class, shape, priority), files
