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
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'LabelFileError', 'SIALabelWarning', 'LabelPolygon', 'LabelFile',
    'DEFAULT_CLASS_MAP', 'DEFAULT_PRIORITY', 'parse_imcoords',
    'read_label_file', 'polygon_coverage', 'rasterize_polygons',
    'rasterize_label_files', 'parse_footprint', 'format_imcoords'
]

#: ``*_imcoords`` key -> class id of the 3-class task.
DEFAULT_CLASS_MAP: Dict[str, int] = {
    'building_imcoords': 1,
    'road_imcoords': 2,
}
#: Class ids from highest to lowest priority where polygons overlap.
DEFAULT_PRIORITY: Tuple[int, ...] = (2, 1)

_EMPTY_VALUES = ('', 'EMPTY')


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


@dataclass
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
    """
    path: str
    polygons: List[LabelPolygon] = field(default_factory=list)
    skipped: List[Tuple[int, str]] = field(default_factory=list)
    num_features: int = 0
    footprint: Optional[np.ndarray] = None
    image_ids: List[str] = field(default_factory=list)


def parse_imcoords(text: str) -> np.ndarray:
    """Parse an ``x1,y1,x2,y2,...`` string into an ``(N, 2)`` float array.

    A trailing comma and surrounding whitespace are accepted.

    Args:
        text (str): The coordinate string.

    Returns:
        np.ndarray: ``(N, 2)`` float64 vertices.

    Raises:
        ValueError: With the reason when the string is not a polygon: a token
            that is not a number, an odd number of values, NaN or infinity, or
            fewer than 3 points.
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
    if values.size < 6:
        raise ValueError(f'fewer than 3 points ({values.size // 2})')
    return values.reshape(-1, 2)


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def format_imcoords(points: np.ndarray, decimals: int = 4) -> str:
    """Write ``(N, 2)`` vertices as an ``x1,y1,x2,y2,...`` string.

    Args:
        points (np.ndarray): ``(N, 2)`` vertices.
        decimals (int): Digits after the decimal point. Defaults to 4.

    Returns:
        str: The coordinate string, without trailing zeros.
    """
    flat = np.asarray(points, dtype=np.float64).reshape(-1)
    return ','.join(
        np.format_float_positional(v, precision=decimals, trim='-')
        for v in flat)


def _decode(path: str) -> dict:
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise LabelFileError(path, f'cannot be read ({e.strerror})') from e
    try:
        text = raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise LabelFileError(
            path, f'is not UTF-8 text (byte {e.start}: {e.reason})') from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LabelFileError(
            path, f'is not valid JSON ({e.msg} at line {e.lineno} '
            f'column {e.colno})') from e


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
    if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    if not np.isfinite(pts).all():
        return None
    return pts


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
            skipped features. Defaults to True.

    Returns:
        LabelFile: The polygons, skipped features and footprint.

    Raises:
        LabelFileError: When the file cannot be read as a FeatureCollection
            (unreadable, not UTF-8, not JSON, no ``features`` list), or in
            strict mode when a feature cannot be drawn.
    """
    path = os.fspath(path)
    keys = tuple(keys)
    data = _decode(path)
    if not isinstance(data, Mapping):
        raise LabelFileError(
            path, f'is not a FeatureCollection (top level is '
            f'{type(data).__name__}, expected an object)')
    features = data.get('features')
    if not isinstance(features, list):
        what = 'missing' if features is None else \
            f'a {type(features).__name__}, not a list'
        raise LabelFileError(
            path, f'is not a FeatureCollection ("features" is {what})')

    result = LabelFile(path=path, num_features=len(features))
    image_ids: Dict[str, None] = {}
    for index, feature in enumerate(features):
        problem = None
        props = feature.get('properties') if isinstance(feature,
                                                        Mapping) else None
        if not isinstance(feature, Mapping):
            problem = 'is not an object'
        elif not isinstance(props, Mapping):
            problem = 'has no "properties" object'
        else:
            if result.footprint is None:
                result.footprint = parse_footprint(feature.get('geometry'))
            image_id = props.get('image_id')
            if isinstance(image_id, str):
                image_ids[image_id] = None
            found = []
            for key in keys:
                text = props.get(key)
                if text is None:
                    continue
                if not isinstance(text, str):
                    problem = (f'{key} is a {type(text).__name__}, '
                               'expected a coordinate string')
                    break
                if text.strip() in _EMPTY_VALUES:
                    continue
                try:
                    points = parse_imcoords(text)
                except ValueError as e:
                    problem = f'{key}: {e}'
                    break
                found.append(
                    LabelPolygon(
                        points=points,
                        key=key,
                        feature=index,
                        type_id=str(props.get('type_id', '') or ''),
                        type_name=str(props.get('type_name', '') or '')))
            else:
                result.polygons.extend(found)
        if problem is not None:
            if strict:
                raise LabelFileError(path, problem, feature=index)
            result.skipped.append((index, problem))
    result.image_ids = list(image_ids)
    if result.skipped and warn:
        listed = '; '.join(f'{i}: {why}' for i, why in result.skipped[:10])
        more = '' if len(result.skipped) <= 10 else \
            f'; ... {len(result.skipped) - 10} more'
        warnings.warn(
            f'{path}: skipped {len(result.skipped)} of {len(features)} '
            f'features that cannot be drawn (feature {listed}{more})',
            SIALabelWarning,
            stacklevel=2)
    return result


def polygon_coverage(polygons: Sequence[np.ndarray], height: int,
                     width: int) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie inside any polygon.

    Scan-line filling, vectorised over every edge of every polygon at once.
    OpenCV's ``fillPoly`` is not used: it rounds vertices to a fixed-point
    grid, includes the pixels its outline touches (not the centre rule), and
    fills several polygons given to one call with the even-odd rule, so
    overlapping polygons cancel. Within one polygon the even-odd rule applies
    (a self-crossing ring leaves holes, as GeoJSON readers do); different
    polygons are united.

    Args:
        polygons (Sequence[np.ndarray]): ``(N_i, 2)`` float vertices ``(x, y)``.
        height (int): Mask height.
        width (int): Mask width.

    Returns:
        np.ndarray: ``(height, width)`` bool mask.
    """
    mask = np.zeros((height, width), dtype=bool)
    polygons = [p for p in polygons if len(p) >= 3]
    if not polygons or height <= 0 or width <= 0:
        return mask
    counts = np.fromiter((len(p) for p in polygons), dtype=np.int64,
                         count=len(polygons))
    pts = np.concatenate(polygons).astype(np.float64, copy=False)
    poly_id = np.repeat(np.arange(len(polygons)), counts)
    starts = np.cumsum(counts) - counts
    nxt = np.arange(len(pts)) + 1
    nxt[starts + counts - 1] = starts
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = x0[nxt], y0[nxt]

    # Row r is crossed by an edge when ylo <= r + 0.5 < yhi (half-open, so
    # a vertex exactly on a scan line is counted once and every row holds an
    # even number of crossings per polygon).
    row0 = np.ceil(np.minimum(y0, y1) - 0.5).clip(0, height)
    row1 = np.ceil(np.maximum(y0, y1) - 0.5).clip(0, height)
    nrows = (row1 - row0).astype(np.int64)
    edges = np.flatnonzero(nrows > 0)
    if edges.size == 0:
        return mask
    nrows = nrows[edges]
    edge = np.repeat(edges, nrows)
    offset = np.arange(edge.size) - np.repeat(np.cumsum(nrows) - nrows, nrows)
    rows = row0[edge].astype(np.int64) + offset
    ex0, ey0 = x0[edge], y0[edge]
    xs = ex0 + (rows + 0.5 - ey0) * (x1[edge] - ex0) / (y1[edge] - ey0)

    order = np.lexsort((xs, rows, poly_id[edge]))
    xs = xs[order]
    rows = rows[order]
    # Consecutive crossings of the same polygon and row bound one span; pixel
    # c is inside when xa <= c + 0.5 < xb.
    col_a = np.ceil(xs[0::2] - 0.5).clip(0, width).astype(np.int64)
    col_b = np.ceil(xs[1::2] - 0.5).clip(0, width).astype(np.int64)
    span_rows = rows[0::2]
    keep = col_a < col_b
    if not keep.any():
        return mask
    span_rows, col_a, col_b = span_rows[keep], col_a[keep], col_b[keep]
    r_lo, r_hi = int(span_rows.min()), int(span_rows.max()) + 1
    stride = width + 1
    base = (span_rows - r_lo) * stride
    size = (r_hi - r_lo) * stride
    delta = np.bincount(base + col_a, minlength=size)
    delta -= np.bincount(base + col_b, minlength=size)
    depth = delta.reshape(r_hi - r_lo, stride)[:, :width].cumsum(axis=1)
    mask[r_lo:r_hi] = depth > 0
    return mask


def rasterize_polygons(polygons: Mapping[int, Sequence[np.ndarray]],
                       shape: Tuple[int, int],
                       priority: Optional[Sequence[int]] = None,
                       background: int = 0) -> np.ndarray:
    """Draw polygons of several classes into one class-id map.

    Args:
        polygons (Mapping[int, Sequence[np.ndarray]]): Class id -> polygons.
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
    seg = np.full((height, width), background, dtype=np.uint8)
    priority = list(priority or [])
    rest = sorted((c for c in polygons if c not in priority), reverse=True)
    # Draw from lowest to highest priority: the last one drawn wins.
    for class_id in reversed(priority + rest):
        polys = polygons.get(class_id)
        if polys:
            seg[polygon_coverage(polys, height, width)] = class_id
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
