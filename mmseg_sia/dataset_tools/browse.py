"""Draw tiles with their rasterized labels, from a data root or from a
config's data pipeline (so augmentations can be looked at)."""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..labels import DEFAULT_PRIORITY, rasterize_label_files
from .common import (DEFAULT_MAX_PIXELS, atomic_write_bytes, decode_image,
                     encode_png, index_tiles, match_stem, palette_lut,
                     progress_bar, read_split_file, refuse_existing)

__all__ = ['browse_dataset', 'draw_sample']

MODES = ('side', 'blend')


def _legend(width: int, classes: Sequence[str], lut: np.ndarray,
            seg: np.ndarray) -> np.ndarray:
    """A strip naming the classes present, each behind its colour swatch."""
    import cv2

    height = 28
    strip = np.full((height, width, 3), 255, dtype=np.uint8)
    x = 6
    for class_id in sorted(int(i) for i in np.unique(seg)):
        name = classes[class_id] if class_id < len(classes) else \
            ('ignore' if class_id == 255 else str(class_id))
        if x + 20 >= width:
            break
        strip[6:22, x:x + 16] = lut[class_id]
        cv2.rectangle(strip, (x, 6), (x + 15, 21), (0, 0, 0), 1)
        cv2.putText(strip, name, (x + 22, 19), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += 22 + 9 * len(name) + 14
    return strip


def draw_sample(image: np.ndarray,
                seg: np.ndarray,
                mode: str = 'side',
                palette: Optional[Sequence[Sequence[int]]] = None,
                classes: Optional[Sequence[str]] = None,
                alpha: float = 0.5,
                legend: bool = True) -> np.ndarray:
    """Picture of a tile and its label map.

    Args:
        image (np.ndarray): ``(H, W, 3)`` RGB ``uint8`` image (or ``(H, W)``
            grey).
        seg (np.ndarray): ``(H, W)`` class ids (255: ignored, drawn white).
        mode (str): ``'side'`` puts the coloured labels right of the image;
            ``'blend'`` lays them over it (background left as it is).
            Defaults to 'side'.
        palette (Sequence[Sequence[int]], optional): RGB per class. Defaults
            to :attr:`SIADataset.METAINFO` ``['palette']``.
        classes (Sequence[str], optional): Class names for the legend.
            Defaults to :attr:`SIADataset.METAINFO` ``['classes']``.
        alpha (float): Label opacity in 'blend' mode. Defaults to 0.5.
        legend (bool): Add a strip naming the classes present. Defaults to
            True.

    Returns:
        np.ndarray: RGB ``uint8`` picture.

    Raises:
        ValueError: For an unknown mode or when image and labels differ in
            size.
    """
    from ..datasets.sia import SIADataset

    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3].astype(np.uint8)
    seg = np.asarray(seg).astype(np.uint8)
    if image.shape[:2] != seg.shape[:2]:
        raise ValueError(f'image is {image.shape[:2]} but the label map is '
                         f'{seg.shape[:2]}')
    if classes is None:
        classes = SIADataset.METAINFO['classes']
    lut = palette_lut(palette)
    colour = lut[seg]
    if mode == 'side':
        gap = np.full((image.shape[0], 4, 3), 255, dtype=np.uint8)
        picture = np.concatenate([image, gap, colour], axis=1)
    else:
        picture = image.copy()
        labelled = seg != 0
        mixed = (1 - alpha) * image[labelled] + alpha * colour[labelled]
        picture[labelled] = np.round(mixed).clip(0, 255).astype(np.uint8)
    if legend:
        picture = np.concatenate(
            [picture, _legend(picture.shape[1], classes, lut, seg)], axis=0)
    return picture


def _sample(rng: np.random.Generator, total: int, num: int) -> List[int]:
    if num <= 0 or num >= total:
        return list(range(total))
    return sorted(int(i) for i in rng.choice(total, size=num, replace=False))


def _unpack(item: dict) -> Tuple[np.ndarray, np.ndarray, str]:
    """Image (RGB), label map and image path of one pipeline output."""
    if 'inputs' in item and 'data_samples' in item:
        inputs = item['inputs']
        image = inputs.numpy() if hasattr(inputs, 'numpy') else inputs
        image = np.transpose(image, (1, 2, 0)) if image.ndim == 3 else image
        sample = item['data_samples']
        if 'gt_sem_seg' not in sample:
            raise KeyError('the pipeline output has no gt_sem_seg: put '
                           'LoadPolygonAnnotations in the pipeline')
        seg = sample.gt_sem_seg.data
        seg = seg.numpy() if hasattr(seg, 'numpy') else np.asarray(seg)
        seg = seg[0] if seg.ndim == 3 else seg
        path = sample.metainfo.get('img_path', '')
    else:
        if 'gt_seg_map' not in item:
            raise KeyError('the pipeline output has no gt_seg_map: put '
                           'LoadPolygonAnnotations in the pipeline')
        image, seg, path = item['img'], item['gt_seg_map'], \
            item.get('img_path', '')
    image = np.asarray(image)
    if image.dtype != np.uint8:
        # After Normalize the values are no longer 0..255: stretch them.
        lo, hi = float(image.min()), float(image.max())
        image = ((image - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] >= 3:
        image = image[..., 2::-1]  # mmcv loads BGR
    return image, np.asarray(seg), path


def _config_dataset(config: str, phase: str, data_root: Optional[str],
                    cfg_options: Optional[Dict]):
    """Build the dataset of ``{phase}_dataloader`` of a config."""
    import mmseg_sia  # noqa: F401  (registers the plugin)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    key = f'{phase}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'{config}: the config has no {key}.dataset')
    dataset_cfg = cfg[key]['dataset']
    if data_root is not None:
        dataset_cfg['data_root'] = data_root
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return DATASETS.build(dataset_cfg)


def browse_dataset(out_dir: str,
                   data_root: Optional[str] = None,
                   config: Optional[str] = None,
                   num: int = 8,
                   mode: str = 'side',
                   alpha: float = 0.5,
                   seed: int = 0,
                   stems: Optional[Sequence[str]] = None,
                   split_file: Optional[str] = None,
                   phase: str = 'train',
                   repeats: int = 1,
                   cfg_options: Optional[Dict] = None,
                   overwrite: bool = False,
                   img_dir: str = 'images',
                   label_dir: str = 'labels',
                   img_suffix: str = '.png',
                   label_suffix: str = '.json',
                   progress: bool = True,
                   max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                   errors: Optional[List[Tuple[str, str]]] = None,
                   meta_dir: Optional[str] = None) -> List[str]:
    """Draw tiles with their labels into ``out_dir`` as PNG files.

    From a data root, each tile is drawn as released: the image and the
    label map :class:`LoadPolygonAnnotations` makes for it. From a config,
    samples go through the ``{phase}_dataloader`` dataset's pipeline, so what
    is drawn is what the model is trained on (crops, flips, resizing,
    photometric changes; padding in the ignore index shows white); with
    ``repeats`` > 1 each tile is drawn several times, with new random
    augmentations each time. Colours come from the dataset's palette
    (:attr:`SIADataset.METAINFO` for data roots).

    Args:
        out_dir (str): Folder for the pictures (``<stem>.png``, or
            ``<stem>_<k>.png`` with repeats).
        data_root (str, optional): A data root to draw from. With ``config``
            it replaces the config's ``data_root``.
        config (str, optional): A config file whose pipeline to use.
        num (int): How many tiles to draw, chosen at random with ``seed``
            (0 or less: all). Defaults to 8.
        mode (str): 'side' (image and labels side by side) or 'blend'
            (labels over the image). Defaults to 'side'.
        alpha (float): Label opacity in 'blend' mode. Defaults to 0.5.
        seed (int): Seed of the choice of tiles. Defaults to 0.
        stems (Sequence[str], optional): Draw these tiles instead of a random
            choice (data root mode only).
        split_file (str, optional): Choose among the stems of this split file
            (data root mode only).
        phase (str): Which dataloader of the config: 'train', 'val' or
            'test'. Defaults to 'train'.
        repeats (int): Pictures per tile, each with new random
            augmentations (config mode only). Defaults to 1.
        cfg_options (dict, optional): Overrides merged into the config.
        overwrite (bool): Replace existing pictures. Defaults to False.
        img_dir (str): Image folder under ``data_root``. Defaults to 'images'.
        label_dir (str): Labels folder under ``data_root``. Defaults to
            'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.
        progress (bool): Show a progress bar. Defaults to True.
        max_pixels (int, optional): Tiles whose image has more pixels are
            not drawn (reported); None: no limit. Defaults to Pillow's
            decompression-bomb limit, 178,956,970.
        errors (list, optional): Receives ``(file, message)`` for every tile
            that could not be drawn and every folder entry that could not be
            indexed, while the other tiles are drawn. Defaults to None: a
            warning lists them.
        meta_dir (str, optional): Data root mode on AIHub's land-cover
            layout: its META folder under ``data_root`` (building and road
            drawn from ``ANN_CD`` 10 and 30). With a config, the config's
            dataset says it. Defaults to None.

    Returns:
        list[str]: The pictures written.

    Raises:
        ValueError: When neither ``data_root`` nor ``config`` is given, or
            for a bad ``mode``, ``alpha`` or ``repeats``.
        FileExistsError: When a picture exists and ``overwrite`` is False
            (checked before drawing).
        FileNotFoundError: When the data root, an image or a stem is missing.
    """
    from ..datasets.sia import SIADataset

    if data_root is None and config is None:
        raise ValueError('give a data root or a config file')
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha!r}')
    if repeats < 1:
        raise ValueError(f'repeats must be at least 1, got {repeats!r}')
    rng = np.random.default_rng(seed)
    out_dir = os.fspath(out_dir)
    written: List[str] = []
    failed: List[Tuple[str, str]] = []

    def name(stem: str, k: int) -> str:
        return osp.join(out_dir, f'{stem}.png' if repeats == 1 else
                        f'{stem}_{k}.png')

    if config is None:
        if repeats != 1:
            raise ValueError('repeats applies to config mode (a tile read '
                             'as released looks the same every time)')
        index = index_tiles(data_root, img_dir, label_dir, img_suffix,
                            label_suffix)
        failed.extend((p, f'{p}: {why}') for p, why in index.problems)
        if stems is None:
            pool = ([match_stem(s, index.images) or s
                     for s in read_split_file(split_file)]
                    if split_file is not None else index.image_stems)
            pool = list(dict.fromkeys(pool))
            chosen = [pool[i] for i in _sample(rng, len(pool), num)]
        else:
            chosen = list(stems)
        missing = [s for s in chosen if s not in index.images]
        if missing:
            raise FileNotFoundError(
                f'no image {index.img_dir}/<stem>{img_suffix} for stem(s) '
                f'{", ".join(missing[:5])}')
        refuse_existing([name(s, 0) for s in chosen], overwrite)
        meta = SIADataset.METAINFO
        layout = None
        if meta_dir is not None:
            from .layout import draw_tile_spec, resolve_layout
            layout = resolve_layout(data_root, meta_dir=meta_dir,
                                    tool='browse_dataset')
        for stem in progress_bar(chosen, len(chosen), 'draw', progress):
            try:
                image = decode_image(index.images[stem], max_pixels)
                if layout is not None:
                    seg, _, _ = draw_tile_spec(
                        layout.safe_spec(stem, index.images[stem],
                                         index.label_paths(stem)),
                        index.images[stem], image.shape[:2],
                        DEFAULT_PRIORITY)
                else:
                    seg, _ = rasterize_label_files(index.label_paths(stem),
                                                   image.shape[:2])
            except (OSError, ValueError, MemoryError) as e:
                failed.append((index.images[stem], str(e)))
                continue
            picture = draw_sample(image, seg, mode, meta['palette'],
                                  meta['classes'], alpha)
            atomic_write_bytes(name(stem, 0), encode_png(picture, rgb=True),
                               overwrite=overwrite)
            written.append(name(stem, 0))
        _hand_over(failed, errors)
        return written

    if stems is not None or split_file is not None:
        raise ValueError('stems and split_file apply to data root mode; '
                         'with a config, use cfg_options to change '
                         'ann_file')
    dataset = _config_dataset(config, phase, data_root, cfg_options)
    meta = dataset.metainfo
    palette = meta.get('palette') or SIADataset.METAINFO['palette']
    classes = meta.get('classes') or SIADataset.METAINFO['classes']
    indices = _sample(rng, len(dataset), num)
    stems_of = {
        i: osp.splitext(osp.basename(
            dataset.get_data_info(i).get('img_path', f'{i:06d}')))[0]
        for i in indices
    }
    refuse_existing(
        [name(stems_of[i], k) for i in indices for k in range(repeats)],
        overwrite)
    jobs = [(i, k) for i in indices for k in range(repeats)]
    for i, k in progress_bar(jobs, len(jobs), 'draw', progress):
        try:
            item = dataset[i]
        except (OSError, ValueError, MemoryError) as e:
            where = dataset.get_data_info(i).get('img_path', str(i))
            failed.append((where, f'{where}: {e}'))
            continue
        image, seg, _ = _unpack(item)
        picture = draw_sample(image, seg, mode, palette, classes, alpha)
        path = name(stems_of[i], k)
        atomic_write_bytes(path, encode_png(picture, rgb=True),
                           overwrite=overwrite)
        written.append(path)
    _hand_over(failed, errors)
    return written


def _hand_over(failed: List[Tuple[str, str]],
               errors: Optional[List[Tuple[str, str]]]) -> None:
    if errors is not None:
        errors.extend(failed)
    elif failed:
        listed = '; '.join(m for _, m in failed[:10])
        more = '' if len(failed) <= 10 else f'; ... {len(failed) - 10} more'
        warnings.warn(f'{len(failed)} tile(s) or entries not drawn: '
                      f'{listed}{more}', stacklevel=3)
