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
from typing import List, Optional, Sequence, Tuple, Union

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

    Raises:
        RasterError: When GDAL cannot open the file, a band is out of range
            or the raster has fewer than three bands and no ``bands``.
    """

    def __init__(self, path: Union[str, os.PathLike],
                 bands: Optional[Sequence[int]] = None,
                 stretch: Optional[str] = None) -> None:
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
            self._last = None  # the strip read last: (y0, y1, bgr, valid)
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
        blocks, one block at least."""
        block_w = self._block[1]
        return max(block_w, READ_CHUNK // block_w * block_w)

    @property
    def cache_mb(self) -> int:
        """GDAL block cache (MB) for reading the raster strip by strip: one
        row of its blocks (:meth:`read_rows` finishes a row of blocks
        before it starts the next) and a chunk more, within 64..512. Run the
        reads under ``rasterio.Env(GDAL_CACHEMAX=...)``: GDAL's default (5 %
        of the machine's memory) keeps every block read until it is full,
        so memory would grow with the scene."""
        pixel = sum(np.dtype(t).itemsize for t in self.ds.dtypes)
        need = self._block[0] * (self.ds.width + self._chunk) * pixel / \
            2**20 + 16
        return int(min(max(need, GDAL_CACHE_MB), 512))

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
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
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

        Strips are read top to bottom, as sliding windows overlap: rows the
        previous call returned are copied from it, and only the new ones
        are read, one row of the raster's blocks after the other and in
        column chunks of :data:`READ_CHUNK` pixels (whole blocks). GDAL then
        decodes each block once with a cache of one row of blocks
        (:attr:`cache_mb`), and the raw values and their float copy are
        held for a chunk, not for the scene's width.
        """
        rows, width = y1 - y0, self.width
        bgr = np.empty((rows, width, 3), np.uint8)
        valid = np.empty((rows, width), bool)
        start = y0
        last = self._last
        if last is not None and last[0] <= y0 < last[1] <= y1:
            kept = last[1] - y0
            bgr[:kept] = last[2][y0 - last[0]:]
            valid[:kept] = last[3][y0 - last[0]:]
            start = last[1]
        block_h = self._block[0]
        while start < y1:
            stop = min(y1, (start // block_h + 1) * block_h)
            self._read_into(start, stop, bgr[start - y0:stop - y0],
                            valid[start - y0:stop - y0])
            start = stop
        self._last = (y0, y1, bgr, valid)
        return bgr, valid

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

    def _read_into(self, y0: int, y1: int, bgr: np.ndarray,
                   valid: np.ndarray) -> None:
        from rasterio.windows import Window

        width, step = self.width, self._chunk
        rule = self._validity
        for x0 in range(0, width, step):
            win = Window(x0, y0, min(step, width - x0), y1 - y0)
            cols = slice(x0, x0 + win.width)
            if isinstance(rule, tuple):
                rgb, nodata = rule
                data = self.ds.read(window=win)  # every band, once
                ok = valid[:, cols]
                ok[:] = False
                for band, value in zip(data, nodata):
                    ok |= band != value
                data = data[rgb]
            else:
                data = self.ds.read(self.bands, window=win)
                if rule == 'all':
                    valid[:, cols] = True
                else:
                    valid[:, cols] = self.ds.dataset_mask(window=win) > 0
            bgr[:, cols] = self.to_uint8(data)[::-1].transpose(1, 2, 0)


#: Columns read at a time by :meth:`RasterReader.read_rows` (rounded down to
#: whole blocks of the raster).
READ_CHUNK = 4096


#: Creation options of the scratch GeoTIFF a mask COG is copied from.
SCRATCH_COMPRESSION = dict(compress='zstd', zstd_level=1)


#: GDAL block cache while writing a mask (MB): the writes go strip by strip,
#: so a small cache keeps memory flat whatever the scene size.
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
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB))
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
