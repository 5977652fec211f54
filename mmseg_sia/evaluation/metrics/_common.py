"""Helpers shared by the plugin's metrics."""
from __future__ import annotations

import functools
import os
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ...labels import DEFAULT_CLASS_MAP, read_label_file


def resolve_class(spec: Union[int, str, None],
                  classes: Optional[Sequence[str]], metric: str,
                  what: str) -> Optional[int]:
    """Turn a class given by id or name into its id.

    Args:
        spec (int | str | None): The class id, its name, or None.
        classes (Sequence[str], optional): The dataset's class names.
        metric (str): Metric name, for error messages.
        what (str): Which argument, for error messages.

    Returns:
        int | None: The class id, or None when ``spec`` is None.

    Raises:
        ValueError: When the name is not one of the dataset's classes.
    """
    if spec is None or isinstance(spec, (int, np.integer)):
        return None if spec is None else int(spec)
    if not classes or spec not in classes:
        raise ValueError(f'{metric}: {what} {spec!r} is not a class of the '
                         f'dataset (classes: {list(classes or [])})')
    return list(classes).index(spec)


def ratio(num: float, den: float, both_empty: bool) -> float:
    """``100 * num / den``; a 0 / 0 ratio is 100 or 0.

    A ratio with nothing to count is 100 when the prediction and the
    reference are both empty (nothing to find and nothing found), and 0
    otherwise (e.g. the precision of a model that predicts nothing where
    there is something to find).

    Args:
        num (float): Numerator.
        den (float): Denominator.
        both_empty (bool): Whether prediction and reference are both empty.

    Returns:
        float: The percentage.
    """
    if den == 0:
        return 100.0 if both_empty else 0.0
    return 100.0 * num / den


def to_numpy(data) -> np.ndarray:
    """A 2-D numpy map from a ``(1, H, W)`` or ``(H, W)`` tensor or array."""
    if hasattr(data, 'detach'):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(f'expected a (1, H, W) or (H, W) map, got shape '
                         f'{data.shape}')
    return data


def sample_maps(sample: dict) -> Tuple[np.ndarray, np.ndarray]:
    """The predicted and reference class maps of one packed sample."""
    return (to_numpy(sample['pred_sem_seg']['data']),
            to_numpy(sample['gt_sem_seg']['data']))


def check_same_shape(pred: np.ndarray, gt: np.ndarray, metric: str) -> None:
    """Raise unless the prediction and reference maps have one shape."""
    if pred.shape != gt.shape:
        raise ValueError(f'{metric}: prediction {pred.shape} and ground '
                         f'truth {gt.shape} differ in shape')


#: Where a metric takes its reference shapes from.
GT_SOURCES = ('auto', 'mask', 'polygons')


def check_gt_source(gt_source: str, metric: str) -> str:
    """Raise unless ``gt_source`` is one of :data:`GT_SOURCES`."""
    if gt_source not in GT_SOURCES:
        raise ValueError(f'{metric}: gt_source must be one of '
                         f'{GT_SOURCES}, got {gt_source!r}')
    return gt_source


def label_polygons(gt_source: str, label_paths, key: str,
                   metric: str) -> Optional[list]:
    """The reference polygons of one sample, or None to use the label map.

    Args:
        gt_source (str): 'auto' (polygons when ``label_paths`` is packed),
            'mask' or 'polygons'.
        label_paths (str | Sequence[str] | None): The tile's label files,
            from the sample's metainfo.
        key (str): The polygon property to read (``building_imcoords``...).
        metric (str): Metric name, for the error message.

    Returns:
        list[np.ndarray] | None: ``(N, 2)`` pixel vertices of every polygon,
        or None when the reference is the label map.

    Raises:
        ValueError: When polygons are asked for and ``label_paths`` is
            missing.
    """
    if gt_source == 'auto':
        gt_source = 'polygons' if label_paths is not None else 'mask'
    if gt_source == 'mask':
        return None
    if label_paths is None:
        raise ValueError(
            f"{metric}: gt_source='polygons' needs 'label_paths' in the "
            "sample's metainfo: add it to PackSegInputs' meta_keys")
    keys = tuple(sorted(set(DEFAULT_CLASS_MAP) | {key}))
    polygons = []
    for path in ([label_paths] if isinstance(label_paths, str) else
                 label_paths):
        st = os.stat(path)
        label = _read_cached(os.fspath(path), st.st_mtime_ns, st.st_size,
                             keys)
        polygons.extend(p.points for p in label.polygons if p.key == key)
    return polygons


@functools.lru_cache(maxsize=16)
def _read_cached(path: str, mtime_ns: int, size: int, keys: tuple):
    """One read of a label file for all the metrics scoring the same tile
    (building F1 and APLS each want one key of it); a changed file (time
    or size) is read again."""
    return read_label_file(path, keys=keys, warn=False)
