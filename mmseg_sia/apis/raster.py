"""Georeferenced rasters in and out: windowed reading, COG mask writing.

:class:`RasterReader` reads any raster GDAL opens (GeoTIFF, COG, JPEG 2000,
VRT, ...) through rasterio, strip by strip, never whole: the bands asked for
(``bands``, 1-based), mapped to 8 bit by :func:`parse_stretch`'s stretch
(statistics from the overviews or a sparse sample of windows) and given in
mmseg's BGR order, with the validity of each pixel (nodata, internal mask,
alpha). :func:`save_mask_cog` writes a class-id mask as a Cloud-Optimized
GeoTIFF, block by block, atomically.

rasterio is imported when first needed.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import (Callable, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np

__all__ = [
    'RasterError', 'RasterReader', 'parse_stretch', 'parse_bands',
    'save_mask_cog', 'MaskCogWriter', 'SCENE_SUFFIXES', 'is_scene'
]

#: Files read with OpenCV as today (AIHub tiles); any other file is read
#: with rasterio as a scene.
TILE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
#: Suffixes :func:`is_scene` takes as rasters (for folder listings).
SCENE_SUFFIXES = ('.tif', '.tiff', '.jp2', '.vrt', '.img')
#: Pixels sampled per band at most for the stretch statistics.
SAMPLE_PIXELS = 1 << 20
#: Side of one sampled window when the raster has no overview.
SAMPLE_WINDOW = 256


class RasterError(ValueError):
    """A raster that cannot be read as asked; the message names the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f'{path}: {reason}')


def is_scene(path: Union[str, os.PathLike]) -> bool:
    """Whether a file is read with rasterio (anything but PNG/JPEG/BMP)."""
    return not os.fspath(path).lower().endswith(TILE_SUFFIXES)


def parse_bands(value: Optional[Union[str, Sequence[int]]]
                ) -> Optional[List[int]]:
    """``'3,2,1'`` -> ``[3, 2, 1]`` (1-based band numbers); None stays None.

    Raises:
        ValueError: On a malformed list or a number below 1.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            bands = [int(v) for v in value.split(',') if v.strip()]
        except ValueError:
            raise ValueError(f'--bands {value!r}: give 1-based band numbers '
                             'separated by commas, e.g. 3,2,1') from None
    else:
        bands = [int(v) for v in value]
    if len(bands) != 3 or min(bands) < 1:
        raise ValueError(f'--bands {value!r}: give three 1-based band '
                         'numbers (red, green, blue), e.g. 3,2,1')
    return bands


def parse_stretch(value: Optional[str]) -> Tuple[str, object]:
    """Parse a ``--stretch`` value.

    ``none`` (values clipped to 0..255), ``minmax`` (the sampled minimum and
    maximum of each band to 0..255), ``percent`` or ``percent:LO,HI`` (the
    per-band LO and HI percentiles, default 2 and 98, to 0..255) and
    ``fixed:MIN,MAX[,MIN,MAX,MIN,MAX]`` (the same range for all bands, or
    one per band). None means ``auto``: none for 8-bit data, percent:2,98
    otherwise.

    Returns:
        tuple[str, object]: The kind and its parameters.

    Raises:
        ValueError: On a malformed value.
    """
    if value is None or value == 'auto':
        return 'auto', None
    kind, _, rest = value.partition(':')
    try:
        numbers = [float(v) for v in rest.split(',')] if rest else []
    except ValueError:
        numbers = None
    if kind in ('none', 'minmax') and not rest:
        return kind, None
    if kind == 'percent' and numbers is not None and len(numbers) in (0, 2):
        lo, hi = numbers or (2.0, 98.0)
        if 0 <= lo < hi <= 100:
            return kind, (lo, hi)
    if kind == 'fixed' and numbers and len(numbers) in (2, 6):
        pairs = [tuple(numbers[i:i + 2]) for i in range(0, len(numbers), 2)]
        if all(a < b for a, b in pairs):
            return kind, pairs * (3 // len(pairs))
    raise ValueError(
        f'--stretch {value!r}: choose none, minmax, percent[:LO,HI] '
        '(0 <= LO < HI <= 100) or fixed:MIN,MAX[,MIN,MAX,MIN,MAX]')


class RasterReader:
    """A raster read in strips of rows as 8-bit BGR, with pixel validity.

    Args:
        path (str): The raster (anything GDAL opens).
        bands (Sequence[int], optional): Three 1-based band numbers in
            red, green, blue order. Defaults to the bands whose colour
            interpretation is red, green and blue, else the first three.
        stretch (str, optional): See :func:`parse_stretch`.
        spill_dir (str, optional): Folder of the temporary file the rows
            decoded for the next strip wait in (see :meth:`read_strips`).
            Defaults to ``TMPDIR``.

    Raises:
        RasterError: When GDAL cannot open the file, a band is out of range
            or the raster has fewer than three bands and no ``bands``.
    """

    def __init__(self, path: Union[str, os.PathLike],
                 bands: Optional[Sequence[int]] = None,
                 stretch: Optional[str] = None,
                 spill_dir: Optional[str] = None) -> None:
        import rasterio
        from rasterio.enums import ColorInterp
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        self.path = os.fspath(path)
        kind, params = parse_stretch(stretch)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', NotGeoreferencedWarning)
                self.ds = rasterio.open(self.path)
        except RasterioIOError as e:
            raise RasterError(self.path, f'GDAL cannot open it as a raster '
                              f'({e})') from None
        ds = self.ds
        try:
            count = ds.count
            if bands is None:
                interp = list(ds.colorinterp)
                wanted = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
                if all(c in interp for c in wanted):
                    bands = [interp.index(c) + 1 for c in wanted]
                elif count >= 3:
                    bands = [1, 2, 3]
                else:
                    raise RasterError(
                        self.path, f'has {count} band(s) and the model takes '
                        '3 channels: choose three bands with --bands (e.g. '
                        '--bands 1,1,1 for a grey image)')
            bands = [int(b) for b in bands]
            bad = [b for b in bands if not 1 <= b <= count]
            if len(bands) != 3 or bad:
                raise RasterError(
                    self.path, f'--bands {",".join(map(str, bands))}: band '
                    f'{bad[0] if bad else bands} out of range (the raster '
                    f'has {count} band(s), numbered from 1)')
            self.bands = bands
            dtype = np.dtype(ds.dtypes[bands[0] - 1])
            if kind == 'auto':
                kind, params = ('none', None) if dtype == np.uint8 else (
                    'percent', (2.0, 98.0))
            self.stretch = kind
            self.ranges = self._ranges(kind, params)
            self._validity = self._validity_rule()
            self.spill_dir = spill_dir
        except Exception:
            ds.close()
            raise

    @property
    def height(self) -> int:
        return int(self.ds.height)

    @property
    def width(self) -> int:
        return int(self.ds.width)

    @property
    def _block(self) -> Tuple[int, int]:
        """``(rows, columns)`` of the raster's blocks."""
        ds = self.ds
        rows, cols = ds.block_shapes[0] if ds.block_shapes else (512, 512)
        return max(1, min(int(rows), ds.height)), max(1, int(cols))

    @property
    def _chunk(self) -> int:
        """Columns read at a time: :data:`READ_CHUNK` rounded down to whole
        blocks, one block at least, the width at most."""
        block_w = self._block[1]
        return min(self.width, max(block_w, READ_CHUNK // block_w * block_w))

    @property
    def _whole(self) -> bool:
        """Whether rows of blocks are decoded whole, once (blocks of at
        most :data:`WHOLE_BLOCK_ROWS` rows), rather than only the rows a
        strip needs (taller blocks: a striped file of one strip)."""
        return self._block[0] <= WHOLE_BLOCK_ROWS

    @property
    def _pixel(self) -> int:
        """Bytes of one pixel of all the bands."""
        return sum(np.dtype(t).itemsize for t in self.ds.dtypes)

    @property
    def _rows(self) -> int:
        """Rows decoded together: a row of blocks, or as many rows of
        blocks as make :data:`READ_ROWS` rows while a chunk of them holds
        :data:`READ_BYTES` at most (a striped file's rows of blocks span
        the width). A VRT mosaic has blocks of 128 rows, whatever its
        sources' (GeoTIFFs of 512-row blocks, say): its rows of blocks one
        by one would decode each source block four times over with a cache
        of one chunk."""
        rows = self._block[0]
        if rows >= READ_ROWS:
            return rows
        fit = READ_BYTES // (rows * self._chunk * self._pixel)
        return rows * max(1, min(-(-READ_ROWS // rows), fit))

    @property
    def cache_bytes(self) -> int:
        """GDAL block cache (bytes) for reading the raster strip by strip.

        When rows of blocks are decoded whole (:meth:`read_strips`), one
        chunk of them: GDAL decodes a pixel-interleaved block for every
        band at once and keeps the other bands' parts in its cache until
        they are read, within one read. Otherwise one row of blocks and a
        chunk more, within 64..512 MB, as a row of blocks is then read
        over several strips. Run the reads under :meth:`gdal_env`: GDAL's
        default (5 % of the machine's memory) keeps every block read until
        it is full, so memory would grow with the scene.
        """
        pixel = self._pixel
        rows = self._block[0]
        if self._whole:
            return self._rows * self._chunk * pixel + (4 << 20)
        need = rows * (self.ds.width + self._chunk) * pixel + (16 << 20)
        return int(min(max(need, GDAL_CACHE_MB << 20), 512 << 20))

    def gdal_env(self):
        """A ``rasterio.Env`` with GDAL's block cache at
        :attr:`cache_bytes`. rasterio hands ``GDAL_CACHEMAX`` to
        ``GDALSetCacheMax64``, which takes bytes (not GDAL's megabytes of
        the environment variable): ``GDAL_CACHEMAX=110`` there is 110
        bytes, no cache at all."""
        import rasterio
        return rasterio.Env(GDAL_CACHEMAX=self.cache_bytes)

    def close(self) -> None:
        """Close the dataset."""
        self.ds.close()

    def __enter__(self) -> 'RasterReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sample(self) -> np.ndarray:
        """``(3, N)`` float64 valid sample values of the bands.

        From the coarsest overview with at least 2**16 pixels (else the
        finest) when the raster has overviews (GDAL reads them for a
        decimated read), else from a sparse grid of
        :data:`SAMPLE_WINDOW`-pixel windows.
        """
        from rasterio.windows import Window

        ds = self.ds
        h, w = self.height, self.width
        factors = ds.overviews(self.bands[0])
        if factors:
            # The coarsest overview of at least 2**16 pixels, else the
            # finest there is.
            usable = [f for f in factors if (h // f) * (w // f) >= 1 << 16]
            f = max(usable) if usable else min(factors)
            shape = (max(1, h // f), max(1, w // f))
            data = ds.read(self.bands, out_shape=(3, ) + shape)
            valid = ds.dataset_mask(out_shape=shape) > 0
            return data[:, valid].astype(np.float64)
        side = SAMPLE_WINDOW
        n = max(1, int(np.sqrt(SAMPLE_PIXELS / side ** 2)))
        ys = np.unique(np.linspace(0, max(h - side, 0), n).astype(int))
        xs = np.unique(np.linspace(0, max(w - side, 0), n).astype(int))
        parts = []
        for y in ys:
            for x in xs:
                win = Window(int(x), int(y), min(side, w), min(side, h))
                data = ds.read(self.bands, window=win)
                valid = ds.dataset_mask(window=win) > 0
                parts.append(data[:, valid].astype(np.float64))
        return np.concatenate(parts, axis=1)

    def _ranges(self, kind: str, params) -> Optional[List[Tuple[float,
                                                               float]]]:
        import rasterio

        if kind == 'none':
            return None
        if kind == 'fixed':
            return [tuple(p) for p in params]
        # Each sampled block is read once: a small GDAL cache (the default,
        # 5 % of the machine's memory, would keep them all).
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB << 20):
            sample = self._sample()
        if sample.shape[1] == 0:
            return [(0.0, 255.0)] * 3
        if kind == 'minmax':
            lo, hi = sample.min(axis=1), sample.max(axis=1)
        else:
            lo, hi = np.percentile(sample, params, axis=1)
        return [(float(a), float(b) if b > a else float(a) + 1.0)
                for a, b in zip(lo, hi)]

    def to_uint8(self, data: np.ndarray) -> np.ndarray:
        """``(3, h, w)`` band values -> ``(3, h, w)`` uint8 by the stretch."""
        if self.ranges is None:
            if data.dtype == np.uint8:
                return data
            return np.clip(np.rint(data), 0, 255).astype(np.uint8)
        out = np.empty(data.shape, np.uint8)
        for i, (lo, hi) in enumerate(self.ranges):
            band = (data[i].astype(np.float32) - np.float32(lo)) * \
                np.float32(255.0 / (hi - lo))
            np.clip(np.rint(band), 0, 255, out=band)
            out[i] = band.astype(np.uint8)
        return out

    def read_rows(self, y0: int, y1: int) -> Tuple[np.ndarray, np.ndarray]:
        """Rows ``y0:y1`` as ``(rows, W, 3)`` uint8 BGR and ``(rows, W)``
        validity (False for nodata, masked or transparent pixels).

        One strip of :meth:`read_strips`, put together across the width;
        read a scene's strips with that instead (this decodes the rows
        anew at every call and holds them across the width).
        """
        bgr = np.empty((y1 - y0, self.width, 3), np.uint8)
        valid = np.empty((y1 - y0, self.width), bool)
        for _, x0, x1, part, ok in self.read_strips([(y0, y1)]):
            bgr[:, x0:x1], valid[:, x0:x1] = part, ok
        return bgr, valid

    def read_strips(self, strips: Sequence[Tuple[int, int]]
                    ) -> Iterator[Tuple[int, int, int, np.ndarray,
                                        np.ndarray]]:
        """Read strips of rows, top to bottom, one column chunk at a time.

        Yields ``(i, x0, x1, bgr, valid)``: columns ``x0:x1`` of strip
        ``i`` (rows ``strips[i]``), as ``(rows, x1 - x0, 3)`` uint8 BGR and
        ``(rows, x1 - x0)`` validity (False for nodata, masked or
        transparent pixels), chunk after chunk of :data:`READ_CHUNK`
        columns (whole blocks), left to right, strip after strip. Each
        chunk is a new array: nothing here holds rows across the width, so
        a caller that keeps only the chunks it still needs holds memory of
        the window, not of the scene.

        The rows are decoded one row of the raster's blocks after the other
        (blocks of fewer than :data:`READ_ROWS` rows that many rows at a
        time). A row of blocks that reaches below a strip is decoded whole
        all the same: GDAL decodes each block once with a cache of one
        chunk (:attr:`cache_bytes`). What the next strip needs of what was
        decoded (the rows the two strips share, and those below this one)
        waits, stretched to 8 bit (4 bytes a pixel against 8 for 4-band
        uint16 blocks), in a temporary file in :attr:`spill_dir`
        (:class:`~mmseg_sia.fileio.SpillFile`), each chunk's rows at their
        own offset; every row is decoded once. Blocks of more than
        :data:`WHOLE_BLOCK_ROWS` rows are read as far as a strip's end
        only, with a cache of one row of blocks.

        Args:
            strips (Sequence[tuple[int, int]]): ``(y0, y1)`` rows of each
                strip; first and last rows never go up from one strip to
                the next.

        Raises:
            ValueError: When a strip is out of the raster or the strips go
                up.
        """
        strips = [(int(a), int(b)) for a, b in strips]
        for i, (y0, y1) in enumerate(strips):
            back = i and (y0 < strips[i - 1][0] or y1 < strips[i - 1][1])
            if not 0 <= y0 < y1 <= self.height or back:
                raise ValueError(
                    f'{self.path}: cannot read strip {i}, rows {y0}:{y1}, '
                    f'of a raster of {self.height} rows' +
                    (' after rows {}:{}'.format(*strips[i - 1])
                     if back else ''))
        return self._strips(strips)

    def _strips(self, strips: List[Tuple[int, int]]
                ) -> Iterator[Tuple[int, int, int, np.ndarray, np.ndarray]]:
        from ..fileio import SpillFile

        width, step = self.width, self._chunk
        unit = self._rows if self._whole else self._block[0]
        # Each chunk's rows kept for the next strip at their own offset in
        # the file: their BGR, then their validity (4 bytes a pixel; a
        # strip's rows and the rest of a row of blocks at most).
        slot = (max(b - a for a, b in strips) + unit) * step * 4
        spill = None
        held = None  # rows (first, end) waiting in the file, every chunk
        try:
            for i, (y0, y1) in enumerate(strips):
                last = i + 1 == len(strips)
                # Rows y0:start come from the file, start:y1 are decoded;
                # rows y1:end (decoded or in the file) are below the strip.
                start = end = y0
                if held is not None and held[0] <= y0 < held[1]:
                    start, end = min(y1, held[1]), max(y1, held[1])
                groups = []  # (first row, end, rows decoded below y1)
                row = start
                while row < y1:
                    stop = min(self.height, (row // unit + 1) * unit)
                    below = stop - y1 if stop > y1 and self._whole and \
                        not last else 0
                    groups.append((row, min(stop, y1), below))
                    end = y1 + below
                    row = stop
                # Rows first:end wait in the file for the next strip.
                first = end if last else max(y0, strips[i + 1][0])
                if first < end and spill is None:
                    spill = SpillFile(f'the rows of {self.path} decoded for '
                                      'the next strip', self.spill_dir)
                for c, x0 in enumerate(range(0, width, step)):
                    x1 = min(width, x0 + step)
                    w = x1 - x0
                    # The strip's rows, and apart from them those below it
                    # (the caller keeps the strip's chunks, not these).
                    rows = [(y0, np.empty((y1 - y0, w, 3), np.uint8),
                             np.empty((y1 - y0, w), bool)),
                            (y1, np.empty((end - y1, w, 3), np.uint8),
                             np.empty((end - y1, w), bool))]
                    if start > y0:
                        # Read before this chunk's kept rows take their
                        # place in the file.
                        for part in rows:
                            self._move(spill.read_into, c * slot, held, w,
                                       *part)
                    (_, bgr, valid), (_, more_bgr, more_valid) = rows
                    for a, b, n in groups:
                        # Rows a:b of the strip, then n below it.
                        self._read_into(a, b + n, x0, x1, [
                            (bgr[a - y0:b - y0], valid[a - y0:b - y0]),
                            (more_bgr[:n], more_valid[:n])])
                    if first < end:
                        for part in rows:
                            self._move(spill.write, c * slot, (first, end),
                                       w, *part)
                    yield i, x0, x1, bgr, valid
                held = (first, end) if first < end else None
        finally:
            if spill is not None:
                spill.close()

    @staticmethod
    def _move(move: Callable, offset: int, kept: Tuple[int, int], w: int,
              r: int, bgr: np.ndarray, valid: np.ndarray) -> None:
        """Read or write (``move``, a :class:`~mmseg_sia.fileio.SpillFile`
        method) the rows that arrays of rows ``r:r + len(bgr)`` of a chunk
        ``w`` columns wide share with the chunk's rows ``kept`` in the file
        at ``offset`` (their BGR, then their validity)."""
        a, b = kept
        lo, hi = max(a, r), min(b, r + len(bgr))
        if lo < hi:
            move(offset + (lo - a) * w * 3, bgr[lo - r:hi - r])
            move(offset + ((b - a) * 3 + lo - a) * w, valid[lo - r:hi - r])

    def _validity_rule(self):
        """How :meth:`_read_into` finds the valid pixels: ``'all'`` (no
        mask, nodata or alpha: every pixel), ``(rgb, nodata)`` (integer
        bands whose only mask is a nodata value: a pixel is valid where any
        band differs from its nodata value, read with the bands) or None
        (anything else: GDAL's dataset mask).

        The second is what ``dataset_mask`` computes for such rasters (the
        union of the bands' nodata masks), without reading every band a
        second time for it: on a 4-band uint16 GeoTIFF that read cost
        nearly three times the bands' own (0.014 against 0.005 CPU s/MP).
        Float bands keep GDAL's rule (its nodata comparison has a
        tolerance, and NaN), and so do rasters of more than four bands
        (every band would be read into memory with each chunk).
        """
        from rasterio.enums import MaskFlags

        ds = self.ds
        flags = ds.mask_flag_enums
        if all(list(f) == [MaskFlags.all_valid] for f in flags):
            return 'all'
        if ds.count <= 4 and all(
                list(f) == [MaskFlags.nodata] for f in flags) and all(
                np.issubdtype(np.dtype(t), np.integer) for t in ds.dtypes):
            return [b - 1 for b in self.bands], list(ds.nodatavals)
        return None

    def _read_into(self, y0: int, y1: int, x0: int, x1: int,
                   outs: list) -> None:
        """Decode rows ``y0:y1``, columns ``x0:x1`` (one chunk) into
        ``outs``: ``(bgr, valid)`` pairs of the chunk's width that take
        those rows in order, one after the other.
        """
        from rasterio.windows import Window

        win = Window(x0, y0, x1 - x0, y1 - y0)
        rule = self._validity
        if isinstance(rule, tuple):
            rgb, nodata = rule
            data = self.ds.read(window=win)  # every band, once
            ok = np.zeros((y1 - y0, x1 - x0), bool)
            for band, value in zip(data, nodata):
                ok |= band != value
            data = data[rgb]
        else:
            data = self.ds.read(self.bands, window=win)
            ok = True if rule == 'all' else \
                self.ds.dataset_mask(window=win) > 0
        pixels = self.to_uint8(data)[::-1].transpose(1, 2, 0)
        del data
        at = 0
        for bgr, valid in outs:
            n = len(bgr)
            bgr[:] = pixels[at:at + n]
            valid[:] = ok if ok is True else ok[at:at + n]
            at += n


#: Columns read at a time by :meth:`RasterReader.read_strips` (rounded down to
#: whole blocks of the raster). Against 4,096 columns, 1,024 read a 20,000²
#: 4-band uint16 GeoTIFF in strips with the same CPU time or less and hold
#: about 55 MiB less (a smaller chunk, its float copies, GDAL's cache):
#: ``benchmarks/bench_raster_read.py --chunks``.
READ_CHUNK = 1024

#: Blocks of at most this many rows are decoded a whole row of blocks at a
#: time (see :meth:`RasterReader.read_strips`).
WHOLE_BLOCK_ROWS = 1024

#: Blocks of fewer rows are decoded this many rows at a time (rounded up to
#: whole blocks), as long as a chunk of them holds :data:`READ_BYTES` at
#: most.
READ_ROWS = 512
READ_BYTES = 16 << 20


#: Creation options of the scratch GeoTIFF a mask COG is copied from.
SCRATCH_COMPRESSION = dict(compress='zstd', zstd_level=1)


#: GDAL block cache while writing a mask or sampling a raster (MB): the
#: writes go strip by strip, so a small cache keeps memory flat whatever the
#: scene size. (rasterio takes ``GDAL_CACHEMAX`` in bytes.)
GDAL_CACHE_MB = 64


class MaskCogWriter:
    """Write class-id rows, top to bottom, as a Cloud-Optimized GeoTIFF.

    A context manager: :meth:`write` takes consecutive bands of rows (any
    height), which go to a tiled, DEFLATE-compressed scratch GeoTIFF one
    strip of ``block`` rows at a time; on a clean exit GDAL's COG driver
    copies it (internal overviews by nearest neighbour, the palette as
    colour map, nodata ``nodata``) to a temporary name that is then
    published at ``path`` (:func:`mmseg_sia.fileio.atomic_output`), so no
    partial file is ever at ``path``. Memory: one strip.

    Args:
        path (str): Target ``.tif``.
        height (int): Mask height.
        width (int): Mask width.
        georef (mmseg_sia.georef.Georef, optional): CRS and transform; None
            writes a TIFF without georeference.
        palette (Sequence[Sequence[int]]): RGB colour of each class id.
        overwrite (bool): Replace an existing file. Defaults to False.
        nodata (int): The nodata value. Defaults to 255.
        block (int): Tile side and rows written at a time. Defaults to 512.

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
        OSError: When the folder cannot be written.
        ValueError: When the rows written do not add up to ``height`` rows
            of ``width`` pixels.
    """

    def __init__(self, path: str, height: int, width: int, georef,
                 palette: Sequence[Sequence[int]], overwrite: bool = False,
                 nodata: int = 255, block: int = 512) -> None:
        self.path, self.height, self.width = path, int(height), int(width)
        self.georef, self.palette = georef, palette
        self.overwrite, self.nodata, self.block = overwrite, nodata, block
        self.rows = 0
        self._pending: List[np.ndarray] = []
        self._stack = None

    def __enter__(self) -> 'MaskCogWriter':
        import contextlib

        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        from ..fileio import atomic_output

        folder = osp.dirname(osp.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, 'output folder is not writable', folder)
        # The scratch file is read once, by the COG copy: ZSTD at level 1
        # writes it in a fifth of DEFLATE's CPU time (0.0005 against 0.0024
        # s/MP on a town scene's mask); the COG itself is DEFLATE.
        profile = dict(driver='GTiff', height=self.height, width=self.width,
                       count=1, dtype='uint8', nodata=self.nodata,
                       tiled=True, blockxsize=self.block,
                       blockysize=self.block, **SCRATCH_COMPRESSION)
        if self.georef is not None:
            profile.update(transform=self.georef.transform)
            if self.georef.crs is not None:
                profile.update(crs=self.georef.crs.to_wkt())
        stack = contextlib.ExitStack()
        try:
            self.tmp = stack.enter_context(
                atomic_output(self.path, self.overwrite))
            # Whole rows of blocks are written at a time, so a small cache
            # does; GDAL's default (5 % of the machine's memory) would hold
            # the written blocks. A run that reads a scene sets the cache for
            # both (RasterReader.gdal_env): it is one setting of the
            # process, and the larger of the two would fill.
            from rasterio.env import getenv, hasenv
            if not (hasenv() and 'GDAL_CACHEMAX' in getenv()):
                stack.enter_context(
                    rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB << 20))
            # The plain tiled GeoTIFF is scratch next to the COG (same
            # private folder, removed with it).
            self.plain = osp.join(osp.dirname(self.tmp), 'plain.tif')
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', NotGeoreferencedWarning)
                try:
                    dst = rasterio.open(self.plain, 'w', **profile)
                except RasterioIOError:
                    # A GDAL built without ZSTD (a missing codec fails here).
                    for key in SCRATCH_COMPRESSION:
                        profile.pop(key)
                    profile.update(compress='deflate')
                    dst = rasterio.open(self.plain, 'w', **profile)
                self._dst = stack.enter_context(dst)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def _flush(self, final: bool) -> None:
        from rasterio.windows import Window

        held = sum(len(p) for p in self._pending)
        if not held or (held < self.block and not final):
            return
        data = np.concatenate(self._pending) if len(self._pending) > 1 \
            else self._pending[0]
        self._pending = []
        # Whole strips of ``block`` rows (tile-aligned), the rest kept.
        cut = len(data) if final else len(data) // self.block * self.block
        y = self.rows - held
        self._dst.write(data[:cut], 1, window=Window(0, y, self.width, cut))
        if cut < len(data):
            self._pending = [data[cut:].copy()]

    def write(self, rows: np.ndarray) -> None:
        """Append ``(n, width)`` uint8 rows below those written so far."""
        rows = np.asarray(rows, np.uint8)
        if rows.ndim != 2 or rows.shape[1] != self.width or \
                self.rows + len(rows) > self.height:
            raise ValueError(
                f'{self.path}: rows of shape {rows.shape} do not fit a '
                f'{self.width} x {self.height} mask after {self.rows} rows')
        self._pending.append(rows)
        self.rows += len(rows)
        self._flush(False)

    def __exit__(self, kind, value, tb) -> bool:
        stack, self._stack = self._stack, None
        if kind is not None:
            return stack.__exit__(kind, value, tb)
        try:
            self._finish()
        except BaseException:
            import sys
            if not stack.__exit__(*sys.exc_info()):
                raise
            return False
        stack.close()  # publishes the COG
        return False

    def _finish(self) -> None:
        import rasterio.shutil
        from rasterio.errors import NotGeoreferencedWarning

        if self.rows != self.height:
            raise ValueError(f'{self.path}: {self.rows} rows written of '
                             f'{self.height}')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            self._flush(True)
            cmap = {i: tuple(int(v) for v in c[:3]) + (255, )
                    for i, c in enumerate(self.palette[:255])}
            cmap[self.nodata] = (0, 0, 0, 0)
            self._dst.write_colormap(1, cmap)
            self._dst.close()
            # The copy comes after the model has run: its tiles are
            # compressed on every core (the same bytes as on one).
            rasterio.shutil.copy(self.plain, self.tmp, driver='COG',
                                 COMPRESS='DEFLATE',
                                 BLOCKSIZE=str(self.block),
                                 OVERVIEW_RESAMPLING='NEAREST',
                                 OVERVIEWS='AUTO', NUM_THREADS='ALL_CPUS')


def save_mask_cog(path: str, read_rows, height: int, width: int, georef,
                  palette: Sequence[Sequence[int]], overwrite: bool = False,
                  nodata: int = 255, block: int = 512) -> str:
    """Write class ids as a Cloud-Optimized GeoTIFF, block row by block row.

    See :class:`MaskCogWriter` (the file is written through it).

    Args:
        path (str): Target ``.tif``.
        read_rows (Callable[[int, int], np.ndarray]): Rows ``y0:y1`` of the
            mask as ``(rows, width)`` uint8.
        height (int): Mask height.
        width (int): Mask width.
        georef (mmseg_sia.georef.Georef, optional): CRS and transform; None
            writes a TIFF without georeference.
        palette (Sequence[Sequence[int]]): RGB colour of each class id.
        overwrite (bool): Replace an existing file. Defaults to False.
        nodata (int): The nodata value. Defaults to 255.
        block (int): Tile side and rows written at a time. Defaults to 512.

    Returns:
        str: ``path``.

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
        OSError: When the folder cannot be written.
    """
    with MaskCogWriter(path, height, width, georef, palette, overwrite,
                       nodata, block) as out:
        for y in range(0, height, block):
            out.write(read_rows(y, min(y + block, height)))
    return path
