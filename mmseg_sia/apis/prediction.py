"""The prediction object: :func:`predict` and :class:`SIAPrediction`.

:func:`predict` is the notebook one-liner: mask, polygons, measures and the
georeference; :class:`SIAPrediction` turns them into the output documents
(label JSON in pixels, GeoJSON in lon/lat) and writes them with
:mod:`mmseg_sia.apis.writers`.
"""
from __future__ import annotations

import itertools
import math
import os
import os.path as osp
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import (Dict, Iterable, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch

from ..geo import GeoTransform, polygon_area_m2, ring_length_m
from ..labels import format_imcoords
from ..vectorize import (MaskPolygon, binary_to_polygons, clean_mask,
                         keyhole_parts, keyhole_ring, ring_signed_area)
from .footprints import resolve_footprint
from .model import _class_count, _default_meta, _unwrap, init_segmentor
from .segment import ImageInput, Progress, load_image, segment_image
from .raster import RasterReader, is_scene, save_mask_cog
from .writers import (DEFAULT_IMAGE_FORMATS, LazyJSON, blend_overlay,
                      dumps_numbers, output_paths, save_gpkg, save_json,
                      save_mask_png, save_overlay_png)

__all__ = ['SIAPrediction', 'predict']


#: Pixel steps between neighbouring skeleton pixels, as counted by
#: :func:`_skeleton_steps`.
_STEPS = ((1, 0), (0, 1), (1, 1), (-1, 1))


def _skeleton_steps(top: np.ndarray, below: np.ndarray) -> Tuple[int, ...]:
    """Steps between skeleton pixels whose upper (or left) pixel lies in
    the rows ``top``, with ``below`` the rows under each of them (zeros
    under the mask's last row), in the order of :data:`_STEPS`: horizontal
    and vertical steps count once, and a diagonal step only where no
    horizontal-vertical pair joins the same two pixels (so corners are not
    counted twice)."""
    p, q = top[:, :-1], top[:, 1:]
    r, t = below[:, :-1], below[:, 1:]
    return (int((p & q).sum()), int((top & below).sum()),
            int((p & t & ~q & ~r).sum()), int((q & r & ~p & ~t).sum()))


def _steps_length(steps: Sequence[int],
                  jacobian: Optional[np.ndarray] = None) -> float:
    """Length of :func:`_skeleton_steps` counts, each step measured through
    ``jacobian`` (pixel step -> metres) when given."""
    jac = np.eye(2) if jacobian is None else np.asarray(jacobian)
    return float(sum(int(n) * np.linalg.norm(jac @ np.array(step, float))
                     for step, n in zip(_STEPS, steps)))


def _skeleton_length(binary: np.ndarray,
                     jacobian: Optional[np.ndarray] = None) -> float:
    """Length of the centre lines of a mask (a road length estimate).

    The mask is thinned to a one-pixel skeleton (scikit-image) and the steps
    between neighbouring skeleton pixels are summed (:func:`_skeleton_steps`).
    With ``jacobian`` (pixel step -> metres), each step is measured on the
    ground.
    """
    from skimage.morphology import skeletonize

    if not binary.any():
        return 0.0
    sk = skeletonize(binary.astype(bool))
    below = np.concatenate((sk[1:], np.zeros((1, sk.shape[1]), bool)))
    return _steps_length(_skeleton_steps(sk, below), jacobian)


def _close(ring: np.ndarray) -> np.ndarray:
    return np.concatenate((ring, ring[:1]))


def _oriented(ring: np.ndarray, positive: bool) -> np.ndarray:
    # RFC 7946: exteriors counter-clockwise, holes clockwise, in the output
    # coordinates (positive shoelace area = counter-clockwise, y up).
    return ring if (ring_signed_area(ring) > 0) == positive else ring[::-1]


def polygon_measures(poly: MaskPolygon,
                     transform: Optional[GeoTransform],
                     lonlat: Optional[List[np.ndarray]] = None,
                     lengths: Optional[Sequence[float]] = None) -> dict:
    """Area and perimeter of one polygon (see
    :meth:`SIAPrediction.polygon_measures`); ``lonlat``: its rings already
    mapped by ``transform``; ``lengths``: their geodesic lengths, already
    measured (:func:`mmseg_sia.geo.ring_lengths_m`)."""
    out = dict(area_px=float(poly.area), perimeter_px=float(
        poly.perimeter), area_m2=None, perimeter_m=None)
    if transform is not None and lonlat and lengths is not None:
        out['area_m2'] = polygon_area_m2(lonlat[0], lonlat[1:])
        out['perimeter_m'] = sum(lengths)
    elif transform is not None:
        lengths: List[float] = []

        def measured(rings):
            # One pass over the rings (``lonlat`` may map them as it goes,
            # see LonLatRings): each ring's length taken as the area reads it.
            for ring in rings:
                lengths.append(ring_length_m(ring))
                yield ring

        rings = measured(lonlat or [transform.pixel_to_lonlat(r)
                                    for r in poly.rings()])
        out['area_m2'] = polygon_area_m2(next(rings), rings)
        out['perimeter_m'] = sum(lengths)
    return out


class LonLatRings:
    """The rings of one polygon in lon/lat, mapped each time they are
    iterated, a group of rings of about ``vertices`` vertices per call of
    ``transform``: for a polygon too large to hold mapped (a scene's road
    region: millions of vertices in hundreds of thousands of holes)."""

    def __init__(self, poly: MaskPolygon, transform: GeoTransform,
                 vertices: int = 1 << 16) -> None:
        self.poly, self.transform, self.vertices = poly, transform, vertices

    def __len__(self) -> int:
        return 1 + len(self.poly.holes)

    def __iter__(self) -> Iterator[np.ndarray]:
        rings = self.poly.rings()
        i = 0
        while i < len(rings):
            j, total = i + 1, len(rings[i])
            while j < len(rings) and total + len(rings[j]) <= self.vertices:
                total += len(rings[j])
                j += 1
            yield from _map_rings(rings[i:j], self.transform)
            i = j


def lonlat_rings(polys: Sequence[MaskPolygon],
                 transform: GeoTransform) -> List[List[np.ndarray]]:
    """The rings of each polygon mapped to lon/lat, all in one call of
    ``transform`` (the same coordinates as ring by ring: the mapping is
    point by point)."""
    pieces = _map_rings([r for p in polys for r in p.rings()], transform)
    if not pieces:
        return [[] for _ in polys]
    out, at = [], 0
    for p in polys:
        n = 1 + len(p.holes)
        out.append(pieces[at:at + n])
        at += n
    return out


def _map_rings(rings: Sequence[np.ndarray],
               transform: GeoTransform) -> List[np.ndarray]:
    # Rings mapped to lon/lat in one call of the transform.
    if not rings:
        return []
    counts = np.fromiter(map(len, rings), np.int64, len(rings))
    points = transform.pixel_to_lonlat(np.concatenate(rings))
    return np.split(points, np.cumsum(counts)[:-1])


def label_keys(classes: Sequence[str], background: Optional[int]
               ) -> List[str]:
    """The ``*_imcoords`` keys of a label feature (object first)."""
    names = [c for i, c in enumerate(classes) if i != background]
    keys = [f'{n}_imcoords' for n in names]
    if 'object_imcoords' not in keys:
        keys = ['object_imcoords'] + keys
    return keys


def footprint_geometry(transform: Optional[GeoTransform]) -> Optional[dict]:
    """The image footprint as a lon/lat Polygon (None without one)."""
    if transform is None:
        return None
    ring = [[float(lon), float(lat), 0] for lon, lat in transform.corners]
    return dict(type='Polygon', coordinates=[ring + [ring[0]]])


#: Vertices formatted at a time when a feature is written lazily.
_CHUNK = 4096


def _imcoords_pieces(parts: Iterable[np.ndarray]):
    # The JSON string of format_imcoords(the concatenated parts), about a
    # chunk of vertices at a time (digits, signs, points and commas need no
    # escaping).
    yield b'"'
    first, held, size = True, [], 0
    for part in itertools.chain(parts, [None]):
        if part is not None:
            held.append(part)
            size += len(part)
        if size and (size >= _CHUNK or part is None):
            text = format_imcoords(np.concatenate(held)).encode('ascii')
            yield text if first else b',' + text
            first, held, size = False, [], 0
    yield b'"'


def _geojson_ring(ring: np.ndarray, index: int, decimals: int
                  ) -> np.ndarray:
    # A lon/lat ring as GeoJSON coordinates: rounded, closed, the exterior
    # (index 0) counter-clockwise and holes clockwise.
    return _close(_oriented(np.round(ring, decimals), index == 0))


def _rings_pieces(rings: Iterable[np.ndarray], decimals: int):
    # The JSON text of geojson_feature's coordinates, one ring at a time.
    yield b'['
    for i, r in enumerate(rings):
        yield (b', ' if i else b'') + dumps_numbers(
            _geojson_ring(r, i, decimals))
    yield b']'


def label_feature(poly: MaskPolygon, keys: Sequence[str],
                  classes: Sequence[str], image_id: str, stamp: str,
                  geometry: Optional[dict], lazy: bool = False) -> dict:
    """One feature of the label JSON (see
    :meth:`SIAPrediction.to_label_json`); with ``lazy``, the coordinate
    string is a :class:`~mmseg_sia.apis.writers.LazyJSON` made a chunk at a
    time while the feature is written (the same bytes)."""
    props = {k: 'EMPTY' for k in keys}
    # Lazily, the ring is made piece by piece as it is written (a scene's
    # road region would otherwise be copied whole).
    props[f'{classes[poly.class_id]}_imcoords'] = LazyJSON(
        lambda: _imcoords_pieces(keyhole_parts(poly))) if lazy else \
        format_imcoords(keyhole_ring(poly))
    props.update(image_id=image_id, ingest_time=stamp, type_id='',
                 type_name=classes[poly.class_id])
    return dict(type='Feature', geometry=geometry, properties=props)


def now_stamp() -> str:
    """``ingest_time`` of the label features written now (UTC)."""
    return datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def geojson_feature(poly: MaskPolygon, index: int, classes: Sequence[str],
                    transform: GeoTransform, decimals: int = 9,
                    measures: Optional[dict] = None,
                    lazy: bool = False,
                    lonlat: Optional[List[np.ndarray]] = None) -> dict:
    """One RFC 7946 feature (see :meth:`SIAPrediction.to_geojson`); with
    ``lazy``, the coordinates are a :class:`~mmseg_sia.apis.writers.LazyJSON`
    made one ring at a time while the feature is written (the same bytes);
    ``lonlat``: the polygon's rings already mapped by ``transform``."""
    rings = (lambda: iter(lonlat)) if lonlat else (
        lambda: (transform.pixel_to_lonlat(r) for r in poly.rings()))
    if lazy:
        coords = LazyJSON(lambda: _rings_pieces(rings(), decimals))
    else:
        coords = [_geojson_ring(r, i, decimals).tolist()
                  for i, r in enumerate(rings())]
    props = {'class': classes[poly.class_id], 'class_id': int(poly.class_id)}
    props.update(measures or polygon_measures(poly, transform, lonlat))
    if hasattr(poly, 'regularized_iou'):
        props['regularized_iou'] = round(poly.regularized_iou, 4)
    return dict(type='Feature', id=index,
                geometry=dict(type='Polygon', coordinates=coords),
                properties=props)


def geojson_head(image_id: str, stem: str, width: int, height: int,
                 transform: GeoTransform) -> dict:
    """The GeoJSON members other than the features."""
    described = transform.to_dict()
    info = dict(image=image_id, width=int(width), height=int(height),
                crs='EPSG:4326', footprint_source=transform.source,
                affine=described['affine'],
                footprint_residual_m=transform.residual_m)
    for key in ('source_crs', 'geotransform', 'affine_is_approximate'):
        if key in described:  # a raster's own georeference (RasterLonLat)
            info[key] = described[key]
    return dict(type='FeatureCollection', name=stem, mmseg_sia=info)


def network_pixel_size(transform: Optional[GeoTransform],
                       default: float = 0.55) -> Union[float, tuple]:
    """Metres per pixel along x and y for the road network: from the
    georeference at the image centre when there is one, else ``default``."""
    if transform is None:
        return default
    jac = transform.metres_per_pixel()
    return (float(np.hypot(*jac[:, 0])), float(np.hypot(*jac[:, 1])))


def save_network(graph, paths: Dict[str, str], transform, head: dict,
                 stem: str, overwrite: bool = False) -> None:
    """Write a road network as ``paths['network']`` (GeoJSON, lon/lat) and
    ``paths['network_gpkg']`` (layer 'road_network': lon/lat in EPSG:4326
    when georeferenced, else pixel coordinates without a CRS), each
    atomically; formats missing from ``paths`` are not written."""
    from ..roads import network_geojson, write_network_gpkg
    if 'network' in paths:
        doc = network_geojson(graph, transform.pixel_to_lonlat)
        save_json(paths['network'], dict(head, name=f'{stem}_road_network'),
                  overwrite, features=iter(doc['features']))
    if 'network_gpkg' in paths:
        to_crs = None if transform is None else transform.pixel_to_lonlat
        write_network_gpkg(paths['network_gpkg'], graph, to_crs,
                           crs=None if to_crs is None else 'EPSG:4326',
                           overwrite=overwrite)


#: Fields of a GeoPackage layer, in order.
GPKG_FIELDS = ('class_id', 'area_m2', 'perimeter_m', 'area_px',
               'perimeter_px')


def gpkg_wkb(poly: MaskPolygon, georef) -> bytes:
    """The polygon in the raster's CRS as WKB: the bytes ``shapely.to_wkb``
    gives for it (little-endian, 2D, rings closed); see :func:`gpkg_wkbs`.
    """
    return next(gpkg_wkbs([poly], georef))


def gpkg_wkbs(polys: Sequence[MaskPolygon], georef) -> Iterator[bytes]:
    """:func:`gpkg_wkb` of each polygon, in order, made together.

    Made with numpy, :data:`_RING_CHUNK` rings at a time whichever
    polygons they belong to, not through shapely Polygons: GEOS keeps three
    doubles per vertex and an object per ring, and its WKB writer grows a
    stream that is then copied twice. For the road region of the 20,000²
    benchmark scene (462,000 holes, 5.8 million vertices) that took the
    peak 696 MiB above the polygon; this, 203 MiB (the WKB and its parts).
    The small polygons of a band share one mapping of their vertices and
    one array of words (made one polygon at a time, the WKB cost 0.008 CPU
    s/MP on a town scene's mask, most of it per call).
    """
    parts: Dict[int, List[bytes]] = {}
    chunk: List[np.ndarray] = []
    owners: List[int] = []
    done = 0  # polygons yielded
    for k, poly in enumerate(polys):
        rings = poly.rings()
        parts[k] = [struct.pack('<BII', 1, 3, len(rings))]  # Polygon, rings
        for ring in rings:
            chunk.append(ring)
            owners.append(k)
            if len(chunk) == _RING_CHUNK:
                _wkb_rings(chunk, owners, parts, georef)
                chunk, owners = [], []
        # Every ring of the polygons before the chunk's first is written.
        while done < (owners[0] if owners else k + 1):
            yield b''.join(parts.pop(done))
            done += 1
    if chunk:
        _wkb_rings(chunk, owners, parts, georef)
    while parts:
        yield b''.join(parts.pop(done))
        done += 1


def _wkb_rings(rings: List[np.ndarray], owners: List[int],
               parts: Dict[int, List[bytes]], georef) -> None:
    # The WKB of pixel rings mapped to the raster's CRS, appended to their
    # owners' parts: each ring its point count (uint32), then its points
    # (2 doubles), all 4-byte words, so the chunk is one uint32 array.
    n = np.fromiter(map(len, rings), np.int64, len(rings))
    xy = georef.pixel_to_map(np.concatenate(rings))
    start = np.cumsum(n) - n
    first = xy[start]
    # Close the rings that are open (as shapely does, on the mapped points).
    shut = (first == xy[start + n - 1]).all(axis=1)
    xy = np.insert(xy, (start + n)[~shut], first[~shut], axis=0)
    n += ~shut
    words = np.empty(len(rings) + 4 * len(xy), '<u4')
    head = np.arange(len(rings)) + 4 * (np.cumsum(n) - n)
    words[head] = n
    points = np.ones(len(words), bool)
    points[head] = False
    words[points] = np.ascontiguousarray(xy, '<f8').view('<u4').ravel()
    end = head + 1 + 4 * n
    owners = np.asarray(owners)
    cut = np.flatnonzero(owners[1:] != owners[:-1]) + 1
    for a, b in zip(np.r_[0, cut], np.r_[cut, len(owners)]):
        parts[int(owners[a])].append(words[head[a]:end[b - 1]].tobytes())


#: Rings mapped at a time by :func:`gpkg_wkbs`.
_RING_CHUNK = 4096


def summary_head(image: str, width: int, height: int,
                 transform: Optional[GeoTransform], georef) -> dict:
    """The first columns of a summary row: image, size, georeference."""
    row = dict(image=image, width=width, height=height,
               georeferenced=transform is not None)
    if georef is not None and georef.crs is not None:
        code = georef.crs.to_epsg(min_confidence=90)
        row['crs'] = f'EPSG:{code}' if code else georef.crs.name
    return row


@dataclass
class SIAPrediction:
    """The result of :func:`predict` for one image.

    Attributes:
        mask (np.ndarray): ``(H, W)`` uint8 class ids, after cleaning; the
            polygons describe it exactly when ``tolerance`` was 0.
        polygons (dict[int, list[MaskPolygon]]): Class id -> polygons in
            pixel coordinates (empty when not vectorized).
        classes (tuple[str]): Class names of the model.
        palette (list[list[int]]): RGB colour of each class.
        transform (GeoTransform, optional): Pixel -> lon/lat map, when the
            footprint is known.
        image_path (str, optional): The image file, when read from one.
        image (np.ndarray, optional): The image in BGR order, whatever order
            an array was given in (kept for overlays).
        background (int, optional): The class not vectorized.
        tolerance (float): Simplification of polygons made on demand (when
            :func:`predict` was called with ``vectorize=False``), in pixels.
        georef (mmseg_sia.georef.Georef, optional): The raster's own CRS and
            transform (GeoTIFF tags, world file, META file), when it has one:
            the mask GeoTIFF and the GeoPackage are written in it.
        scene (bool): The image was read with rasterio (a raster scene): the
            mask is written as a Cloud-Optimized GeoTIFF.
    """
    mask: np.ndarray
    polygons: Dict[int, List[MaskPolygon]]
    classes: Tuple[str, ...]
    palette: List[List[int]]
    transform: Optional[GeoTransform] = None
    image_path: Optional[str] = None
    image: Optional[np.ndarray] = field(default=None, repr=False)
    background: Optional[int] = 0
    tolerance: float = 0.0
    georef: Optional[object] = None
    scene: bool = False

    @property
    def stem(self) -> str:
        """The image's file stem ('image' for an array)."""
        if self.image_path is None:
            return 'image'
        return osp.splitext(osp.basename(self.image_path))[0]

    @property
    def image_id(self) -> str:
        """The image's file name, as label files record it."""
        return osp.basename(self.image_path) if self.image_path else \
            f'{self.stem}.png'

    def overlay(self, opacity: float = 0.5) -> np.ndarray:
        """The image with the prediction blended in, as RGB (for imshow).

        Raises:
            ValueError: When the prediction holds no image.
        """
        if self.image is None:
            raise ValueError('this prediction keeps no image to draw on')
        skip = () if self.background is None else (self.background, )
        return blend_overlay(self.image, self.mask, self.palette, opacity,
                             skip=skip)

    def to_data_sample(self):
        """The mask as mmseg's ``SegDataSample`` (``pred_sem_seg``), e.g. for
        ``mmseg.apis.show_result_pyplot``."""
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        sample = SegDataSample()
        sample.set_metainfo(dict(ori_shape=self.mask.shape,
                                 img_shape=self.mask.shape,
                                 img_path=self.image_path))
        sample.pred_sem_seg = PixelData(
            data=torch.from_numpy(self.mask.astype(np.int64))[None])
        return sample

    def _ensure_polygons(self) -> None:
        # Predictions made with vectorize=False are vectorized on demand.
        if not self.polygons:
            self.polygons = {
                c: binary_to_polygons(self.mask == c, c, self.tolerance)
                for c in range(len(self.classes)) if c != self.background
            }

    def iter_label_features(self) -> Iterator[dict]:
        """The features of :meth:`to_label_json`, one at a time."""
        keys = label_keys(self.classes, self.background)
        self._ensure_polygons()
        geometry = footprint_geometry(self.transform)
        stamp = now_stamp()
        for class_id in sorted(self.polygons):
            for poly in self.polygons[class_id]:
                yield label_feature(poly, keys, self.classes, self.image_id,
                                    stamp, geometry)

    def to_label_json(self) -> dict:
        """The prediction in the dataset's own label schema.

        One feature per polygon, its outline (holes joined by
        :func:`mmseg_sia.vectorize.keyhole_ring`) in
        ``<class>_imcoords`` (pixel coordinates of the image), the other keys
        "EMPTY", ``type_name`` the class name, and the footprint as
        ``geometry`` when known (null otherwise). A folder of these files can
        be used as the labels folder of :class:`SIADataset`.
        """
        return dict(type='FeatureCollection',
                    features=list(self.iter_label_features()))

    def polygon_measures(self, poly: MaskPolygon) -> dict:
        """Area and perimeter of one polygon.

        ``area_px``: the polygon's area in square pixels (exterior less
        holes; the pixel count of the region when not simplified).
        ``perimeter_px``: the length in pixels of its whole boundary, the
        exterior *and every hole* (as shapely's ``Polygon.length``, PostGIS'
        ``ST_Perimeter``). ``area_m2`` / ``perimeter_m``: the same on the
        ground, geodesic on WGS84 (:class:`pyproj.Geod`), with the rings
        mapped to lon/lat; None without a georeference. (pyproj's
        ``Geod.geometry_area_perimeter`` gives the same area but the
        exterior's length only.)
        """
        return polygon_measures(poly, self.transform)

    def _area_m2(self, poly: MaskPolygon) -> float:
        rings = [self.transform.pixel_to_lonlat(r) for r in poly.rings()]
        return polygon_area_m2(rings[0], rings[1:])

    def iter_geojson_features(self, decimals: int = 9) -> Iterator[dict]:
        """The features of :meth:`to_geojson`, one at a time.

        Raises:
            ValueError: When the prediction has no georeference.
        """
        if self.transform is None:
            raise ValueError(
                f'{self.image_id}: no footprint/georeference, so no GeoJSON '
                '(RFC 7946 coordinates are lon/lat); use the label JSON, '
                'whose coordinates are pixels')
        self._ensure_polygons()
        index = 0
        for class_id in sorted(self.polygons):
            for poly in self.polygons[class_id]:
                yield geojson_feature(poly, index, self.classes,
                                      self.transform, decimals)
                index += 1

    def _geojson_head(self) -> dict:
        h, w = self.mask.shape
        return geojson_head(self.image_id, self.stem, w, h, self.transform)

    def to_geojson(self, decimals: int = 9) -> dict:
        """The polygons as a GeoJSON FeatureCollection (RFC 7946).

        Coordinates are lon/lat (EPSG:4326, exteriors counter-clockwise),
        each feature with ``class``, ``class_id`` and the measures of
        :meth:`polygon_measures`; ``mmseg_sia`` records the image, its size
        and the georeference used.

        Args:
            decimals (int): Digits kept of lon/lat. Defaults to 9 (~0.1 mm).

        Raises:
            ValueError: When the prediction has no georeference (a GeoJSON
                file cannot hold pixel coordinates; see
                :meth:`to_label_json`).
        """
        features = list(self.iter_geojson_features(decimals))
        return dict(self._geojson_head(), features=features)

    def gpkg_layers(self) -> Dict[str, tuple]:
        """The polygons in the raster's CRS, one layer per class.

        Returns:
            dict[str, tuple]: Class name -> (shapely polygons in
            :attr:`georef`'s CRS, fields ``class_id``, ``area_m2``,
            ``perimeter_m``, ``area_px``, ``perimeter_px`` as in
            :meth:`polygon_measures`).

        Raises:
            ValueError: Without a georeference that has a CRS.
        """
        import shapely
        return {name: (list(shapely.from_wkb(wkb)) if wkb else [], fields)
                for name, (wkb, fields) in self._gpkg_wkb_layers().items()}

    def _gpkg_wkb_layers(self) -> Dict[str, tuple]:
        """:meth:`gpkg_layers` with each polygon as the WKB the GeoPackage
        stores (:func:`gpkg_wkbs`), as :meth:`save_gpkg` writes it."""
        if self.georef is None or self.georef.crs is None:
            raise ValueError(f'{self.image_id}: no CRS, so no GeoPackage')
        self._ensure_polygons()
        layers = {}
        for class_id, name in enumerate(self.classes):
            if class_id == self.background:
                continue
            polys = self.polygons.get(class_id, [])
            geoms = list(gpkg_wkbs(polys, self.georef))
            fields = {k: [] for k in GPKG_FIELDS}
            for poly in polys:
                fields['class_id'].append(class_id)
                for k, v in self.polygon_measures(poly).items():
                    fields[k].append(np.nan if v is None else v)
            layers[name] = (geoms, fields)
        return layers

    def save_gpkg(self, path: str, overwrite: bool = False) -> str:
        """Write :meth:`gpkg_layers` to a GeoPackage (pyogrio)."""
        layers = self._gpkg_wkb_layers()
        return save_gpkg(path, layers, self.georef.crs.to_wkt(), overwrite)

    def measures(self) -> dict:
        """Per-image figures for the run summary.

        For each class other than background: ``<name>_count`` (polygons),
        ``<name>_area_m2`` (None when not georeferenced) and
        ``<name>_area_px``; for a class named 'road' also ``road_length_m`` /
        ``road_length_px``, the length of its skeleton (centre lines), a road
        length estimate.
        """
        self._ensure_polygons()
        h, w = self.mask.shape
        row = summary_head(self.image_path or self.stem, w, h,
                           self.transform, self.georef)
        jac = self.transform.metres_per_pixel() if self.transform else None
        for class_id, name in enumerate(self.classes):
            if class_id == self.background:
                continue
            polys = self.polygons.get(class_id, [])
            row[f'{name}_count'] = len(polys)
            # The area alone: the perimeters polygon_measures also takes
            # are not in the summary.
            # (math.fsum: the same total in any polygon order.)
            row[f'{name}_area_m2'] = None if self.transform is None else \
                math.fsum(self._area_m2(p) for p in polys)
            row[f'{name}_area_px'] = int((self.mask == class_id).sum())
            if name == 'road':
                binary = self.mask == class_id
                row['road_length_m'] = None if jac is None else \
                    _skeleton_length(binary, jac)
                row['road_length_px'] = _skeleton_length(binary)
        return row

    def class_index(self, name: str) -> int:
        """The id of the class called ``name``.

        Raises:
            ValueError: When the model has no such class.
        """
        if name not in self.classes:
            raise ValueError(f'{self.image_id}: the model has no {name!r} '
                             f'class (classes: {list(self.classes)})')
        return list(self.classes).index(name)

    def road_network(self, pixel_size: float = 0.55, **kwargs):
        """The road network of the mask (:func:`mmseg_sia.roads.
        mask_to_network`); the pixel size comes from the georeference when
        there is one, else ``pixel_size`` (metres)."""
        from ..roads import mask_to_network
        pixel_size = network_pixel_size(self.transform, pixel_size)
        return mask_to_network(self.mask == self.class_index('road'),
                               pixel_size, **kwargs)

    def regularize_buildings(self, **kwargs) -> list:
        """Replace the building polygons by regularized outlines
        (:func:`mmseg_sia.regularize.regularize_polygons`); each keeps its
        IoU against the pixel outline as ``regularized_iou``, which the
        GeoJSON writes."""
        from ..regularize import regularize_polygons
        self._ensure_polygons()
        building = self.class_index('building')
        results = regularize_polygons(self.polygons.get(building, []),
                                      **kwargs)
        for r in results:
            r.polygon.regularized_iou = r.iou
        self.polygons[building] = [r.polygon for r in results]
        return results

    def save(self,
             out_dir: str,
             stem: Optional[str] = None,
             formats: Iterable[str] = DEFAULT_IMAGE_FORMATS,
             overwrite: bool = False,
             opacity: float = 0.5) -> Dict[str, str]:
        """Write ``<stem>_mask.png``, ``<stem>_overlay.png``, ``<stem>.json``
        and ``<stem>.geojson`` (or the ``formats`` asked for).

        Each file is written atomically and streamed (images in bands of
        rows, JSON feature by feature), so writing needs little memory
        beyond the prediction itself. Existing files are kept unless
        ``overwrite`` (checked for all files before any is written). The
        GeoJSON is written only for a georeferenced prediction: without a
        georeference it is left out of the returned paths (the label JSON
        holds the polygons in pixel coordinates).

        Args:
            out_dir (str): Output folder (created if missing).
            stem (str, optional): File stem; defaults to the image's.
            formats (Iterable[str]): Subset of 'mask', 'overlay', 'json',
                'geojson', 'network' (road centre lines as GeoJSON,
                georeferenced only) and 'network_gpkg' (GeoPackage layer
                'road_network': lon/lat in EPSG:4326 when georeferenced,
                else pixel coordinates without a CRS); 'summary' is ignored
                (it is per run).
            overwrite (bool): Replace existing files. Defaults to False.
            opacity (float): Overlay colour weight. Defaults to 0.5.

        Returns:
            dict[str, str]: Format -> written path (no 'geojson' when the
            prediction has no georeference).

        Raises:
            FileExistsError: When a file exists and ``overwrite`` is False.
        """
        paths = output_paths(out_dir, stem or self.stem, formats,
                             scene=self.scene)
        if self.transform is None:
            paths.pop('geojson', None)
            paths.pop('network', None)
        if self.georef is None or self.georef.crs is None:
            paths.pop('gpkg', None)
        if not overwrite:
            existing = [p for p in paths.values() if osp.exists(p)]
            if existing:
                raise FileExistsError(
                    f'{existing[0]} already exists (pass overwrite=True / '
                    '--overwrite to replace it)')
        network = None
        for fmt, path in paths.items():
            if fmt == 'mask' and self.scene:
                h, w = self.mask.shape
                save_mask_cog(path, lambda a, b: self.mask[a:b], h, w,
                              self.georef, self.palette, overwrite)
            elif fmt == 'mask':
                save_mask_png(path, self.mask, overwrite=overwrite)
            elif fmt == 'gpkg':
                self.save_gpkg(path, overwrite)
            elif fmt == 'overlay':
                if self.image is None:
                    raise ValueError('this prediction keeps no image to '
                                     'draw the overlay on')
                skip = () if self.background is None else (self.background, )
                save_overlay_png(path, self.image, self.mask, self.palette,
                                 opacity, skip, overwrite)
            elif fmt == 'json':
                save_json(path, dict(type='FeatureCollection'), overwrite,
                          features=self.iter_label_features())
            elif fmt == 'geojson':
                save_json(path, self._geojson_head(), overwrite,
                          features=self.iter_geojson_features())
            elif fmt in ('network', 'network_gpkg') and network is None:
                network = self.road_network()
                save_network(network, {f: paths[f] for f in (
                    'network', 'network_gpkg') if f in paths},
                    self.transform, self._geojson_head()
                    if self.transform is not None else {}, self.stem,
                    overwrite)
        return paths


def _background_index(classes: Sequence[str]) -> Optional[int]:
    for i, name in enumerate(classes):
        if str(name).lower() in ('background', '_background_', 'bg'):
            return i
    return None


def predict(model,
            image: ImageInput,
            checkpoint: Optional[str] = None,
            device: str = 'cpu',
            footprint=None,
            window: Optional[Union[int, Sequence[int]]] = None,
            stride: Optional[Union[int, Sequence[int]]] = None,
            overlap: Optional[Union[int, Sequence[int]]] = None,
            batch_size: int = 4,
            vectorize: bool = True,
            tolerance: float = 0.0,
            min_area: int = 0,
            hole_area: int = 0,
            opening: int = 0,
            progress: Progress = False,
            channel_order: str = 'bgr',
            keep_image: bool = True,
            bands: Optional[Sequence[int]] = None,
            stretch: Optional[str] = None,
            georef=None) -> SIAPrediction:
    """Segment an image and vectorize the result: the one-call API.

    Args:
        model: A segmentor (from :func:`init_segmentor`,
            ``mmseg.apis.init_model`` or an ``MMSegInferencer``), or a config
            file / ``Config`` to build one with ``checkpoint``.
        image (str | PathLike | np.ndarray): The image (any size): a file,
            or a uint8 array in the channel order ``channel_order`` names
            (BGR by default, as ``cv2.imread`` and mmseg's
            ``inference_model``; pass ``channel_order='rgb'`` for a PIL or
            matplotlib array).
        checkpoint (str, optional): Weights, when ``model`` is a config.
        device (str): Device, when ``model`` is a config. Defaults to 'cpu'.
        footprint: The tile's footprint: None (not georeferenced), 'auto' (a
            label file beside the image, see :func:`find_footprint`), a label
            file path, four ``(lon, lat)`` points in any order, or a
            :class:`GeoTransform`.
        window, stride, overlap, batch_size, progress: See
            :func:`segment_image`.
        channel_order (str): 'bgr' (the default) or 'rgb', the order of an
            array's channels; see :func:`load_image`.
        vectorize (bool): Compute polygons. Defaults to True.
        tolerance (float): Polygon simplification in pixels (0 = exact).
        min_area (int): Drop regions smaller than this (pixels).
        hole_area (int): Fill holes smaller than this (pixels).
        opening (int): Morphological opening size (pixels) against speckle.
        keep_image (bool): Keep the image in the result (for overlays).
            Defaults to True. Scenes (below) keep none.
        bands (Sequence[int], optional): For a raster scene (a file other
            than PNG/JPEG/BMP, read with rasterio in strips, never whole):
            its red, green and blue bands, 1-based; see
            :class:`mmseg_sia.apis.raster.RasterReader`.
        stretch (str, optional): For a raster scene, how its values map to 8
            bit; see :func:`mmseg_sia.apis.raster.parse_stretch`.
        georef (Georef | 'auto', optional): The scene's own georeference
            (CRS and transform), or 'auto' to read it from the raster;
            masks and GeoPackages of a scene are written in it, and the
            GeoJSON transform is derived from it when ``footprint`` is None.

    Returns:
        SIAPrediction: Mask, polygons and georeference.

    Raises:
        FileNotFoundError, ImageReadError, CheckpointMismatchError,
        FootprintError: On bad input; messages name the file.
    """
    if isinstance(model, (str, os.PathLike)) or type(model).__name__ == \
            'Config':
        model = init_segmentor(model, checkpoint, device=device)
    model = _unwrap(model)
    scene = not isinstance(image, np.ndarray) and is_scene(image)
    if scene:
        path = os.fspath(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'image {path} does not exist')
        with RasterReader(path, bands, stretch) as reader, \
                reader.gdal_env():
            mask = segment_image(model, reader, window=window, stride=stride,
                                 overlap=overlap, batch_size=batch_size,
                                 progress=progress)
        img = None
        if isinstance(georef, str) and georef == 'auto':
            from ..georef import read_raster_georef
            georef = read_raster_georef(path)
    else:
        img, path = load_image(image, channel_order)
        mask = segment_image(model, img, window=window, stride=stride,
                             overlap=overlap, batch_size=batch_size,
                             progress=progress)
        if isinstance(georef, str):
            georef = None
    meta = getattr(model, 'dataset_meta', None) or _default_meta(
        _class_count(model))
    classes = tuple(meta['classes'])
    palette = [list(p) for p in (meta.get('palette') or
                                 _default_meta(len(classes))['palette'])]
    background = _background_index(classes)
    class_ids = [c for c in range(len(classes)) if c != background]
    bg_value = 0 if background is None else background
    if opening > 1 or min_area > 0 or hole_area > 0:
        nodata = mask == 255
        mask = clean_mask(mask, class_ids, opening=opening,
                          min_area=min_area, hole_area=hole_area,
                          background=bg_value)
        mask[nodata] = 255
    polygons = {}
    if vectorize:
        polygons = {c: binary_to_polygons(mask == c, c, tolerance)
                    for c in class_ids}
    transform = resolve_footprint(footprint, path, mask.shape)
    if transform is None and georef is not None and georef.crs is not None:
        from ..georef import lonlat_transform
        transform = lonlat_transform(georef)
    return SIAPrediction(mask=mask, polygons=polygons, classes=classes,
                         palette=palette, transform=transform,
                         image_path=path,
                         image=img if keep_image and not scene else None,
                         background=background, tolerance=tolerance,
                         georef=georef, scene=scene)
