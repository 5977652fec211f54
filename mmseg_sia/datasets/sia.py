"""The AIHub KOMPSAT-3A satellite object reading dataset, read as released."""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


def index_label_files(label_dir: str, suffix: str = '.json',
                      max_depth: int = 1) -> Dict[str, List[str]]:
    """Map every label stem to its files under ``label_dir``.

    Label files sit directly in ``label_dir`` or one level down (such as
    ``labels/building/`` and ``labels/road/``). Each folder is listed once with
    :func:`os.scandir`, so indexing costs one directory read per folder, not a
    file-system query per image.

    Args:
        label_dir (str): The labels folder.
        suffix (str): Label file suffix. Defaults to '.json'.
        max_depth (int): How many folder levels below ``label_dir`` to read.
            Defaults to 1.

    Returns:
        dict[str, list[str]]: Stem -> sorted label file paths.
    """
    index: Dict[str, List[str]] = {}
    if not osp.isdir(label_dir):
        return index
    pending = [(label_dir, 0)]
    while pending:
        folder, depth = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    if depth < max_depth:
                        pending.append((entry.path, depth + 1))
                elif entry.name.endswith(suffix):
                    stem = entry.name[:-len(suffix)]
                    index.setdefault(stem, []).append(entry.path)
    for paths in index.values():
        paths.sort()
    return index


def index_images(img_dir: str, suffix: str = '.png') -> Dict[str, str]:
    """Map every image stem directly in ``img_dir`` to its path.

    Args:
        img_dir (str): The image folder.
        suffix (str): Image suffix. Defaults to '.png'.

    Returns:
        dict[str, str]: Stem -> image path.
    """
    images: Dict[str, str] = {}
    with os.scandir(img_dir) as entries:
        for entry in entries:
            if entry.name.endswith(suffix) and entry.is_file():
                images[entry.name[:-len(suffix)]] = entry.path
    return images


def read_split_file(path: str) -> List[str]:
    """Read a split file: one stem a line, blank lines ignored.

    Args:
        path (str): The split file (UTF-8, with or without a byte-order mark).

    Returns:
        list[str]: The stems in file order (duplicates kept).

    Raises:
        FileNotFoundError: When the file does not exist.
        ValueError: When the file is not UTF-8 text (the message names it).
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'split file {path!r} does not exist')
    try:
        with open(path, encoding='utf-8-sig') as f:
            return [line.strip() for line in f if line.strip()]
    except UnicodeDecodeError as e:
        raise ValueError(
            f'{path}: split file is not UTF-8 text (byte {e.start}: '
            f'{e.reason})') from e


@DATASETS.register_module()
class SIADataset(BaseSegDataset):
    """Building and road tiles of the AIHub satellite object reading data.

    Reads the release layout directly; labels are JSON polygon files that
    :class:`LoadPolygonAnnotations` rasterizes in the pipeline::

        data_root/
        ├── images/BLD00596_PS3_K3A_NIA0277.png
        ├── labels/building/BLD00596_PS3_K3A_NIA0277.json   (optional)
        ├── labels/road/BLD00596_PS3_K3A_NIA0277.json       (optional)
        └── splits/train.txt, splits/val.txt                (optional)

    Label files are found directly in the labels folder or one level down;
    an image with no label file is all background. Each sample's data info
    holds ``img_path`` and ``label_paths`` (a list of its label files).

    Args:
        data_root (str, optional): Root of the data. Defaults to None.
        ann_file (str): A split file of stems, one per line, relative to
            ``data_root``; '' uses every image. Defaults to ''.
        data_prefix (dict): ``img_path`` and ``seg_map_path`` (the labels
            folder). Defaults to ``dict(img_path='images',
            seg_map_path='labels')``.
        img_suffix (str): Image suffix. Defaults to '.png'.
        seg_map_suffix (str): Label file suffix. Defaults to '.json'.
        reduce_zero_label (bool): See :class:`BaseSegDataset`. Defaults to
            False.
        **kwargs: Further :class:`BaseSegDataset` arguments (``pipeline``,
            ``metainfo``, ``test_mode``, ...).
    """

    METAINFO = dict(
        classes=('background', 'building', 'road'),
        palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]])

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='images', seg_map_path='labels'),
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.json',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=dict(data_prefix),
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Index the images and their label files.

        Returns:
            list[dict]: One data info per image, sorted by stem (or in the
            split file's order).

        Raises:
            FileNotFoundError: When the image folder or split file is missing,
                or a stem of the split file has no image (the message names
                the stem and the split file).
        """
        img_dir = self.data_prefix.get('img_path') or ''
        label_dir = self.data_prefix.get('seg_map_path') or ''
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'SIADataset: image folder {img_dir!r} does not exist')
        images = index_images(img_dir, self.img_suffix)
        labels = index_label_files(label_dir, self.seg_map_suffix)

        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(
                    f'SIADataset: split file {self.ann_file!r} does not exist')
            stems = read_split_file(self.ann_file)
            missing = [s for s in stems if s not in images]
            if missing:
                shown = ', '.join(missing[:5])
                more = '' if len(missing) <= 5 else \
                    f' and {len(missing) - 5} more'
                raise FileNotFoundError(
                    f'SIADataset: {len(missing)} stem(s) of split file '
                    f'{self.ann_file} have no image {img_dir}/<stem>'
                    f'{self.img_suffix}: {shown}{more}')
        else:
            stems = sorted(images)

        return [
            dict(
                img_path=images[stem],
                label_paths=list(labels.get(stem, ())),
                seg_map_path=None,
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]) for stem in stems
        ]
