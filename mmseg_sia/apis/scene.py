"""Whole raster scenes in memory that does not grow with them.

:func:`predict_scene` runs a model over a georeferenced raster and writes
its outputs in one pass over bands of finished mask rows
(:func:`mmseg_sia.apis.segment.iter_segment_rows`), never holding a
whole-scene array: the mask COG (:class:`mmseg_sia.apis.raster.
MaskCogWriter`), the GeoPackage (pyogrio, appended in batches), the RFC 7946
GeoJSON and the label JSON (streamed feature by feature), and the summary
measures, accumulated as the polygons are finished.

Polygons are seamless: :class:`BandPolygonizer` polygonizes each band with
GDAL (``rasterio.features.shapes``), emits the regions that do not reach the
band's last row at once, and carries the others until no piece of their
region reaches the rows polygonized so far; pieces of one region (pixels of
two bands that are 4-neighbours across the band edge, i.e. pieces sharing a
boundary segment of positive length) are merged with a shapely union. The
result equals polygonizing the whole mask at once
(:func:`mmseg_sia.vectorize.binary_to_polygons`), polygon for polygon.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import os.path as osp
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..geo import ring_lengths_m
from ..vectorize import (MaskPolygon, _canonical_rings, label_shapes,
                         polygons_from_rings, simplify_polygons)
from .prediction import (GPKG_FIELDS, LonLatRings, _background_index,
                         _skeleton_steps, _steps_length, footprint_geometry,
                         geojson_feature, geojson_head, gpkg_wkbs,
                         label_feature, label_keys, lonlat_rings,
                         network_pixel_size, now_stamp, polygon_measures,
                         save_network, summary_head)
from .segment import _bit_columns
from .writers import GPKG_DATE, FeatureStream, dumps_pieces

__all__ = ['BandPolygonizer', 'SceneWriter', 'band_pieces', 'predict_scene',
           'tune_malloc']


class BandPolygonizer:
    """Seamless polygons of one class from consecutive bands of mask rows.

    Feed the bands top to bottom with :meth:`add`, then call
    :meth:`finish`; each returns the polygons completed by then (exact pixel
    outlines in image coordinates, as :func:`mmseg_sia.vectorize.
    binary_to_polygons` gives them), ordered by their top-left pixel within
    one call. Memory: one band plus the pieces of the regions that reach
    the last band's bottom row.

    Args:
        class_id (int): The class polygonized.
        width (int): The width of the rows.
    """

    def __init__(self, class_id: int, width: int) -> None:
        self.class_id = int(class_id)
        self.width = int(width)
        self.next_row = 0
        # Open regions: id -> pieces (GeoJSON-like rings lists), and the id
        # of the region of each pixel of the last band's bottom row.
        self._open: Dict[int, list] = {}
        self._bottom = np.zeros(self.width, np.int64)
        self._ids = 0
        self._seams: List[float] = []  # rows between bands

    def _merge(self, shells: list, stores: list) -> MaskPolygon:
        # shells: the pieces' rings (exterior, then the holes on a band
        # edge, and the inner holes of a band not yet stored); stores: the
        # region's inner holes held as _InnerHoles.
        if len(shells) == 1:
            return _add_holes(polygons_from_rings(shells, self.class_id)[0],
                              stores)
        import shapely

        # Only the rings on a band edge take part in the union: a hole
        # that does not reach its band's edge lies inside its piece, away
        # from every other band, and stays a hole of the region as it is.
        seams = np.asarray(self._seams)
        on_edge = _reach_rows([h for rings in shells for h in rings[1:]],
                              seams)
        inner, pieces = [], []
        at = 0
        for rings in shells:
            edge = []
            for hole, reaches in zip(rings[1:], on_edge[at:]):
                if reaches:
                    edge.append(_densify_seams(hole, seams))
                else:
                    inner.append(hole)
            at += len(rings) - 1
            pieces.append(shapely.Polygon(_densify_seams(rings[0], seams),
                                          edge))
        # The pieces tile the region without overlap; with a vertex at every
        # pixel corner of the band edges, shared edges have the same
        # vertices on both sides, so GEOS' coverage union (linear time)
        # dissolves them exactly.
        geom = shapely.coverage_union_all(pieces)
        if geom.geom_type != 'Polygon':
            # Pieces are only joined across shared edges, so their union
            # is one polygon; anything else is a bug worth a clear error.
            raise RuntimeError(f'merging {len(shells)} pieces of one region '
                               f'gave a {geom.geom_type}')
        return _add_holes(polygons_from_rings(
            [[geom.exterior.coords] + [r.coords for r in geom.interiors] +
             inner], self.class_id)[0], stores)

    def _store_inner(self, y0: int, new: list) -> None:
        # The holes of this band's pieces of still open regions that touch
        # neither band edge are final: put them in canonical form now, all
        # together, and hold them as one array per region (_InnerHoles)
        # rather than an array each. A region spanning the scene (a road
        # network) gathers hundreds of thousands of holes.
        new = [(r, rings) for r, rings in new
               if r in self._open and len(rings) > 1]
        if not new:
            return
        # The band's holes lie within its rows: only its own edges can be
        # reached.
        edge = _reach_rows([h for _, rings in new for h in rings[1:]],
                           np.array([y0, self.next_row], np.float64))
        inner: Dict[int, list] = {}
        at = 0
        for r, rings in new:
            flags = edge[at:at + len(rings) - 1]
            at += len(rings) - 1
            inner.setdefault(r, []).extend(
                h for h, e in zip(rings[1:], flags) if not e)
            rings[1:] = [h for h, e in zip(rings[1:], flags) if e]
        for r, holes in inner.items():
            if holes:
                self._open[r].append(_InnerHoles(_canonical_rings(
                    holes, np.zeros(len(holes), bool))))

    def add(self, y0: int, rows: np.ndarray,
            pieces: Optional[List[list]] = None) -> List[MaskPolygon]:
        """Polygonize the band of rows ``y0:y0 + len(rows)``.

        Args:
            y0 (int): Image row of ``rows[0]``; the bands must follow each
                other without gap.
            rows (np.ndarray): ``(n, width)`` class ids.
            pieces (list, optional): This class's pieces of the band as
                :func:`band_pieces` gives them (polygonized together with
                other classes'); None polygonizes the band here.

        Returns:
            list[MaskPolygon]: The regions completed by this band.

        Raises:
            ValueError: When the band does not follow the previous one.
        """
        rows = np.asarray(rows)
        if y0 != self.next_row or rows.ndim != 2 or \
                rows.shape[1] != self.width:
            raise ValueError(
                f'band at row {y0} of shape {rows.shape} does not follow '
                f'rows 0:{self.next_row} of width {self.width}')
        if not len(rows):
            return []
        self.next_row += len(rows)
        if pieces is None:
            pieces = band_pieces(rows, [self.class_id], y0)[self.class_id]
        if not pieces:
            done = list(self._open.values())
            self._open, self._bottom[:] = {}, 0
            return self._finished(done)
        # Regions of this band: its pieces (GDAL's 4-connected components),
        # piece k with id base + k + 1, above all earlier ones. Which
        # pixels of the band's first and last rows each piece holds is
        # read off its exterior (no plane of labels: 15 MB for a band of
        # 384 x 20,000 pixels).
        base = self._ids
        self._ids += len(pieces) + 1
        top, bottom = _edge_rows([rings[0] for rings in pieces],
                                 (y0, self.next_row), self.width)
        parent = {}

        def root(i: int) -> int:
            while parent.get(i, i) != i:
                i = parent[i]
            return i

        # Pixels 4-adjacent across the band edge: the same region.
        link = (self._bottom > 0) & (top > 0)
        if link.any():
            pairs = np.unique(np.stack([self._bottom[link],
                                        top[link] + base]), axis=1)
            for old, new in pairs.T.tolist():
                a, b = root(old), root(new)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        reaches = set(np.unique(bottom).tolist()) - {0}
        groups: Dict[int, list] = {}
        live = set()
        for old in list(self._open):  # moved: no list keeps them twice
            groups.setdefault(root(old), []).extend(self._open.pop(old))
        new = []  # (region, rings) of this band's pieces
        for k, rings in enumerate(pieces, 1):
            r = root(k + base)
            groups.setdefault(r, []).append(rings)
            new.append((r, rings))
            if k in reaches:
                live.add(r)
        self._open = {r: groups.pop(r) for r in live}
        self._store_inner(y0, new)
        del new
        lut = np.zeros(len(pieces) + 1, np.int64)
        for k in reaches:
            lut[k] = root(k + base)
        self._bottom = lut[bottom]
        self._seams.append(float(self.next_row))
        done = list(groups.values())
        groups.clear()
        return self._finished(done)

    def _finished(self, groups: list) -> List[MaskPolygon]:
        # Each region's pieces are let go once it is merged: a region that
        # spans the scene holds all its holes twice otherwise.
        polys, single = [], []
        while groups:
            pieces = groups.pop()
            stores = [p for p in pieces if isinstance(p, _InnerHoles)]
            shells = [p for p in pieces if not isinstance(p, _InnerHoles)]
            del pieces
            if len(shells) == 1 and not stores:
                single.append(shells[0])
            else:
                polys.append(self._merge(shells, stores))
            del shells, stores
        # Regions of one piece (most) are made canonical together.
        polys += polygons_from_rings(single, self.class_id)
        del single
        polys.sort(key=lambda p: (p.exterior[0, 1], p.exterior[0, 0]))
        return polys

    def finish(self) -> List[MaskPolygon]:
        """The regions still open after the last band."""
        done = list(self._open.values())
        self._open, self._bottom[:] = {}, 0
        return self._finished(done)


def _edge_rows(exteriors: Sequence[np.ndarray], edges: Sequence[float],
               width: int) -> List[np.ndarray]:
    """For each image row edge ``y`` in ``edges`` (a band's top and its
    bottom), which piece holds each pixel along it: an int64 row of
    ``width``, ``k`` for the ``k``-th exterior (from 1), 0 for none.

    A piece of a band holds the pixels of the band's first row whose top
    sides lie on its exterior, on the band's top edge (and so for the last
    row and the bottom edge): outside the band is outside every piece, so
    no hole reaches an edge. GDAL's rings are closed, with vertices on
    pixel corners.
    """
    xy = np.concatenate(exteriors)
    piece = np.repeat(np.arange(1, len(exteriors) + 1),
                      [len(e) for e in exteriors])
    which = piece[:-1]
    # Consecutive vertices of one ring: the exterior's sides.
    side = which == piece[1:]
    out = []
    for y in edges:
        on = side & (xy[:-1, 1] == y) & (xy[1:, 1] == y)
        a = np.minimum(xy[:-1, 0][on], xy[1:, 0][on]).astype(np.int64)
        b = np.maximum(xy[:-1, 0][on], xy[1:, 0][on]).astype(np.int64)
        row = np.zeros(width, np.int64)
        n = b - a
        if n.sum():
            # The columns a:b of every side, with its piece.
            first = np.repeat(np.cumsum(n) - n, n)
            cols = np.repeat(a, n) + np.arange(n.sum()) - first
            row[cols] = np.repeat(which[on], n)
        out.append(row)
    return out


def band_pieces(rows: np.ndarray, class_ids: Sequence[int], y0: int = 0
                ) -> Dict[int, List[List[np.ndarray]]]:
    """GDAL's polygons of every class of a band of class ids, in one pass.

    Polygonizing the band once for all classes, its pixels of other values
    masked, gives each class the pieces that polygonizing its own binary
    band gives (the 4-connected runs of its value), in about half the time
    of a pass per class (0.011 against 0.019 CPU s/MP for buildings and
    roads on a town scene's mask).

    Args:
        rows (np.ndarray): ``(n, width)`` class ids (uint8).
        class_ids (Sequence[int]): The classes polygonized.
        y0 (int): Image row of ``rows[0]``. Defaults to 0.

    Returns:
        dict[int, list]: Class id -> its pieces, each a list of rings
        (``(k, 2)`` float64 pixel-corner coordinates, exterior first).
    """
    rows = np.ascontiguousarray(rows, np.uint8)
    out: Dict[int, List[List[np.ndarray]]] = {int(c): [] for c in class_ids}
    # Compared value by value: np.isin would compare int64 copies of the
    # band (61 MB for 384 x 20,000 pixels).
    inside = np.zeros(rows.shape, bool)
    for c in out:
        inside |= rows == np.uint8(c)
    if inside.any():
        for value, geom in label_shapes(rows, inside, y0):
            out[value].append([np.asarray(ring, np.float64)
                               for ring in geom['coordinates']])
    return out


class _InnerHoles:
    """Canonical holes of one region from one band, as one array of their
    vertices (int32 where they fit, as pixel corners do) and their
    lengths: about a third of the memory of a float64 array per hole."""

    def __init__(self, holes: List[np.ndarray]) -> None:
        self.lens = np.fromiter(map(len, holes), np.int64, len(holes))
        pts = np.concatenate(holes)
        small = pts.astype(np.int32)
        self.pts = small if np.array_equal(small, pts) else pts

    def holes(self) -> List[np.ndarray]:
        return np.split(self.pts.astype(np.float64),
                        np.cumsum(self.lens)[:-1])


def _add_holes(poly: MaskPolygon, stores: Sequence[_InnerHoles]
               ) -> MaskPolygon:
    # The polygon with the stored holes among its own, all ordered by their
    # top-left vertex as polygon_from_rings orders them (no two holes of a
    # region start at the same vertex: it is a corner of the pixel below
    # and right of it, which is in one hole only).
    if not stores:
        return poly
    holes = list(poly.holes)
    for store in stores:
        holes += store.holes()
    first = np.array([h[0] for h in holes])
    order = np.lexsort((first[:, 0], first[:, 1]))
    return MaskPolygon(poly.exterior, [holes[i] for i in order.tolist()],
                       poly.class_id)


def _reach_rows(holes: Sequence[np.ndarray], rows: np.ndarray
                ) -> List[bool]:
    """Whether each hole reaches a band edge: its top or bottom row is one
    of ``rows`` (the hole then may continue in the next band, and is
    merged across it; one that does not lies inside its piece for good)."""
    if not holes:
        return []
    lens = np.fromiter(map(len, holes), np.int64, len(holes))
    starts = np.cumsum(lens) - lens
    ys = np.concatenate(holes)[:, 1]
    return (np.isin(np.minimum.reduceat(ys, starts), rows) |
            np.isin(np.maximum.reduceat(ys, starts), rows)).tolist()


def _densify_seams(ring: np.ndarray, seams: Sequence[float]) -> np.ndarray:
    """A closed ring with a vertex at every integer x of its horizontal
    edges that lie on a band edge (a row in ``seams``)."""
    y = ring[:, 1]
    flat = (y[:-1] == y[1:]) & np.isin(y[:-1], seams)
    if not flat.any():
        return ring
    x0, x1 = ring[:-1, 0], ring[1:, 0]
    steps = np.where(flat, np.abs(x1 - x0), 1).astype(np.int64)
    start = np.repeat(np.arange(len(steps)), steps)
    offset = np.arange(len(start)) - np.repeat(np.cumsum(steps) - steps,
                                                steps)
    sign = np.sign(x1 - x0)[start]
    out = np.empty((len(start) + 1, 2))
    out[:-1, 0] = x0[start] + np.where(flat[start], offset * sign, 0)
    out[:-1, 1] = y[:-1][start]
    out[-1] = ring[-1]
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


class _Beside:
    """Calls made in order in one thread of their own, at most ``ahead``
    of them waiting; an error in one is raised by the next :meth:`submit`
    or by :meth:`wait`: as it is, or as a RuntimeError with ``what`` in
    front of it when ``what`` is given."""

    def __init__(self, what: Optional[str] = None, ahead: int = 2,
                 name: str = 'sia-beside') -> None:
        self.what, self.ahead = what, ahead
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.jobs: collections.deque = collections.deque()

    def _result(self, job) -> None:
        if self.what is None:
            job.result()
            return
        try:
            job.result()
        except Exception as e:
            raise RuntimeError(f'{self.what}: {e}') from e

    def submit(self, fn, *args) -> None:
        self.jobs.append(self.pool.submit(fn, *args))
        while len(self.jobs) > self.ahead or (self.jobs and
                                               self.jobs[0].done()):
            self._result(self.jobs.popleft())

    def wait(self) -> None:
        while self.jobs:
            self._result(self.jobs.popleft())

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _RoadLength:
    """The road skeleton length of the summary, streamed: the same number
    :func:`mmseg_sia.apis.prediction._skeleton_length` gives for the whole
    mask, from bands of rows.

    scikit-image thins with Zhang and Suen's method, whose passes each
    decide a pixel from its 8 neighbours only; a region ``w`` pixels from
    its edge at most is thinned within about ``2 w`` passes, so a pixel's
    skeleton depends on the mask within that many pixels of it. Each band
    of ``block`` rows is thinned with ``halo`` rows of context above and
    below, ``halo`` at least twice the widest road's distance to its edge
    (taxicab, measured in the band and its context) plus a margin; a band
    whose roads are wider waits for more rows. The same holds across
    columns: the band is thinned :attr:`COLUMNS` columns at a time with
    ``halo`` columns of context on either side. The steps between skeleton
    pixels are counted for the pairs whose upper (or left) pixel lies in
    the band and the chunk.

    Memory: the rows kept are bits (an eighth of a boolean plane), and the
    thinning and the distances are made for one chunk of columns and its
    context, not across the scene's width (at 20,000 pixels wide, 1-2 MB
    against 23 MB for the skeleton and 21 MB for the distances). The
    context grows with the widest road, not with the scene. At least
    ``RETAIN`` rows are kept above the next band (roads up to about
    ``RETAIN / 2`` pixels from their edge); a road wider than what is kept
    gives a warning that the length near it may differ slightly from the
    whole mask's.
    """

    MARGIN = 8
    RETAIN = 256
    #: Columns thinned at a time (besides their context).
    COLUMNS = 2048
    #: Columns of context on either side of a chunk whose roads' distances
    #: to their edges are measured (8-bit distances: below 255).
    REACH_CONTEXT = 254

    def __init__(self, class_id: int, width: int, block: int = 512,
                 threads: int = 0) -> None:
        self.class_id, self.width, self.block = class_id, width, block
        # Chunks of columns thinned at once (scikit-image lets go of the
        # GIL); the caller shuts them down (close()).
        self.threads = ThreadPoolExecutor(
            threads, thread_name_prefix='sia-road-length') \
            if threads > 1 and width > self.COLUMNS else None
        # Mask rows top:top + len, eight pixels a byte (np.packbits).
        self.rows = np.zeros((0, (width + 7) // 8), np.uint8)
        self.top = 0
        self.done = 0  # rows whose steps are counted
        # steps right, down, diagonal (+1, +1), anti-diagonal (-1, +1)
        self.steps = np.zeros(4, np.int64)
        self.retain = self.RETAIN
        self.warned = False

    def add(self, y0: int, rows: np.ndarray) -> None:
        self.add_road(np.packbits(rows == self.class_id, axis=1))

    def add_road(self, bits: np.ndarray) -> None:
        """The next band's road pixels, packed (``np.packbits(road,
        axis=1)``)."""
        self.rows = np.concatenate((self.rows, bits))
        self._count(final=False)

    def _road(self, a: int, b: int, c0: int, c1: int) -> np.ndarray:
        """Road pixels of image rows ``a:b``, columns ``c0:c1`` (bool)."""
        return _bit_columns(self.rows[a - self.top:b - self.top], c0, c1)

    def _reach(self, a: int, b: int) -> int:
        """The largest taxicab distance from a road pixel of rows ``a:b`` to
        the nearest other pixel or the rows' edge (the scene's columns end
        the rows too)."""
        # OpenCV's L1 transform is exact (as scipy's taxicab one) and 3-5x
        # faster; in 8 bits (exact below 255) it takes a quarter of the
        # memory of floats and a sixth of the time. Made chunk by chunk with
        # REACH_CONTEXT columns on either side: padded with zeros there as
        # at the rows' edges, a chunk's distances are the whole rows' where
        # they are at most that context, so a larger one is measured again
        # across the width, in floats (a road over 255 pixels from its edge
        # needs floats anyway).
        width, ctx, reach = self.width, self.REACH_CONTEXT, 0
        for c0 in range(0, width, self.COLUMNS):
            c1 = min(width, c0 + self.COLUMNS)
            lo, hi = max(0, c0 - ctx), min(width, c1 + ctx)
            padded = np.pad(self._road(a, b, lo, hi), 1).view(np.uint8)
            dist = cv2.distanceTransform(padded, cv2.DIST_L1, 3,
                                         dstType=cv2.CV_8U)
            reach = max(reach, int(dist[1:-1, 1 + c0 - lo:1 + c1 - lo].max()))
            if reach > ctx:
                padded = np.pad(self._road(a, b, 0, width), 1).view(np.uint8)
                return int(cv2.distanceTransform(padded, cv2.DIST_L1,
                                                 3).max())
        return reach

    def _count(self, final: bool) -> None:
        from skimage.morphology import skeletonize

        end = self.top + len(self.rows)  # rows received
        width, halo = self.width, 2 * self.MARGIN
        while self.done < end:
            y1 = min(self.done + self.block, end)
            a = max(self.top, self.done - halo)
            if a > self.done - halo and a > 0 and not self.warned:
                import warnings
                warnings.warn(
                    f'road length: the road at row {self.done} needs '
                    f'{halo} rows of context above and {self.done - a} '
                    'are kept; the length near it may differ slightly '
                    'from that of the whole mask')
                self.warned = True
            b = min(end, y1 + 1 + halo)
            if b - y1 - 1 < halo and not final:
                return  # the context below is not here yet
            need = 2 * self._reach(a, b) + self.MARGIN
            if need > halo:
                halo = need
                continue  # again with the wider context (or wait for it)
            # Pairs whose upper (or left) pixel is in rows done:y1 and
            # columns c0:c1; column c1 is thinned too, for the steps that
            # reach it from c1 - 1.
            rows = slice(self.done - a, y1 - a)

            def chunk(c0: int, a=a, b=b, halo=halo,
                      rows=rows) -> np.ndarray:
                c1 = min(width, c0 + self.COLUMNS)
                lo, hi = max(0, c0 - halo), min(width, c1 + 1 + halo)
                sk = skeletonize(self._road(a, b, lo, hi))
                sk = sk[:, c0 - lo:min(c1 + 1, width) - lo]
                top, below = sk[rows], sk[rows.start + 1:rows.stop + 1]
                below = np.concatenate((below, np.zeros(
                    (len(top) - len(below), sk.shape[1]), bool)))
                steps = np.array(_skeleton_steps(top, below))
                if c1 < width:  # column c1's down steps are the next chunk's
                    steps[1] -= int((top[:, -1] & below[:, -1]).sum())
                return steps

            starts = range(0, width, self.COLUMNS)
            # Integer counts: their sum does not depend on the order.
            for steps in (self.threads.map(chunk, starts) if self.threads
                          else map(chunk, starts)):
                self.steps += steps
            self.done = y1
            # Keep only what later bands can use as context.
            self.retain = max(self.retain, halo)
            keep = max(self.top, self.done - self.retain)
            self.rows = self.rows[keep - self.top:]
            self.top = keep

    def close(self) -> None:
        if self.threads is not None:
            self.threads.shutdown(wait=True, cancel_futures=True)

    def result(self, jacobian) -> Tuple[Optional[float], float]:
        self._count(final=True)
        self.rows = np.zeros((0, (self.width + 7) // 8), np.uint8)
        length_m = None if jacobian is None else _steps_length(
            self.steps, jacobian)
        return length_m, _steps_length(self.steps)


class _Aborted(Exception):
    """The scene stopped before its last row (the network thread ends)."""


class _RoadNetwork:
    """The road network of a scene, built in a thread of its own while the
    scene's bands arrive (:func:`mmseg_sia.roads.mask_rows_to_network`).

    The writer hands each band's road pixels to :meth:`write`; the thread
    reads them as its bands of rows and their context become complete, so
    the filling, distances and thinning of the roads (OpenCV and
    scikit-image, which let go of the GIL) run beside the polygon writer
    instead of after it; the graph is pruned and joined once the last row
    is in. The rows are held bit-packed, and only as far back as the
    network can still ask for them (its widest context above a band).

    Args:
        height (int): Scene height.
        width (int): Scene width.
        kwargs (dict): Keyword arguments of ``mask_rows_to_network``.
    """

    def __init__(self, height: int, width: int, kwargs: dict) -> None:
        from ..roads import _DEFAULT_BLOCK, _DEFAULT_HALO, _MAX_HALO
        self.height, self.width, self.kwargs = height, width, dict(kwargs)
        # Rows above the one read last that a later read may still ask for
        # (a band read again with more context, the context of the next).
        self.keep = max(self.kwargs.get('halo', _DEFAULT_HALO),
                        self.kwargs.get('max_halo', _MAX_HALO)) + \
            self.kwargs.get('block', _DEFAULT_BLOCK)
        self.bands: collections.OrderedDict = collections.OrderedDict()
        self.received = 0
        self.stop = False
        self.ready = threading.Condition()
        self.graph = self.error = None

    def __enter__(self) -> '_RoadNetwork':
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='sia-road-network')
        self.thread.start()
        return self

    def write(self, y0: int, bits: np.ndarray) -> None:
        """Hand over the road pixels of rows ``y0:y0 + len(bits)``, packed
        (``np.packbits(road, axis=1)``)."""
        with self.ready:
            self.bands[y0] = (len(bits), bits)
            self.received = y0 + len(bits)
            self.ready.notify()

    def _read(self, a: int, b: int) -> np.ndarray:
        with self.ready:
            while self.received < b and not self.stop:
                self.ready.wait()
            if self.received < b:
                raise _Aborted
            parts = []
            for y0, (n, packed) in list(self.bands.items()):
                if y0 + n <= a - self.keep:  # never asked for again
                    del self.bands[y0]
                elif y0 < b and y0 + n > a:
                    parts.append((y0, n, packed))
        if not parts or parts[0][0] > a:
            raise RuntimeError(f'road network: rows {a}:{b} were asked for '
                               'after they were let go')
        rows = np.unpackbits(np.concatenate([p for _, _, p in parts]),
                             axis=1, count=self.width)
        first = parts[0][0]
        return rows[a - first:b - first]

    def _run(self) -> None:
        from ..roads import mask_rows_to_network
        try:
            self.graph = mask_rows_to_network(
                self._read, self.height, self.width, None, **self.kwargs)
        except _Aborted:
            pass
        except BaseException as e:  # reaches the writer in network()
            self.error = e

    def network(self):
        """The network, once every row is written."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.graph

    def __exit__(self, *exc) -> bool:
        with self.ready:
            self.stop = True
            self.bands.clear()
            self.ready.notify()
        self.thread.join()
        return False


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
    """What :class:`SceneWriter` writes for each polygon, in order, as
    events: ``('count', class_id, area_m2)``, ``('geojson', feature)``
    (GeoJSON id ``index`` on), ``('json', feature)`` and ``('gpkg', layer,
    wkb, fields)``. The features are lazy: their coordinates are written
    from the rings as the feature is (see :class:`LazyJSON`)."""
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


#: Vertices from which a polygon is measured and written by the writer's
#: own thread when there is a pool: its encoded GeoJSON (about 40 bytes a
#: vertex) would otherwise be held whole, in the worker and here.
POOL_VERTICES = 1 << 18


class SceneWriter:
    """The outputs of one scene, written from bands of finished mask rows.

    Open it (a context manager), :meth:`add` the bands top to bottom, then
    read :attr:`row` (the summary measures, as
    :meth:`mmseg_sia.apis.prediction.SIAPrediction.measures` gives them for
    the whole mask). Every file is written to a temporary name and
    published on a clean exit only (:func:`mmseg_sia.fileio.atomic_output`).

    Args:
        paths (dict[str, str]): Format -> path, of 'mask' (COG), 'gpkg',
            'geojson', 'json'; other formats are ignored.
        height (int): Scene height.
        width (int): Scene width.
        classes (Sequence[str]): Class names of the model.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        image_path (str): The scene file (ids and the summary's image).
        georef (mmseg_sia.georef.Georef, optional): The raster's CRS and
            transform (mask and GeoPackage); a GeoPackage needs a CRS.
        transform (GeoTransform, optional): Pixel -> lon/lat (GeoJSON,
            metric measures); a GeoJSON needs one.
        tolerance (float): Simplification of the polygons in pixels.
            Defaults to 0 (exact outlines).
        regularize (dict, optional): Keyword arguments of
            :func:`mmseg_sia.regularize.regularize_polygons` to straighten
            the building outlines with; None leaves them as traced.
        summary (bool): Accumulate the summary measures. Defaults to True.
        overwrite (bool): Replace existing files. Defaults to False.
        batch (int): GeoPackage features appended at a time. Defaults to
            1024.
        network (dict, optional): Keyword arguments of
            :func:`mmseg_sia.roads.mask_rows_to_network` for the 'network'
            and 'network_gpkg' formats (built in a thread of its own as the
            bands arrive, see :class:`_RoadNetwork`).
        pool (WriterPool, optional): Processes that polygonize the bands
            and measure and encode the polygons
            (:class:`mmseg_sia.apis.workers.WriterPool`); the files are
            the same byte for byte. Defaults to None (all in the thread
            that calls :meth:`add`).
    """

    def __init__(self, paths: Dict[str, str], height: int, width: int,
                 classes: Sequence[str],
                 palette: Sequence[Sequence[int]], image_path: str,
                 georef=None, transform=None, tolerance: float = 0.0,
                 regularize: Optional[dict] = None, summary: bool = True,
                 overwrite: bool = False, batch: int = 1024,
                 network: Optional[dict] = None, pool=None) -> None:
        self.paths = {k: v for k, v in paths.items()
                      if k in ('mask', 'gpkg', 'geojson', 'json', 'network',
                               'network_gpkg')}
        for fmt in ('geojson', 'network'):
            if fmt in self.paths and transform is None:
                raise ValueError(f'{image_path}: no georeference, so no '
                                 f'{fmt} GeoJSON')
        if 'gpkg' in self.paths and (georef is None or georef.crs is None):
            raise ValueError(f'{image_path}: no CRS, so no GeoPackage')
        self.height, self.width = int(height), int(width)
        self.classes, self.palette = tuple(classes), palette
        self.image_path = image_path
        self.image_id = osp.basename(image_path)
        self.stem = osp.splitext(self.image_id)[0]
        self.georef, self.transform = georef, transform
        self.tolerance, self.regularize = tolerance, regularize
        self.summary, self.overwrite, self.batch = summary, overwrite, batch
        self.network = dict(network or {})
        self._pool = pool
        self.background = _background_index(self.classes)
        self.class_ids = [c for c in range(len(self.classes))
                          if c != self.background]
        self.row: Optional[dict] = None
        self._stack = None

    def __enter__(self) -> 'SceneWriter':
        from ..fileio import atomic_output
        from .raster import MaskCogWriter

        if not self.overwrite:
            for path in self.paths.values():
                if osp.exists(path):
                    raise FileExistsError(
                        f'{path} already exists (pass overwrite=True / '
                        '--overwrite to replace it)')
        stack = contextlib.ExitStack()
        try:
            self.mask = None
            if 'mask' in self.paths:
                self.mask = stack.enter_context(MaskCogWriter(
                    self.paths['mask'], self.height, self.width,
                    self.georef, self.palette, self.overwrite))
            self.gpkg = None
            if 'gpkg' in self.paths:
                old = os.environ.get('OGR_CURRENT_DATE')
                os.environ['OGR_CURRENT_DATE'] = old or GPKG_DATE
                stack.callback(_restore_env, 'OGR_CURRENT_DATE', old)
                tmp = stack.enter_context(
                    atomic_output(self.paths['gpkg'], self.overwrite))
                self.gpkg = _GpkgLayers(tmp, [self.classes[c] for c in
                                              self.class_ids],
                                        self.georef.crs.to_wkt(), self.batch)
            self.geojson = self.labels = None
            if 'geojson' in self.paths:
                tmp = stack.enter_context(
                    atomic_output(self.paths['geojson'], self.overwrite))
                f = stack.enter_context(open(tmp, 'wb'))
                self.geojson = _FeatureFile(f, geojson_head(
                    self.image_id, self.stem, self.width, self.height,
                    self.transform))
            if 'json' in self.paths:
                tmp = stack.enter_context(
                    atomic_output(self.paths['json'], self.overwrite))
                f = stack.enter_context(open(tmp, 'wb'))
                self.labels = _FeatureFile(f, dict(type='FeatureCollection'))
            self._roads = None
            if ('network' in self.paths or 'network_gpkg' in self.paths) \
                    and 'road' in self.classes:
                self._roads = stack.enter_context(_RoadNetwork(
                    self.height, self.width, dict(
                        self.network, pixel_size=network_pixel_size(
                            self.transform))))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        self._index = self._done = 0
        self._keys = label_keys(self.classes, self.background)
        self._geometry = footprint_geometry(self.transform)
        self._stamp = now_stamp()
        self._count = {c: 0 for c in self.class_ids}
        self._area_m2: Dict[int, List[float]] = {c: [] for c in
                                                 self.class_ids}
        self._area_px = {c: 0 for c in self.class_ids}
        self._road = None
        if self.summary and 'road' in self.classes:
            # With a pool, its chunks of columns are thinned by as many
            # threads as the pool has processes.
            self._road = _RoadLength(
                self.classes.index('road'), self.width,
                threads=0 if self._pool is None else self._pool.processes)
            self._stack.callback(self._road.close)
            # Thinned in a thread of its own (scikit-image lets go of the
            # GIL), a band at a time in order, at most two bands behind.
            self._beside = _Beside(f'{self.image_path}: road length')
            self._stack.callback(self._beside.close)
        self._makers = [BandPolygonizer(c, self.width)
                        for c in self.class_ids]
        self._context = _PolygonContext(
            classes=self.classes, transform=self.transform,
            georef=self.georef, regularize=self.regularize,
            measured=self.geojson is not None or self.gpkg is not None or
            self.summary, geojson=self.geojson is not None,
            labels=self.labels is not None, gpkg=self.gpkg is not None,
            keys=self._keys, image_id=self.image_id, stamp=self._stamp,
            geometry=self._geometry)
        # With a pool: bands out for polygonizing, polygons out for
        # measuring and encoding (futures; a generator where a polygon is
        # made here), each in order.
        self._bands: collections.deque = collections.deque()
        self._events: collections.deque = collections.deque()
        return self

    def _cancel(self) -> None:
        for y0, shape, job in self._bands:
            job.cancel()
        for job in self._events:
            if isinstance(job, Future):
                job.cancel()
        self._bands.clear()
        self._events.clear()

    def add(self, y0: int, rows: np.ndarray) -> None:
        """Write the band of mask rows ``y0:y0 + len(rows)`` (in order)."""
        rows = np.asarray(rows, np.uint8)
        if y0 != self._done or rows.ndim != 2 or rows.shape[1] != \
                self.width or y0 + len(rows) > self.height:
            raise ValueError(
                f'{self.image_path}: a band at row {y0} of shape '
                f'{rows.shape} does not follow rows 0:{self._done} of a '
                f'{self.width} x {self.height} scene')
        self._done += len(rows)
        if self.mask is not None:
            self.mask.write(rows)
        if self.summary:
            # Counted class by class: np.bincount would count an int64 copy
            # of the band (61 MB for 384 x 20,000 pixels).
            for c in self.class_ids:
                self._area_px[c] += int(np.count_nonzero(rows == c))
        if self._road is not None or self._roads is not None:
            # Packed once for both (a boolean plane of the band is 7.7 MB
            # at 20,000 wide, its bits 1 MB).
            road = np.packbits(rows == self.classes.index('road'), axis=1)
            if self._road is not None:
                self._beside.submit(self._road.add_road, road)
            if self._roads is not None:
                self._roads.write(y0, road)
        if self._pool is None:
            self._stitch(y0, rows, band_pieces(rows, self.class_ids, y0))
            return
        # Polygonized by a worker (a copy: the pool pickles it later, in a
        # thread of its own, and the caller may reuse its array); stitched
        # here in order once it is back, which needs only its shape.
        self._bands.append((y0, rows.shape, self._pool.submit(
            band_pieces, rows.copy(), self.class_ids, y0)))
        self._drain(self._pool.processes + 1)

    def _stitch(self, y0: int, rows: np.ndarray, pieces: dict) -> None:
        done: List[MaskPolygon] = []
        for maker in self._makers:
            done += maker.add(y0, rows, pieces.pop(maker.class_id))
        self._polygons(done)

    def _polygons(self, polys: List[MaskPolygon]) -> None:
        # Simplified here, so that the number of features (and the GeoJSON
        # ids of the next polygons) is known before they are measured.
        polys = simplify_polygons(polys, self.tolerance)
        index = self._index
        if self.geojson is not None:
            self._index += len(polys)
        if self._pool is None:
            self._replay(_polygon_events(self._context, polys, index))
            return
        # Runs of polygons to the workers; one of POOL_VERTICES vertices or
        # more (a scene's road region) is made here, lazily, as without
        # them: its encoded features would be held whole.
        run: List[MaskPolygon] = []
        for poly in polys + [None]:
            big = poly is not None and len(poly.exterior) + sum(
                map(len, poly.holes)) >= POOL_VERTICES
            if run and (poly is None or big):
                self._events.append(self._pool.submit(
                    _encoded_events, self._context, run, index))
                index, run = index + len(run), []
            if big:
                self._events.append(
                    _polygon_events(self._context, [poly], index))
                index += 1
            elif poly is not None:
                run.append(poly)

    def _drain(self, most: int) -> None:
        """Stitch the polygonized bands and write the polygons the workers
        have finished, in order; wait while more than ``most`` of either
        are out."""
        while self._bands and (len(self._bands) > most or
                               self._bands[0][2].done()):
            y0, shape, pieces = self._bands.popleft()
            # A band of that shape without its pixels (a zero-stride view
            # of one byte): the pieces are given.
            self._stitch(y0, np.broadcast_to(np.uint8(0), shape),
                         self._result(pieces))
        while self._events and (len(self._events) > most or not isinstance(
                self._events[0], Future) or self._events[0].done()):
            events = self._events.popleft()
            if not isinstance(events, Future):  # made here (a generator)
                self._replay(events)
                continue
            made = self._result(events)
            self._replay(made['count'])
            for f, kind in ((self.geojson, 'geojson'), (self.labels, 'json')):
                if f is not None and made[kind][0]:
                    f.write_texts(*made[kind])
            self._replay(made['gpkg'])

    def _result(self, job):
        from concurrent.futures.process import BrokenProcessPool
        try:
            return job.result()
        except BrokenProcessPool as e:
            raise RuntimeError(
                f'{self.image_path}: a writer process stopped before its '
                'work was done (killed, for memory?); the scene is not '
                'written') from e

    def _replay(self, events) -> None:
        for event in events:
            kind = event[0]
            if kind == 'count':
                self._count[event[1]] += 1
                if event[2] is not None:
                    self._area_m2[event[1]].append(event[2])
            elif kind == 'geojson':
                self.geojson.write(event[1])
            elif kind == 'json':
                self.labels.write(event[1])
            else:
                self.gpkg.add(*event[1:])
            # Let the feature (and its lon/lat rings) go before the next
            # one is made.
            del event

    def __exit__(self, kind, value, tb) -> bool:
        stack, self._stack = self._stack, None
        if kind is not None:
            self._cancel()
            return stack.__exit__(kind, value, tb)
        try:
            if self._done != self.height:
                raise ValueError(f'{self.image_path}: {self._done} rows '
                                 f'written of {self.height}')
            if self._pool is not None:
                self._drain(0)
            done: List[MaskPolygon] = []
            for maker in self._makers:  # regions reaching the last row
                done += maker.finish()
            self._polygons(done)
            if self._pool is not None:
                self._drain(0)
            if self.gpkg is not None:
                self.gpkg.flush()
            for f in (self.geojson, self.labels):
                if f is not None:
                    f.close()
            if self.summary:
                if self._road is not None:
                    self._beside.wait()
                self.row = self._measures()
            if self._roads is not None:
                graph = self._roads.network()
                head = {} if self.transform is None else geojson_head(
                    self.image_id, self.stem, self.width, self.height,
                    self.transform)
                save_network(graph, {f: p for f, p in self.paths.items()
                                     if f.startswith('network')},
                             self.transform, head, self.stem, self.overwrite)
        except BaseException:
            import sys
            self._cancel()
            if not stack.__exit__(*sys.exc_info()):
                raise
            return False
        stack.close()  # publishes the files
        return False

    def _measures(self) -> dict:
        row = summary_head(self.image_path, self.width, self.height,
                           self.transform, self.georef)
        jac = self.transform.metres_per_pixel() if self.transform else None
        for c in self.class_ids:
            name = self.classes[c]
            row[f'{name}_count'] = self._count[c]
            row[f'{name}_area_m2'] = None if self.transform is None else \
                math.fsum(self._area_m2[c])
            row[f'{name}_area_px'] = self._area_px[c]
            if name == 'road':
                row['road_length_m'], row['road_length_px'] = \
                    self._road.result(jac)
        return row


#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8

#: The environment variables through which a user sets them instead.
_MALLOC_ENV = ('MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_MAX_',
               'MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX')


def tune_malloc(keep: int = 512 << 20) -> bool:
    """Have glibc's ``malloc`` reuse freed memory instead of mapping anew.

    A scene run allocates and frees the same large blocks over and over:
    the model's activations (67 MB tensors for a batch of four 512-pixel
    windows through the sample FPN R18), strips, logits, bands. glibc maps
    every block of 32 MB or more (and smaller ones once its mmap threshold
    is fixed) and unmaps it on free, so each allocation costs the kernel a
    fresh zeroed page per 4 KB. Set here: no mapped blocks (``M_MMAP_MAX``
    0), freed memory at the top of the heap kept up to ``keep`` bytes
    (``M_TRIM_THRESHOLD``), and one arena for all threads (``M_ARENA_MAX``
    1; with an arena per thread the reader's, writer's and model's freed
    blocks are kept apart, about 105 MiB more at the peak).

    On the 2-core test machine, a 4,096-pixel scene through the sample
    model took 16.5 s wall with glibc's defaults (6.8 s of it system time),
    23.9 s with a fixed 4 MB mmap threshold (18.3 s system; what
    ``tools/infer.py`` set before), 15.0-15.4 s (2.2-2.5 s system) keeping
    128 MB and 14.1 s (0.7-0.8 s system) keeping 512 MB; a 10,000-pixel
    one 70 s (11.8 s system) keeping 128 MB and 62.6-64.3 s (1.2 s
    system) keeping 512 MB. Below the model's working set the heap's top is
    given back after a batch and faulted in again for the next. The peak
    RSS was the same within run-to-run noise (keeping 128 MB: 1,148-1,200
    MiB at 10,000 and 1,459 MiB at 20,000 pixels; keeping 512 MB:
    1,116-1,230 and 1,426 MiB): the memory kept is reused, not added.

    Process-wide, so it is for command-line tools (``tools/infer.py`` calls
    it first), not libraries; nothing is changed when any of the
    ``MALLOC_*`` variables of these settings is set (the user's choice).

    Args:
        keep (int): Bytes of freed memory at the top of the heap kept for
            reuse. Defaults to 512 MB.

    Returns:
        bool: True when set; False where there is no glibc ``mallopt`` or
        the environment decides.
    """
    if any(name in os.environ for name in _MALLOC_ENV):
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all([mallopt(_M_MMAP_MAX, 0), mallopt(_M_TRIM_THRESHOLD,
                                                   int(keep)),
                mallopt(_M_ARENA_MAX, 1)])


def _restore_env(name: str, old: Optional[str]) -> None:
    if old is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = old


def predict_scene(model, path: str, paths: Dict[str, str], *,
                  georef=None, transform=None, footprint=None,
                  window=None, stride=None, overlap=None,
                  batch_size: int = 4, progress=False,
                  bands: Optional[Sequence[int]] = None,
                  stretch: Optional[str] = None, tolerance: float = 0.0,
                  regularize: Optional[dict] = None, summary: bool = True,
                  overwrite: bool = False,
                  network: Optional[dict] = None,
                  pool=None) -> Optional[dict]:
    """Segment a raster scene and write its outputs in one streamed pass.

    The scene is read in strips (:class:`mmseg_sia.apis.raster.
    RasterReader`), segmented with mmseg's 'slide' windows
    (:func:`mmseg_sia.apis.segment.iter_segment_rows`) and each band of
    finished rows goes to a :class:`SceneWriter`: peak memory does not
    depend on the scene size (but see :class:`_RoadLength`). Several
    things run at once: the next strip is read in one thread, the model
    runs on the current one (on a CPU, the next batch of its windows is
    normalised in another thread meanwhile), and the finished bands are
    written, in order, in a third (at most two bands wait for it), which
    hands most of its work to the processes of ``pool`` when there is one.
    An error in any of them stops the run and leaves no output file.

    Args:
        model: An mmseg segmentor (e.g. from :func:`init_segmentor`).
        path (str): The raster.
        paths (dict[str, str]): Format -> output path ('mask', 'gpkg',
            'geojson', 'json'; others are ignored).
        georef (Georef | 'auto', optional): The raster's CRS and transform
            ('auto' reads them from the raster).
        transform (GeoTransform, optional): Pixel -> lon/lat; defaults to
            the one derived from ``georef``, else from ``footprint``.
        footprint (tuple, optional): ``(points, source)``: four lon/lat
            corners of the scene (e.g. an AIHub label file's) and where
            they come from, used when there is no ``georef``.
        window, stride, overlap, batch_size, progress: See
            :func:`mmseg_sia.apis.segment.iter_segment_rows`.
        bands, stretch: See :class:`mmseg_sia.apis.raster.RasterReader`.
        tolerance, regularize, summary, overwrite, network, pool: See
            :class:`SceneWriter`.

    Returns:
        dict | None: The summary measures (None when ``summary`` is False).

    Raises:
        FileNotFoundError, RasterError: On a missing or unreadable raster.
        GeorefError: When ``georef`` is for another raster size.
        FileExistsError: When an output exists and ``overwrite`` is False.
    """
    from ..georef import lonlat_transform, read_raster_georef
    from .model import _class_count, _default_meta, _unwrap
    from .raster import RasterReader
    from .segment import iter_segment_rows

    model = _unwrap(model)
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    if isinstance(georef, str) and georef == 'auto':
        georef = read_raster_georef(path)
    if transform is None and georef is not None and georef.crs is not None:
        transform = lonlat_transform(georef)
    meta = getattr(model, 'dataset_meta', None) or _default_meta(
        _class_count(model))
    classes = tuple(meta['classes'])
    palette = [list(p) for p in (meta.get('palette') or
                                 _default_meta(len(classes))['palette'])]
    with RasterReader(path, bands, stretch) as reader, \
            reader.gdal_env():
        if georef is not None and georef.shape != (reader.height,
                                                   reader.width):
            from ..georef import GeorefError
            raise GeorefError(
                georef.path, f'gives {georef.width} x {georef.height} '
                f'pixels; the image has {reader.width} x {reader.height}')
        if transform is None and footprint is not None and \
                footprint[0] is not None:
            from ..geo import footprint_transform
            transform = footprint_transform(footprint[0], reader.width,
                                            reader.height, footprint[1])
        writer = SceneWriter(paths, reader.height, reader.width, classes,
                             palette, path, georef=georef,
                             transform=transform, tolerance=tolerance,
                             regularize=regularize, summary=summary,
                             overwrite=overwrite, network=network,
                             pool=pool)
        # What waits for the next strip and the next row of windows goes
        # to unnamed files beside the outputs (a disk the user chose for
        # them; TMPDIR may be a tmpfs, which is memory).
        spill = osp.dirname(osp.abspath(next(iter(writer.paths.values())))
                            ) if writer.paths else None
        reader.spill_dir = spill
        with writer:
            # The bands are written in a thread of their own, in order, while
            # the model runs on the next ones (at most two bands wait); the
            # writer's errors reach the caller as they are (a full disk).
            write = _Beside(ahead=2, name='sia-write')
            try:
                for y0, rows in iter_segment_rows(
                        model, reader, window=window, stride=stride,
                        overlap=overlap, batch_size=batch_size,
                        progress=progress, spill_dir=spill):
                    write.submit(writer.add, y0, rows)
                write.wait()
            finally:
                write.close()
    return writer.row
