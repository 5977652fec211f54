"""Where a tile's footprint comes from: its label files.

The footprint (four lon/lat corners) is the ``geometry`` of the tile's
AIHub label file, looked for beside the image, in the dataset layout's
``../labels`` folder, or in a folder given.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..datasets.sia import index_label_files
from ..geo import (FootprintError, GeoTransform, footprint_transform,
                   read_footprint)

__all__ = ['find_label_files', 'find_footprint', 'resolve_footprint']


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


def resolve_footprint(footprint, image_path: Optional[str],
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
