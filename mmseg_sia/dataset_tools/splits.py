"""Split the tiles of a data root into train and val, stratified by content
and grouped by scene."""
from __future__ import annotations

import functools
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..labels import DEFAULT_CLASS_MAP, LabelFileError, read_label_file
from .common import (atomic_write_text, class_names, content_label,
                     index_tiles, parallel_map, progress_bar,
                     refuse_existing)
from .layout import resolve_layout, tile_index_for

__all__ = ['SplitResult', 'make_splits', 'tile_content', 'scene_of',
           'DEFAULT_SCENE_PATTERN']

#: A tile's scene in the release's names: what follows the tile number,
#: ``BLD00596_PS3_K3A_NIA0277`` -> ``PS3_K3A_NIA0277`` (product, satellite and
#: scene; the tiles of one scene overlap in content and conditions).
DEFAULT_SCENE_PATTERN = r'^[^_]+_(?P<scene>.+)$'


def scene_of(stem: str, pattern: str = DEFAULT_SCENE_PATTERN) -> str:
    """The scene a tile was cut from, read from its stem.

    Args:
        stem (str): The tile's stem.
        pattern (str): Regular expression searched in the stem; the scene is
            its group named ``scene``, else its first group, else the whole
            match. Defaults to :data:`DEFAULT_SCENE_PATTERN`.

    Returns:
        str: The scene; the stem itself when the pattern does not match (the
        tile is a scene of its own).
    """
    match = re.search(pattern, stem)
    if match is None:
        return stem
    if 'scene' in match.re.groupindex:
        return match.group('scene')
    return match.group(1) if match.re.groups else match.group(0)


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


def landcover_content(label_paths: Sequence[str],
                      class_map: Optional[Mapping[object, int]] = None,
                      attribute: str = 'ANN_CD') -> str:
    """:func:`tile_content` for land-cover label files (class by
    ``ANN_CD``; building 10 and road 30 by default).

    Raises:
        LabelFileError: When a label file cannot be read.
    """
    from ..maplabels import (LANDCOVER_BUILDING_ROAD, class_value,
                             read_map_label_file)
    from .layout import landcover_names

    cmap = {class_value(k): v for k, v in dict(
        LANDCOVER_BUILDING_ROAD if class_map is None else class_map).items()}
    names = landcover_names(cmap)
    present = set()
    for path in label_paths:
        label = read_map_label_file(path, attribute, warn=False)
        present.update(names[cmap[p.value]] for p in label.polygons
                       if cmap.get(p.value))
    foreground = [n for i, n in names.items() if i != 0]
    return content_label(present, foreground)


def vector_content(spec: Mapping, names: Mapping[int, str]) -> str:
    """:func:`tile_content` of a vector-layout tile from its ``map_labels``
    (the polygons of the vector file on the image)."""
    cmap = spec['class_map']
    present = {names[cmap[v]] for v, _ in spec['polygons'] if cmap.get(v)}
    return content_label(present, [n for i, n in names.items() if i != 0])


def _content_task(task: Tuple[str, List[str]],
                  class_map: Tuple[Tuple[str, int], ...],
                  landcover: bool = False
                  ) -> Tuple[str, Optional[str], Optional[str]]:
    stem, paths = task
    try:
        if landcover:
            return stem, landcover_content(paths, dict(class_map)), None
        return stem, tile_content(paths, dict(class_map)), None
    except (LabelFileError, ValueError) as e:
        return stem, None, str(e)


@dataclass
class SplitResult:
    """What :func:`make_splits` wrote.

    Attributes:
        train (list[str]): Stems of the train split, sorted.
        val (list[str]): Stems of the val split, sorted.
        files (dict[str, str]): Split name -> file written.
        excluded (list[tuple[str, str]]): ``(stem, reason)`` of the tiles left
            out because a label file cannot be read or the name cannot be
            written as a line.
        problems (list[tuple[str, str]]): ``(path, what is wrong)`` of the
            folder entries that could not be indexed.
        strata (pandas.DataFrame): Tiles per content in each split.
        groups (pandas.DataFrame): One row per scene: ``scene``, ``split``
            ('train', 'val', or 'both' when the split is not grouped and
            the scene's tiles went to both) and ``tiles``.
        grouped (bool): Whether the tiles were grouped by scene.
    """
    train: List[str] = field(default_factory=list)
    val: List[str] = field(default_factory=list)
    files: Dict[str, str] = field(default_factory=dict)
    excluded: List[Tuple[str, str]] = field(default_factory=list)
    problems: List[Tuple[str, str]] = field(default_factory=list)
    strata: 'object' = None
    groups: 'object' = None
    grouped: bool = True

    @property
    def ok(self) -> bool:
        """Whether every tile and folder entry could be used."""
        return not self.excluded and not self.problems

    def format(self) -> str:
        """A short text summary."""
        lines = [f'train: {len(self.train)} tiles, val: {len(self.val)} '
                 'tiles']
        if self.strata is not None:
            lines.append(self.strata.to_string(index=False))
        if self.groups is not None:
            per = self.groups['split'].value_counts()
            counts = ', '.join(f'{k} {int(per.get(k, 0))}'
                               for k in ('train', 'val', 'both'))
            lines.append(f'scenes: {len(self.groups)} ({counts})' + (
                '; no scene has tiles in both splits' if self.grouped else
                '; not grouped by scene (--no-group): tiles of a scene in '
                'both splits make validation scores too high'))
            val = sorted(self.groups.loc[self.groups['split'] == 'val',
                                         'scene'])
            if val:
                more = '' if len(val) <= 20 else f', ... {len(val) - 20} more'
                lines.append('val scenes: ' + ', '.join(val[:20]) + more)
        lines += [f'wrote {path}' for path in self.files.values()]
        if self.excluded:
            lines.append(f'left out {len(self.excluded)} tile(s) whose labels '
                         'cannot be read:')
            lines += [f'  {reason}' for _, reason in self.excluded[:20]]
            if len(self.excluded) > 20:
                lines.append(f'  ... {len(self.excluded) - 20} more')
        if self.problems:
            lines.append(f'left out {len(self.problems)} folder entr'
                         f'{"y" if len(self.problems) == 1 else "ies"} '
                         'that cannot be used:')
            lines += [f'  {p}: {why}' for p, why in self.problems[:20]]
            if len(self.problems) > 20:
                lines.append(f'  ... {len(self.problems) - 20} more')
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


def _group_val(groups: Dict[str, List[str]], content: Dict[str, str],
               val_ratio: float, rng: np.random.Generator) -> List[str]:
    """Choose the scenes for val: whole scenes, as close as a greedy choice
    gets to ``val_ratio`` of the tiles of every content and of all tiles.

    Scenes are visited in an order shuffled with ``rng`` (so val holds big
    and small scenes alike); each joins val when that brings the counts
    closer to their targets (squared distance); then single scenes are
    moved, and val scenes swapped for train scenes, while that helps.
    """
    kinds = sorted(set(content.values()))
    col = {k: i for i, k in enumerate(kinds)}
    names = sorted(groups)
    vectors = np.zeros((len(names), len(kinds)), np.float64)
    for g, name in enumerate(names):
        for stem in groups[name]:
            vectors[g, col[content[stem]]] += 1
    target = vectors.sum(0) * val_ratio
    total_target = vectors.sum() * val_ratio

    def cost(v: np.ndarray) -> float:
        return float(((v - target)**2).sum() + (v.sum() - total_target)**2)

    order = rng.permutation(len(names)).tolist()
    in_val = np.zeros(len(names), bool)
    current = np.zeros(len(kinds))
    for g in order:
        if cost(current + vectors[g]) < cost(current):
            in_val[g] = True
            current = current + vectors[g]
    for _ in range(20):
        moved = False
        for g in order:
            changed = current - vectors[g] if in_val[g] else \
                current + vectors[g]
            if cost(changed) < cost(current) - 1e-9:
                in_val[g] = not in_val[g]
                current = changed
                moved = True
        # Swaps: a val scene for a train scene, where that helps most.
        for g in order:
            if not in_val[g] or in_val.all():
                continue
            train = np.flatnonzero(~in_val)
            trial = current - vectors[g] + vectors[train]
            costs = (((trial - target)**2).sum(1) +
                     (trial.sum(1) - total_target)**2)
            best = int(np.argmin(costs))
            if costs[best] < cost(current) - 1e-9:
                in_val[g], in_val[train[best]] = False, True
                current = trial[best]
                moved = True
        if not moved:
            break
    if not in_val.any():
        in_val[min(order, key=lambda g: (cost(vectors[g]), names[g]))] = True
    elif in_val.all():
        in_val[max(order, key=lambda g: (vectors[g].sum(), names[g]))] = False
    return [names[g] for g in np.flatnonzero(in_val)]


def make_splits(data_root: str,
                val_ratio: float = 0.2,
                seed: int = 0,
                split_dir: str = 'splits',
                overwrite: bool = False,
                group_by_scene: bool = True,
                scene_pattern: str = DEFAULT_SCENE_PATTERN,
                class_map: Optional[Mapping[str, int]] = None,
                workers: int = 1,
                img_dir: str = 'images',
                label_dir: str = 'labels',
                img_suffix: str = '.png',
                label_suffix: str = '.json',
                progress: bool = True,
                meta_dir: Optional[str] = None,
                vector_file: Optional[str] = None,
                attribute: Optional[str] = None,
                layer: Optional[str] = None,
                vector_crs=None) -> SplitResult:
    """Write ``train.txt`` and ``val.txt`` split files, stratified by content
    and grouped by scene.

    Every image of the data root goes to exactly one split. Tiles are cut
    from scenes (``BLD00596_PS3_K3A_NIA0277`` is a tile of scene
    ``PS3_K3A_NIA0277``), and neighbouring tiles of one scene look alike, so
    by default all tiles of a scene go to the same split: whole scenes are
    chosen for val, in an order shuffled with ``seed``, so that val holds
    about ``val_ratio`` of the tiles of each content stratum (building only
    / road only / both / none) and of all tiles. When every scene has one tile, or with
    ``group_by_scene=False``, the tiles of each stratum are shuffled with
    ``seed`` and exactly ``val_ratio`` of them go to val, the counts rounded
    so that val holds ``round(N * val_ratio)`` tiles in all.

    Tiles whose label files cannot be read are left out and listed (check
    them with ``tools/check_dataset.py``), as are tiles whose name cannot be
    a line of a split file (a line break in it, or only white space). The
    files hold one stem a line, sorted; :func:`read_split_file` reads them
    back exactly (spaces in names included).

    Args:
        data_root (str): Root holding ``images/`` and ``labels/``.
        val_ratio (float): Share of tiles for val, in (0, 1). Defaults to 0.2.
        seed (int): Seed of the shuffle. Defaults to 0.
        split_dir (str): Folder for the split files, relative to
            ``data_root`` (or absolute). Defaults to 'splits'.
        overwrite (bool): Replace existing split files. Defaults to False.
        group_by_scene (bool): Keep the tiles of a scene in one split.
            Defaults to True.
        scene_pattern (str): Regular expression naming a tile's scene (see
            :func:`scene_of`). Defaults to :data:`DEFAULT_SCENE_PATTERN`.
        class_map (Mapping[str, int], optional): Polygon property -> class
            id. Defaults to :data:`~mmseg_sia.labels.DEFAULT_CLASS_MAP`.
        workers (int): Worker processes for reading the labels. Defaults to 1.
        img_dir (str): Image folder under ``data_root``. Defaults to 'images'.
        label_dir (str): Labels folder under ``data_root``. Defaults to
            'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.
        progress (bool): Show a progress bar. Defaults to True.
        meta_dir (str, optional): Marks AIHub's land-cover layout: labels
            are read in map coordinates with the class in ``ANN_CD``
            (``class_map`` then maps codes; building 10 and road 30 by
            default). Its META files are not needed to split. For its names
            (``LC_GS_AP25_<sheet>_<n>_...``) a scene is a map sheet:
            ``scene_pattern=r'^LC_[^_]+_[^_]+_(?P<scene>[0-9]+)_'``.
            Defaults to None.
        vector_file (str, optional): Georeferenced images plus this vector
            file (under ``data_root`` unless absolute): a tile's content is
            the classes of the polygons on it, as :class:`SIAVectorDataset`
            gives them (``class_map``: field value -> id, default building
            1, road 2). Images that cannot be placed are left out and
            listed.
        attribute (str, optional): The vector file's class field.
        layer (str, optional): Its layer. Defaults to the first.
        vector_crs: Its CRS when it names none. Defaults to None.

    Returns:
        SplitResult: The stems of each split and the files written.

    Raises:
        ValueError: When ``val_ratio`` is not in (0, 1), ``scene_pattern``
            is not a regular expression, or a split would be empty (for
            instance every tile is of one scene).
        FileExistsError: When a split file exists and ``overwrite`` is False
            (checked before anything is read or written).
        FileNotFoundError: When the data root or its image folder is missing.
    """
    import pandas as pd

    if not isinstance(val_ratio, (int, float)) or not 0 < val_ratio < 1:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio!r}')
    try:
        re.compile(scene_pattern)
    except re.error as e:
        raise ValueError(f'scene pattern {scene_pattern!r} is not a regular '
                         f'expression ({e})') from e
    folder = osp.join(data_root, split_dir)
    files = {'train': osp.join(folder, 'train.txt'),
             'val': osp.join(folder, 'val.txt')}
    refuse_existing(files.values(), overwrite)
    layout = resolve_layout(data_root, class_map, meta_dir, vector_file,
                            attribute, layer, vector_crs, 'make_splits')
    index = tile_index_for(layout, index_tiles(
        data_root, img_dir, label_dir, img_suffix, label_suffix))
    if not index.images:
        raise FileNotFoundError(
            f'no {img_suffix} image in {index.img_dir!r}: nothing to split')
    class_map = layout.class_map
    result = SplitResult(files=files, problems=list(index.problems),
                         grouped=group_by_scene)
    tasks = []
    for stem in index.image_stems:
        if '\n' in stem or '\r' in stem or not stem.strip():
            result.excluded.append((stem, f'{index.images[stem]}: the name '
                                    'cannot be a line of a split file (a '
                                    'line break, or only white space)'))
        else:
            tasks.append((stem, index.label_paths(stem)))
    strata: Dict[str, List[str]] = {}
    if layout.kind == 'vector':
        # The polygons on each image are known from the vector file's index.
        results = []
        for stem, _ in tasks:
            spec = layout.safe_spec(stem, index.images[stem])
            results.append(
                (stem, None, str(spec)) if isinstance(spec, Exception) else
                (stem, vector_content(spec, layout.names), None))
    else:
        results = parallel_map(
            functools.partial(_content_task,
                              class_map=tuple(class_map.items()),
                              landcover=layout.kind == 'landcover'),
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
            f'a val ratio of {val_ratio} of {total} usable tile(s) leaves a '
            'split empty')
    if not strata:
        raise ValueError('no usable tile: every label file failed to read')

    rng = np.random.default_rng(seed)
    content_of = {stem: c for c, stems in strata.items() for stem in stems}
    scenes: Dict[str, List[str]] = {}
    for stem in sorted(content_of):
        scenes.setdefault(scene_of(stem, scene_pattern), []).append(stem)
    if group_by_scene and max(len(v) for v in scenes.values()) > 1:
        if len(scenes) < 2:
            raise ValueError(
                f'all {total} usable tiles are of one scene '
                f'({next(iter(scenes))!r}): grouped by scene, a split would '
                'be empty (turn grouping off: --no-group, group_by_scene='
                'False; or name scenes otherwise: --scene-pattern)')
        val_scenes = set(_group_val(scenes, content_of, val_ratio, rng))
        for name, stems in scenes.items():
            (result.val if name in val_scenes else result.train).extend(
                stems)
    else:
        for content in sorted(strata):
            stems = sorted(strata[content])
            order = rng.permutation(len(stems))
            n_val = quotas[content]
            result.val.extend(stems[i] for i in order[:n_val])
            result.train.extend(stems[i] for i in order[n_val:])
    result.train.sort()
    result.val.sort()
    val_set = set(result.val)
    rows = []
    for content in sorted(strata):
        n_val = sum(1 for s in strata[content] if s in val_set)
        rows.append(dict(content=content, train=len(strata[content]) - n_val,
                         val=n_val, total=len(strata[content])))
    group_rows = []
    for name in sorted(scenes):
        where = {'val' if s in val_set else 'train' for s in scenes[name]}
        group_rows.append(dict(scene=name,
                               split=where.pop() if len(where) == 1 else
                               'both', tiles=len(scenes[name])))
    result.groups = pd.DataFrame(group_rows,
                                 columns=['scene', 'split', 'tiles'])
    result.strata = pd.DataFrame(rows, columns=['content', 'train', 'val',
                                                'total'])

    for name, stems in (('train', result.train), ('val', result.val)):
        atomic_write_text(files[name], ''.join(s + '\n' for s in stems),
                          overwrite=overwrite)
    return result
