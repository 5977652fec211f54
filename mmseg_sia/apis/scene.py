"""Whole raster scenes in memory that does not grow with them.

:func:`predict_scene` runs a model over a georeferenced raster and writes
its outputs in one pass over bands of finished mask rows
(:func:`mmseg_sia.apis.segment.iter_segment_rows`), never holding a
whole-scene array. :class:`SceneWriter` takes the bands in order and
writes the mask COG (:class:`mmseg_sia.apis.raster.MaskCogWriter`), the
GeoPackage (pyogrio, appended in batches), the RFC 7946 GeoJSON and the
label JSON (streamed feature by feature), and the summary measures,
accumulated as the polygons are finished. The parts it is made of have a
file each: the seamless polygons of the bands
(:mod:`mmseg_sia.apis.stitching`), the features and files made of them
(:mod:`mmseg_sia.apis.vector_output`), the road length and network
(:mod:`mmseg_sia.apis.road_rows`) and the worker processes
(:mod:`mmseg_sia.apis.workers`).
"""
from __future__ import annotations

import collections
import contextlib
import math
import os
import os.path as osp
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..vectorize import MaskPolygon, simplify_polygons
from .prediction import (_background_index, footprint_geometry,
                         geojson_head, label_keys, network_pixel_size,
                         now_stamp, save_network, summary_head)
from .road_rows import _RoadLength, _RoadNetwork
from .stitching import BandPolygonizer, band_pieces
from .vector_output import (_encoded_events, _FeatureFile, _GpkgLayers,
                            _polygon_events, _PolygonContext)
from .writers import GPKG_DATE

__all__ = ['SceneWriter', 'predict_scene']


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
    depend on the scene size (but see
    :class:`~mmseg_sia.apis.road_rows._RoadLength`). Several things run
    at once: the next strip is read in one thread, the model
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
