"""A scene's road length and road network, from bands of mask rows.

:class:`_RoadLength` gives the summary's road skeleton length, and
:class:`_RoadNetwork` the road graph (:mod:`mmseg_sia.roads`), as the
scene's bands arrive, each holding only the rows (bit-packed) its thinning
still needs as context, so neither grows with the scene's height.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import cv2
import numpy as np

from .prediction import _skeleton_steps, _steps_length
from .segment import _bit_columns


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
