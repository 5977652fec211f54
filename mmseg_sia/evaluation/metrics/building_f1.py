"""Building object F1: instance-level precision and recall at IoU >= 0.5."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from ...instances import (InstanceMasks, building_instances, match_instances,
                          polygon_instances)
from ._common import (check_gt_source, check_same_shape, label_polygons,
                      ratio, resolve_class, sample_maps)


@METRICS.register_module()
class BuildingF1Metric(BaseMetric):
    """SpaceNet-style building F1 over instances.

    Predicted buildings are split into instances (connected components, or
    with a boundary class the boundary-aware split of
    :func:`mmseg_sia.instances.building_instances`). A predicted instance is
    a true positive when it matches a reference building with IoU >=
    ``iou_threshold``, each side matched at most once (greedy, highest IoU
    first); the other predictions are false positives and the unmatched
    references false negatives. Counts are summed over the dataset, then

    - precision = TP / (TP + FP), recall = TP / (TP + FN),
    - F1 = 2 * precision * recall / (precision + recall),

    in percent. A ratio with nothing to count (0 / 0) is 100 when there are
    neither predicted nor reference buildings, and 0 otherwise.

    Reference instances come from the label polygons, one per polygon, when
    the sample's metainfo carries ``label_paths`` (add it to
    ``PackSegInputs``' ``meta_keys``); otherwise from the ground-truth map
    the same way as the prediction, where touching buildings merge unless
    the map has a boundary class. Pixels labelled ``ignore_index`` are set
    to background in the prediction. Use it beside ``IoUMetric``::

        val_evaluator = [
            dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
            dict(type='BuildingF1Metric')]

    Args:
        building_class (int | str): Id or name of the building class.
            Defaults to 'building'.
        boundary_class (int | str, optional): Id or name of the boundary
            class; 'auto' takes the class named 'boundary' when the dataset
            has one. None disables the boundary split. Defaults to 'auto'.
        iou_threshold (float): IoU of a match. Defaults to 0.5.
        connectivity (int): 4 or 8 for connected components. Defaults to 4.
        min_area (int): Predicted instances smaller than this (pixels) are
            dropped before matching. Defaults to 0.
        gt_source (str): 'auto', 'mask' or 'polygons' (see above). Defaults
            to 'auto'.
        building_key (str): Label property of building polygons, for
            polygon references. Defaults to 'building_imcoords'.
        ignore_index (int): Ignored label. Defaults to 255.
        collect_device (str): 'cpu' or 'gpu', for distributed collection.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 building_class: Union[int, str] = 'building',
                 boundary_class: Union[int, str, None] = 'auto',
                 iou_threshold: float = 0.5,
                 connectivity: int = 4,
                 min_area: int = 0,
                 gt_source: str = 'auto',
                 building_key: str = 'building_imcoords',
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < iou_threshold <= 1:
            raise ValueError('BuildingF1Metric: iou_threshold must be in '
                             f'(0, 1], got {iou_threshold!r}')
        if connectivity not in (4, 8):
            raise ValueError('BuildingF1Metric: connectivity must be 4 or 8, '
                             f'got {connectivity!r}')
        check_gt_source(gt_source, 'BuildingF1Metric')
        self.building_class = building_class
        self.boundary_class = boundary_class
        self.iou_threshold = float(iou_threshold)
        self.connectivity = connectivity
        self.min_area = int(min_area)
        self.gt_source = gt_source
        self.building_key = building_key
        self.ignore_index = ignore_index

    def _class_ids(self) -> tuple:
        classes = (self.dataset_meta or {}).get('classes')
        building = resolve_class(self.building_class, classes,
                                 'BuildingF1Metric', 'building_class')
        boundary = self.boundary_class
        if boundary == 'auto':
            boundary = 'boundary' if classes and 'boundary' in classes \
                else None
        boundary = resolve_class(boundary, classes, 'BuildingF1Metric',
                                 'boundary_class')
        return building, boundary

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Count matches of each sample.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_sem_seg``
                and ``gt_sem_seg``.
        """
        building, boundary = self._class_ids()
        for sample in data_samples:
            pred, gt = sample_maps(sample)
            self.results.append(
                self.count_sample(pred, gt, building, boundary,
                                  sample.get('label_paths')))

    def count_sample(self,
                     pred: np.ndarray,
                     gt: np.ndarray,
                     building: int,
                     boundary: Optional[int] = None,
                     label_paths: Optional[List[str]] = None) -> tuple:
        """TP, FP, FN of one sample.

        Args:
            pred (np.ndarray): ``(H, W)`` predicted class map.
            gt (np.ndarray): ``(H, W)`` reference class map.
            building (int): Building class id.
            boundary (int, optional): Boundary class id.
            label_paths (list[str], optional): The tile's label files, for
                polygon references.

        Returns:
            tuple[int, int, int]: True positives, false positives, false
            negatives.

        Raises:
            ValueError: When the maps differ in shape, or polygon references
                are asked for and ``label_paths`` is missing.
        """
        check_same_shape(pred, gt, 'BuildingF1Metric')
        pred = np.where(gt == self.ignore_index, 0, pred)
        pred_inst = building_instances(
            pred, building, boundary, self.connectivity, self.min_area)
        polygons = label_polygons(self.gt_source, label_paths,
                                  self.building_key, 'BuildingF1Metric')
        if polygons is not None:
            gt_inst = polygon_instances(polygons, gt.shape)
        else:
            gt_map = building_instances(gt, building, boundary,
                                        self.connectivity)
            gt_inst = InstanceMasks.from_labels(gt_map.labels)
        return match_instances(pred_inst, gt_inst, self.iou_threshold)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the counts and compute precision, recall and F1.

        Args:
            results (list): ``(TP, FP, FN)`` per sample.

        Returns:
            dict[str, float]: ``building_F1``, ``building_precision``,
            ``building_recall`` (percent) and ``building_TP``,
            ``building_FP``, ``building_FN`` (counts).
        """
        tp, fp, fn = (int(sum(r[i] for r in results)) for i in range(3))
        empty = tp + fp + fn == 0
        precision = ratio(tp, tp + fp, empty)
        recall = ratio(tp, tp + fn, empty)
        f1 = 0.0 if precision + recall == 0 else \
            2 * precision * recall / (precision + recall)
        metrics = dict(
            building_F1=round(f1, 2),
            building_precision=round(precision, 2),
            building_recall=round(recall, 2),
            building_TP=tp,
            building_FP=fp,
            building_FN=fn)
        print_log(
            f'building objects (IoU >= {self.iou_threshold}): '
            f'F1 {f1:.2f}, precision {precision:.2f}, recall {recall:.2f} '
            f'(TP {tp}, FP {fp}, FN {fn})',
            logger=MMLogger.get_current_instance())
        return metrics
