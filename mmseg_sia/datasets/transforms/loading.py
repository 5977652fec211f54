"""Label loading for the AIHub polygon labels."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ...labels import (DEFAULT_CLASS_MAP, DEFAULT_PRIORITY,
                       rasterize_label_files)


@TRANSFORMS.register_module()
class LoadPolygonAnnotations(BaseTransform):
    """Rasterize a tile's JSON polygon labels into ``gt_seg_map``.

    Takes the place of mmseg's ``LoadAnnotations`` for :class:`SIADataset`:
    the label map is drawn from the polygons at load time, so every later
    transform (``RandomResize``, ``RandomCrop``, ``RandomFlip``,
    ``PackSegInputs``, ...) works unchanged.

    A pixel takes a polygon's class when its centre lies inside the polygon;
    vertices keep their float values; parts outside the image are clipped.
    Where polygons of different classes overlap, ``priority`` decides.
    Malformed features are skipped with one :class:`SIALabelWarning` per file
    (or raise :class:`LabelFileError` with ``strict=True``); a file that is
    not a FeatureCollection always raises :class:`LabelFileError`.

    Required Keys:

    - label_paths (list[str]): the tile's label files (may be empty)
    - ori_shape (tuple[int, int]): shape of the image as loaded; the map has
      this size, the frame the polygon coordinates are given in (so, as with
      mmseg's ``LoadAnnotations``, it may come after ``Resize`` in a test
      pipeline; ``img_shape`` is used when ``ori_shape`` is absent)
    - seg_fields (list[str], optional)
    - label_map (dict, optional)
    - reduce_zero_label (bool, optional)

    Added Keys:

    - gt_seg_map (np.uint8): ``(H, W)`` class ids

    Modified Keys:

    - seg_fields: ``'gt_seg_map'`` is appended

    Args:
        class_map (dict[str, int]): Polygon property -> class id. Defaults to
            ``{'building_imcoords': 1, 'road_imcoords': 2}``.
        priority (Sequence[int]): Class ids from highest to lowest priority
            where polygons overlap. Defaults to ``(2, 1)`` (road over
            building, as the seed drew roads last).
        strict (bool): Raise on the first feature that cannot be drawn.
            Defaults to False.
        reduce_zero_label (bool, optional): As in mmseg's ``LoadAnnotations``;
            None takes the dataset's value. Defaults to None.
    """

    def __init__(self,
                 class_map: Optional[Mapping[str, int]] = None,
                 priority: Optional[Sequence[int]] = DEFAULT_PRIORITY,
                 strict: bool = False,
                 reduce_zero_label: Optional[bool] = None) -> None:
        self.class_map: Dict[str, int] = dict(
            DEFAULT_CLASS_MAP if class_map is None else class_map)
        for key, value in self.class_map.items():
            if not isinstance(value, (int, np.integer)) or not 0 <= value < 255:
                raise ValueError(
                    f'LoadPolygonAnnotations: class id of {key!r} must be an '
                    f'integer in [0, 254], got {value!r}')
        self.priority = tuple(priority) if priority is not None else None
        self.strict = strict
        self.reduce_zero_label = reduce_zero_label

    def transform(self, results: dict) -> dict:
        """Draw ``gt_seg_map`` from ``results['label_paths']``.

        Args:
            results (dict): The sample from :class:`SIADataset`.

        Returns:
            dict: ``results`` with ``gt_seg_map`` added.
        """
        shape = results.get('ori_shape') or results.get('img_shape')
        if shape is None:
            raise KeyError(
                'LoadPolygonAnnotations needs the image size: put '
                'LoadImageFromFile before it in the pipeline '
                f'(sample {results.get("img_path")!r})')
        paths = results.get('label_paths')
        if paths is None:
            raise KeyError(
                'LoadPolygonAnnotations needs `label_paths` (a list of label '
                f'files) in the sample {results.get("img_path")!r}; use it '
                'with SIADataset')
        if isinstance(paths, str):
            paths = [paths]
        seg, _ = rasterize_label_files(
            paths, shape[:2], class_map=self.class_map,
            priority=self.priority, strict=self.strict)

        reduce_zero = self.reduce_zero_label
        if reduce_zero is None:
            reduce_zero = results.get('reduce_zero_label', False)
        if reduce_zero:
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        label_map = results.get('label_map')
        if label_map:
            original = seg.copy()
            for old_id, new_id in label_map.items():
                seg[original == old_id] = new_id
        results['gt_seg_map'] = seg
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(class_map={self.class_map}, '
                f'priority={self.priority}, strict={self.strict}, '
                f'reduce_zero_label={self.reduce_zero_label})')
