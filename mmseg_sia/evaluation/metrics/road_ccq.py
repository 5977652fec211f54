"""Road completeness, correctness and quality on centre-line skeletons."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS
from scipy import ndimage
from skimage.morphology import skeletonize

from ._common import check_same_shape, ratio, resolve_class, sample_maps

__all__ = ['RoadCCQMetric', 'road_skeleton_counts']


def road_skeleton_counts(pred: np.ndarray,
                         gt: np.ndarray,
                         buffer_width: float = 3.0,
                         valid: Optional[np.ndarray] = None
                         ) -> Tuple[int, int, int, int]:
    """Skeleton lengths and their matched parts for one pair of road masks.

    Both masks are thinned to one-pixel centre lines
    (:func:`skimage.morphology.skeletonize`); a centre-line pixel is matched
    when it lies within ``buffer_width`` pixels (Euclidean) of the other
    mask's centre line.

    Args:
        pred (np.ndarray): ``(H, W)`` bool predicted road mask.
        gt (np.ndarray): ``(H, W)`` bool reference road mask.
        buffer_width (float): Buffer radius in pixels. Defaults to 3.0.
        valid (np.ndarray, optional): ``(H, W)`` bool; centre-line pixels
            outside it are not counted. Defaults to None (all valid).

    Returns:
        tuple[int, int, int, int]: reference length, matched reference
        length, predicted length, matched predicted length (pixels).
    """
    pred_skel = skeletonize(pred.astype(bool)) if pred.any() else \
        np.zeros(pred.shape, bool)
    gt_skel = skeletonize(gt.astype(bool)) if gt.any() else \
        np.zeros(gt.shape, bool)
    if valid is not None:
        pred_skel &= valid
        gt_skel &= valid
    near_pred = _buffer(pred_skel, buffer_width)
    near_gt = _buffer(gt_skel, buffer_width)
    return (int(gt_skel.sum()), int((gt_skel & near_pred).sum()),
            int(pred_skel.sum()), int((pred_skel & near_gt).sum()))


def _buffer(skeleton: np.ndarray, width: float) -> np.ndarray:
    if not skeleton.any():
        return np.zeros(skeleton.shape, bool)
    return ndimage.distance_transform_edt(~skeleton) <= width


@METRICS.register_module()
class RoadCCQMetric(BaseMetric):
    """Completeness, correctness and quality of extracted roads.

    The standard road-extraction measures (Wiedemann et al.), computed on
    centre lines so that each road counts by its length, not its width:
    predicted and reference road masks are skeletonized, and with a buffer of
    ``buffer_width`` pixels around each centre line,

    - completeness = matched reference length / reference length,
    - correctness = matched predicted length / predicted length,
    - quality = matched predicted length /
      (predicted length + unmatched reference length),

    lengths summed over the dataset before dividing, in percent (a 0 / 0
    ratio is 100 when both prediction and reference have no road, else 0).

    What this shows that pixel IoU hides: roads count by length, so a narrow
    lane weighs as much per metre as a wide avenue, and a prediction that is
    too thin or too thick but well placed is not penalised. A break costs
    the gap plus, at both new ends, the part of the road's half-width beyond
    the buffer (a skeleton stops about half a road width short of the end of
    a piece), so a wide road broken into pieces scores lower here than its
    IoU: a 15-pixel road cut by five 4-pixel gaps keeps 91 % IoU but 74 %
    completeness. Breaks shorter than about twice the buffer on narrow roads
    cost little, though: this is not a connectivity measure such as APLS.
    Pixels labelled ``ignore_index`` in the reference are not counted.
    Use it beside ``IoUMetric``::

        val_evaluator = [
            dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
            dict(type='RoadCCQMetric', buffer_width=3)]

    Args:
        road_class (int | str): Id or name of the road class. Defaults to
            'road'.
        buffer_width (float): Buffer radius in pixels (3 px is about 1.6 m at
            KOMPSAT-3A's 0.55 m pan-sharpened resolution). Defaults to 3.0.
        ignore_index (int): Ignored label. Defaults to 255.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 road_class: Union[int, str] = 'road',
                 buffer_width: float = 3.0,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not buffer_width >= 0:
            raise ValueError('RoadCCQMetric: buffer_width must be >= 0, got '
                             f'{buffer_width!r}')
        self.road_class = road_class
        self.buffer_width = float(buffer_width)
        self.ignore_index = ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Measure the skeletons of each sample.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_sem_seg``
                and ``gt_sem_seg``.
        """
        road = resolve_class(self.road_class,
                             (self.dataset_meta or {}).get('classes'),
                             'RoadCCQMetric', 'road_class')
        for sample in data_samples:
            pred, gt = sample_maps(sample)
            check_same_shape(pred, gt, 'RoadCCQMetric')
            self.results.append(
                road_skeleton_counts(pred == road, gt == road,
                                     self.buffer_width,
                                     gt != self.ignore_index))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the lengths and compute the three measures.

        Args:
            results (list): Per-sample counts of
                :func:`road_skeleton_counts`.

        Returns:
            dict[str, float]: ``road_completeness``, ``road_correctness``,
            ``road_quality`` (percent).
        """
        ref, ref_hit, ext, ext_hit = (
            int(sum(r[i] for r in results)) for i in range(4))
        empty = ref == 0 and ext == 0
        completeness = ratio(ref_hit, ref, empty)
        correctness = ratio(ext_hit, ext, empty)
        quality = ratio(ext_hit, ext + ref - ref_hit, empty)
        print_log(
            f'roads (buffer {self.buffer_width:g} px): completeness '
            f'{completeness:.2f}, correctness {correctness:.2f}, quality '
            f'{quality:.2f} (reference {ref} px, extracted {ext} px of '
            'centre line)',
            logger=MMLogger.get_current_instance())
        return dict(
            road_completeness=round(completeness, 2),
            road_correctness=round(correctness, 2),
            road_quality=round(quality, 2))
