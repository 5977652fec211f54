"""Where an image lies on the map: one georeference for every source.

A :class:`Georef` holds an image's coordinate reference system (a
:class:`pyproj.CRS`, or None when the source names none), the affine
transform from its pixel plane to map coordinates (an :class:`affine.Affine`,
as rasterio uses), its size and where the georeference came from. It maps
polygons given in map coordinates (in its own CRS or, reprojected with
pyproj, in another) to the pixel plane, where :mod:`mmseg_sia.labels` draws
them with the project's pixel-centre rule.

The pixel plane is the continuous ``[0, width] x [0, height]`` of the
:mod:`mmseg_sia.labels` convention: pixel ``(r, c)`` has its centre at
``(c + 0.5, r + 0.5)``, which is also rasterio's convention for
``transform * (c + 0.5, r + 0.5)``.

Sources, tried in this order by :func:`resolve_georef`:

* ``'raster'``: the image's own GeoTIFF tags (read with rasterio);
* ``'worldfile'``: a world file next to the image (``.tfw``, ``.pgw``,
  ``.wld``, ...; GDAL reads it with the image), the CRS from a ``.prj``
  file of the same stem or GDAL's ``.aux.xml`` when one is there;
* ``'meta'``: the ``*_META.json`` file of AIHub's land-cover release
  (:func:`read_meta_georef`);
* ``'footprint'``: the lon/lat footprint of an AIHub label file
  (:func:`footprint_georef`, via :func:`mmseg_sia.geo.footprint_transform`).

rasterio and pyproj are imported when first needed, so importing
``mmseg_sia`` stays as fast as without them.
"""
from __future__ import annotations

import functools
import json
import os
import os.path as osp
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .geo import GeoTransform

if TYPE_CHECKING:  # pragma: no cover
    from affine import Affine
    from pyproj import CRS

__all__ = [
    'Georef', 'GeorefError', 'SOURCES', 'parse_crs', 'read_raster_georef',
    'read_meta_file', 'read_meta_georef', 'footprint_georef',
    'resolve_georef', 'transform_points', 'find_meta_file', 'image_georef',
    'lonlat_transform', 'RasterLonLat'
]

#: The sources of a georeference, in the order they are tried.
SOURCES = ('raster', 'worldfile', 'meta', 'footprint')

#: Suffixes of world files (GDAL's names for them).
_WORLD_SUFFIXES = ('.wld', '.tfw', '.tifw', '.tiffw', '.pgw', '.pngw',
                   '.jgw', '.jpgw', '.jpegw', '.bpw', '.bmpw', '.gfw', '.gifw')

#: Fields of a META file and the types they must have.
_META_FIELDS = ('img_width', 'img_height', 'img_resolution',
                'img_coordinate', 'coordinates')


class GeorefError(ValueError):
    """A georeference that cannot be read or used.

    The message names the file and, when there is one, the field.

    Attributes:
        path (str | None): The file.
        field (str | None): The field (or member) that is wrong.
        reason (str): What is wrong.
    """

    def __init__(self, path: Optional[str], reason: str,
                 field: Optional[str] = None) -> None:
        self.path = None if path is None else str(path)
        self.field = field
        self.reason = reason
        where = self.path or 'georeference'
        if field:
            where = f'{where}, field {field!r}'
        super().__init__(f'{where}: {reason}')


def parse_crs(value: object, path: Optional[str] = None,
              field: Optional[str] = None) -> 'CRS':
    """Read a CRS given as an EPSG code, a string or a GeoJSON ``crs`` member.

    Accepted: ``5186``, ``'5186'``, ``'EPSG:5186'``,
    ``'urn:ogc:def:crs:EPSG::5186'``, WKT, a :class:`pyproj.CRS`, and the
    GeoJSON 2008 member ``{"type": "name", "properties": {"name": ...}}``.

    Args:
        value: The CRS as written.
        path (str, optional): The file it comes from, for messages.
        field (str, optional): The field it comes from, for messages.

    Returns:
        pyproj.CRS: The CRS.

    Raises:
        GeorefError: When the value names no CRS pyproj knows (the message
            names the file, the field and the value).
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if isinstance(value, CRS):
        return value
    given = value
    if isinstance(value, dict):
        props = value.get('properties')
        name = props.get('name') if isinstance(props, dict) else None
        if not isinstance(name, str):
            raise GeorefError(
                path, 'is not a named CRS ({"type": "name", "properties": '
                f'{{"name": ...}}}}): {given!r}', field)
        value = name
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GeorefError(path, f'is not a CRS: {given!r}', field)
    if isinstance(value, int) or value.strip().isdigit():
        value = f'EPSG:{int(value)}'
    try:
        return _crs_from_text(value)
    except CRSError as e:
        raise GeorefError(path, f'names no known CRS: {given!r} ({e})',
                          field) from None


@functools.lru_cache(maxsize=128)
def _crs_from_text(text: str) -> 'CRS':
    """pyproj's CRS for a text, made once per process: every label and META
    file of a dataset names the same few (pyproj's CRS objects keep one
    PROJ object per thread, so sharing them across threads is safe)."""
    from pyproj import CRS

    return CRS.from_user_input(text)


@functools.lru_cache(maxsize=64)
def _transformer(src_wkt: str, dst_wkt: str):
    from pyproj import Transformer
    return Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)


#: id(crs) -> (crs, its WKT). pyproj writes the WKT anew on every call
#: (tens of microseconds), and a scene maps each of its polygons' rings.
_WKT: Dict[int, tuple] = {}


def _wkt(crs: 'CRS') -> str:
    held = _WKT.get(id(crs))
    if held is None or held[0] is not crs:
        if len(_WKT) >= 64:
            _WKT.clear()
        held = _WKT[id(crs)] = (crs, crs.to_wkt())  # holds crs: id stays
    return held[1]


@functools.lru_cache(maxsize=1)
def _wgs84() -> 'CRS':
    from pyproj import CRS
    return CRS.from_epsg(4326)


def transform_points(points: np.ndarray, src: 'CRS', dst: 'CRS',
                     path: Optional[str] = None) -> np.ndarray:
    """Reproject ``(N, 2)`` ``(x, y)`` points (longitude first) with pyproj.

    Args:
        points (np.ndarray): ``(N, 2)`` coordinates in ``src``.
        src (pyproj.CRS): Their CRS.
        dst (pyproj.CRS): The CRS wanted.
        path (str, optional): Where the points come from, for messages.

    Returns:
        np.ndarray: ``(N, 2)`` float64 coordinates in ``dst``.

    Raises:
        GeorefError: When pyproj has no transformation between the two, or
            it gives non-finite coordinates (points outside the CRS's area).
    """
    from pyproj.exceptions import ProjError

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if src == dst or pts.size == 0:
        return pts.copy()
    try:
        tr = _transformer(_wkt(src), _wkt(dst))
        x, y = tr.transform(pts[:, 0], pts[:, 1], errcheck=True)
    except ProjError as e:
        raise GeorefError(
            path, f'cannot transform coordinates from {_crs_name(src)} to '
            f'{_crs_name(dst)} ({e})', 'crs') from None
    out = np.column_stack([x, y])
    if not np.isfinite(out).all():
        raise GeorefError(
            path, f'coordinates in {_crs_name(src)} have no place in '
            f'{_crs_name(dst)} (non-finite after transforming)', 'crs')
    return out


def _crs_name(crs: Optional['CRS']) -> str:
    if crs is None:
        return 'no CRS'
    code = crs.to_epsg(min_confidence=90)
    return f'EPSG:{code}' if code else crs.name


@dataclass(frozen=True)
class Georef:
    """An image's place on the map.

    Attributes:
        crs (pyproj.CRS | None): The map's CRS; None when the source names
            none (a world file without ``.prj``).
        transform (affine.Affine): Pixel ``(x, y)`` -> map ``(X, Y)``, on the
            continuous pixel plane (``(0, 0)`` is the outer corner of the
            upper-left pixel).
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        source (str): One of :data:`SOURCES`.
        path (str | None): The file it was read from.
    """
    crs: Optional['CRS']
    transform: 'Affine'
    width: int
    height: int
    source: str
    path: Optional[str] = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f'Georef: source must be one of {SOURCES}, got '
                             f'{self.source!r}')
        if self.width <= 0 or self.height <= 0:
            raise GeorefError(self.path, 'image size must be positive, got '
                              f'{self.width} x {self.height}')
        if abs(self.transform.determinant) == 0 or not np.isfinite(
                list(self.transform)[:6]).all():
            raise GeorefError(self.path, 'affine transform is degenerate: '
                              f'{tuple(self.transform)[:6]}')

    @property
    def shape(self) -> Tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width

    def pixel_to_map(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` pixel ``(x, y)`` to map ``(X, Y)`` in :attr:`crs`."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        t = self.transform
        return np.column_stack([t.a * pts[:, 0] + t.b * pts[:, 1] + t.c,
                                t.d * pts[:, 0] + t.e * pts[:, 1] + t.f])

    def map_to_pixel(self, points: np.ndarray,
                     crs: Optional['CRS'] = None) -> np.ndarray:
        """Map ``(N, 2)`` map coordinates to pixel ``(x, y)``.

        Args:
            points (np.ndarray): ``(N, 2)`` ``(X, Y)`` (longitude first for
                geographic CRSs).
            crs (pyproj.CRS, optional): Their CRS when it is not
                :attr:`crs`; they are reprojected first. None means
                :attr:`crs`.

        Returns:
            np.ndarray: ``(N, 2)`` float64 pixel coordinates.

        Raises:
            GeorefError: When the points have a CRS and this georeference
                has none, or pyproj cannot transform between the two.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if crs is not None and crs != self.crs:
            if self.crs is None:
                raise GeorefError(
                    self.path, f'the image has no CRS ({self.source} '
                    f'georeference) and the polygons are in {_crs_name(crs)}:'
                    ' name the image CRS (a .prj file, or the `crs` '
                    'setting)', 'crs')
            pts = transform_points(pts, crs, self.crs, self.path)
        inv = ~self.transform
        return np.column_stack([inv.a * pts[:, 0] + inv.b * pts[:, 1] + inv.c,
                                inv.d * pts[:, 0] + inv.e * pts[:, 1] + inv.f])

    def rings_to_pixel(self, rings: Sequence[np.ndarray],
                       crs: Optional['CRS'] = None) -> List[np.ndarray]:
        """Map polygon rings to pixel coordinates in one call.

        Args:
            rings (Sequence[np.ndarray]): ``(N_i, 2)`` rings in map
                coordinates.
            crs (pyproj.CRS, optional): As in :meth:`map_to_pixel`.

        Returns:
            list[np.ndarray]: The rings in pixel coordinates, same order.
        """
        if not rings:
            return []
        sizes = np.cumsum([len(r) for r in rings])[:-1]
        return np.split(self.map_to_pixel(np.concatenate(rings), crs), sizes)

    def bounds(self, crs: Optional['CRS'] = None
               ) -> Tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the image on the map.

        Args:
            crs (pyproj.CRS, optional): Give the bounds in this CRS (the
                image outline densified, then reprojected). None means
                :attr:`crs`.
        """
        if crs is None or crs == self.crs:
            corners = self.pixel_to_map([[0, 0], [self.width, 0],
                                         [self.width, self.height],
                                         [0, self.height]])
        else:
            if self.crs is None:
                raise GeorefError(
                    self.path, 'the image has no CRS; its bounds cannot be '
                    f'given in {_crs_name(crs)}', 'crs')
            t = np.linspace(0, 1, 21)
            w, h = self.width, self.height
            edge = np.concatenate([
                np.column_stack([t * w, 0 * t]),
                np.column_stack([w + 0 * t, t * h]),
                np.column_stack([t * w, h + 0 * t]),
                np.column_stack([0 * t, t * h])
            ])
            corners = transform_points(self.pixel_to_map(edge), self.crs, crs,
                                       self.path)
        return (float(corners[:, 0].min()), float(corners[:, 1].min()),
                float(corners[:, 0].max()), float(corners[:, 1].max()))

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return dict(
            crs=None if self.crs is None else self.crs.to_string(),
            transform=[float(v) for v in tuple(self.transform)[:6]],
            width=self.width,
            height=self.height,
            source=self.source,
            path=self.path)


def read_raster_georef(path: Union[str, os.PathLike]) -> Optional[Georef]:
    """The georeference an image carries itself, if any (rasterio/GDAL).

    Args:
        path: The image.

    Returns:
        Georef | None: ``source='raster'`` for GeoTIFF tags,
        ``'worldfile'`` when GDAL took the transform from a world file next
        to the image; None when the image has no transform.

    Raises:
        GeorefError: When GDAL cannot open the image, or its CRS is unknown.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = os.fspath(path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        try:
            # GDAL lists the image's whole folder on open to find side-car
            # files (world file, .aux.xml): a real dataset folder holds tens
            # of thousands of tiles (0.40 ms an open at 20,000 files, 0.12
            # without). Not listing it, GDAL looks for each side-car by name.
            with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN='TRUE'), \
                    rasterio.open(path) as ds:
                transform, crs = ds.transform, ds.crs
                width, height = ds.width, ds.height
                files = [str(f) for f in (ds.files or ())] \
                    if not transform.is_identity else []
        except RasterioIOError as e:
            raise GeorefError(path, f'cannot be opened as a raster ({e})') \
                from None
    if transform.is_identity:
        return None
    world = any(f.lower().endswith(_WORLD_SUFFIXES) for f in files)
    pcrs = None if crs is None else parse_crs(crs.to_wkt(), path, 'crs')
    prj = osp.splitext(path)[0] + '.prj'
    if pcrs is None and osp.isfile(prj):
        # GDAL reads a .prj beside a world file for few formats; read it
        # here for all (ESRI or OGC WKT).
        try:
            with open(prj, encoding='utf-8-sig') as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise GeorefError(prj, f'cannot be read ({e})') from None
        pcrs = parse_crs(text.strip(), prj, 'WKT')
    return Georef(pcrs, transform, int(width), int(height),
                  'worldfile' if world else 'raster', path)


def _decode_meta(path: str) -> object:
    """META JSON in UTF-8, cp949 (EUC-KR) or UTF-16 with a byte-order mark."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise GeorefError(path, f'META file cannot be read ({e.strerror})') \
            from None
    if raw.startswith((b'\xff\xfe', b'\xfe\xff')):
        encodings = ('utf-16', )
    elif raw.startswith(b'\xef\xbb\xbf'):
        encodings = ('utf-8-sig', )
    else:
        encodings = ('utf-8', 'cp949')
    errors = []
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            errors.append(f'not {encoding} (byte {e.start}: {e.reason})')
            continue
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise GeorefError(
                path, f'META file is not valid JSON (read as {encoding}: '
                f'{e.msg} at line {e.lineno} column {e.colno})') from None
    raise GeorefError(
        path, 'META file is not text in UTF-8, cp949/EUC-KR or UTF-16 with '
        'a byte-order mark: ' + '; '.join(errors))


def read_meta_file(path: Union[str, os.PathLike]) -> dict:
    """Read and check the first record of a land-cover ``*_META.json``.

    Args:
        path: The META file.

    Returns:
        dict: ``img_id`` (str or None), ``width``, ``height`` (int),
        ``resolution`` (float, metres per pixel), ``crs`` (pyproj.CRS),
        ``x``, ``y`` (float, the centre of the upper-left pixel).

    Raises:
        GeorefError: When the file is not JSON in any of the accepted
            encodings, is not a list of objects, or a field is missing or
            wrong (the message names the file and the field).
    """
    path = os.fspath(path)
    data = _decode_meta(path)
    if not isinstance(data, list) or not data or not isinstance(
            data[0], dict):
        what = type(data).__name__ if not isinstance(data, list) else (
            'an empty list' if not data else
            f'a list of {type(data[0]).__name__}')
        raise GeorefError(
            path, f'META file is {what}; expected a list whose first element '
            'is an object')
    record = data[0]
    for name in _META_FIELDS:
        if name not in record:
            raise GeorefError(path, 'missing', name)

    def number(name: str, integer: bool = False) -> float:
        value = record[name]
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise GeorefError(path, f'is not a number: {record[name]!r}',
                                  name) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not np.isfinite(value) or value <= 0:
            raise GeorefError(path, 'must be a positive number, got '
                              f'{record[name]!r}', name)
        if integer and value != int(value):
            raise GeorefError(path, 'must be a whole number of pixels, got '
                              f'{record[name]!r}', name)
        return value

    width = int(number('img_width', True))
    height = int(number('img_height', True))
    resolution = float(number('img_resolution'))
    crs = parse_crs(record['img_coordinate'], path, 'img_coordinate')
    coords = record['coordinates']
    parts = coords.split(',') if isinstance(coords, str) else None
    try:
        if parts is None or len(parts) != 2:
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError
    except ValueError:
        raise GeorefError(
            path, 'must be the string "x, y" (centre of the upper-left '
            f'pixel), got {coords!r}', 'coordinates') from None
    img_id = record.get('img_id')
    return dict(img_id=img_id if isinstance(img_id, str) else None,
                width=width, height=height, resolution=resolution, crs=crs,
                x=x, y=y)


def read_meta_georef(path: Union[str, os.PathLike]) -> Georef:
    """The georeference a land-cover META file gives its image.

    ``coordinates`` is the centre of the upper-left pixel, so the plane's
    corner lies half a pixel up and left of it: the transform is
    ``Affine(res, 0, x - res / 2, 0, -res, y + res / 2)`` (north up).

    Args:
        path: The ``*_META.json`` file.

    Returns:
        Georef: ``source='meta'``.

    Raises:
        GeorefError: As :func:`read_meta_file`.
    """
    from affine import Affine

    path = os.fspath(path)
    m = read_meta_file(path)
    res = m['resolution']
    transform = Affine(res, 0.0, m['x'] - res / 2, 0.0, -res, m['y'] + res / 2)
    return Georef(m['crs'], transform, m['width'], m['height'], 'meta', path)


def footprint_georef(label_path: Union[str, os.PathLike], width: int,
                     height: int) -> Optional[Georef]:
    """The georeference an AIHub label file's footprint gives its tile.

    Args:
        label_path: A label file of the first release (footprint as
            ``geometry``).
        width (int): Tile width in pixels.
        height (int): Tile height in pixels.

    Returns:
        Georef | None: ``source='footprint'`` in EPSG:4326 (longitude
        first), or None when the file has no footprint.

    Raises:
        LabelFileError: When the file is not a label file.
        FootprintError: When the footprint is not four usable corners.
    """
    from affine import Affine
    from pyproj import CRS

    from .geo import footprint_transform, read_footprint

    label_path = os.fspath(label_path)
    points = read_footprint(label_path)
    if points is None:
        return None
    fit = footprint_transform(points, width, height, source=label_path)
    (a, b, c), (d, e, f) = fit.matrix.tolist()
    return Georef(CRS.from_epsg(4326), Affine(a, b, c, d, e, f), int(width),
                  int(height), 'footprint', label_path)


def resolve_georef(image_path: Optional[str] = None,
                   meta_path: Optional[str] = None,
                   footprint_path: Optional[str] = None,
                   shape: Optional[Tuple[int, int]] = None,
                   ) -> Optional[Georef]:
    """The georeference of an image from the first source that has one.

    Sources are tried in the order of :data:`SOURCES`: the image itself
    (GeoTIFF tags or a world file), the META file, the label footprint.

    Args:
        image_path (str, optional): The image.
        meta_path (str, optional): Its land-cover META file.
        footprint_path (str, optional): An AIHub label file with its
            footprint.
        shape (tuple[int, int], optional): ``(height, width)`` of the image
            as loaded; a META size that differs raises, and the footprint
            needs it.

    Returns:
        Georef | None: None when no source is given or has a georeference.

    Raises:
        GeorefError: When a source is given but broken, or the META size
            differs from ``shape``.
    """
    if image_path is not None:
        ref = read_raster_georef(image_path)
        if ref is not None:
            return ref
    if meta_path is not None:
        ref = read_meta_georef(meta_path)
        if shape is not None and (ref.height, ref.width) != tuple(shape[:2]):
            image = f'image {image_path}' if image_path else 'image'
            raise GeorefError(
                meta_path, f'gives {ref.width} x {ref.height} pixels but the '
                f'{image} has {shape[1]} x {shape[0]}', 'img_width')
        return ref
    if footprint_path is not None and shape is not None:
        return footprint_georef(footprint_path, int(shape[1]), int(shape[0]))
    return None


@functools.lru_cache(maxsize=256)
def _folder_names(folder: str) -> Tuple[str, ...]:
    """The sorted names in a folder, listed once per process (every image of
    a part looks in the same folders); () when it cannot be listed."""
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return ()


def find_meta_file(image_path: Union[str, os.PathLike],
                   meta_dir: Optional[str] = None) -> Optional[str]:
    """The land-cover META file of an image, if one can be found.

    Names tried: ``<stem>_META.json`` and, for the 1024-pixel parts
    (``X_1024``), ``X_META_1024.json``. Folders tried: ``meta_dir`` when
    given; else the image's own folder, then the release's META folder of
    the image's part (``TS_<part>`` -> ``TL_<part>_Meta``, ``VS_<part>`` ->
    ``VL_<part>_Meta``) beside the image folder or one level up (the
    ``01.원천데이터`` / ``02.라벨링데이터`` split).

    Args:
        image_path: The image.
        meta_dir (str, optional): A folder of META files.

    Returns:
        str | None: The META file.
    """
    image_path = os.fspath(image_path)
    stem = osp.splitext(osp.basename(image_path))[0]
    names = [stem + '_META.json']
    if stem.endswith('_1024'):
        names.append(stem[:-len('_1024')] + '_META_1024.json')
    if meta_dir is not None:
        folders = [meta_dir]
    else:
        img_dir = osp.dirname(osp.abspath(image_path))
        folders = [img_dir]
        part = osp.basename(img_dir)
        if part[:3] in ('TS_', 'VS_'):
            meta_name = f'{part[0]}L_{part[3:]}_Meta'
            parent = osp.dirname(img_dir)
            folders.append(osp.join(parent, meta_name))
            grand = osp.dirname(parent)
            folders += [osp.join(grand, s, meta_name)
                        for s in _folder_names(grand)]
    for folder in folders:
        for name in names:
            path = osp.join(folder, name)
            if osp.isfile(path):
                # Named as the image was: relative to the working folder.
                return path if osp.isabs(image_path) or meta_dir else \
                    osp.relpath(path)
    return None


def image_georef(image_path: Union[str, os.PathLike],
                 meta_dir: Optional[str] = None,
                 shape: Optional[Tuple[int, int]] = None
                 ) -> Optional[Georef]:
    """An image's georeference from itself or its META file (if found).

    Args:
        image_path: The image.
        meta_dir (str, optional): Where to look for its META file (see
            :func:`find_meta_file`).
        shape (tuple[int, int], optional): ``(height, width)`` to check the
            META size against.

    Returns:
        Georef | None: None when neither source has one (the label
        footprint, the last source, is the caller's to try).
    """
    return resolve_georef(os.fspath(image_path),
                          find_meta_file(image_path, meta_dir), None, shape)


@dataclass
class RasterLonLat(GeoTransform):
    """Pixel <-> lon/lat of a raster in its own CRS, exactly, through pyproj.

    A :class:`mmseg_sia.geo.GeoTransform` whose point mappings are not the
    fitted affine but the raster's transform followed by pyproj's
    reprojection, so a scene of any size is placed exactly (a single affine
    map fitted to the corners of a 20,000-pixel UTM scene at 0.55 m is off
    by up to 3.7 m, 6.7 pixels, inside the scene). :attr:`matrix` stays the
    corners' affine fit, for what is local by nature (the pixel's ground
    size at the centre); :attr:`residual_m` is 0 because points do not go
    through it.

    Attributes:
        georef (Georef): The raster's georeference (with a CRS).
    """
    georef: Optional[Georef] = None

    def pixel_to_lonlat(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` pixel ``(x, y)`` points to ``(N, 2)`` lon/lat."""
        return transform_points(self.georef.pixel_to_map(points),
                                self.georef.crs, _wgs84(), self.georef.path)

    def lonlat_to_pixel(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` lon/lat points to pixel ``(x, y)``."""
        return self.georef.map_to_pixel(points, _wgs84())

    def to_dict(self) -> dict:
        """A JSON-ready description: the raster's CRS and transform (what
        points go through) besides the corners and their affine fit."""
        out = super().to_dict()
        out.update(source_crs=_crs_name(self.georef.crs),
                   geotransform=list(self.georef.transform.to_gdal()),
                   affine_is_approximate=True)
        return out


def lonlat_transform(georef: Georef):
    """The georeference as a pixel -> lon/lat map for the writers.

    Points go through the raster's transform and pyproj exactly (see
    :class:`RasterLonLat`), so the inference writers (GeoJSON in RFC 7946
    lon/lat, geodesic areas) work as with a label footprint, without the
    error of one affine map over a large scene.

    Args:
        georef (Georef): A georeference with a CRS.

    Returns:
        RasterLonLat: Its ``source`` is ``georef.path``.

    Raises:
        GeorefError: When the georeference has no CRS.
    """
    from pyproj import CRS

    if georef.crs is None:
        raise GeorefError(georef.path, 'has no CRS: its pixels cannot be '
                          'placed in lon/lat (add a .prj file)', 'crs')
    w, h = georef.width, georef.height
    pixels = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    corners = transform_points(georef.pixel_to_map(pixels), georef.crs,
                               CRS.from_epsg(4326), georef.path)
    # The affine fit to the corners in the raster's own pixel order: a
    # raster may be south-up or turned, so its corners are not reordered
    # north-up as a label footprint's are (that would assign them to the
    # wrong pixel corners: wrong ground sizes along x and y).
    design = np.hstack([pixels, np.ones((4, 1))])
    coef, *_ = np.linalg.lstsq(design, corners, rcond=None)
    return RasterLonLat(matrix=coef.T.copy(), width=w, height=h,
                        corners=corners, source=georef.path, georef=georef)
