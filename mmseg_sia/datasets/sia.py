"""The AIHub KOMPSAT-3A satellite object reading dataset, read as released."""
from __future__ import annotations

import logging
import os
import os.path as osp
import stat
import warnings
from typing import Dict, List, Optional, Tuple

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


#: A folder entry that could not be indexed: ``(path, what is wrong)``.
IndexProblem = Tuple[str, str]

_KINDS = ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO (named pipe)'),
          (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


class SIAIndexWarning(UserWarning):
    """Entries of an image or labels folder were left out of the index."""


def _os_reason(error: OSError) -> str:
    """``'Permission denied'``-like text of an ``OSError``."""
    return error.strerror or str(error)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return 'not a regular file'


def _classify(entry: os.DirEntry) -> Tuple[str, str]:
    """What a folder entry is, following symbolic links.

    Returns:
        tuple[str, str]: ``('file', '')`` for a regular file, ``('dir', '')``
        for a folder, else ``('bad', why)``: a FIFO, device or socket (never
        opened: reading one can block forever or never end) or an entry whose
        type cannot be read (a symbolic link loop, a broken link, a folder it
        points into that cannot be searched).
    """
    try:
        if not entry.is_symlink():
            # The type comes from the folder listing: no system call.
            if entry.is_file(follow_symlinks=False):
                return 'file', ''
            if entry.is_dir(follow_symlinks=False):
                return 'dir', ''
            mode = entry.stat(follow_symlinks=False).st_mode
            return 'bad', f'is {_kind(mode)}, not a regular file'
        try:
            mode = entry.stat().st_mode
        except FileNotFoundError:
            return 'bad', ('is a broken symbolic link (to '
                           f'{os.readlink(entry.path)!r})')
        if stat.S_ISREG(mode):
            return 'file', ''
        if stat.S_ISDIR(mode):
            return 'dir', ''
        return 'bad', (f'is a symbolic link to {_kind(mode)} '
                       f'({os.readlink(entry.path)!r}), not a regular file')
    except OSError as e:
        return 'bad', f'cannot be read ({_os_reason(e)})'


def log_index_problems(owner: str, problems: List[IndexProblem]) -> None:
    """Log, as a dataset does, the folder entries its index left out.

    Args:
        owner (str): Who left them out (the dataset class name).
        problems (list): ``(path, what is wrong)`` from the index functions.
    """
    if not problems:
        return
    from mmengine.logging import print_log
    shown = '; '.join(f'{p}: {why}' for p, why in problems[:10])
    more = '' if len(problems) <= 10 else f'; ... {len(problems) - 10} more'
    print_log(
        f'{owner}: left out {len(problems)} folder entr'
        f'{"y" if len(problems) == 1 else "ies"} that cannot be used '
        f'({shown}{more})',
        logger='current', level=logging.WARNING)


def _report(problems: Optional[List[IndexProblem]],
            found: List[IndexProblem], folder: str) -> None:
    """Hand the entries left out to the caller, or warn about them."""
    if problems is not None:
        problems.extend(found)
    elif found:
        shown = '; '.join(f'{p}: {why}' for p, why in found[:10])
        more = '' if len(found) <= 10 else f'; ... {len(found) - 10} more'
        warnings.warn(
            f'{folder}: left out {len(found)} entr'
            f'{"y" if len(found) == 1 else "ies"} that cannot be used '
            f'({shown}{more})', SIAIndexWarning, stacklevel=3)


def _list_folder(folder: str) -> List[os.DirEntry]:
    with os.scandir(folder) as entries:
        return list(entries)


def index_label_files(label_dir: str, suffix: str = '.json',
                      max_depth: int = 1,
                      problems: Optional[List[IndexProblem]] = None
                      ) -> Dict[str, List[str]]:
    """Map every label stem to its files under ``label_dir``.

    Label files sit directly in ``label_dir`` or one level down (such as
    ``labels/building/`` and ``labels/road/``). Each folder is listed once with
    :func:`os.scandir`, so indexing costs one directory read per folder, not a
    file-system query per image (symbolic links are followed, at one query
    each).

    Only regular files are indexed. An entry that cannot be used (a sub-folder
    that cannot be listed, a symbolic link loop or a broken link, a FIFO,
    device or socket named like a label file, a folder reached a second time
    through a link) is left out and reported, and the other entries are
    indexed.

    Args:
        label_dir (str): The labels folder.
        suffix (str): Label file suffix. Defaults to '.json'.
        max_depth (int): How many folder levels below ``label_dir`` to read.
            Defaults to 1.
        problems (list, optional): Receives ``(path, what is wrong)`` for every
            entry left out. Defaults to None: one :class:`SIAIndexWarning`
            lists them.

    Returns:
        dict[str, list[str]]: Stem -> sorted label file paths.

    Raises:
        OSError: When ``label_dir`` itself exists but cannot be listed (the
            message names it).
    """
    index: Dict[str, List[str]] = {}
    found: List[IndexProblem] = []
    if not osp.isdir(label_dir):
        return index
    try:
        top = os.stat(label_dir)
        entries = _list_folder(label_dir)
    except OSError as e:
        raise OSError(e.errno, f'labels folder {label_dir!r} cannot be listed '
                      f'({_os_reason(e)})') from e
    seen = {(top.st_dev, top.st_ino)}
    pending = [(label_dir, 0, entries)]
    while pending:
        folder, depth, entries = pending.pop()
        for entry in entries:
            named = entry.name.endswith(suffix)
            kind, why = _classify(entry)
            if kind == 'dir':
                if depth >= max_depth:
                    continue
                try:
                    info = entry.stat()
                    key = (info.st_dev, info.st_ino)
                    if key in seen:
                        found.append((entry.path, 'is a folder already '
                                      'indexed (a symbolic link back to it)'))
                        continue
                    seen.add(key)
                    pending.append((entry.path, depth + 1,
                                    _list_folder(entry.path)))
                except OSError as e:
                    found.append((entry.path, 'folder cannot be listed '
                                  f'({_os_reason(e)})'))
            elif kind == 'file':
                if named:
                    stem = entry.name[:-len(suffix)]
                    index.setdefault(stem, []).append(entry.path)
            elif named or depth < max_depth:
                # Anything that could be a label file or a labels folder.
                found.append((entry.path, why))
    for paths in index.values():
        paths.sort()
    _report(problems, sorted(found), label_dir)
    return index


def index_images(img_dir: str, suffix: str = '.png',
                 problems: Optional[List[IndexProblem]] = None
                 ) -> Dict[str, str]:
    """Map every image stem directly in ``img_dir`` to its path.

    Only regular files are indexed (symbolic links to them included). An
    entry named like an image that is something else (a folder, a FIFO, a
    device, a symbolic link loop or a broken link) is left out and reported;
    the other entries are indexed.

    Args:
        img_dir (str): The image folder.
        suffix (str): Image suffix. Defaults to '.png'.
        problems (list, optional): Receives ``(path, what is wrong)`` for every
            entry left out. Defaults to None: one :class:`SIAIndexWarning`
            lists them.

    Returns:
        dict[str, str]: Stem -> image path.

    Raises:
        OSError: When ``img_dir`` cannot be listed (the message names it).
    """
    images: Dict[str, str] = {}
    found: List[IndexProblem] = []
    try:
        entries = _list_folder(img_dir)
    except OSError as e:
        raise OSError(e.errno, f'image folder {img_dir!r} cannot be listed '
                      f'({_os_reason(e)})') from e
    for entry in entries:
        if not entry.name.endswith(suffix):
            continue
        kind, why = _classify(entry)
        if kind == 'file':
            images[entry.name[:-len(suffix)]] = entry.path
        else:
            found.append((entry.path, why or 'is a folder, not an image'))
    _report(problems, sorted(found), img_dir)
    return images


def read_split_file(path: str) -> List[str]:
    """Read a split file: one stem a line, blank lines ignored.

    A stem is the line as written, without its line break (``\\n`` or
    ``\\r\\n``): spaces belong to the stem, as they can belong to a file
    name, so a file written by :func:`~mmseg_sia.dataset_tools.make_splits`
    reads back exactly. (:func:`match_stem` still finds ``a.png`` for a
    hand-written line ``'a '``.)

    Args:
        path (str): The split file (UTF-8, with or without a byte-order mark).

    Returns:
        list[str]: The stems in file order (duplicates kept).

    Raises:
        FileNotFoundError: When the file does not exist.
        ValueError: When it is not a regular file or not UTF-8 text (the
            message names it).
    """
    path = os.fspath(path)
    if not osp.exists(path):
        raise FileNotFoundError(f'split file {path!r} does not exist')
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f'{path}: split file is {_kind(mode)}, not a '
                         'regular file')
    try:
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise ValueError(
            f'{path}: split file is not UTF-8 text (byte {e.start}: '
            f'{e.reason})') from e
    stems = []
    for line in text.split('\n'):
        if line.endswith('\r'):
            line = line[:-1]
        if line.strip():
            stems.append(line)
    return stems


def match_stem(stem: str, images: Dict[str, str]) -> Optional[str]:
    """The image stem a split-file line names.

    The line as written when it is an image stem (spaces included), else the
    line without surrounding white space (a hand-edited file), else None.

    Args:
        stem (str): A stem read by :func:`read_split_file`.
        images (dict[str, str]): Image stems (those of :func:`index_images`).

    Returns:
        str | None: The matching image stem, or None when there is none.
    """
    if stem in images:
        return stem
    bare = stem.strip()
    return bare if bare in images else None


def split_stems(owner: str, ann_file: str, images: Dict[str, str],
                img_dir: str, img_suffix: str) -> List[str]:
    """The image stems a dataset reads: its split file's, in the file's
    order (each line matched with :func:`match_stem`), or every image,
    sorted, without a split file. One resolution for the three datasets.

    Args:
        owner (str): The dataset's name, for messages.
        ann_file (str): The split file; '' for every image.
        images (dict[str, str]): Stem -> image path.
        img_dir (str): The image folder, for messages.
        img_suffix (str): The image suffix, for messages.

    Returns:
        list[str]: Image stems.

    Raises:
        FileNotFoundError: When the split file does not exist or a stem of
            it has no image (the message names the stems and the file).
    """
    if not ann_file:
        return sorted(images)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'{owner}: split file {ann_file!r} does not exist')
    lines = read_split_file(ann_file)
    stems = [match_stem(s, images) for s in lines]
    missing = [s for s, m in zip(lines, stems) if m is None]
    if missing:
        shown = ', '.join(repr(s) for s in missing[:5])
        more = '' if len(missing) <= 5 else f' and {len(missing) - 5} more'
        raise FileNotFoundError(
            f'{owner}: {len(missing)} stem(s) of split file {ann_file} have '
            f'no image {img_dir}/<stem>{img_suffix}: {shown}{more}')
    return stems


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
        problems: List[IndexProblem] = []
        images = index_images(img_dir, self.img_suffix, problems)
        labels = index_label_files(label_dir, self.seg_map_suffix,
                                   problems=problems)
        log_index_problems(type(self).__name__, problems)

        stems = split_stems(type(self).__name__, self.ann_file, images,
                            img_dir, self.img_suffix)

        return [
            dict(
                img_path=images[stem],
                label_paths=list(labels.get(stem, ())),
                seg_map_path=None,
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]) for stem in stems
        ]
