"""AIHub's land-cover release (토지피복지도 항공위성 이미지), read as released."""
from __future__ import annotations

import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..maplabels import LANDCOVER_BUILDING_ROAD, class_value
from .sia import (IndexProblem, index_images, index_label_files,
                  log_index_problems, split_stems)

__all__ = [
    'SIALandCoverDataset', 'meta_key', 'check_class_map', 'index_meta_files'
]


def meta_key(stem: str, marker: str = '_META') -> Optional[str]:
    """The image stem a META file's stem belongs to, or None.

    ``X_META`` belongs to ``X`` and ``X_META_1024`` (the 1024-pixel parts)
    to ``X_1024``: the last ``_META`` is taken out.
    """
    at = stem.rfind(marker)
    if at < 0:
        return None
    return stem[:at] + stem[at + len(marker):]


def index_meta_files(folder: str, suffix: str = '.json',
                     problems: Optional[List[IndexProblem]] = None
                     ) -> Dict[str, str]:
    """Image stem -> META file of the ``*_META*.json`` files in ``folder``.

    Files without ``_META`` in their name (labels sharing the folder) are
    not META files and are left out.
    """
    metas: Dict[str, str] = {}
    for stem, paths in index_label_files(folder, suffix, max_depth=0,
                                         problems=problems).items():
        key = meta_key(stem)
        if key is not None:
            metas[key] = paths[0]
    return metas


def check_class_map(class_map: Mapping, num_classes: Optional[int],
                    owner: str) -> Dict[object, int]:
    """Check a class map (value -> class id) and normalise its keys.

    Raises:
        ValueError: When an id is not an integer in [0, 254] or, with
            ``num_classes``, not below it (the message names the entry).
    """
    out: Dict[object, int] = {}
    for key, value in dict(class_map).items():
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value < 255:
            raise ValueError(f'{owner}: class id of {key!r} must be an '
                             f'integer in [0, 254], got {value!r}')
        if num_classes is not None and value >= num_classes:
            raise ValueError(
                f'{owner}: class id {value} of {key!r} is not one of the '
                f'{num_classes} classes of metainfo')
        out[class_value(key)] = value
    return out


@DATASETS.register_module()
class SIALandCoverDataset(BaseSegDataset):
    """Tiles of AIHub's land-cover set, labels drawn from map polygons.

    The release keeps images, labels and META files in sibling folders and
    pairs them by name::

        data_root/
        ├── TS_AP25_512픽셀/LC_GS_AP25_34801025_006_2019_FGT.tif
        ├── TL_AP25_512픽셀_Json/LC_GS_AP25_34801025_006_2019_FGT.json
        └── TL_AP25_512픽셀_Meta/LC_GS_AP25_34801025_006_2019_FGT_META.json

    (the 1024-pixel parts name them ``X_1024.tif``, ``X_1024.json``,
    ``X_META_1024.json``). The images carry no georeference; the META file
    gives the grid (:func:`mmseg_sia.georef.read_meta_georef`), and the
    label polygons (EPSG:5186, Polygon and MultiPolygon with holes) are
    drawn by :class:`LoadPolygonAnnotations` through it, class by
    ``properties.ANN_CD``.

    Each data info holds ``img_path`` and ``map_labels``: ``paths`` (the
    label files), ``meta_path``, ``attribute``, ``class_map`` and ``crs``.
    The class ids are those of ``class_map``; ``metainfo`` only names them
    (no ``label_map`` is derived from class names).

    Args:
        data_root (str, optional): Root of the data. Defaults to None.
        ann_file (str): A split file of stems, one a line; '' uses every
            image. Defaults to ''.
        data_prefix (dict): ``img_path``, ``seg_map_path`` (the ``TL_*_Json``
            folder) and ``meta_path`` (the ``TL_*_Meta`` folder; may be the
            labels folder). Defaults to ``dict(img_path='images',
            seg_map_path='labels', meta_path='meta')``.
        img_suffix (str): Defaults to '.tif'.
        seg_map_suffix (str): Defaults to '.json'.
        meta_suffix (str): Suffix of META files. Defaults to '.json'.
        class_map (dict): ``ANN_CD`` -> class id. Defaults to building 1,
            road 2 and every other documented code 0
            (:data:`~mmseg_sia.maplabels.LANDCOVER_BUILDING_ROAD`).
        attribute (str): The class property. Defaults to 'ANN_CD'.
        crs (str | int, optional): The labels' CRS when neither the label
            file (``crs`` member) nor the META file names one. Defaults to
            None.
        meta_required (bool): Every image must have a META file (the
            release's images carry no georeference). Defaults to True.
        **kwargs: Further :class:`BaseSegDataset` arguments.
    """

    METAINFO = dict(
        classes=('background', 'building', 'road'),
        palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]])

    def __init__(self,
                 data_root: Optional[str] = None,
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='images', seg_map_path='labels',
                     meta_path='meta'),
                 img_suffix: str = '.tif',
                 seg_map_suffix: str = '.json',
                 meta_suffix: str = '.json',
                 class_map: Optional[Mapping] = None,
                 attribute: str = 'ANN_CD',
                 crs=None,
                 meta_required: bool = True,
                 **kwargs) -> None:
        self.meta_suffix = meta_suffix
        self.attribute = attribute
        self.crs = crs
        self.meta_required = meta_required
        self._class_map_given = dict(
            LANDCOVER_BUILDING_ROAD if class_map is None else class_map)
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=dict(data_prefix),
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)

    @classmethod
    def get_label_map(cls, new_classes: Optional[Sequence] = None) -> None:
        """No label map: ``class_map`` gives the final class ids."""
        return None

    def load_data_list(self) -> List[dict]:
        """Pair images, labels and META files by stem.

        Returns:
            list[dict]: One data info per image.

        Raises:
            FileNotFoundError: When the image folder or split file is missing,
                a split stem has no image, or (``meta_required``) an image
                has no META file (the message names the images and where
                their META files were looked for).
            ValueError: When ``class_map`` names an id outside the classes.
        """
        classes = self._metainfo.get('classes')
        self.class_map = check_class_map(
            self._class_map_given, len(classes) if classes else None,
            type(self).__name__)
        img_dir = self.data_prefix.get('img_path') or ''
        label_dir = self.data_prefix.get('seg_map_path') or ''
        meta_dir = self.data_prefix.get('meta_path') or ''
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'{type(self).__name__}: image folder {img_dir!r} does not '
                'exist')
        problems: List[IndexProblem] = []
        images = index_images(img_dir, self.img_suffix, problems)
        labels = index_label_files(label_dir, self.seg_map_suffix,
                                   max_depth=0, problems=problems)
        if osp.abspath(label_dir) == osp.abspath(meta_dir):
            labels = {s: p for s, p in labels.items() if meta_key(s) is None}
        metas = index_meta_files(meta_dir, self.meta_suffix, problems)
        log_index_problems(type(self).__name__, problems)
        stems = split_stems(type(self).__name__, self.ann_file, images,
                            img_dir, self.img_suffix)
        if self.meta_required:
            lacking = [s for s in stems if s not in metas]
            if lacking:
                shown = ', '.join(images[s] for s in lacking[:5])
                more = '' if len(lacking) <= 5 else \
                    f' and {len(lacking) - 5} more'
                raise FileNotFoundError(
                    f'{type(self).__name__}: {len(lacking)} image(s) have no '
                    f'META file (<stem>_META{self.meta_suffix} or '
                    f'<stem minus _1024>_META_1024{self.meta_suffix} in '
                    f'{meta_dir!r}; the images carry no georeference): '
                    f'{shown}{more}')
        unlabelled = [s for s in stems if s not in labels]
        if unlabelled:
            from mmengine.logging import print_log
            shown = ', '.join(images[s] for s in unlabelled[:5])
            print_log(
                f'{type(self).__name__}: {len(unlabelled)} image(s) have no '
                f'label file <stem>{self.seg_map_suffix} in {label_dir!r} '
                f'and train as all background: {shown}',
                logger='current', level=logging.WARNING)
        return [
            dict(
                img_path=images[stem],
                label_paths=[],
                map_labels=dict(
                    paths=list(labels.get(stem, ())),
                    meta_path=metas.get(stem),
                    attribute=self.attribute,
                    class_map=self.class_map,
                    crs=self.crs),
                seg_map_path=None,
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]) for stem in stems
        ]
