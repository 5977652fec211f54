"""Split the tiles of a data root into train and val, stratified by content."""
from __future__ import annotations

import functools
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..labels import DEFAULT_CLASS_MAP, LabelFileError, read_label_file
from .common import (atomic_write_text, class_names, content_label,
                     index_tiles, parallel_map, progress_bar,
                     refuse_existing)

__all__ = ['SplitResult', 'make_splits', 'tile_content']


def tile_content(label_paths: Sequence[str],
                 class_map: Optional[Mapping[str, int]] = None) -> str:
    """What a tile holds: ``'building only'``, ``'road only'``, ``'both'`` or
    ``'none'`` (for the default classes).

    A class counts when the tile's label files hold at least one drawable
    polygon of it; malformed features are ignored, as the pipeline skips
    them.

    Args:
        label_paths (Sequence[str]): The tile's label files.
        class_map (Mapping[str, int], optional): Polygon property -> class
            id. Defaults to :data:`~mmseg_sia.labels.DEFAULT_CLASS_MAP`.

    Returns:
        str: The content label (see
        :func:`~mmseg_sia.dataset_tools.common.content_label`).

    Raises:
        LabelFileError: When a label file cannot be read.
    """
    class_map = dict(DEFAULT_CLASS_MAP if class_map is None else class_map)
    names = class_names(class_map)
    present = set()
    for path in label_paths:
        label = read_label_file(path, keys=class_map, warn=False)
        present.update(names[class_map[p.key]] for p in label.polygons)
    foreground = [n for i, n in names.items() if i != 0]
    return content_label(present, foreground)


def _content_task(task: Tuple[str, List[str]],
                  class_map: Tuple[Tuple[str, int], ...]
                  ) -> Tuple[str, Optional[str], Optional[str]]:
    stem, paths = task
    try:
        return stem, tile_content(paths, dict(class_map)), None
    except LabelFileError as e:
        return stem, None, str(e)


@dataclass
class SplitResult:
    """What :func:`make_splits` wrote.

    Attributes:
        train (list[str]): Stems of the train split, sorted.
        val (list[str]): Stems of the val split, sorted.
        files (dict[str, str]): Split name -> file written.
        excluded (list[tuple[str, str]]): ``(stem, reason)`` of the tiles left
            out because a label file cannot be read.
        strata (pandas.DataFrame): Tiles per content in each split.
    """
    train: List[str] = field(default_factory=list)
    val: List[str] = field(default_factory=list)
    files: Dict[str, str] = field(default_factory=dict)
    excluded: List[Tuple[str, str]] = field(default_factory=list)
    strata: 'object' = None

    def format(self) -> str:
        """A short text summary."""
        lines = [f'train: {len(self.train)} tiles, val: {len(self.val)} '
                 'tiles']
        if self.strata is not None:
            lines.append(self.strata.to_string(index=False))
        lines += [f'wrote {path}' for path in self.files.values()]
        if self.excluded:
            lines.append(f'left out {len(self.excluded)} tile(s) whose labels '
                         'cannot be read:')
            lines += [f'  {reason}' for _, reason in self.excluded[:20]]
            if len(self.excluded) > 20:
                lines.append(f'  ... {len(self.excluded) - 20} more')
        return '\n'.join(lines)


def _val_quotas(sizes: Dict[str, int], val_ratio: float) -> Dict[str, int]:
    """Val tiles per stratum: proportional, summing to round(N * ratio)."""
    total = sum(sizes.values())
    target = int(np.floor(total * val_ratio + 0.5))  # half rounds up
    exact = {k: n * val_ratio for k, n in sizes.items()}
    quotas = {k: int(np.floor(v)) for k, v in exact.items()}
    # Largest remainders first; ties broken by stratum name for determinism.
    order = sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), k))
    for k in order[:max(0, target - sum(quotas.values()))]:
        quotas[k] += 1
    return quotas


def make_splits(data_root: str,
                val_ratio: float = 0.2,
                seed: int = 0,
                split_dir: str = 'splits',
                overwrite: bool = False,
                class_map: Optional[Mapping[str, int]] = None,
                workers: int = 1,
                img_dir: str = 'images',
                label_dir: str = 'labels',
                img_suffix: str = '.png',
                label_suffix: str = '.json',
                progress: bool = True) -> SplitResult:
    """Write ``train.txt`` and ``val.txt`` split files, stratified by content.

    Every image of the data root goes to exactly one split. Within each
    content stratum (building only / road only / both / none) the tiles are
    shuffled with ``seed`` and ``val_ratio`` of them go to val, the counts
    rounded so that val holds ``round(N * val_ratio)`` tiles in all. Tiles
    whose label files cannot be read are left out and listed (check them with
    ``tools/check_dataset.py``). The files hold one stem a line, sorted.

    Args:
        data_root (str): Root holding ``images/`` and ``labels/``.
        val_ratio (float): Share of tiles for val, in (0, 1). Defaults to 0.2.
        seed (int): Seed of the shuffle. Defaults to 0.
        split_dir (str): Folder for the split files, relative to
            ``data_root`` (or absolute). Defaults to 'splits'.
        overwrite (bool): Replace existing split files. Defaults to False.
        class_map (Mapping[str, int], optional): Polygon property -> class
            id. Defaults to :data:`~mmseg_sia.labels.DEFAULT_CLASS_MAP`.
        workers (int): Worker processes for reading the labels. Defaults to 1.
        img_dir (str): Image folder under ``data_root``. Defaults to 'images'.
        label_dir (str): Labels folder under ``data_root``. Defaults to
            'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        SplitResult: The stems of each split and the files written.

    Raises:
        ValueError: When ``val_ratio`` is not in (0, 1), or a split would be
            empty.
        FileExistsError: When a split file exists and ``overwrite`` is False
            (checked before anything is read or written).
        FileNotFoundError: When the data root or its image folder is missing.
    """
    import pandas as pd

    if not isinstance(val_ratio, (int, float)) or not 0 < val_ratio < 1:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio!r}')
    folder = osp.join(data_root, split_dir)
    files = {'train': osp.join(folder, 'train.txt'),
             'val': osp.join(folder, 'val.txt')}
    refuse_existing(files.values(), overwrite)
    index = index_tiles(data_root, img_dir, label_dir, img_suffix,
                        label_suffix)
    if not index.images:
        raise FileNotFoundError(
            f'no {img_suffix} image in {index.img_dir!r}: nothing to split')

    class_map = dict(DEFAULT_CLASS_MAP if class_map is None else class_map)
    tasks = [(stem, index.label_paths(stem)) for stem in index.image_stems]
    result = SplitResult(files=files)
    strata: Dict[str, List[str]] = {}
    results = parallel_map(
        functools.partial(_content_task, class_map=tuple(class_map.items())),
        tasks, workers)
    for stem, content, error in progress_bar(results, len(tasks), 'read',
                                             progress):
        if error is not None:
            result.excluded.append((stem, error))
        else:
            strata.setdefault(content, []).append(stem)
    result.excluded.sort()
    total = sum(len(v) for v in strata.values())
    quotas = _val_quotas({k: len(v) for k, v in strata.items()}, val_ratio)
    if quotas and (sum(quotas.values()) == 0
                   or sum(quotas.values()) == total):
        raise ValueError(
            f'val_ratio {val_ratio} of {total} usable tile(s) leaves a split '
            'empty')
    if not strata:
        raise ValueError('no usable tile: every label file failed to read')

    rng = np.random.default_rng(seed)
    rows = []
    for content in sorted(strata):
        stems = sorted(strata[content])
        order = rng.permutation(len(stems))
        n_val = quotas[content]
        val = [stems[i] for i in order[:n_val]]
        train = [stems[i] for i in order[n_val:]]
        result.val.extend(val)
        result.train.extend(train)
        rows.append(dict(content=content, train=len(train), val=len(val),
                         total=len(stems)))
    result.train.sort()
    result.val.sort()
    result.strata = pd.DataFrame(rows, columns=['content', 'train', 'val',
                                                'total'])

    for name, stems in (('train', result.train), ('val', result.val)):
        atomic_write_text(files[name], ''.join(s + '\n' for s in stems),
                          overwrite=overwrite)
    return result
