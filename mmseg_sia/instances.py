"""Building instances from semantic predictions.

A semantic map says which pixels are building, not which building they belong
to. Two ways to get instances are supported:

* **Connected components** of the building class: simple, but buildings that
  touch (row houses, apartment blocks) merge into one instance.
* **Boundary-aware**: a model trained with a boundary class (see
  ``LoadPolygonAnnotations(boundary_width=...)`` and
  :class:`SIABuildingBoundaryDataset`) predicts a band along every building
  outline. The building pixels left inside the bands ("cores") are separated,
  each core becomes an instance, and the band pixels are given back to the
  nearest core so that areas cover the whole footprint. Band blobs with no
  core (buildings too small to keep a core) become instances of their own.

:func:`polygon_instances` rasterizes label polygons one by one, the reference
instances of the building object F1 metric.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

import numpy as np
from scipy import ndimage

from .labels import polygon_coverage

__all__ = [
    'BuildingInstances', 'building_instances', 'polygon_instances',
    'InstanceMasks', 'match_instances'
]


@dataclass
class BuildingInstances:
    """Building instances of one tile.

    Attributes:
        labels (np.ndarray): ``(H, W)`` int32 map, 0 for no building and
            ``1..count`` for the instances.
        count (int): Number of instances.
        areas (np.ndarray): ``(count,)`` int64 pixel areas; ``areas[i]`` is
            the area of instance ``i + 1``.
    """
    labels: np.ndarray
    count: int
    areas: np.ndarray


def _structure(connectivity: int) -> np.ndarray:
    if connectivity == 4:
        return ndimage.generate_binary_structure(2, 1)
    if connectivity == 8:
        return ndimage.generate_binary_structure(2, 2)
    raise ValueError(f'connectivity must be 4 or 8, got {connectivity!r}')


def building_instances(seg: np.ndarray,
                       building_label: int = 1,
                       boundary_label: Optional[int] = None,
                       connectivity: int = 4,
                       min_area: int = 0,
                       max_expand: Optional[int] = None
                       ) -> BuildingInstances:
    """Split the building pixels of a class map into instances.

    Args:
        seg (np.ndarray): ``(H, W)`` class-id map (a prediction or a label).
        building_label (int): Class id of buildings. Defaults to 1.
        boundary_label (int, optional): Class id of the building boundary
            band of a boundary-aware model; None uses plain connected
            components of ``building_label``. Defaults to None.
        connectivity (int): 4 or 8, the neighbourhood of connected
            components. Defaults to 4.
        min_area (int): Instances with fewer pixels (after band pixels are
            given back) are dropped. Defaults to 0.
        max_expand (int, optional): How many neighbourhood steps through
            band pixels a core may grow; band pixels out of reach stay
            background. None means until no band pixel next to an instance
            is left. Defaults to None.

    Returns:
        BuildingInstances: Instance map, count and areas.

    Raises:
        ValueError: When ``seg`` is not 2-D or ``connectivity`` is not 4 or 8.
    """
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise ValueError(f'seg must be a 2-D class map, got shape {seg.shape}')
    structure = _structure(connectivity)
    building = seg == building_label
    labels, count = ndimage.label(building, structure=structure)
    if boundary_label is not None:
        band = seg == boundary_label
        if band.any():
            labels, count = _absorb_band(labels, count, band, structure,
                                         max_expand)
    labels = labels.astype(np.int32, copy=False)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    if min_area > 0 and count:
        keep = areas >= min_area
        if not keep.all():
            remap = np.zeros(count + 1, dtype=np.int32)
            remap[1:][keep] = np.arange(1, int(keep.sum()) + 1,
                                        dtype=np.int32)
            labels = remap[labels]
            areas = areas[keep]
            count = int(keep.sum())
    return BuildingInstances(labels=labels, count=int(count),
                             areas=areas.astype(np.int64))


def _absorb_band(cores: np.ndarray, count: int, band: np.ndarray,
                 structure: np.ndarray,
                 max_expand: Optional[int]) -> Tuple[np.ndarray, int]:
    """Grow cores into the band; band blobs that touch no core become new."""
    labels = cores.copy()
    todo = band & (labels == 0)
    steps = 0
    # Geodesic growth: one neighbourhood step at a time and only through
    # band pixels, so a core never reaches across background. Where two
    # cores reach a pixel in the same step, the higher id takes it.
    while count and todo.any() and (max_expand is None or steps < max_expand):
        grown = ndimage.grey_dilation(labels, footprint=structure)
        new = todo & (grown > 0)
        if not new.any():
            break
        labels[new] = grown[new]
        todo &= ~new
        steps += 1
    if todo.any():
        # Band blobs that touch no instance are buildings of their own; the
        # ones that do were only out of ``max_expand``'s reach and are left
        # as background.
        extra, n_extra = ndimage.label(todo, structure=structure)
        near = ndimage.binary_dilation(labels > 0, structure=structure)
        touching = np.unique(extra[near & (extra > 0)])
        lone = np.ones(n_extra + 1, dtype=bool)
        lone[0] = False
        lone[touching] = False
        new_id = np.zeros(n_extra + 1, dtype=labels.dtype)
        new_id[lone] = np.arange(1, int(lone.sum()) + 1) + count
        keep = new_id[extra]
        labels[keep > 0] = keep[keep > 0]
        count += int(lone.sum())
    return labels, count


@dataclass
class InstanceMasks:
    """Instances as cropped masks, which may overlap.

    Attributes:
        boxes (list[tuple[slice, slice]]): Row and column slices of each
            instance in the tile.
        masks (list[np.ndarray]): Bool mask of each instance inside its box.
        shape (tuple[int, int]): ``(height, width)`` of the tile.
    """
    boxes: List[Tuple[slice, slice]]
    masks: List[np.ndarray]
    shape: Tuple[int, int]

    @property
    def count(self) -> int:
        """int: Number of instances."""
        return len(self.masks)

    @property
    def areas(self) -> np.ndarray:
        """np.ndarray: ``(count,)`` pixel areas."""
        return np.array([int(m.sum()) for m in self.masks], dtype=np.int64)

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> 'InstanceMasks':
        """Instances of an instance-label map (0 = none).

        Args:
            labels (np.ndarray): ``(H, W)`` map with ids ``1..N``.

        Returns:
            InstanceMasks: One entry per id that occurs.
        """
        labels = np.asarray(labels)
        boxes, masks = [], []
        for index, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            boxes.append(box)
            masks.append(labels[box] == index)
        return cls(boxes=boxes, masks=masks, shape=labels.shape[:2])


def polygon_instances(polygons: Iterable[np.ndarray],
                      shape: Tuple[int, int]) -> InstanceMasks:
    """Rasterize polygons one by one into (possibly overlapping) instances.

    The pixel-centre rule of the labels is used; polygons that cover no
    pixel of the tile are left out.

    Args:
        polygons (Iterable[np.ndarray]): ``(N, 2)`` float vertices ``(x, y)``.
        shape (tuple[int, int]): ``(height, width)`` of the tile.

    Returns:
        InstanceMasks: One instance per polygon that covers a pixel.
    """
    height, width = int(shape[0]), int(shape[1])
    boxes, masks = [], []
    for points in polygons:
        points = np.asarray(points, dtype=np.float64)
        if len(points) < 3:
            continue
        r0 = max(int(np.floor(points[:, 1].min())), 0)
        r1 = min(int(np.ceil(points[:, 1].max())) + 1, height)
        c0 = max(int(np.floor(points[:, 0].min())), 0)
        c1 = min(int(np.ceil(points[:, 0].max())) + 1, width)
        if r0 >= r1 or c0 >= c1:
            continue
        mask = polygon_coverage([points - (c0, r0)], r1 - r0, c1 - c0)
        if mask.any():
            boxes.append((slice(r0, r1), slice(c0, c1)))
            masks.append(mask)
    return InstanceMasks(boxes=boxes, masks=masks, shape=(height, width))


def match_instances(pred: BuildingInstances,
                    gt: InstanceMasks,
                    iou_threshold: float = 0.5) -> Tuple[int, int, int]:
    """Match predicted to reference instances one to one by IoU.

    Pairs are taken greedily from the highest IoU down; a pair counts when
    its IoU is at least ``iou_threshold`` and neither side is matched yet
    (SpaceNet's rule; with a threshold of 0.5 or more every instance has at
    most one candidate when instances do not overlap).

    Args:
        pred (BuildingInstances): Predicted instances (a label map, so they
            do not overlap).
        gt (InstanceMasks): Reference instances (they may overlap).
        iou_threshold (float): Minimum IoU of a match. Defaults to 0.5.

    Returns:
        tuple[int, int, int]: True positives, false positives, false
        negatives.

    Raises:
        ValueError: When the two sides differ in shape.
    """
    if tuple(pred.labels.shape) != tuple(gt.shape):
        raise ValueError(f'instance maps differ in shape: '
                         f'{pred.labels.shape} and {gt.shape}')
    n_pred, n_gt = pred.count, gt.count
    if n_pred == 0 or n_gt == 0:
        return 0, n_pred, n_gt
    pairs = []
    for j, (box, mask) in enumerate(zip(gt.boxes, gt.masks)):
        inter = np.bincount(pred.labels[box][mask], minlength=n_pred + 1)
        hit = np.flatnonzero(inter[1:]) + 1
        if hit.size == 0:
            continue
        union = pred.areas[hit - 1] + int(mask.sum()) - inter[hit]
        iou = inter[hit] / union
        for k in np.flatnonzero(iou >= iou_threshold):
            pairs.append((float(iou[k]), int(hit[k]), j))
    pairs.sort(key=lambda t: -t[0])
    used_p, used_g = set(), set()
    tp = 0
    for _, i, j in pairs:
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        tp += 1
    return tp, n_pred - tp, n_gt - tp
