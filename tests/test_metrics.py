"""Tests of BuildingF1Metric and RoadCCQMetric on hand-made masks."""
import json
import warnings

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample
from skimage.morphology import skeletonize

META = dict(classes=('background', 'building', 'road'),
            palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]])


def sample(pred, gt, **meta):
    """A model output as the evaluator receives it."""
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    s.set_metainfo(meta)
    return s.to_dict()


def run_metric(cfg, pairs, meta=META):
    metric = METRICS.build(cfg)
    metric.dataset_meta = meta
    for pred, gt, extra in pairs:
        metric.process({}, [sample(pred, gt, **extra)])
    return metric.evaluate(len(pairs))


def write_building_file(path, boxes):
    """A building label file with one rectangle ``(x0, y0, x1, y1)`` each."""
    features = []
    for x0, y0, x1, y1 in boxes:
        coords = f'{x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1}'
        features.append({
            'type': 'Feature',
            'geometry': {'type': 'Polygon', 'coordinates': [[0, 0, 0]]},
            'properties': {'building_imcoords': coords,
                           'road_imcoords': 'EMPTY',
                           'object_imcoords': 'EMPTY',
                           'type_id': '1', 'type_name': 'small'}})
    path.write_text(json.dumps({'type': 'FeatureCollection',
                                'features': features}))
    return str(path)


def test_building_f1_from_masks():
    gt = np.zeros((20, 20), np.uint8)
    gt[2:6, 2:6] = 1      # A, 16 px
    gt[10:14, 2:10] = 1   # B, 32 px
    gt[15:18, 15:18] = 1  # C, 9 px
    pred = np.zeros_like(gt)
    pred[2:6, 3:7] = 1    # A shifted one column: 12 / 20 = 0.6 -> match
    pred[10:14, 2:5] = 1  # 12 px inside B: 12 / 32 = 0.375 -> no match
    pred[15:18, 0:3] = 1  # nothing there
    pred[2:4, 12:14] = 2  # a road pixel block is not a building
    # TP 1 (A), FP 2, FN 2 (B, C): precision = recall = 1 / 3.
    res = run_metric(dict(type='BuildingF1Metric'), [(pred, gt, {})])
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (1, 2, 2)
    assert res['building_precision'] == pytest.approx(33.33)
    assert res['building_recall'] == pytest.approx(33.33)
    assert res['building_F1'] == pytest.approx(33.33)


def test_building_f1_iou_threshold_and_sum_over_images():
    gt = np.zeros((10, 10), np.uint8)
    gt[0:4, 0:4] = 1                       # 16 px
    pred = np.zeros_like(gt)
    pred[0:4, 0:2] = 1                     # IoU 8 / 16 = 0.5 exactly
    empty = np.zeros_like(gt)
    pairs = [(pred, gt, {}), (empty, empty, {})]
    res = run_metric(dict(type='BuildingF1Metric'), pairs)
    assert res['building_F1'] == 100.0     # IoU >= 0.5 counts
    res = run_metric(dict(type='BuildingF1Metric', iou_threshold=0.6), pairs)
    # TP 0, FP 1, FN 1: precision 0, recall 0, F1 0.
    assert (res['building_precision'], res['building_recall'],
            res['building_F1']) == (0.0, 0.0, 0.0)
    # Nothing to find and nothing found is a perfect score.
    res = run_metric(dict(type='BuildingF1Metric'), [(empty, empty, {})])
    assert res['building_F1'] == 100.0


def strip_instances():
    """One row: references G1 (columns 0-19) and G2 (21-40); predictions P2
    (0-8, inside G1) and P1 (10-40, the tail of G1, the gap and all of G2).

    IoU(P2, G1) = 9 / 20 = 0.45, IoU(P1, G2) = 20 / 31 = 0.645,
    IoU(P1, G1) = 10 / (31 + 20 - 10) = 10 / 41 = 0.244.
    """
    gt = np.zeros((1, 45), np.uint8)
    gt[0, 0:20] = 1
    gt[0, 21:41] = 1
    pred = np.zeros_like(gt)
    pred[0, 0:9] = 1
    pred[0, 10:41] = 1
    return pred, gt


def test_building_f1_default_threshold_is_one_half():
    """An IoU of 0.45 (in [0.4, 0.5)) is no match by default."""
    from mmseg_sia.instances import (InstanceMasks, building_instances,
                                     match_instances)
    pred, gt = strip_instances()
    # Default: only P1-G2 matches. TP 1, FP 1 (P2), FN 1 (G1): 50 / 50 / 50.
    res = run_metric(dict(type='BuildingF1Metric'), [(pred, gt, {})])
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (1, 1, 1)
    assert (res['building_precision'], res['building_recall'],
            res['building_F1']) == (50.0, 50.0, 50.0)
    p = building_instances(pred, 1)
    g = InstanceMasks.from_labels(building_instances(gt, 1).labels)
    assert match_instances(p, g) == (1, 1, 1)
    # The threshold is inclusive: 0.45 matches at 0.45 but not just above.
    assert match_instances(p, g, 0.45) == (2, 0, 0)
    assert match_instances(p, g, 0.4500001) == (1, 1, 1)
    res = run_metric(dict(type='BuildingF1Metric', iou_threshold=0.45),
                     [(pred, gt, {})])
    assert res['building_F1'] == 100.0
    # Above 20 / 31 nothing matches.
    assert match_instances(p, g, 20 / 31) == (1, 1, 1)
    assert match_instances(p, g, 20 / 31 + 1e-9) == (0, 2, 2)


def test_match_instances_takes_the_highest_iou_first():
    """At threshold 0.2, P1 could take G1 (0.244) or G2 (0.645): highest
    first gives P1-G2, then P2-G1 (0.45): 2 matches. Taking P1-G1 first
    would leave one."""
    from mmseg_sia.instances import (InstanceMasks, building_instances,
                                     match_instances)
    pred, gt = strip_instances()
    p = building_instances(pred, 1)
    g = InstanceMasks.from_labels(building_instances(gt, 1).labels)
    assert match_instances(p, g, 0.2) == (2, 0, 0)
    # The references in the other order: same answer.
    g_rev = InstanceMasks(boxes=g.boxes[::-1], masks=g.masks[::-1],
                          shape=g.shape)
    assert match_instances(p, g_rev, 0.2) == (2, 0, 0)
    # At 0.25 P1-G1 is no candidate; still 2.
    assert match_instances(p, g, 0.25) == (2, 0, 0)
    with pytest.raises(ValueError, match=r'differ in shape: \(1, 45\)'):
        match_instances(p, InstanceMasks(boxes=[], masks=[], shape=(2, 45)))


def test_building_f1_touching_buildings_polygons_and_boundary(tmp_path):
    # Two touching buildings in the labels: A covers columns 2-5 (4 x 4 =
    # 16 px), B columns 6-11 (4 x 6 = 24 px), rows 2-5.
    path = write_building_file(tmp_path / 't.json',
                               [(2, 2, 6, 6), (6, 2, 12, 6)])
    gt = np.zeros((16, 16), np.uint8)
    gt[2:6, 2:12] = 1
    merged = gt.copy()
    # Reference from the polygons: the merged prediction (40 px) matches B
    # (24 / 40 = 0.6) but not A (16 / 40 = 0.4): TP 1, FP 0, FN 1 ->
    # precision 100, recall 50, F1 2 * 100 * 50 / 150 = 66.67.
    res = run_metric(dict(type='BuildingF1Metric'),
                     [(merged, gt, dict(label_paths=[path]))])
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (1, 0, 1)
    assert res['building_F1'] == pytest.approx(66.67)
    # From the mask alone the two references merge as well: a perfect score
    # that hides the error.
    res = run_metric(dict(type='BuildingF1Metric', gt_source='mask'),
                     [(merged, gt, dict(label_paths=[path]))])
    assert res['building_F1'] == 100.0
    # A boundary-aware prediction (class 3 on the 1-px band of each
    # building) splits them: both match exactly.
    split = gt.copy()
    split[2:6, [2, 5, 6, 11]] = 3
    split[[2, 5], 2:12] = 3
    meta = dict(classes=('background', 'building', 'road', 'boundary'),
                palette=[[0, 0, 0]] * 4)
    res = run_metric(dict(type='BuildingF1Metric'),
                     [(split, gt, dict(label_paths=[path]))], meta)
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (2, 0, 0)
    # Without the boundary class the cores alone are too small to match
    # (A's core is 2 x 2 = 4 px of 16, B's 2 x 4 = 8 px of 24).
    res = run_metric(dict(type='BuildingF1Metric', boundary_class=None),
                     [(split, gt, dict(label_paths=[path]))], meta)
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (0, 2, 2)


def test_building_f1_errors():
    with pytest.raises(ValueError, match="gt_source must be one of .*'boxes'"):
        METRICS.build(dict(type='BuildingF1Metric', gt_source='boxes'))
    with pytest.raises(ValueError, match='connectivity must be 4 or 8, got 6'):
        METRICS.build(dict(type='BuildingF1Metric', connectivity=6))
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError,
                           match=r'iou_threshold must be in \(0, 1\]'):
            METRICS.build(dict(type='BuildingF1Metric', iou_threshold=bad))
    # A threshold of exactly 1 is allowed (perfect matches only).
    METRICS.build(dict(type='BuildingF1Metric', iou_threshold=1))
    metric = METRICS.build(dict(type='BuildingF1Metric', gt_source='polygons'))
    metric.dataset_meta = META
    gt = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match='label_paths'):
        metric.process({}, [sample(gt, gt)])
    metric = METRICS.build(dict(type='BuildingF1Metric',
                                building_class='house'))
    metric.dataset_meta = META
    with pytest.raises(ValueError, match='house'):
        metric.process({}, [sample(gt, gt)])


def test_road_ccq_by_hand():
    gt = np.zeros((20, 40), np.uint8)
    pred = np.zeros_like(gt)
    gt[10, 5:35] = 2     # reference centre line: 30 px
    pred[12, 5:20] = 2   # 2 px off, first half: 15 px
    pred[2, 5:15] = 2    # a false road far away: 10 px
    # One-pixel lines are their own skeletons.
    assert (skeletonize(gt > 0) == (gt > 0)).all()
    assert (skeletonize(pred > 0) == (pred > 0)).all()
    # Buffer 3 px. Predicted: the 15 px of row 12 are 2 px from the
    # reference, the 10 px of row 2 are 8 px away -> 15 of 25 matched.
    # Reference: columns 5-19 are 2 px from row 12; column 20 is
    # sqrt(2^2 + 1) = 2.24 px from (12, 19), column 21 sqrt(8) = 2.83 px,
    # column 22 sqrt(13) = 3.61 px -> 17 of 30 matched.
    res = run_metric(dict(type='RoadCCQMetric', buffer_width=3),
                     [(pred, gt, {})])
    assert res['road_completeness'] == pytest.approx(round(100 * 17 / 30, 2))
    assert res['road_correctness'] == pytest.approx(round(100 * 15 / 25, 2))
    # quality = 15 / (25 + (30 - 17)) = 15 / 38
    assert res['road_quality'] == pytest.approx(round(100 * 15 / 38, 2))
    # Sums over images: a second, perfect image of 30 px adds 30 to every
    # matched and total length.
    res = run_metric(dict(type='RoadCCQMetric', buffer_width=3),
                     [(pred, gt, {}), (gt, gt, {})])
    assert res['road_completeness'] == pytest.approx(round(100 * 47 / 60, 2))
    assert res['road_correctness'] == pytest.approx(round(100 * 45 / 55, 2))
    assert res['road_quality'] == pytest.approx(round(100 * 45 / 68, 2))
    # The default buffer is 3 px: the same figures (with 4 px the reference
    # pixel at 3.61 px would match too).
    res = run_metric(dict(type='RoadCCQMetric'), [(pred, gt, {})])
    assert res == dict(road_completeness=round(100 * 17 / 30, 2),
                       road_correctness=round(100 * 15 / 25, 2),
                       road_quality=round(100 * 15 / 38, 2))
    # A buffer of 1 px matches nothing of the shifted line.
    res = run_metric(dict(type='RoadCCQMetric', buffer_width=1),
                     [(pred, gt, {})])
    assert res['road_completeness'] == 0.0
    assert res['road_correctness'] == 0.0


def test_road_ccq_ignores_width_unlike_iou():
    # A 7-px wide road predicted as its 1-px centre line: pixel IoU 1 / 7,
    # but the centre lines agree.
    gt = np.zeros((21, 40), np.uint8)
    gt[7:14] = 2
    pred = np.zeros_like(gt)
    pred[10] = 2
    res = run_metric(dict(type='RoadCCQMetric'), [(pred, gt, {})])
    assert res['road_correctness'] == 100.0
    assert res['road_completeness'] == 100.0
    # Ignored reference pixels do not count; an empty pair scores 100.
    gt_ignored = gt.copy()
    gt_ignored[:, 20:] = 255
    res = run_metric(dict(type='RoadCCQMetric'), [(pred, gt_ignored, {})])
    assert res['road_correctness'] == 100.0
    empty = np.zeros_like(gt)
    res = run_metric(dict(type='RoadCCQMetric'), [(empty, empty, {})])
    assert res == dict(road_completeness=100.0, road_correctness=100.0,
                       road_quality=100.0)


def test_road_ccq_broken_wide_road_scores_below_iou():
    # A 15-px wide road cut by five 4-px gaps: pixel IoU 200 / 220 = 0.91.
    # Every piece's skeleton stops about half a road width (7 px) short of
    # its ends, 4 px more than the 3-px buffer forgives, so each gap costs
    # about 4 + 2 * 4 = 12 px of the reference centre line.
    gt = np.zeros((40, 260), np.uint8)
    gt[12:27, 20:240] = 2
    pred = gt.copy()
    for c in (60, 100, 140, 180, 220):
        pred[:, c:c + 4] = 0
    iou = 100 * ((gt > 0) & (pred > 0)).sum() / ((gt > 0) | (pred > 0)).sum()
    assert iou == pytest.approx(90.91, abs=0.01)
    res = run_metric(dict(type='RoadCCQMetric', buffer_width=3),
                     [(pred, gt, {})])
    assert res['road_correctness'] == 100.0
    assert res['road_completeness'] < iou - 10


def test_metrics_together_in_an_evaluator():
    """Beside IoUMetric, as a config lists them; no name clashes."""
    evaluator = Evaluator([
        dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
        dict(type='BuildingF1Metric'),
        dict(type='RoadCCQMetric', buffer_width=2),
    ])
    evaluator.dataset_meta = META
    gt = np.zeros((16, 16), np.int64)
    gt[2:6, 2:6] = 1
    gt[10, :] = 2
    evaluator.process([sample(gt, gt)], {})
    res = evaluator.evaluate(1)
    assert res['mIoU'] == 100.0
    assert res['building_F1'] == 100.0
    assert res['road_quality'] == 100.0


def test_metric_errors_name_the_problem():
    with pytest.raises(ValueError, match='buffer_width must be >= 0, got -1'):
        METRICS.build(dict(type='RoadCCQMetric', buffer_width=-1))
    for cfg, name in ((dict(type='RoadCCQMetric'), 'RoadCCQMetric'),
                      (dict(type='BuildingF1Metric'), 'BuildingF1Metric')):
        metric = METRICS.build(cfg)
        metric.dataset_meta = META
        with pytest.raises(ValueError,
                           match=rf'{name}: prediction \(4, 4\) and ground '
                           r'truth \(4, 5\) differ in shape'):
            metric.process({}, [sample(np.zeros((4, 4), np.uint8),
                                       np.zeros((4, 5), np.uint8))])
    metric = METRICS.build(dict(type='RoadCCQMetric', road_class='lane'))
    metric.dataset_meta = META
    with pytest.raises(ValueError, match="road_class 'lane' is not a class"):
        metric.process({}, [sample(np.zeros((4, 4), np.uint8),
                                   np.zeros((4, 4), np.uint8))])


def test_road_ccq_on_a_diagonal_and_class_by_id():
    """Skeleton lengths count pixels: a diagonal of 10 pixels is 10."""
    gt = np.zeros((12, 12), np.uint8)
    pred = np.zeros_like(gt)
    for i in range(10):
        gt[1 + i, 1 + i] = 2
    pred[1:11, 1] = 2          # a vertical line, 10 px
    # Reference pixel (1 + i, 1 + i) is i px from column 1: i = 0, 1, 2
    # match (3 of 10). Prediction pixel (1 + i, 1) is min_j sqrt((i - j)^2
    # + j^2) px from the nearest diagonal pixel: 0, 1, sqrt(2), then
    # sqrt(5) > 2 (3 of 10). Quality 3 / (10 + 7).
    from mmseg_sia.evaluation.metrics.road_ccq import road_skeleton_counts
    ref, ref_hit, ext, ext_hit = road_skeleton_counts(pred == 2, gt == 2,
                                                      2.0)
    assert (ref, ref_hit, ext, ext_hit) == (10, 3, 10, 3)
    res = run_metric(dict(type='RoadCCQMetric', road_class=2,
                          buffer_width=2), [(pred, gt, {})])
    assert res == dict(road_completeness=30.0, road_correctness=30.0,
                       road_quality=round(100 * 3 / 17, 2))


CLASSES_TEXT = "(classes: ['background', 'building', 'road'])"


def test_metric_error_messages_in_full():
    """The messages a user reads, word for word (case included)."""
    gt = np.zeros((4, 4), np.uint8)
    cases = [
        (dict(type='BuildingF1Metric', building_class='house'),
         "BuildingF1Metric: building_class 'house' is not a class of the "
         f"dataset {CLASSES_TEXT}"),
        (dict(type='BuildingF1Metric', boundary_class='edge'),
         "BuildingF1Metric: boundary_class 'edge' is not a class of the "
         f"dataset {CLASSES_TEXT}"),
        (dict(type='RoadCCQMetric', road_class='lane'),
         "RoadCCQMetric: road_class 'lane' is not a class of the dataset "
         f"{CLASSES_TEXT}"),
        (dict(type='BuildingF1Metric', gt_source='polygons'),
         "BuildingF1Metric: gt_source='polygons' needs 'label_paths' in the "
         "sample's metainfo: add it to PackSegInputs' meta_keys"),
    ]
    for cfg, message in cases:
        metric = METRICS.build(cfg)
        metric.dataset_meta = META
        with pytest.raises(ValueError) as info:
            metric.process({}, [sample(gt, gt)])
        assert str(info.value) == message
    # Without dataset classes the list is empty.
    metric = METRICS.build(dict(type='RoadCCQMetric', road_class='lane'))
    with pytest.raises(ValueError) as info:
        metric.process({}, [sample(gt, gt)])
    assert str(info.value).endswith('(classes: [])')
    for cfg, message in [
            (dict(type='BuildingF1Metric', iou_threshold=0),
             'BuildingF1Metric: iou_threshold must be in (0, 1], got 0'),
            (dict(type='BuildingF1Metric', connectivity=6),
             'BuildingF1Metric: connectivity must be 4 or 8, got 6'),
            (dict(type='BuildingF1Metric', gt_source='boxes'),
             "BuildingF1Metric: gt_source must be one of ('auto', 'mask', "
             "'polygons'), got 'boxes'"),
            (dict(type='RoadCCQMetric', buffer_width=-1),
             'RoadCCQMetric: buffer_width must be >= 0, got -1')]:
        with pytest.raises(ValueError) as info:
            METRICS.build(cfg)
        assert str(info.value) == message
    from mmseg_sia.evaluation.metrics._common import to_numpy
    with pytest.raises(ValueError) as info:
        to_numpy(np.zeros((2, 3, 4)))
    assert str(info.value) == ('expected a (1, H, W) or (H, W) map, got '
                               'shape (2, 3, 4)')
    # A (1, W) map is 2-D already; a (1, H, W) tensor loses its first axis.
    assert to_numpy(np.zeros((1, 5))).shape == (1, 5)
    assert to_numpy(torch.zeros(1, 2, 3)).shape == (2, 3)
    # A tensor that requires grad (or lives on a GPU) is detached and
    # copied to the CPU first; numpy cannot read it directly.
    assert to_numpy(torch.ones(1, 2, 3, requires_grad=True)).sum() == 6


def test_metric_options_reach_the_results():
    # prefix and collect_device go to mmengine's BaseMetric.
    for name in ('BuildingF1Metric', 'RoadCCQMetric'):
        metric = METRICS.build(dict(type=name, prefix='val',
                                    collect_device='gpu'))
        assert (metric.prefix, metric.collect_device) == ('val', 'gpu')
    gt = np.zeros((8, 8), np.uint8)
    res = run_metric(dict(type='RoadCCQMetric', prefix='val'),
                     [(gt, gt, {})])
    assert sorted(res) == ['val/road_completeness', 'val/road_correctness',
                           'val/road_quality']
    # buffer_width 0 is allowed (exact centre-line agreement) and so is 0.5.
    for width in (0, 0.5):
        line = np.zeros((5, 9), np.uint8)
        line[2, 1:8] = 2
        res = run_metric(dict(type='RoadCCQMetric', buffer_width=width),
                         [(line, line, {})])
        assert res['road_quality'] == 100.0
    # Roads predicted where the reference has none: 0, not 100.
    res = run_metric(dict(type='RoadCCQMetric'), [(line, np.zeros_like(line), {})])
    assert res == dict(road_completeness=0.0, road_correctness=0.0,
                       road_quality=0.0)
    res = run_metric(dict(type='RoadCCQMetric'), [(np.zeros_like(line), line, {})])
    assert res == dict(road_completeness=0.0, road_correctness=0.0,
                       road_quality=0.0)
    from mmseg_sia.evaluation.metrics.road_ccq import road_skeleton_counts
    shifted = np.zeros((12, 40), bool)
    ref = np.zeros_like(shifted)
    ref[5, 5:35] = True
    shifted[9, 5:35] = True            # 4 px away: outside the default 3
    assert road_skeleton_counts(shifted, ref) == (30, 0, 30, 0)


def test_building_f1_ignore_min_area_connectivity_and_empty_prediction():
    gt = np.zeros((10, 10), np.uint8)
    gt[0:4, 0:4] = 1
    gt[6:10, 6:10] = 255               # ignored
    pred = gt.copy()
    pred[6:10, 6:10] = 1               # a building where the labels ignore
    res = run_metric(dict(type='BuildingF1Metric'), [(pred, gt, {})])
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (1, 0, 0)
    res = run_metric(dict(type='BuildingF1Metric', ignore_index=7),
                     [(pred, gt, {})])
    assert res['building_FP'] == 1
    # min_area drops small predictions (an area equal to it is kept).
    pred = np.zeros_like(gt)
    pred[0:4, 0:4] = 1
    pred[8, 0:3] = 1                   # 3 px
    for min_area, fp in ((0, 1), (3, 1), (4, 0)):
        res = run_metric(dict(type='BuildingF1Metric', min_area=min_area),
                         [(pred, np.where(gt == 255, 0, gt), {})])
        assert res['building_FP'] == fp, min_area
    # connectivity 8 joins pixels touching at a corner.
    diag = np.zeros((6, 6), np.uint8)
    for i in range(4):
        diag[i, i] = 1
    res = run_metric(dict(type='BuildingF1Metric', connectivity=8),
                     [(diag, diag, {})])
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (1, 0, 0)
    res = run_metric(dict(type='BuildingF1Metric'), [(diag, diag, {})])
    assert res['building_TP'] == 4
    # Nothing predicted where there is a building: precision 0 / 0 is 0.
    res = run_metric(dict(type='BuildingF1Metric'),
                     [(np.zeros_like(gt), np.where(gt == 255, 0, gt), {})])
    assert (res['building_precision'], res['building_recall'],
            res['building_F1']) == (0.0, 0.0, 0.0)


def test_building_f1_polygon_reference_reads_buildings_only(tmp_path):
    path = tmp_path / 't.json'
    path.write_text(json.dumps({'type': 'FeatureCollection', 'features': [
        {'type': 'Feature', 'geometry': None, 'properties': {
            'building_imcoords': '2,2,6,2,6,6,2,6', 'road_imcoords': 'EMPTY',
            'object_imcoords': 'EMPTY', 'type_id': '1', 'type_name': 'x'}},
        {'type': 'Feature', 'geometry': None, 'properties': {
            'building_imcoords': 'EMPTY', 'road_imcoords': '0,10,16,10,16,12,'
            '0,12', 'object_imcoords': 'EMPTY', 'type_id': '1',
            'type_name': 'x'}}]}))
    pred = np.zeros((16, 16), np.uint8)
    pred[2:6, 2:6] = 1
    gt = pred.copy()
    gt[10:12] = 2
    # A malformed feature is skipped without a second warning (the data
    # loader warns about it already).
    data = json.loads(path.read_text())
    bad = json.loads(json.dumps(data['features'][0]))
    bad['properties']['building_imcoords'] = '1,2,3'
    data['features'].append(bad)
    path.write_text(json.dumps(data))
    # One path as a plain string, or a list: one reference building.
    for paths in (str(path), [str(path)]):
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            res = run_metric(dict(type='BuildingF1Metric'),
                             [(pred, gt, dict(label_paths=paths))])
        assert (res['building_TP'], res['building_FP'],
                res['building_FN']) == (1, 0, 0)


def test_match_instances_conflicts_do_not_stop_the_matching():
    from mmseg_sia.instances import (InstanceMasks, building_instances,
                                     match_instances)
    pred, gt = strip_instances()
    # Add G3 (columns 50-74, 25 px) with P3 inside it (6 px): IoU 0.24, just
    # below the conflicting pair P1-G1 (0.244) in the greedy order.
    gt = np.pad(gt, ((0, 0), (0, 35)))
    pred = np.pad(pred, ((0, 0), (0, 35)))
    gt[0, 50:75] = 1
    pred[0, 60:66] = 1
    p = building_instances(pred, 1)
    g = InstanceMasks.from_labels(building_instances(gt, 1).labels)
    assert match_instances(p, g, 0.2) == (3, 0, 0)
    # A reference with no prediction on it, listed first, does not stop
    # the others from matching.
    lone = InstanceMasks(boxes=[(slice(0, 1), slice(76, 80))] + g.boxes,
                         masks=[np.ones((1, 4), bool)] + g.masks,
                         shape=g.shape)
    assert match_instances(p, lone, 0.2) == (3, 0, 1)
    # Two predictions on one reference: it is matched once.
    two = np.zeros((1, 20), np.uint8)
    two[0, 0:9] = 1
    two[0, 10:20] = 1
    one = np.zeros((1, 20), np.uint8)
    one[0, :] = 1
    assert match_instances(
        building_instances(two, 1),
        InstanceMasks.from_labels(building_instances(one, 1).labels),
        0.2) == (1, 1, 0)


def test_metrics_log_their_summary(monkeypatch):
    """The summary line goes to the current MMLogger (the training log)."""
    from mmengine.logging import MMLogger

    import mmseg_sia.evaluation.metrics.building_f1 as f1_module
    import mmseg_sia.evaluation.metrics.road_ccq as ccq_module
    logged = []
    for module in (f1_module, ccq_module):
        monkeypatch.setattr(module, 'print_log',
                            lambda msg, logger=None: logged.append(
                                (msg, logger)))
    pred, gt = strip_instances()
    run_metric(dict(type='BuildingF1Metric'), [(pred, gt, {})])
    road = np.zeros((5, 9), np.uint8)
    road[2, 1:8] = 2
    run_metric(dict(type='RoadCCQMetric', buffer_width=2.5),
               [(road, road, {})])
    logger = MMLogger.get_current_instance()
    assert logged == [
        ('building objects (IoU >= 0.5): F1 50.00, precision 50.00, recall '
         '50.00 (TP 1, FP 1, FN 1)', logger),
        ('roads (buffer 2.5 px): completeness 100.00, correctness 100.00, '
         'quality 100.00 (reference 7 px, extracted 7 px of centre line)',
         logger)]


def test_building_f1_mask_reference_with_a_boundary_class():
    """Without label files the reference map is split the same boundary-aware
    way as the prediction."""
    gt = np.zeros((16, 16), np.uint8)
    gt[2:6, 2:12] = 1
    gt[2:6, [2, 5, 6, 11]] = 3
    gt[[2, 5], 2:12] = 3
    meta = dict(classes=('background', 'building', 'road', 'boundary'),
                palette=[[0, 0, 0]] * 4)
    res = run_metric(dict(type='BuildingF1Metric'), [(gt, gt, {})], meta)
    assert (res['building_TP'], res['building_FP'], res['building_FN']) == \
        (2, 0, 0)


def test_label_files_read_once_per_tile_and_again_when_changed(
        tmp_path, monkeypatch):
    import mmseg_sia.evaluation.metrics._common as common
    reads = []
    real = common.read_label_file

    def counting(path, **kwargs):
        reads.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(common, 'read_label_file', counting)
    common._read_cached.cache_clear()
    path = write_building_file(tmp_path / 't.json', [(2, 2, 6, 6)])
    pred = np.zeros((16, 16), np.uint8)
    pred[2:6, 2:6] = 1
    res = run_metric(dict(type='BuildingF1Metric'),
                     [(pred, pred.copy(), dict(label_paths=[path]))])
    assert res['building_TP'] == 1
    # Building F1 and APLS of one tile share the one read.
    run_metric(dict(type='APLSMetric'),
               [(pred, pred.copy(), dict(label_paths=[path]))])
    assert reads == [path]
    # The file changes: the new content is read (two buildings now, the
    # prediction finds one of them).
    write_building_file(tmp_path / 't.json', [(2, 2, 6, 6), (8, 8, 12, 12)])
    res = run_metric(dict(type='BuildingF1Metric'),
                     [(pred, pred.copy(), dict(label_paths=[path]))])
    assert (res['building_TP'], res['building_FN']) == (1, 1)
    assert reads == [path, path]
