"""Images in, class-id masks out: streamed sliding-window segmentation.

:func:`segment_image` is the sliding-window inference of mmseg's
``test_cfg=dict(mode='slide')`` (same windows, same averaging of the
logits), streamed over the rows of the image so that memory grows with the
window, not with the scene. Arrays are in mmseg's channel order, BGR, unless
``channel_order='rgb'`` is given (see :func:`load_image`).
"""
from __future__ import annotations

import math
import os
import os.path as osp
import threading
from typing import (Callable, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import cv2
import numpy as np
import torch

from .model import _unwrap

__all__ = [
    'DEFAULT_WINDOW', 'ImageReadError', 'load_image', 'window_grid',
    'segment_image', 'iter_segment_rows'
]

#: Window side used when the model's test_cfg does not ask for 'slide'.
DEFAULT_WINDOW = 1024

ImageInput = Union[str, os.PathLike, np.ndarray]
#: ``progress`` argument: a bar (True), none (False), or a function called
#: with (windows done, windows in all) after each forward pass.
Progress = Union[bool, Callable[[int, int], None]]


class ImageReadError(OSError):
    """An image file that cannot be decoded; the message names it."""


def load_image(image: ImageInput,
               channel_order: str = 'bgr') -> Tuple[np.ndarray, Optional[str]]:
    """Read or check an image, as mmseg's ``LoadImageFromFile`` would.

    Files are decoded with OpenCV to 3-channel 8-bit BGR, mmseg's order (the
    model's ``data_preprocessor`` converts to RGB when configured to). An
    array is taken as BGR too, as mmseg's ``inference_model`` takes it,
    unless ``channel_order='rgb'``: an RGB array passed as BGR gives a
    different prediction, and nothing can tell the two apart, so say which.

    Args:
        image (str | PathLike | np.ndarray): A file, or an ``(H, W)`` /
            ``(H, W, 3)`` / ``(H, W, 4)`` uint8 array.
        channel_order (str): Order of an array's channels: 'bgr' (mmseg's
            and ``cv2.imread``'s, the default) or 'rgb' (``PIL``,
            ``matplotlib``, ``imageio``); a fourth (alpha) channel is
            dropped. Ignored for files.

    Returns:
        tuple[np.ndarray, str | None]: The BGR image and its path (None for
        an array).

    Raises:
        FileNotFoundError: When the file does not exist.
        ImageReadError: When the file cannot be decoded.
        ValueError: On an array of another shape or dtype.
    """
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got "
                         f'{channel_order!r}')
    if isinstance(image, np.ndarray):
        img = image
        if img.dtype != np.uint8:
            raise ValueError(f'image array must be uint8, got {img.dtype}')
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        elif img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError('image array must be (H, W), (H, W, 3) or '
                             f'(H, W, 4), got {img.shape}')
        img = img[..., :3]
        if channel_order == 'rgb':
            img = img[..., ::-1]
        return np.ascontiguousarray(img), None
    path = os.fspath(image)
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageReadError(f'{path}: cannot be read ({e.strerror})') from e
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ImageReadError(
            f'{path}: cannot be decoded as an image (empty, truncated or '
            'not an image format OpenCV reads)')
    return img, path


def _pair(value, name: str) -> Tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) <= 0:
        raise ValueError(f'{name} must be a positive int or (h, w), got '
                         f'{value}')
    return value


def window_grid(size: int, window: int, stride: int) -> List[int]:
    """Start offsets of the windows along one axis, as mmseg's 'slide' mode.

    Windows start every ``stride`` pixels; the last one is pulled back to end
    at the border, and a window larger than the image covers all of it.

    Args:
        size (int): Image size along the axis.
        window (int): Window size.
        stride (int): Step between windows.

    Returns:
        list[int]: Start offsets (non-decreasing).
    """
    grids = max(size - window + stride - 1, 0) // stride + 1
    starts = []
    for i in range(grids):
        end = min(i * stride + window, size)
        starts.append(max(end - window, 0))
    return starts


def _resolve_windows(model, window, stride, overlap):
    test_cfg = getattr(model, 'test_cfg', None) or {}
    slide = test_cfg.get('mode', 'whole') == 'slide'
    if window is None:
        window = test_cfg['crop_size'] if slide else DEFAULT_WINDOW
        if stride is None and overlap is None and slide:
            stride = test_cfg['stride']
    window = _pair(window, 'window')
    if stride is not None and overlap is not None:
        raise ValueError('give stride or overlap, not both')
    if stride is None:
        if overlap is None:
            overlap = (window[0] // 4, window[1] // 4)
        overlap = (overlap, overlap) if isinstance(overlap, int) else tuple(
            overlap)
        if any(o < 0 or o >= w for o, w in zip(overlap, window)):
            raise ValueError(f'overlap {overlap} must be >= 0 and smaller '
                             f'than the window {window}')
        stride = (window[0] - overlap[0], window[1] - overlap[1])
    stride = _pair(stride, 'stride')
    if stride[0] > window[0] or stride[1] > window[1]:
        raise ValueError(f'stride {stride} larger than the window {window} '
                         'would leave pixels unpredicted')
    return window, stride


def _padded_size(dp, h: int, w: int) -> Tuple[int, int]:
    # The data_preprocessor's test padding: to at least its test size, then
    # to a multiple of its size divisor.
    test_cfg = getattr(dp, 'test_cfg', None) or {}
    divisor = test_cfg.get('size_divisor')
    size = test_cfg.get('size')
    ph, pw = h, w
    if size:
        ph, pw = max(ph, size[0]), max(pw, size[1])
    if divisor:
        ph = int(math.ceil(ph / divisor)) * divisor
        pw = int(math.ceil(pw / divisor)) * divisor
    return ph, pw


def _preprocess(model, batch: np.ndarray, device) -> Tuple[torch.Tensor,
                                                           Tuple[int, int]]:
    """Normalise a ``(B, h, w, 3)`` uint8 BGR batch as the data_preprocessor.

    Channel conversion and mean/std come from ``model.data_preprocessor``
    (mmseg's ``SegDataPreProcessor``); the batch is padded to the
    preprocessor's test ``size_divisor`` when it has one.
    """
    dp = model.data_preprocessor
    x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2)
    if getattr(dp, 'channel_conversion', False) and x.shape[1] == 3:
        x = x.flip(1)
    # Contiguous NCHW, as mmseg feeds the model (a permuted view would run
    # every layer in channels-last layout).
    x = x.float().contiguous()
    if getattr(dp, '_enable_normalize', False):
        x = (x - dp.mean.view(1, -1, 1, 1)) / dp.std.view(1, -1, 1, 1)
    h, w = x.shape[2:]
    ph, pw = _padded_size(dp, h, w)
    if (ph, pw) != (h, w):
        x = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h),
                                    value=float(getattr(dp, 'pad_val', 0)))
    return x, (int(h), int(w))


def _numpy_stats(dp, device) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The data_preprocessor ``dp``'s mean and std as ``(C, 1, 1)`` float32
    arrays for :func:`_prepare` (``(None, None)`` when it does not
    normalise), or None where :func:`_preprocess` has to make the batches:
    a model on another ``device`` than the CPU (the batch goes there as
    uint8, a quarter of the floats), or statistics that are not float32
    CPU tensors."""
    if torch.device(device).type != 'cpu':
        return None
    if not getattr(dp, '_enable_normalize', False):
        return None, None
    mean, std = getattr(dp, 'mean', None), getattr(dp, 'std', None)
    if not all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 and
               t.device.type == 'cpu' for t in (mean, std)):
        return None
    return (mean.numpy().reshape(-1, 1, 1).copy(),
            std.numpy().reshape(-1, 1, 1).copy())


def _prepare(dp, stats, windows: Sequence[np.ndarray]
             ) -> Tuple[np.ndarray, Tuple[int, int]]:
    """:func:`_preprocess` of the ``windows`` in numpy, for a model on the
    CPU: the same float32 values (a uint8 is exact as a float, and ``(x -
    mean) / std`` is one rounded float32 subtraction and one division in
    both), made without torch, so in a thread beside the model without
    taking its OpenMP threads.

    Args:
        dp: The model's data_preprocessor (channel conversion, padding).
        stats (tuple): ``(mean, std)`` from :func:`_numpy_stats`.
        windows (Sequence[np.ndarray]): ``(h, w, C)`` uint8 windows of the
            image, BGR, all of one size.

    Returns:
        tuple: The ``(B, C, ph, pw)`` float32 batch and its unpadded
        ``(h, w)``.
    """
    h, ww, channels = windows[0].shape
    ph, pw = _padded_size(dp, h, ww)
    out = np.empty((len(windows), channels, ph, pw), np.float32)
    if (ph, pw) != (h, ww):
        out.fill(float(getattr(dp, 'pad_val', 0)))
    order = range(channels)[::-1] if getattr(
        dp, 'channel_conversion', False) and channels == 3 else \
        range(channels)
    mean, std = stats
    for k, window in enumerate(windows):
        for c, src in enumerate(order):
            out[k, c, :h, :ww] = window[:, :, src]
        if mean is not None:
            part = out[k, :, :h, :ww]
            np.subtract(part, mean, out=part)
            np.divide(part, std, out=part)
    return out, (h, ww)


def _class_ids(logits: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """``logits.argmax(dim=0)`` as ``uint8``, computed plane by plane.

    torch reduces over the leading dimension of a ``(C, H, W)`` tensor with
    a strided loop that is about 20 times slower on a CPU than comparing
    the ``C`` contiguous planes in turn (1.5 s against 0.08 s for a band of
    384 x 20,000 pixels and 3 classes). The first maximum wins, as with
    ``argmax``; a NaN logit (which ``argmax`` takes as the maximum) sends
    the columns that hold it to ``argmax`` itself. Done ``chunk`` columns
    at a time, so the running maximum is a float plane of that width, not
    of the scene's (31 MB for 384 x 20,000 pixels, made for every band).
    """
    ids = torch.zeros(logits.shape[1:], dtype=torch.uint8,
                      device=logits.device)
    for x0 in range(0, logits.shape[2], chunk):
        part = logits[:, :, x0:x0 + chunk]
        out = ids[:, x0:x0 + chunk]
        best = part[0].clone()
        for c in range(1, part.shape[0]):
            out.masked_fill_(part[c] > best, c)
            torch.maximum(best, part[c], out=best)
        if torch.isnan(best).any():
            out.copy_(part.argmax(dim=0))
    return ids


def _bit_columns(packed: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """Columns ``c0:c1`` (bool) of rows packed by ``np.packbits(rows,
    axis=1)``, unpacking only the bytes that hold them."""
    off = c0 % 8
    part = np.unpackbits(packed[:, c0 // 8:(c1 + 7) // 8], axis=1)
    return part[:, off:off + c1 - c0].view(bool)


class _KeptSums:
    """The sums of the rows two rows of windows share, across the width.

    A row of windows reads the sums the row before left for a column
    (:meth:`read`) before it leaves its own there (:meth:`write`), so one
    set serves both rows. On the CPU they wait in a temporary file
    (:class:`~mmseg_sia.fileio.SpillFile`), one record of ``channels x
    rows`` floats per column, and only the columns being summed are in
    memory: the process holds no float of the scene's width (31 MB at
    20,000 wide for 3 classes and 128 rows). Elsewhere (a GPU) they stay in
    one tensor on the device.

    Args:
        channels (int): Logit channels.
        rows (int): Most rows kept.
        width (int): Image width.
        device: Where the sums are made.
        in_file (bool, optional): Keep them in a file. Defaults to True on
            the CPU.
        folder (str, optional): The file's folder. Defaults to ``TMPDIR``.
    """

    def __init__(self, channels: int, rows: int, width: int, device,
                 in_file: Optional[bool] = None,
                 folder: Optional[str] = None) -> None:
        self.channels, self.rows = channels, max(rows, 1)
        self.device = torch.device(device)
        if in_file is None:
            in_file = self.device.type == 'cpu'
        self.file = self.plane = None
        if in_file:
            from ..fileio import SpillFile
            self.file = SpillFile('the sums kept for the next row of '
                                  'windows', folder)
        else:
            self.plane = torch.empty((channels, self.rows, width),
                                     dtype=torch.float32, device=device)

    def read(self, a: int, b: int, k: int) -> torch.Tensor:
        """The first ``k`` rows' sums of columns ``a:b``, ``(C, k, b - a)``."""
        if self.plane is not None:
            return self.plane[:, :k, a:b]
        buf = np.empty((b - a, self.channels, self.rows), np.float32)
        self.file.read_into(a * buf[0].nbytes, buf)
        return torch.from_numpy(buf).permute(1, 2, 0)[:, :k]

    def write(self, a: int, sums: torch.Tensor) -> None:
        """Keep ``sums`` ``(C, k, n)`` as the first ``k`` rows of columns
        ``a:a + n``."""
        k, n = sums.shape[1:]
        if self.plane is not None:
            self.plane[:, :k, a:a + n] = sums
            return
        buf = np.empty((n, self.channels, self.rows), np.float32)
        torch.from_numpy(buf).permute(1, 2, 0)[:, :k] = sums
        self.file.write(a * buf[0].nbytes, buf)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file = self.plane = None


class _RowSums:
    """The windows' logits summed one row of windows at a time.

    mmseg's slide inference sums every window's logits into a plane of the
    image's size. Here a row of windows (image rows ``y:y + window``) is
    summed as its windows come, left to right: the columns no later window
    of the row reaches are closed at once, their rows above the next row of
    windows reduced to class ids, and the rows the next row of windows
    covers too left in :class:`_KeptSums` (a file, on the CPU), in pieces
    of at most :data:`SUM_BLOCK` columns. So the floats held in memory are
    a window-high band of the columns still open (and, off the CPU, the
    rows kept across the width), not a window-high band of the width (123
    MB for 3 classes and 512-pixel windows at 20,000 pixels wide). Each
    pixel's sum is made by the same additions in the same order as in a
    whole-width plane: the same floats.

    Args:
        channels (int): Logit channels.
        window (int): Window height.
        width (int): Image width.
        device: Where the sums are made.
        class_ids (Callable): ``(sums, y, a, b) -> ids`` of image rows
            ``y:y + len`` and columns ``a:b``.
        rows (int, optional): Most rows a row of windows shares with the
            next. Defaults to ``window - 1``.
        in_file, folder: See :class:`_KeptSums`.
    """

    def __init__(self, channels: int, window: int, width: int, device,
                 class_ids, rows: Optional[int] = None,
                 in_file: Optional[bool] = None,
                 folder: Optional[str] = None) -> None:
        self.channels, self.window, self.width = channels, window, width
        self.device, self.class_ids = device, class_ids
        self.kept = _KeptSums(channels, window - 1 if rows is None else rows,
                              width, device, in_file, folder)
        self.rows_kept = 0  # rows y:y + rows_kept of the row are kept

    def start(self, y: int, step: int) -> None:
        """Begin the row of windows at image row ``y``, of which ``step``
        rows are finished by it (the rest the next row covers too)."""
        self.y, self.step = y, step
        self.keep = self.window - step
        if self.keep > self.kept.rows:
            raise ValueError(f'{self.keep} rows to keep, room for '
                             f'{self.kept.rows}')
        self.ids = torch.empty((step, self.width), dtype=torch.uint8,
                               device=self.device)
        self.open = None  # sums of columns lo:hi
        self.lo = self.hi = 0

    def _fresh(self, a: int, b: int) -> torch.Tensor:
        # Columns a:b before this row's windows: the kept rows' sums above
        # zeros. (Each column is read here once a row, before close()
        # keeps the next row's sums in its place.)
        out = torch.zeros((self.channels, self.window, b - a),
                          dtype=torch.float32, device=self.device)
        k = self.rows_kept
        if k:
            out[:, :k] = self.kept.read(a, b, k)
        return out

    def add(self, starts: Sequence[int], logits: torch.Tensor) -> None:
        """Add the logits ``(B, C, window, w)`` of windows at columns
        ``starts`` (ascending, right of the columns closed)."""
        hi = starts[-1] + logits.shape[-1]
        if hi > self.hi:
            more = self._fresh(self.hi, hi)
            self.open = more if self.open is None else torch.cat(
                [self.open, more], dim=2)
            self.hi = hi
        for k, x in enumerate(starts):
            self.open[:, :, x - self.lo:x - self.lo + logits.shape[-1]] += \
                logits[k]

    def close(self, upto: int) -> None:
        """Close the columns left of ``upto``: no more windows reach them."""
        while self.lo < upto:
            # At most SUM_BLOCK columns at a time (a row with no window
            # run makes its sums here).
            b = min(upto, self.lo + SUM_BLOCK)
            if self.lo < self.hi:
                b = min(b, self.hi)
                part = self.open[:, :, :b - self.lo]
            else:
                part = self._fresh(self.lo, b)
            self.ids[:, self.lo:b] = self.class_ids(
                part[:, :self.step], self.y, self.lo, b).to(torch.uint8)
            if self.keep > 0:
                self.kept.write(self.lo, part[:, self.step:])
            if self.lo < self.hi:
                self.open = self.open[:, :, b - self.lo:] \
                    if b < self.hi else None
            self.lo = b
            self.hi = max(self.hi, b)

    def finish(self) -> np.ndarray:
        """The finished rows' class ids (every column closed); what the
        next row of windows covers too is kept."""
        self.rows_kept = max(self.keep, 0)
        self.open = None
        return self.ids.cpu().numpy()

    def release(self) -> None:
        """Let the kept sums (and their file) go."""
        self.kept.close()


#: Most columns :class:`_RowSums` closes (or makes fresh) at a time: where
#: no window of a row reached (nodata), a window-high band of this many
#: columns' sums is made at a time (6.3 MB for 3 classes and 512-pixel
#: windows; 25 MB with 4,096 columns).
SUM_BLOCK = 1024


def segment_image(model: torch.nn.Module,
                  image: ImageInput,
                  window: Optional[Union[int, Sequence[int]]] = None,
                  stride: Optional[Union[int, Sequence[int]]] = None,
                  overlap: Optional[Union[int, Sequence[int]]] = None,
                  batch_size: int = 4,
                  progress: Progress = False,
                  channel_order: str = 'bgr') -> np.ndarray:
    """Segment an image of any size with overlapping windows, streamed.

    The windows are mmseg's 'slide' windows (same positions), and
    overlapping logits are averaged as there, so the result matches
    ``inference_model`` with ``test_cfg=dict(mode='slide', ...)``. The
    rows come from :func:`iter_segment_rows` and are gathered into one
    array; use that generator to consume a large scene without holding its
    mask.

    Args:
        model, image, window, stride, overlap, batch_size, progress,
        channel_order: See :func:`iter_segment_rows`.

    Returns:
        np.ndarray: ``(H, W)`` uint8 class ids.
    """
    if hasattr(image, 'read_strips'):
        shape = (image.height, image.width)
    else:
        image, _ = load_image(image, channel_order)
        shape, channel_order = image.shape[:2], 'bgr'
    mask = np.empty(shape, np.uint8)
    for y0, rows in iter_segment_rows(model, image, window, stride, overlap,
                                      batch_size, progress, channel_order):
        mask[y0:y0 + len(rows)] = rows
    return mask


@torch.no_grad()
def iter_segment_rows(model: torch.nn.Module,
                      image: ImageInput,
                      window: Optional[Union[int, Sequence[int]]] = None,
                      stride: Optional[Union[int, Sequence[int]]] = None,
                      overlap: Optional[Union[int, Sequence[int]]] = None,
                      batch_size: int = 4,
                      progress: Progress = False,
                      channel_order: str = 'bgr',
                      spill_dir: Optional[str] = None
                      ) -> Iterator[Tuple[int, np.ndarray]]:
    """Segment an image with overlapping windows, yielding finished rows.

    The windows are mmseg's 'slide' windows (same positions), and
    overlapping logits are averaged as there, so the result matches
    ``inference_model`` with ``test_cfg=dict(mode='slide', ...)``. Unlike
    mmseg, which holds the whole image as float and the whole scene's logits
    (plus a full-size padded copy per window), windows are run one band of
    rows at a time, ``batch_size`` windows per forward pass, and logits are
    accumulated only for the rows the current band still covers; finished
    rows are reduced to class ids at once and yielded, top to bottom, in
    bands of about one stride of rows. The sums of the rows the next row of
    windows covers too (``num_classes x (window_h - stride_h) x width``
    floats) wait in a temporary file on the CPU, in device memory elsewhere
    (see :class:`_RowSums`). A raster scene is never held whole, nor a
    strip of it across the width: a thread reads its strips of
    ``window_h`` rows in column chunks (:meth:`~mmseg_sia.apis.raster.
    RasterReader.read_strips`) a few chunks (:data:`READ_AHEAD`) ahead of
    the windows, which hold only the chunks they reach; nor is its mask.
    With the model on
    the CPU, each batch is normalised in numpy in a thread of its own while
    the model runs on the batch before (:func:`_prepare`, the same floats as
    the data_preprocessor's), not with torch on the model's own thread,
    whose OpenMP threads would wait for it.

    Args:
        model (torch.nn.Module): An mmseg segmentor (``encode_decode``).
        image (str | PathLike | np.ndarray | RasterReader): File, uint8
            array, or a :class:`mmseg_sia.apis.raster.RasterReader` (a
            raster scene, read in column chunks of strips of window rows; its
            nodata, masked and transparent pixels get 255 and windows with
            no valid pixel are not run).
        window (int | tuple, optional): Window size ``(h, w)``. Defaults to
            the model's ``test_cfg.crop_size`` in 'slide' mode, else
            :data:`DEFAULT_WINDOW`.
        stride (int | tuple, optional): Step between windows. Defaults to the
            model's slide stride, else ``window - overlap``.
        overlap (int | tuple, optional): Overlap between windows, instead of
            ``stride``. Defaults to a quarter of the window.
        batch_size (int): Windows per forward pass. Defaults to 4.
        progress (bool | Callable[[int, int], None]): True shows a progress
            bar over the windows; a function is called with (windows done,
            windows in all) after each forward pass instead (e.g. to update
            a bar of your own). Defaults to False.
        channel_order (str): Channel order of an array input, 'bgr' (mmseg's,
            the default) or 'rgb'; see :func:`load_image`.
        spill_dir (str, optional): Folder of the temporary file the sums
            kept for the next row of windows wait in, on the CPU. Defaults
            to ``TMPDIR``.

    Yields:
        tuple[int, np.ndarray]: The first image row of a band and its
        ``(rows, W)`` uint8 class ids (255 where a raster has no valid
        pixel); the bands follow each other and cover the image.
    """
    from tqdm import tqdm

    model = _unwrap(model)
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if hasattr(image, 'read_strips'):
        reader = image  # a RasterReader: strips of rows, with validity
        height, width = reader.height, reader.width
    else:
        img, _ = load_image(image, channel_order)
        height, width = img.shape[:2]
        reader = None
    (wh, ww), (sh, sw) = _resolve_windows(model, window, stride, overlap)
    ys = window_grid(height, wh, sh)
    xs = window_grid(width, ww, sw)
    wh, ww = min(wh, height), min(ww, width)
    device = next(model.parameters()).device
    head = model.decode_head
    if isinstance(head, (list, tuple, torch.nn.ModuleList)):
        head = head[-1]
    channels = int(getattr(model, 'out_channels', head.out_channels))
    threshold = getattr(head, 'threshold', None)
    threshold = 0.3 if threshold is None else float(threshold)

    # How many windows cover each row and column: the average is the sum
    # divided by their product (the windows form a grid).
    row_count = np.zeros(height, np.float32)
    for y in ys:
        row_count[y:y + wh] += 1
    col_count = np.zeros(width, np.float32)
    for x in xs:
        col_count[x:x + ww] += 1
    col_count_t = torch.from_numpy(col_count).to(device)
    row_count_t = torch.from_numpy(row_count).to(device)

    def class_ids(block: torch.Tensor, y: int, a: int, b: int
                  ) -> torch.Tensor:
        # Class ids of image rows y:y + n, columns a:b, from their sums.
        if channels > 1:
            ids = _class_ids(block)
        else:
            count = row_count_t[y:y + block.shape[1], None] * \
                col_count_t[None, a:b]
            ids = ((block[0] / count).sigmoid() > threshold).to(torch.uint8)
        invalid = None if windows is None else windows.invalid(a, b)
        if invalid is not None:
            # Nodata, masked and transparent pixels: the ignore index.
            ids[torch.from_numpy(invalid).to(ids.device)] = 255
        return ids

    # Rows a row of windows shares with the next (stride under window).
    shared = max([wh - (b - a) for a, b in zip(ys, ys[1:])], default=0)
    sums = _RowSums(channels, wh, width, device, class_ids, rows=shared,
                    folder=spill_dir)
    windows = None  # the row's windows (and its strip's invalid pixels)
    total = len(ys) * len(xs)
    report = progress if callable(progress) else None
    bar = tqdm(total=total, desc='windows', unit='win', leave=False,
               disable=report is not None or not progress)
    done = 0

    prep = None
    stats = _numpy_stats(model.data_preprocessor, device)
    if stats is not None:
        from concurrent.futures import ThreadPoolExecutor
        prep = ThreadPoolExecutor(1, thread_name_prefix='sia-batch')
    strips = [(y, y + wh) for y in ys]
    if reader is not None:
        # The strips are read in a thread of their own (GDAL decodes without
        # the GIL) a few column chunks ahead of the windows, and only the
        # chunks the next windows need are held: memory of the window, not
        # of the scene's width.
        feed = _Feed(reader.read_strips(strips), ahead=READ_AHEAD)
    else:
        feed = _Feed(((i, 0, width, img[a:b], None)
                      for i, (a, b) in enumerate(strips)))
    try:
        for i, y in enumerate(ys):
            # This row of windows finishes the image rows above the next.
            step = (ys[i + 1] if i + 1 < len(ys) else height) - y
            sums.start(y, step)
            windows = _StripWindows(feed, i, width, xs, ww, step)

            def make(windows: _StripWindows = windows) -> Optional[tuple]:
                # The row's next batch (None after its last window): its
                # windows' first columns, its inputs and size, the windows
                # passed over (no valid pixel) and where the columns the
                # row's later windows do not reach end.
                got = windows.next_batch(batch_size)
                if got is None:
                    return None
                starts, pixels, skipped, upto = got
                if stats is None:
                    inputs = _preprocess(model, np.stack(pixels), device)
                else:
                    batch, size = _prepare(model.data_preprocessor, stats,
                                           pixels)
                    inputs = torch.from_numpy(batch), size
                return starts, inputs, skipped, upto

            # On the CPU the next batch is made (in numpy) while the model
            # runs on this one.
            made = prep.submit(make) if prep is not None else None
            while True:
                got = made.result() if made is not None else make()
                if got is not None and prep is not None:
                    made = prep.submit(make)
                if got is None:
                    skipped = windows.skipped_after
                else:
                    starts, (inputs, (h, w)), skipped, upto = got
                if skipped:
                    bar.update(skipped)
                    done += skipped
                if got is None:
                    if skipped and report is not None:
                        report(done, total)
                    break
                ph, pw = inputs.shape[2:]
                metas = [dict(img_shape=(ph, pw), pad_shape=(ph, pw),
                              ori_shape=(ph, pw))] * len(starts)
                logits = model.encode_decode(inputs, metas)[:, :, :h, :w]
                del inputs
                sums.add(starts, logits)
                sums.close(upto)
                bar.update(len(starts))
                done += len(starts)
                if report is not None:
                    report(done, total)
            sums.close(width)
            rows = sums.finish()
            if len(rows):
                yield y, rows
    finally:
        sums.release()
        if prep is not None:
            prep.shutdown(wait=True, cancel_futures=True)
        feed.close()
        bar.close()


#: Column chunks the reader thread reads ahead of the windows of a raster
#: scene (besides those the next batches of windows take).
READ_AHEAD = 2


class _Feed:
    """Column chunks of strips, ``(i, x0, x1, bgr, valid)``, from a
    generator: run in a thread of its own that stays at most ``ahead``
    chunks ahead (``ahead`` > 0), else taken from it when asked for. The
    thread's error is raised by :meth:`get`."""

    def __init__(self, chunks: Iterator[tuple], ahead: int = 0) -> None:
        self.chunks = chunks
        self.thread = None
        if ahead > 0:
            import queue
            self.queue = queue.Queue(ahead)
            self.stopped = False
            self.thread = threading.Thread(target=self._run, daemon=True,
                                           name='sia-read')
            self.thread.start()

    def _run(self) -> None:
        # Blocking puts and gets (no timed polling: a thread waking up
        # every so often beside the model's OpenMP threads); the thread
        # ends with the end mark or an error, which get() raises.
        try:
            for chunk in self.chunks:
                self.queue.put(chunk)  # waits while the queue is full
                if self.stopped:
                    break
            else:
                self.queue.put(_END)
        except BaseException as e:  # raised again where the chunk is taken
            self.queue.put(e)
        finally:
            self.chunks.close()

    def get(self) -> tuple:
        """The next chunk."""
        item = next(self.chunks, _END) if self.thread is None else \
            self.queue.get()
        if item is _END:
            raise RuntimeError('the strips ran out: no chunk left to read')
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop reading (the generator is closed: its files go)."""
        if self.thread is None:
            self.chunks.close()
            return
        import queue
        self.stopped = True
        while self.thread.is_alive():
            # Room for the thread's last put, if it waits on one.
            try:
                self.queue.get_nowait()
            except queue.Empty:
                pass
            self.thread.join(0.01)


#: The end of a :class:`_Feed`'s chunks.
_END = object()


class _StripWindows:
    """A strip's windows, left to right, made of its column chunks as they
    come from a :class:`_Feed`, holding only those the next windows need.

    Args:
        feed (_Feed): Where the chunks come from.
        index (int): The strip's number (its chunks come in order).
        width (int): Image width.
        xs (Sequence[int]): The windows' first columns.
        ww (int): Window width.
        step (int): Rows of the strip its row of windows finishes (of which
            :meth:`invalid` tells the invalid pixels).
    """

    def __init__(self, feed: _Feed, index: int, width: int,
                 xs: Sequence[int], ww: int, step: int) -> None:
        self.feed, self.index, self.width = feed, index, width
        self.xs, self.ww, self.step = xs, ww, step
        self.chunks = []  # (x0, x1, bgr, valid) held, left to right
        self.read = 0  # columns read: 0:read
        self.k = 0  # the next window: xs[k]
        self.skipped_after = 0  # windows passed over after the last batch
        # (x0, x1, packed invalid pixels of the first step rows) of the
        # chunks with any; appended here (the batches' thread), read by
        # invalid() once the columns are read (the model's thread).
        self.holes = []

    def _pull(self, upto: int) -> None:
        while self.read < upto:
            i, x0, x1, bgr, valid = self.feed.get()
            if i != self.index or x0 != self.read:
                raise RuntimeError(f'strip {i} columns {x0}:{x1} came when '
                                   f'strip {self.index} column {self.read} '
                                   'was expected')
            if valid is not None and not valid[:self.step].all():
                self.holes.append((x0, x1, np.packbits(
                    ~valid[:self.step], axis=1)))
            self.chunks.append((x0, x1, bgr, valid))
            self.read = x1

    def _over(self, a: int, b: int) -> List[tuple]:
        # The chunks held that reach into columns a:b, cut to them:
        # (bgr, valid).
        return [(bgr[:, max(a, x0) - x0:min(b, x1) - x0],
                 None if ok is None else
                 ok[:, max(a, x0) - x0:min(b, x1) - x0])
                for x0, x1, bgr, ok in self.chunks if x0 < b and x1 > a]

    def _next(self) -> int:
        # The next window's first column (the width after the last).
        return self.xs[self.k] if self.k < len(self.xs) else self.width

    def next_batch(self, size: int) -> Optional[tuple]:
        """The next ``size`` windows with a valid pixel: ``(starts,
        pixels, skipped, upto)``, with ``pixels`` their ``(rows, ww, 3)``
        uint8 columns (views of a chunk, or copies where a window spans
        chunks), ``skipped`` the windows passed over before them and
        ``upto`` where the columns no later window of the strip reaches
        end; None when no window is left (every column then read;
        :attr:`skipped_after` the windows passed over last)."""
        starts, pixels, skipped = [], [], 0
        while self.k < len(self.xs) and len(starts) < size:
            x = self.xs[self.k]
            self.k += 1
            self._pull(x + self.ww)
            parts = self._over(x, x + self.ww)
            if any(ok is None or ok.any() for _, ok in parts):
                starts.append(x)
                pixels.append(parts[0][0] if len(parts) == 1 else
                              np.concatenate([p[0] for p in parts], 1))
            else:
                skipped += 1
            # Whatever windows were passed over, only the chunks the
            # windows from the next on reach are held.
            self._drop(self._next())
        if not starts:
            self._pull(self.width)
            self.chunks = []
            self.skipped_after = skipped
            return None
        return starts, pixels, skipped, self._next()

    def _drop(self, x: int) -> None:
        # Let the chunks left of column x go.
        while self.chunks and self.chunks[0][1] <= x:
            del self.chunks[0]

    def invalid(self, a: int, b: int) -> Optional[np.ndarray]:
        """The ``(step, b - a)`` invalid pixels of columns ``a:b`` (read
        already), or None when there are none."""
        parts = [(x0, x1, bits) for x0, x1, bits in list(self.holes)
                 if x0 < b and x1 > a]
        if not parts:
            return None
        out = np.zeros((self.step, b - a), bool)
        for x0, x1, bits in parts:
            lo, hi = max(a, x0), min(b, x1)
            out[:, lo - a:hi - a] = _bit_columns(bits, lo - x0, hi - x0)
        return out
