"""From a checkpoint and an image to a mask, polygons and georeferenced files.

The calls mirror :mod:`mmseg.apis`:

* :func:`init_segmentor` is ``mmseg.apis.init_model`` plus the checks a user
  needs (missing files, a checkpoint trained for other classes), and returns
  the same model, so ``inference_model`` / ``show_result_pyplot`` work on it;
* :func:`segment_image` is the sliding-window inference of mmseg's
  ``test_cfg=dict(mode='slide')``, streamed over the rows of the image so
  that memory grows with the window, not with the scene;
* :func:`predict` is the notebook one-liner: mask, polygons, measures, and
  writers for every output file (:class:`SIAPrediction`).

Example::

    from mmseg_sia.apis import init_segmentor, predict
    model = init_segmentor('configs/sia/fpn_r18_sia-sample.py',
                           'work_dirs/sample/iter_80.pth')
    result = predict(model, 'data/sia_sample/images/'
                     'BLD01495_PS3_K3A_NIA0287.png', footprint='auto')
    result.polygons[1]          # building polygons (pixel coordinates)
    result.save('out_api/', overwrite=True)

Arrays are taken in mmseg's channel order, BGR (what ``cv2.imread`` gives),
unless ``channel_order='rgb'`` is passed (``PIL`` / ``matplotlib`` arrays).
"""
from __future__ import annotations

import math
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import (TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List,
                    Optional, Sequence, Tuple, Union)

import cv2
import numpy as np
import torch

from ..datasets.sia import SIADataset, index_label_files
from ..geo import (FootprintError, GeoTransform, footprint_transform,
                   polygon_area_m2, read_footprint, ring_length_m)
from ..labels import format_imcoords
from ..vectorize import (MaskPolygon, binary_to_polygons, clean_mask,
                         keyhole_ring, ring_signed_area)
from .writers import (IMAGE_FORMATS, blend_overlay, output_paths,
                      save_json, save_mask_png, save_overlay_png)

if TYPE_CHECKING:  # only for annotations
    from mmengine.config import Config

__all__ = [
    'ImageReadError', 'CheckpointMismatchError', 'DEFAULT_WINDOW',
    'load_image', 'init_segmentor', 'window_grid', 'segment_image',
    'SIAPrediction', 'predict', 'find_label_files', 'find_footprint'
]

#: Window side used when the model's test_cfg does not ask for 'slide'.
DEFAULT_WINDOW = 1024

ImageInput = Union[str, os.PathLike, np.ndarray]
#: ``progress`` argument: a bar (True), none (False), or a function called
#: with (windows done, windows in all) after each forward pass.
Progress = Union[bool, Callable[[int, int], None]]


class ImageReadError(OSError):
    """An image file that cannot be decoded; the message names it."""


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the model its config builds."""


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------
def _check_device(device: str) -> str:
    device = str(device)
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'device {device!r} was asked for, but CUDA is '
                           'not available here; use --device cpu')
    return device


def _class_count(model: torch.nn.Module) -> int:
    head = getattr(model, 'decode_head', None)
    if isinstance(head, (list, tuple, torch.nn.ModuleList)):
        head = head[-1]
    count = getattr(head, 'num_classes', None)
    if count is None:
        raise ValueError('the model has no decode_head.num_classes; '
                         'mmseg_sia inference needs an EncoderDecoder-like '
                         'segmentor')
    return int(count)


def _default_meta(num_classes: int) -> dict:
    meta = SIADataset.METAINFO
    if num_classes == len(meta['classes']):
        return dict(classes=tuple(meta['classes']),
                    palette=[list(p) for p in meta['palette']])
    rng = np.random.default_rng(0)
    palette = [[0, 0, 0]] + rng.integers(
        0, 256, (max(num_classes - 1, 0), 3)).tolist()
    return dict(classes=tuple(f'class{i}' for i in range(num_classes)),
                palette=palette[:num_classes])


def init_segmentor(config: Union[str, os.PathLike, 'Config'],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a segmentor from a config and load its checkpoint.

    The model is built by ``mmseg.apis.init_model`` (same config handling,
    ``model.cfg`` set), then the checkpoint is checked against it before its
    weights are loaded: every parameter of the model must be in the
    checkpoint with the same shape, and the checkpoint's class names (its
    ``meta['dataset_meta']``) must number the model's classes. The class
    names and palette are stored as ``model.dataset_meta``.

    Args:
        config (str | PathLike | Config): The config file or object.
        checkpoint (str, optional): The weights; None leaves the model
            randomly initialised (with a warning).
        device (str): 'cpu', 'cuda' or 'cuda:N'. Defaults to 'cpu'.
        cfg_options (dict, optional): Config overrides.

    Returns:
        torch.nn.Module: The segmentor, in eval mode on ``device``.

    Raises:
        FileNotFoundError: When the config or checkpoint file is missing.
        CheckpointMismatchError: When the checkpoint does not fit the model
            (the message names both files).
        RuntimeError: When CUDA is asked for but not available.
    """
    from mmengine import Config
    from mmengine.runner import CheckpointLoader
    from mmseg.apis import init_model

    device = _check_device(device)
    cfg_name = '<Config object>'
    if isinstance(config, (str, os.PathLike)):
        cfg_name = os.fspath(config)
        if not osp.isfile(cfg_name):
            raise FileNotFoundError(f'config {cfg_name} does not exist')
        config = Config.fromfile(cfg_name)
    elif not isinstance(config, Config):
        raise TypeError('config must be a file name or an mmengine Config, '
                        f'got {type(config).__name__}')
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        remote = checkpoint.startswith(('http://', 'https://', 's3://'))
        if not remote and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    model = init_model(config, None, device='cpu', cfg_options=cfg_options)
    num_classes = _class_count(model)
    meta = None
    if checkpoint is None:
        warnings.warn(f'no checkpoint given for {cfg_name}: the model keeps '
                      'its random initial weights')
    else:
        try:
            ckpt = CheckpointLoader.load_checkpoint(checkpoint,
                                                    map_location='cpu')
        except Exception as e:  # any reader failure: name the file
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} cannot be loaded: {e}') from e
        if not isinstance(ckpt, dict):
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} is not a state dict or a '
                f'checkpoint dict (it holds a {type(ckpt).__name__})')
        state = ckpt.get('state_dict', ckpt)
        state = {(k[7:] if k.startswith('module.') else k): v
                 for k, v in state.items()}
        meta = (ckpt.get('meta') or {}).get('dataset_meta')
        if not meta and (ckpt.get('meta') or {}).get('CLASSES'):
            meta = dict(classes=ckpt['meta']['CLASSES'],
                        palette=ckpt['meta'].get('PALETTE'))
        if meta and meta.get('classes') is not None and \
                len(meta['classes']) != num_classes:
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} was trained for '
                f'{len(meta["classes"])} classes {tuple(meta["classes"])}, '
                f'but config {cfg_name} builds a model with {num_classes} '
                'classes')
        own = model.state_dict()
        wrong = [(k, tuple(v.shape), tuple(state[k].shape))
                 for k, v in own.items()
                 if k in state and hasattr(state[k], 'shape') and
                 tuple(state[k].shape) != tuple(v.shape)]
        if wrong:
            shown = '; '.join(f'{k}: model {a}, checkpoint {b}'
                              for k, a, b in wrong[:3])
            more = '' if len(wrong) <= 3 else f' and {len(wrong) - 3} more'
            hint = ' (different number of classes?)' if any(
                'conv_seg' in k for k, _, _ in wrong) else ''
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} does not fit the model of config '
                f'{cfg_name}{hint}: {shown}{more}')
        missing = [k for k in own
                   if k not in state and not k.endswith('num_batches_tracked')]
        if missing:
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} lacks {len(missing)} weights of '
                f'the model of config {cfg_name} (e.g. {missing[0]}); was it '
                'trained with another config?')
        unexpected = [k for k in state if k not in own]
        if unexpected:
            warnings.warn(f'checkpoint {checkpoint}: {len(unexpected)} '
                          f'weights unused by the model (e.g. '
                          f'{unexpected[0]})')
        model.load_state_dict({k: v for k, v in state.items() if k in own},
                              strict=False)
    if not meta or meta.get('classes') is None:
        meta = _default_meta(num_classes)
    elif not meta.get('palette'):
        meta = dict(meta, palette=_default_meta(num_classes)['palette'])
    model.dataset_meta = dict(meta)
    model.to(device)
    model.eval()
    return model


def _unwrap(model) -> torch.nn.Module:
    # MMSegInferencer and wrappers keep the segmentor in ``.model`` or
    # ``.module``.
    for attr in ('model', 'module'):
        inner = getattr(model, attr, None)
        if isinstance(inner, torch.nn.Module) and hasattr(
                inner, 'encode_decode'):
            return inner
    if not hasattr(model, 'encode_decode'):
        raise TypeError('expected an mmseg segmentor with encode_decode (e.g. '
                        'from init_segmentor or mmseg.apis.init_model), got '
                        f'{type(model).__name__}')
    return model


# --------------------------------------------------------------------------
# Streamed sliding-window inference
# --------------------------------------------------------------------------
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
    test_cfg = getattr(dp, 'test_cfg', None) or {}
    divisor = test_cfg.get('size_divisor')
    size = test_cfg.get('size')
    ph, pw = h, w
    if size:
        ph, pw = max(ph, size[0]), max(pw, size[1])
    if divisor:
        ph = int(math.ceil(ph / divisor)) * divisor
        pw = int(math.ceil(pw / divisor)) * divisor
    if (ph, pw) != (h, w):
        x = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h),
                                    value=float(getattr(dp, 'pad_val', 0)))
    return x, (int(h), int(w))


@torch.no_grad()
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
    ``inference_model`` with ``test_cfg=dict(mode='slide', ...)``. Unlike
    mmseg, which holds the whole image as float and the whole scene's logits
    (plus a full-size padded copy per window), windows are run one band of
    rows at a time, ``batch_size`` windows per forward pass, and logits are
    accumulated only for the rows the current band still covers; finished
    rows are reduced to class ids at once. Memory is the uint8 image and
    mask plus ``num_classes x window_h x width`` floats.

    Args:
        model (torch.nn.Module): An mmseg segmentor (``encode_decode``).
        image (str | PathLike | np.ndarray): File or uint8 array.
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

    Returns:
        np.ndarray: ``(H, W)`` uint8 class ids.
    """
    from tqdm import tqdm

    model = _unwrap(model)
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    img, _ = load_image(image, channel_order)
    height, width = img.shape[:2]
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

    mask = np.empty((height, width), dtype=np.uint8)
    acc = torch.zeros((channels, wh, width), dtype=torch.float32,
                      device=device)
    base = 0  # image row of acc[:, 0]
    total = len(ys) * len(xs)
    report = progress if callable(progress) else None
    bar = tqdm(total=total, desc='windows', unit='win', leave=False,
               disable=report is not None or not progress)
    done = 0

    def finish(rows: int) -> None:
        nonlocal base
        if rows <= 0:
            return
        block = acc[:, :rows]
        if channels > 1:
            ids = block.argmax(dim=0)
        else:
            count = torch.from_numpy(row_count[base:base + rows]).to(
                device)[:, None] * col_count_t[None, :]
            ids = ((block[0] / count).sigmoid() > threshold)
        mask[base:base + rows] = ids.to(torch.uint8).cpu().numpy()
        keep = wh - rows
        if keep > 0:
            acc[:, :keep] = acc[:, rows:].clone()
        acc[:, keep:] = 0
        base += rows

    try:
        for y in ys:
            rows = y - base
            finish(rows)
            for i in range(0, len(xs), batch_size):
                starts = xs[i:i + batch_size]
                batch = np.stack([img[y:y + wh, x:x + ww] for x in starts])
                inputs, (h, w) = _preprocess(model, batch, device)
                ph, pw = inputs.shape[2:]
                metas = [dict(img_shape=(ph, pw), pad_shape=(ph, pw),
                              ori_shape=(ph, pw))] * len(starts)
                logits = model.encode_decode(inputs, metas)[:, :, :h, :w]
                for k, x in enumerate(starts):
                    acc[:, :, x:x + w] += logits[k]
                bar.update(len(starts))
                done += len(starts)
                if report is not None:
                    report(done, total)
        finish(height - base)
    finally:
        bar.close()
    return mask


# --------------------------------------------------------------------------
# Footprints
# --------------------------------------------------------------------------
def find_label_files(image_path: str,
                     footprint_dir: Optional[str] = None,
                     _cache: Optional[dict] = None) -> List[str]:
    """Label files that may hold the footprint of an image.

    With ``footprint_dir``: the files named ``<stem>.json`` in it or one
    level down. Without: ``<stem>.json`` beside the image, then the same in
    the dataset layout's ``../labels`` folder (and one level below it).

    Args:
        image_path (str): The image.
        footprint_dir (str, optional): A labels folder.
        _cache (dict, optional): Folder -> index, reused across images.

    Returns:
        list[str]: Existing candidate files, best first.
    """
    stem = osp.splitext(osp.basename(image_path))[0]
    cache = {} if _cache is None else _cache

    def index(folder: str) -> Dict[str, List[str]]:
        if folder not in cache:
            cache[folder] = index_label_files(folder)
        return cache[folder]

    if footprint_dir is not None:
        return list(index(footprint_dir).get(stem, []))
    folder = osp.dirname(osp.abspath(image_path))
    found = []
    beside = osp.join(folder, stem + '.json')
    if osp.isfile(beside):
        found.append(beside)
    labels = osp.join(osp.dirname(folder), 'labels')
    if osp.isdir(labels):
        found.extend(index(labels).get(stem, []))
    if not osp.isabs(os.fspath(image_path)):
        # Name them as the image was named: relative to the working folder.
        found = [osp.relpath(p) for p in found]
    return found


def find_footprint(image_path: str,
                   footprint_dir: Optional[str] = None,
                   _cache: Optional[dict] = None
                   ) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """The footprint of an image from its label files, if any.

    Args:
        image_path (str): The image.
        footprint_dir (str, optional): A labels folder to look in instead of
            the image's surroundings (see :func:`find_label_files`).
        _cache (dict, optional): Folder index cache.

    Returns:
        tuple: ``(points, file)``: the ``(4, 2)`` lon/lat points and the file
        they come from, or ``(None, None)``.

    Raises:
        FootprintError: When a label file's footprint is not four points.
        mmseg_sia.labels.LabelFileError: When a label file is unreadable.
    """
    for path in find_label_files(image_path, footprint_dir, _cache):
        points = read_footprint(path)
        if points is not None:
            return points, path
    return None, None


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------
def _skeleton_length(binary: np.ndarray,
                     jacobian: Optional[np.ndarray] = None) -> float:
    """Length of the centre lines of a mask (a road length estimate).

    The mask is thinned to a one-pixel skeleton (scikit-image) and the steps
    between neighbouring skeleton pixels are summed: horizontal and vertical
    steps count once, and a diagonal step only where no horizontal-vertical
    pair joins the same two pixels (so corners are not counted twice). With
    ``jacobian`` (pixel step -> metres), each step is measured on the ground.
    """
    from skimage.morphology import skeletonize

    if not binary.any():
        return 0.0
    sk = skeletonize(binary.astype(bool))
    right = sk[:, :-1] & sk[:, 1:]
    down = sk[:-1, :] & sk[1:, :]
    a, b = sk[:-1, :-1], sk[:-1, 1:]
    c, d = sk[1:, :-1], sk[1:, 1:]
    diag = a & d & ~b & ~c          # step (+1, +1)
    anti = b & c & ~a & ~d          # step (-1, +1)
    steps = {(1, 0): int(right.sum()), (0, 1): int(down.sum()),
             (1, 1): int(diag.sum()), (-1, 1): int(anti.sum())}
    jac = np.eye(2) if jacobian is None else np.asarray(jacobian)
    return float(sum(n * np.linalg.norm(jac @ np.array(step, float))
                     for step, n in steps.items()))


def _close(ring: np.ndarray) -> np.ndarray:
    return np.vstack([ring, ring[:1]])


def _oriented(ring: np.ndarray, positive: bool) -> np.ndarray:
    # RFC 7946: exteriors counter-clockwise, holes clockwise, in the output
    # coordinates (positive shoelace area = counter-clockwise, y up).
    return ring if (ring_signed_area(ring) > 0) == positive else ring[::-1]


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
    """
    mask: np.ndarray
    polygons: Dict[int, List[MaskPolygon]]
    classes: Tuple[str, ...]
    palette: List[List[int]]
    transform: Optional[GeoTransform] = None
    image_path: Optional[str] = None
    image: Optional[np.ndarray] = field(default=None, repr=False)
    background: Optional[int] = 0

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
                c: binary_to_polygons(self.mask == c, c)
                for c in range(len(self.classes)) if c != self.background
            }

    def _footprint_geometry(self) -> Optional[dict]:
        if self.transform is None:
            return None
        ring = [[float(lon), float(lat), 0]
                for lon, lat in self.transform.corners]
        return dict(type='Polygon', coordinates=[ring + [ring[0]]])

    def iter_label_features(self) -> Iterator[dict]:
        """The features of :meth:`to_label_json`, one at a time."""
        names = [c for i, c in enumerate(self.classes) if i != self.background]
        keys = [f'{n}_imcoords' for n in names]
        if 'object_imcoords' not in keys:
            keys = ['object_imcoords'] + keys
        self._ensure_polygons()
        geometry = self._footprint_geometry()
        stamp = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
        for class_id in sorted(self.polygons):
            key = f'{self.classes[class_id]}_imcoords'
            for poly in self.polygons[class_id]:
                props = {k: 'EMPTY' for k in keys}
                props[key] = format_imcoords(keyhole_ring(poly))
                props.update(image_id=self.image_id, ingest_time=stamp,
                             type_id='', type_name=self.classes[class_id])
                yield dict(type='Feature', geometry=geometry,
                           properties=props)

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
        out = dict(area_px=float(poly.area), perimeter_px=float(
            poly.perimeter), area_m2=None, perimeter_m=None)
        if self.transform is not None:
            rings = [self.transform.pixel_to_lonlat(r) for r in poly.rings()]
            out['area_m2'] = polygon_area_m2(rings[0], rings[1:])
            out['perimeter_m'] = sum(ring_length_m(r) for r in rings)
        return out

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
                rings = [np.round(self.transform.pixel_to_lonlat(r),
                                  decimals) for r in poly.rings()]
                coords = [_close(_oriented(r, i == 0)).tolist()
                          for i, r in enumerate(rings)]
                props = {'class': self.classes[class_id],
                         'class_id': int(class_id)}
                props.update(self.polygon_measures(poly))
                yield dict(type='Feature', id=index,
                           geometry=dict(type='Polygon', coordinates=coords),
                           properties=props)
                index += 1

    def _geojson_head(self) -> dict:
        h, w = self.mask.shape
        info = dict(image=self.image_id, width=int(w), height=int(h),
                    crs='EPSG:4326', footprint_source=self.transform.source,
                    affine=self.transform.to_dict()['affine'],
                    footprint_residual_m=self.transform.residual_m)
        return dict(type='FeatureCollection', name=self.stem,
                    mmseg_sia=info)

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
        row = dict(image=self.image_path or self.stem, width=w, height=h,
                   georeferenced=self.transform is not None)
        jac = self.transform.metres_per_pixel() if self.transform else None
        for class_id, name in enumerate(self.classes):
            if class_id == self.background:
                continue
            polys = self.polygons.get(class_id, [])
            row[f'{name}_count'] = len(polys)
            row[f'{name}_area_m2'] = None if self.transform is None else \
                float(sum(self.polygon_measures(p)['area_m2'] for p in polys))
            row[f'{name}_area_px'] = int((self.mask == class_id).sum())
            if name == 'road':
                binary = self.mask == class_id
                row['road_length_m'] = None if jac is None else \
                    _skeleton_length(binary, jac)
                row['road_length_px'] = _skeleton_length(binary)
        return row

    def save(self,
             out_dir: str,
             stem: Optional[str] = None,
             formats: Iterable[str] = tuple(IMAGE_FORMATS),
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
                'geojson' ('summary' is ignored: it is per run).
            overwrite (bool): Replace existing files. Defaults to False.
            opacity (float): Overlay colour weight. Defaults to 0.5.

        Returns:
            dict[str, str]: Format -> written path (no 'geojson' when the
            prediction has no georeference).

        Raises:
            FileExistsError: When a file exists and ``overwrite`` is False.
        """
        paths = output_paths(out_dir, stem or self.stem, formats)
        if self.transform is None:
            paths.pop('geojson', None)
        if not overwrite:
            existing = [p for p in paths.values() if osp.exists(p)]
            if existing:
                raise FileExistsError(
                    f'{existing[0]} already exists (pass overwrite=True / '
                    '--overwrite to replace it)')
        for fmt, path in paths.items():
            if fmt == 'mask':
                save_mask_png(path, self.mask, overwrite=overwrite)
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
            keep_image: bool = True) -> SIAPrediction:
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
            Defaults to True.

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
    img, path = load_image(image, channel_order)
    mask = segment_image(model, img, window=window, stride=stride,
                         overlap=overlap, batch_size=batch_size,
                         progress=progress)
    meta = getattr(model, 'dataset_meta', None) or _default_meta(
        _class_count(model))
    classes = tuple(meta['classes'])
    palette = [list(p) for p in (meta.get('palette') or
                                 _default_meta(len(classes))['palette'])]
    background = _background_index(classes)
    class_ids = [c for c in range(len(classes)) if c != background]
    bg_value = 0 if background is None else background
    if opening > 1 or min_area > 0 or hole_area > 0:
        mask = clean_mask(mask, class_ids, opening=opening,
                          min_area=min_area, hole_area=hole_area,
                          background=bg_value)
    polygons = {}
    if vectorize:
        polygons = {c: binary_to_polygons(mask == c, c, tolerance)
                    for c in class_ids}
    transform = _resolve_footprint(footprint, path, img.shape[:2])
    return SIAPrediction(mask=mask, polygons=polygons, classes=classes,
                         palette=palette, transform=transform,
                         image_path=path, image=img if keep_image else None,
                         background=background)


def _resolve_footprint(footprint, image_path: Optional[str],
                       shape: Tuple[int, int]) -> Optional[GeoTransform]:
    height, width = shape
    if footprint is None:
        return None
    if isinstance(footprint, GeoTransform):
        if (footprint.height, footprint.width) != (height, width):
            raise FootprintError(
                footprint.source, f'was fitted to a {footprint.width} x '
                f'{footprint.height} tile, the image is {width} x {height}')
        return footprint
    if isinstance(footprint, str) and footprint == 'auto':
        if image_path is None:
            return None
        points, source = find_footprint(image_path)
        if points is None:
            return None
        return footprint_transform(points, width, height, source)
    if isinstance(footprint, (str, os.PathLike)):
        source = os.fspath(footprint)
        if not osp.isfile(source):
            raise FileNotFoundError(f'footprint file {source} does not exist')
        points = read_footprint(source)
        if points is None:
            raise FootprintError(source, 'is missing: no feature has a '
                                 'geometry')
        return footprint_transform(points, width, height, source)
    return footprint_transform(footprint, width, height, None)
