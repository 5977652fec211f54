"""A scene's finished polygons as features, and the files they go to.

:func:`_polygon_events` measures each polygon (geodesic area and perimeter,
with pyproj), maps its rings to lon/lat once and makes its GeoJSON feature,
its label-file feature and its GeoPackage record; :func:`_encoded_events`
does the same and encodes them, as a job of a
:class:`~mmseg_sia.apis.workers.WriterPool`. :class:`_FeatureFile` and
:class:`_GpkgLayers` are where :class:`~mmseg_sia.apis.scene.SceneWriter`
writes them: feature by feature, and in batches with pyogrio.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..geo import ring_lengths_m
from ..vectorize import MaskPolygon
from .prediction import (GPKG_FIELDS, LonLatRings, geojson_feature,
                         gpkg_wkbs, label_feature, lonlat_rings,
                         polygon_measures)
from .writers import FeatureStream, dumps_pieces


def _with_lonlat(polys: Sequence[MaskPolygon], transform,
                 vertices: int = 1 << 16, most: int = 256,
                 huge: int = 1 << 20):
    """Yield each polygon with its rings in lon/lat and their geodesic
    lengths, mapped and measured a group of polygons at a time (pyproj's
    cost is mostly per call): up to ``most`` polygons and ``vertices``
    vertices, a larger polygon alone. A polygon's rings are not held here
    once yielded, so the caller can let them go. Those of a polygon of
    ``huge`` vertices or more are a
    :class:`~mmseg_sia.apis.prediction.LonLatRings`, mapped a group of
    rings at a time each time they are read (twice: measures, GeoJSON)
    rather than held: 16 MB per million vertices; their lengths are None
    (measured as the rings are read)."""
    sizes = [len(p.exterior) + sum(map(len, p.holes)) for p in polys]
    i = 0
    while i < len(polys):
        if sizes[i] >= huge:
            yield polys[i], LonLatRings(polys[i], transform, vertices), None
            i += 1
            continue
        j, total = i + 1, sizes[i]
        while j < len(polys) and j - i < most and sizes[j] < huge and \
                total + sizes[j] <= vertices:
            total += sizes[j]
            j += 1
        mapped = lonlat_rings(polys[i:j], transform)
        lengths = ring_lengths_m([r for rings in mapped for r in rings])
        at = 0
        for k in range(j - i):
            n = len(mapped[k])
            yield polys[i + k], _take(mapped, k), lengths[at:at + n]
            at += n
        i = j


def _take(items: list, index: int):
    # The item, no longer held by the list (nor by a local of the caller's
    # frame, as a generator's would be while it waits).
    item, items[index] = items[index], None
    return item


@dataclasses.dataclass
class _PolygonContext:
    """What a scene's finished polygons are measured and written with (sent
    along with each job of a :class:`~mmseg_sia.apis.workers.WriterPool`:
    a few kilobytes pickled)."""
    classes: Tuple[str, ...]
    transform: object
    georef: object
    regularize: Optional[dict]
    measured: bool
    geojson: bool
    labels: bool
    gpkg: bool
    keys: List[str]
    image_id: str
    stamp: str
    geometry: Optional[dict]


def _polygon_events(context: _PolygonContext, polys: List[MaskPolygon],
                    index: int):
    """What :class:`~mmseg_sia.apis.scene.SceneWriter` writes for each
    polygon, in order, as events: ``('count', class_id, area_m2)``,
    ``('geojson', feature)`` (GeoJSON id ``index`` on), ``('json',
    feature)`` and ``('gpkg', layer, wkb, fields)``. The features are lazy:
    their coordinates are written from the rings as the feature is (see
    :class:`~mmseg_sia.apis.writers.LazyJSON`)."""
    if context.regularize is not None and 'building' in context.classes:
        from ..regularize import regularize_polygons
        building = context.classes.index('building')
        mine = [p for p in polys if p.class_id == building]
        if mine:
            done = iter(regularize_polygons(mine, **context.regularize))
            out = []
            for p in polys:
                if p.class_id == building:
                    r = next(done)
                    r.polygon.regularized_iou = r.iou
                    p = r.polygon
                out.append(p)
            polys = out
    transform = context.transform
    # The rings in lon/lat, mapped once for the measures and the GeoJSON.
    pairs = _with_lonlat(polys, transform) if context.measured and \
        transform else ((p, None, None) for p in polys)
    wkbs = gpkg_wkbs(polys, context.georef) if context.gpkg else None
    for poly, lonlat, lengths in pairs:
        c = poly.class_id
        measures = polygon_measures(poly, transform, lonlat, lengths) \
            if context.measured else {}
        yield 'count', c, measures.get('area_m2')
        if context.geojson:
            yield 'geojson', geojson_feature(
                poly, index, context.classes, transform, measures=measures,
                lazy=True, lonlat=lonlat)
            index += 1
        # Let the lon/lat rings go before the label ring and the
        # GeoPackage geometry (each a copy of every vertex) are made.
        lonlat = None
        if context.labels:
            yield 'json', label_feature(
                poly, context.keys, context.classes, context.image_id,
                context.stamp, context.geometry, lazy=True)
        if context.gpkg:
            fields = {k: np.nan if v is None else v
                      for k, v in dict(measures, class_id=c).items()}
            yield 'gpkg', context.classes[c], next(wkbs), fields


def _encoded_events(context: _PolygonContext, polys: List[MaskPolygon],
                    index: int) -> dict:
    """What :func:`_polygon_events` gives, gathered per file, the features'
    JSON text made (a :class:`~mmseg_sia.apis.workers.WriterPool` job):
    ``count`` (the count events), ``geojson`` and ``json`` (the features'
    texts joined as they follow each other in the FeatureCollection) and
    ``gpkg`` (the GeoPackage events)."""
    out: dict = dict(count=[], geojson=[], json=[], gpkg=[])
    for event in _polygon_events(context, polys, index):
        kind = event[0]
        if kind in ('geojson', 'json'):
            out[kind].append(b''.join(dumps_pieces(event[1])))
        else:
            out[kind].append(event)
        del event
    for kind in ('geojson', 'json'):
        out[kind] = (len(out[kind]), b', '.join(out[kind]))
    return out


class _FeatureFile:
    """A FeatureCollection written feature by feature to an open file."""

    def __init__(self, f, head: dict) -> None:
        self.f, self.stream = f, FeatureStream(head)
        f.write(self.stream.head)

    def write(self, feature: dict) -> None:
        for piece in self.stream.feature_pieces(feature):
            self.f.write(piece)

    def write_texts(self, count: int, text: bytes) -> None:
        """Write ``count`` features given as their JSON texts joined by
        ``', '`` (:func:`_encoded_events`)."""
        self.f.write(self.stream.texts(count, text))

    def close(self) -> None:
        self.f.write(self.stream.tail)


class _GpkgLayers:
    """GeoPackage layers appended in batches with pyogrio."""

    def __init__(self, path: str, names: Sequence[str], crs_wkt: str,
                 batch: int) -> None:
        self.path, self.crs, self.batch = path, crs_wkt, batch
        self.pending: Dict[str, list] = {n: [] for n in names}
        self.created = False
        for name in names:  # every layer exists, empty ones too
            self._write(name, [])

    def _write(self, name: str, records: list) -> None:
        from pyogrio.raw import write

        wkb = np.array([r[0] for r in records], dtype=object)
        data = [np.asarray([r[1][k] for r in records], np.float64)
                for k in GPKG_FIELDS]
        # The array holds the WKB alone while GDAL copies it (a scene's
        # road region: a copy of millions of vertices).
        records.clear()
        write(self.path, wkb, data, list(GPKG_FIELDS), layer=name,
              driver='GPKG', geometry_type='Polygon', crs=self.crs,
              append=self.created)
        self.created = True

    def add(self, name: str, wkb: bytes, fields: dict) -> None:
        """Queue a polygon (its WKB, :func:`gpkg_wkbs`) and its fields."""
        self.pending[name].append((wkb, fields))
        # A polygon of many vertices (a road network's region) goes out at
        # once rather than waiting for its batch.
        if len(self.pending[name]) >= self.batch or len(wkb) >= self.BIG:
            self.flush(name)

    #: WKB size (bytes) from which a polygon is written without waiting:
    #: about 65,000 vertices.
    BIG = 1 << 20

    def flush(self, name: Optional[str] = None) -> None:
        for n in [name] if name else list(self.pending):
            if self.pending[n]:
                records, self.pending[n] = self.pending[n], []
                self._write(n, records)
