"""Helpers shared by the dataset tools.

Finding the tiles of a data root, reading image sizes without decoding the
pixels, writing files atomically without clobbering, progress bars and the
process pool used by the tools that read every label file.
"""
from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import os.path as osp
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple, TypeVar)

import numpy as np

from ..datasets.sia import (IndexProblem, SIADataset, index_images,
                           index_label_files, match_stem, read_split_file)
from ..fileio import atomic_write_bytes, atomic_write_text
from ..labels import DEFAULT_CLASS_MAP

__all__ = [
    'TileIndex', 'index_tiles', 'read_split_file', 'match_stem',
    'find_split_files',
    'image_size', 'check_pixels', 'decode_image', 'DEFAULT_MAX_PIXELS',
    'capture_warnings', 'atomic_write_bytes', 'atomic_write_text',
    'encode_png', 'refuse_existing', 'class_names', 'palette_lut',
    'content_label', 'progress_bar', 'parallel_map', 'resolve_workers'
]

T = TypeVar('T')
R = TypeVar('R')


# --------------------------------------------------------------------------
# Finding tiles
# --------------------------------------------------------------------------
@dataclass
class TileIndex:
    """The images and label files found under a data root.

    Attributes:
        root (str): The data root.
        img_dir (str): The image folder (absolute or relative to the cwd).
        label_dir (str): The labels folder.
        images (dict[str, str]): Stem -> image path.
        labels (dict[str, list[str]]): Stem -> label files, as
            :class:`SIADataset` finds them (directly in ``label_dir`` or one
            level down).
        img_suffix (str): The image suffix used.
        label_suffix (str): The label suffix used.
        problems (list[tuple[str, str]]): ``(path, what is wrong)`` of the
            folder entries left out (sub-folders that cannot be listed,
            symbolic link loops, FIFOs and devices named like a tile, ...).
    """
    root: str
    img_dir: str
    label_dir: str
    images: Dict[str, str] = field(default_factory=dict)
    labels: Dict[str, List[str]] = field(default_factory=dict)
    problems: List[IndexProblem] = field(default_factory=list)
    img_suffix: str = '.png'
    label_suffix: str = '.json'

    @property
    def stems(self) -> List[str]:
        """Every stem that has an image or a label file, sorted."""
        return sorted(set(self.images) | set(self.labels))

    @property
    def image_stems(self) -> List[str]:
        """Stems that have an image, sorted."""
        return sorted(self.images)

    @property
    def labels_without_image(self) -> List[str]:
        """Stems that have label files but no image, sorted."""
        return sorted(set(self.labels) - set(self.images))

    @property
    def images_without_labels(self) -> List[str]:
        """Stems that have an image but no label file, sorted."""
        return sorted(set(self.images) - set(self.labels))

    def label_paths(self, stem: str) -> List[str]:
        """The label files of ``stem`` (an empty list when it has none)."""
        return list(self.labels.get(stem, ()))


def index_tiles(data_root: str,
                img_dir: str = 'images',
                label_dir: str = 'labels',
                img_suffix: str = '.png',
                label_suffix: str = '.json') -> TileIndex:
    """Index the images and label files of a data root.

    The same rules as :class:`SIADataset`: images directly in ``img_dir``,
    label files directly in ``label_dir`` or one folder down
    (``labels/building``, ``labels/road``). Entries that cannot be used are
    left out and listed in :attr:`TileIndex.problems`; the others are indexed.

    Args:
        data_root (str): The data root.
        img_dir (str): Image folder, relative to ``data_root``. Defaults to
            'images'.
        label_dir (str): Labels folder, relative to ``data_root``. Defaults
            to 'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.

    Returns:
        TileIndex: What was found.

    Raises:
        FileNotFoundError: When ``data_root`` is not a folder, or holds
            neither the image folder nor the labels folder.
        OSError: When the image or labels folder cannot be listed.
    """
    data_root = os.fspath(data_root)
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'data root {data_root!r} is not a folder')
    img_path = osp.join(data_root, img_dir)
    label_path = osp.join(data_root, label_dir)
    if not osp.isdir(img_path) and not osp.isdir(label_path):
        raise FileNotFoundError(
            f'data root {data_root!r} has neither an image folder '
            f'{img_dir!r} nor a labels folder {label_dir!r}')
    index = TileIndex(
        root=data_root,
        img_dir=img_path,
        label_dir=label_path,
        img_suffix=img_suffix,
        label_suffix=label_suffix)
    if osp.isdir(img_path):
        index.images = index_images(img_path, img_suffix, index.problems)
    index.labels = index_label_files(label_path, label_suffix,
                                     problems=index.problems)
    index.problems.sort()
    return index


def find_split_files(data_root: str, split_dir: str = 'splits') -> List[str]:
    """The ``*.txt`` files of ``data_root/split_dir``, sorted.

    Args:
        data_root (str): The data root.
        split_dir (str): The split folder, relative to ``data_root``.
            Defaults to 'splits'.

    Returns:
        list[str]: Paths of the split files (empty when there is no folder).
    """
    folder = osp.join(data_root, split_dir)
    if not osp.isdir(folder):
        return []
    return sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if name.endswith('.txt') and osp.isfile(osp.join(folder, name)))


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------
#: Pillow's decompression-bomb limit (twice ``PIL.Image.MAX_IMAGE_PIXELS``
#: by default): larger images are not decoded or drawn unless asked.
DEFAULT_MAX_PIXELS = 178_956_970

_PIL_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_pillow_bomb_check():
    """Let Pillow open an image of any size; the callers check the size
    against their own limit before decoding (see :func:`check_pixels`)."""
    from PIL import Image

    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _image_error(path: str, error: BaseException) -> OSError:
    reason = str(error) or type(error).__name__
    return OSError(f'{path}: cannot be read as an image ({reason})')


def image_size(path: str) -> Tuple[int, int]:
    """``(height, width)`` of an image, read from its header only.

    The size is the one mmcv's ``imread`` (used by ``LoadImageFromFile``)
    gives: for formats other than PNG an EXIF orientation that turns the
    picture by 90 degrees swaps height and width, as OpenCV applies it.
    Images of any size are measured (Pillow's decompression-bomb check is
    about decoding; see :func:`check_pixels`).

    Args:
        path (str): The image file.

    Returns:
        tuple[int, int]: Height and width in pixels.

    Raises:
        OSError: When the file cannot be opened as an image (the message
            names the file).
    """
    from PIL import Image

    try:
        with _no_pillow_bomb_check(), Image.open(path) as img:
            width, height = img.size
            if img.format not in ('PNG', None):
                orientation = img.getexif().get(0x0112, 1)
                if orientation in (5, 6, 7, 8):
                    width, height = height, width
    except Exception as e:  # Pillow raises many kinds for a bad header
        raise _image_error(path, e) from e
    return int(height), int(width)


def check_pixels(path: str, shape: Tuple[int, int],
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> None:
    """Refuse an image too large to decode or draw safely.

    Args:
        path (str): The image file (named in the message).
        shape (tuple[int, int]): Its ``(height, width)``.
        max_pixels (int, optional): The limit; None or less than 1: none.
            Defaults to :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        OSError: When ``height * width`` is over the limit.
    """
    pixels = int(shape[0]) * int(shape[1])
    if max_pixels is not None and max_pixels > 0 and pixels > max_pixels:
        raise OSError(
            f'{path}: image is {shape[1]}x{shape[0]} ({pixels:,} pixels), '
            f'over the limit of {max_pixels:,} pixels (Pillow\'s '
            'decompression-bomb limit by default; see --max-pixels)')


def decode_image(path: str,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
                 ) -> np.ndarray:
    """Decode an image completely, as RGB.

    Pillow is used rather than OpenCV so that a broken file raises an error
    naming it instead of printing libpng messages without a file name. EXIF
    orientation is applied to formats other than PNG, as OpenCV does.

    Args:
        path (str): The image file.
        max_pixels (int, optional): Refuse larger images (see
            :func:`check_pixels`). Defaults to :data:`DEFAULT_MAX_PIXELS`.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``uint8`` RGB.

    Raises:
        OSError: When the file cannot be decoded or is over the limit (the
            message names the file).
    """
    from PIL import Image, ImageOps

    check_pixels(path, image_size(path), max_pixels)
    try:
        with _no_pillow_bomb_check(), Image.open(path) as img:
            if img.format not in ('PNG', None):
                img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert('RGB'))
    except Exception as e:  # truncated data, bad compression, ...
        raise _image_error(path, e) from e


@contextlib.contextmanager
def capture_warnings(found: List[str]):
    """Collect the warnings raised inside the block (numpy overflow, Pillow)
    as text, so that the caller can report them with the file they came
    from instead of letting them print without it.

    Args:
        found (list[str]): Receives ``'Category: message'`` once for each
            distinct warning.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with np.errstate(all='warn'):
            yield
    for w in caught:
        text = f'{w.category.__name__}: {w.message}'
        if text not in found:
            found.append(text)


def encode_png(array: np.ndarray, rgb: bool = False) -> bytes:
    """Encode an ``uint8`` array as PNG bytes.

    Args:
        array (np.ndarray): ``(H, W)`` or ``(H, W, 3)`` ``uint8`` array.
        rgb (bool): Whether a 3-channel array is in RGB order (it is turned
            into OpenCV's BGR before encoding). Defaults to False.

    Returns:
        bytes: The PNG file content.

    Raises:
        ValueError: When OpenCV cannot encode the array.
    """
    import cv2

    if rgb and array.ndim == 3:
        array = array[..., ::-1]
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(array))
    if not ok:
        raise ValueError(f'cannot encode an array of shape {array.shape} '
                         f'and type {array.dtype} as PNG')
    return buf.tobytes()


# --------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------
def refuse_existing(paths: Iterable[str], overwrite: bool) -> None:
    """Fail before any work when an output file exists already.

    Args:
        paths (Iterable[str]): The files a tool is about to write.
        overwrite (bool): Whether replacing them was asked for.

    Raises:
        FileExistsError: Naming the existing files, unless ``overwrite``.
    """
    if overwrite:
        return
    existing = [p for p in paths if osp.lexists(p)]
    if existing:
        shown = ', '.join(existing[:5])
        more = '' if len(existing) <= 5 else f' and {len(existing) - 5} more'
        raise FileExistsError(
            errno.EEXIST, f'{len(existing)} output file(s) exist already '
            f'({shown}{more}); pass overwrite=True to replace them',
            existing[0])


# --------------------------------------------------------------------------
# Classes and colours
# --------------------------------------------------------------------------
def class_names(class_map: Optional[Dict[str, int]] = None) -> Dict[int, str]:
    """Class id -> name, from :attr:`SIADataset.METAINFO` where possible.

    Args:
        class_map (dict[str, int], optional): Polygon property -> class id.
            Defaults to :data:`~mmseg_sia.labels.DEFAULT_CLASS_MAP`.

    Returns:
        dict[int, str]: A name for background (0) and every class id of the
        map (``'building'``, ``'road'`` for the default map; the property name
        without ``_imcoords`` for ids the dataset does not name).
    """
    class_map = dict(DEFAULT_CLASS_MAP if class_map is None else class_map)
    known = SIADataset.METAINFO['classes']
    names = {0: known[0]}
    default_ids = set(DEFAULT_CLASS_MAP.values())
    for key, class_id in class_map.items():
        if class_id in default_ids and class_id < len(known):
            names[class_id] = known[class_id]
        else:
            names[class_id] = key[:-len('_imcoords')] if key.endswith(
                '_imcoords') else key
    return dict(sorted(names.items()))


def palette_lut(palette: Optional[Sequence[Sequence[int]]] = None,
                ignore_color: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """A ``(256, 3)`` RGB lookup table from a class palette.

    Args:
        palette (Sequence[Sequence[int]], optional): RGB colour of each class
            id. Defaults to :attr:`SIADataset.METAINFO` ``['palette']``.
        ignore_color (Sequence[int]): Colour of the ignore index 255.
            Defaults to white.

    Returns:
        np.ndarray: ``uint8`` table; ids without a palette entry get fixed
        pseudo-random colours.
    """
    if palette is None:
        palette = SIADataset.METAINFO['palette']
    lut = np.random.default_rng(12345).integers(
        40, 256, size=(256, 3)).astype(np.uint8)
    pal = np.asarray(palette, dtype=np.int64).reshape(-1, 3)[:255]
    lut[:len(pal)] = pal.clip(0, 255)
    lut[255] = np.asarray(ignore_color, dtype=np.uint8)
    return lut


def content_label(present: Iterable[str], names: Sequence[str]) -> str:
    """Name a tile's content from the classes it holds.

    With the two classes building and road this gives ``'building only'``,
    ``'road only'``, ``'both'`` or ``'none'``.

    Args:
        present (Iterable[str]): Names of the classes the tile holds.
        names (Sequence[str]): Names of every foreground class, in order.

    Returns:
        str: The content label.
    """
    present = [n for n in names if n in set(present)]
    if not present:
        return 'none'
    if len(present) == 1:
        return f'{present[0]} only'
    if len(present) == len(names) == 2:
        return 'both'
    return '+'.join(present)


def content_labels(names: Sequence[str]) -> List[str]:
    """Every content label of :func:`content_label` for two classes or fewer,
    in display order (single classes, all, none)."""
    labels = [f'{n} only' for n in names]
    if len(names) == 2:
        labels.append('both')
    labels.append('none')
    return labels


# --------------------------------------------------------------------------
# Progress and processes
# --------------------------------------------------------------------------
def progress_bar(iterable: Iterable[T], total: Optional[int], desc: str,
                 enable: bool = True, unit: str = 'tile') -> Iterator[T]:
    """Wrap an iterable in a tqdm progress bar on stderr.

    Args:
        iterable (Iterable): The items.
        total (int, optional): How many there are.
        desc (str): Text in front of the bar.
        enable (bool): Show the bar. Defaults to True.
        unit (str): Name of one item. Defaults to 'tile'.

    Returns:
        Iterator: The same items.
    """
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit,
                disable=not enable, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5)


def resolve_workers(workers: Optional[int], items: int) -> int:
    """The number of processes to use.

    Args:
        workers (int, optional): Asked for; None or less than 1 means one per
            CPU core.
        items (int): Number of work items (no more processes than items).

    Returns:
        int: At least 1.
    """
    if workers is None or workers < 1:
        workers = os.cpu_count() or 1
    return max(1, min(int(workers), items))


def parallel_map(func: Callable[[T], R], items: Sequence[T],
                 workers: int = 1, ordered: bool = False) -> Iterator[R]:
    """Apply ``func`` to every item, in this process or in a process pool.

    Args:
        func (Callable): A module-level function (it is pickled by name).
        items (Sequence): The work items.
        workers (int): Number of processes; 1 runs in this process.
            Defaults to 1.
        ordered (bool): Yield results in the items' order. Defaults to False
            (as they finish).

    Yields:
        The results of ``func``.
    """
    workers = resolve_workers(workers, len(items))
    if workers == 1:
        yield from map(func, items)
        return
    # Forking is fast and shares the imported modules. The workers only use
    # numpy, PIL and cv2.imencode; do not change OpenCV's thread settings in
    # them: cv2.setNumThreads in a forked child can wait forever on the
    # parent's thread pool.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context('fork' if 'fork' in methods else None)
    chunksize = max(1, min(16, len(items) // (workers * 8)))
    with ctx.Pool(workers) as pool:
        mapper = pool.imap if ordered else pool.imap_unordered
        yield from mapper(func, items, chunksize)
