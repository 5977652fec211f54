"""APLS on hand-made networks whose scores are worked out by hand.

No reference implementation installs here: CosmiQ's ``apls`` 0.1.0 on the
package index pins ``GDAL==2.4.0`` and imports ``osgeo``, ``fiona``,
``geopandas`` and ``utm`` when it is imported, so the expected values below
are computed by hand from the definition (Van Etten et al. 2018) as the
reference code applies it. ``tools/dev/apls_reference_check.py`` runs that
code from a downloaded wheel, with stand-ins for the unused imports: it
gives these same values (and agrees on mask-derived networks) to six
decimals.
"""
import networkx as nx
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from mmseg_sia.evaluation import apls_score
from mmseg_sia.roads import mask_to_network

META = dict(classes=('background', 'building', 'road'),
            palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]])


def net(nodes, edges):
    """A network in metres: node -> (x, y), straight edges."""
    graph = nx.MultiGraph()
    for name, (x, y) in nodes.items():
        graph.add_node(name, x=x, y=y)
    graph.add_edges_from(edges)
    return graph


LINE3 = net({'A': (0, 0), 'B': (100, 0), 'C': (200, 0)},
            [('A', 'B'), ('B', 'C')])
U = {'A': (0, 0), 'B': (100, 0), 'C': (100, 100), 'D': (0, 100)}


def test_identical_networks_score_one():
    r = apls_score(LINE3, LINE3.copy())
    assert (r.apls, r.gt_onto_pred, r.pred_onto_gt) == (1.0, 1.0, 1.0)


def test_missing_link():
    # Ground truth A-B-C (100 m each), prediction A-B only; no midpoints.
    # GT onto prediction: C (100 m from the prediction) has no counterpart,
    # so of the 6 ordered routes A-B, B-A score 0 and the 4 with C score 1:
    # 1 - 4/6 = 1/3. Prediction onto GT: A-B and B-A both exact: 1.
    # APLS = hmean(1/3, 1) = 2 * (1/3) / (4/3) = 1/2.
    pred = net({'A': (0, 0), 'B': (100, 0)}, [('A', 'B')])
    r = apls_score(LINE3, pred, node_spacing_m=None)
    assert r.gt_onto_pred == pytest.approx(1 / 3)
    assert r.pred_onto_gt == 1.0
    assert r.apls == pytest.approx(1 / 2)
    assert (r.gt_routes, r.pred_routes) == (6, 2)


def test_spurious_link():
    # Ground truth: a U of three 100 m sides A-B-C-D; the prediction adds
    # the fourth side A-D, a shortcut. GT onto prediction: A-D is 300 m in
    # the GT and 100 m predicted: |300 - 100| / 300 = 2/3 for A-D and D-A,
    # 0 for the other 10 routes: 1 - (4/3) / 12 = 8/9. Prediction onto GT:
    # A-D is 100 m predicted and 300 m in the GT: min(1, 200/100) = 1, twice:
    # 1 - 2/12 = 5/6. APLS = hmean(8/9, 5/6) = 80/93.
    gt = net(U, [('A', 'B'), ('B', 'C'), ('C', 'D')])
    pred = net(U, [('A', 'B'), ('B', 'C'), ('C', 'D'), ('A', 'D')])
    r = apls_score(gt, pred, node_spacing_m=None)
    assert r.gt_onto_pred == pytest.approx(8 / 9)
    assert r.pred_onto_gt == pytest.approx(5 / 6)
    assert r.apls == pytest.approx(80 / 93)


def test_gap_with_midpoints():
    # Ground truth: one 200 m road; prediction: the same road with a 10 m
    # gap in the middle (0-95 and 105-200). With control nodes every 50 m,
    # the GT has 5 (0, 50, 100, 150, 200): 100 is 5 m from the prediction,
    # beyond the 4 m snapping distance. Of the 20 ordered GT routes, only
    # 0-50 and 150-200 (both ways) survive: 1 - 16/20 = 0.2. The prediction
    # has 6 control nodes (0, 47.5, 95 and 105, 152.5, 200: one midpoint per
    # 95 m edge), 12 routes within its pieces, all exact on the GT: 1.
    # APLS = hmean(0.2, 1) = 1/3.
    gt = net({'A': (0, 0), 'B': (200, 0)}, [('A', 'B')])
    pred = net({'A': (0, 0), 'P': (95, 0), 'Q': (105, 0), 'B': (200, 0)},
               [('A', 'P'), ('Q', 'B')])
    r = apls_score(gt, pred, node_spacing_m=50)
    assert (r.gt_routes, r.pred_routes) == (20, 12)
    assert r.gt_onto_pred == pytest.approx(0.2)
    assert r.pred_onto_gt == 1.0
    assert r.apls == pytest.approx(1 / 3)
    # Snapping 5 m away lets the midpoint at 100 land on the end of one
    # piece (95, say): 100-0 becomes 95 m for 100 (0.05) and 100-50 45 m
    # for 50 (0.1), both ways; the other 12 cross-gap routes still score 1:
    # 1 - (12 + 2 * 0.05 + 2 * 0.1) / 20 = 0.385.
    r = apls_score(gt, pred, node_spacing_m=50, snap_distance_m=5)
    assert r.gt_onto_pred == pytest.approx(0.385)


def test_path_length_error_and_snapping_distance():
    # The prediction runs 3 m beside the GT and takes a 40 m detour:
    # A(0,3)-M(50,43)-B(100,3) is 2 * hypot(50, 40) = 128.06 m for 100 m.
    gt = net({'A': (0, 0), 'B': (100, 0)}, [('A', 'B')])
    pred = net({'A': (0, 3), 'M': (50, 43), 'B': (100, 3)},
               [('A', 'M'), ('M', 'B')])
    detour = 2 * np.hypot(50, 40)
    r = apls_score(gt, pred, node_spacing_m=None)
    # GT onto prediction: A and B snap onto the prediction's ends.
    assert r.gt_onto_pred == pytest.approx(1 - (detour - 100) / 100)
    # Prediction onto GT: M is 43 m away, so its 4 routes count 1; A-B and
    # B-A are 100 m on the GT for 128 m predicted.
    assert r.pred_onto_gt == pytest.approx(
        1 - (4 + 2 * (detour - 100) / detour) / 6)
    # Beyond the snapping distance nothing matches.
    far = apls_score(gt, pred, node_spacing_m=None, snap_distance_m=2.9)
    assert (far.apls, far.gt_onto_pred, far.pred_onto_gt) == (0, 0, 0)


def test_short_routes_and_empty_networks():
    stub = net({'A': (0, 0), 'B': (8, 0)}, [('A', 'B')])
    empty = nx.MultiGraph()
    # No route of 10 m or more on either side: nothing to find.
    assert apls_score(stub, empty).apls == 1.0
    assert apls_score(empty, empty).apls == 1.0
    assert apls_score(LINE3, empty).apls == 0.0
    assert apls_score(empty, LINE3).apls == 0.0
    # min_path_length_m=5 makes the stub a route, which the empty
    # prediction misses.
    assert apls_score(stub, empty, min_path_length_m=5).gt_onto_pred == 0.0


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match='snap_distance_m must be'):
        apls_score(LINE3, LINE3, snap_distance_m=-1)
    with pytest.raises(ValueError, match='node_spacing_m must be > 0'):
        apls_score(LINE3, LINE3, node_spacing_m=0)
    with pytest.raises(ValueError, match='gt_source must be one of'):
        METRICS.build(dict(type='APLSMetric', gt_source='x'))
    with pytest.raises(ValueError, match='pixel_size must be a positive'):
        METRICS.build(dict(type='APLSMetric', pixel_size=0))
    # The metric checks its distances when it is built, not on a sample.
    with pytest.raises(ValueError, match='^APLSMetric: min_path_length_m '
                       'must be a finite number >= 0, got nan'):
        METRICS.build(dict(type='APLSMetric', min_path_length_m=float('nan')))
    with pytest.raises(ValueError, match='^APLSMetric: node_spacing_m must '
                       'be > 0 or None, got 0'):
        METRICS.build(dict(type='APLSMetric', node_spacing_m=0))


def road_mask(gaps=()):
    """A 256 px tile: a 15 px road across and a 9 px one down."""
    seg = np.zeros((256, 256), np.uint8)
    seg[120:135, 10:246] = 2
    seg[10:246, 60:69] = 2
    for x in gaps:
        seg[120:135, x:x + 6] = 0
    return seg


def sample(pred, gt, **meta):
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    s.set_metainfo(meta)
    return s.to_dict()


def test_metric_on_masks_gap_joining_restores_the_route():
    gt = road_mask()
    broken = road_mask(gaps=(150, ))
    scores = {}
    for gap in (0, 10):
        metric = METRICS.build(dict(type='APLSMetric', pixel_size=0.5,
                                    network=dict(max_gap_m=gap)))
        metric.dataset_meta = META
        metric.process({}, [sample(gt, gt), sample(broken, gt)])
        scores[gap] = metric.evaluate(2)
    # A perfect tile scores 100, the broken one much less without joining
    # and (almost) 100 once the 6 px = 3 m break is joined.
    gt_net = mask_to_network(gt == 2, 0.5, max_gap_m=0)
    one = apls_score(gt_net, mask_to_network(broken == 2, 0.5, max_gap_m=0))
    assert one.apls < 0.75
    assert scores[10]['road_APLS'] > 97
    assert set(scores[0]) == {'road_APLS', 'road_APLS_gt_onto_pred',
                              'road_APLS_pred_onto_gt'}
    # The mean over tiles: the perfect tile counts 100.
    assert scores[0]['road_APLS'] == pytest.approx(
        round(100 * (1 + one.apls) / 2, 2))


def test_metric_ignores_ignored_pixels_and_reads_polygons(tmp_path):
    import json
    gt = road_mask()
    pred = gt.copy()
    pred[200:256, :] = 2      # spurious road, but ignored in the GT
    gt_ign = gt.copy()
    gt_ign[195:256, :] = 255
    metric = METRICS.build(dict(type='APLSMetric', pixel_size=0.5))
    metric.dataset_meta = META
    # With polygons: the GT road drawn from the label file, the same roads.
    coords = ['10,120,246,120,246,135,10,135', '60,10,69,10,69,246,60,246']
    path = tmp_path / 'road.json'
    path.write_text(json.dumps({'type': 'FeatureCollection', 'features': [
        {'type': 'Feature', 'geometry': {'type': 'Polygon',
                                         'coordinates': [[0, 0, 0]]},
         'properties': {'road_imcoords': c, 'building_imcoords': 'EMPTY',
                        'object_imcoords': 'EMPTY', 'type_id': '3',
                        'type_name': 'Secondary'}} for c in coords]}))
    ignored = metric.score_sample(pred, gt_ign, 2)
    polys = metric.score_sample(gt, np.zeros_like(gt), 2, [str(path)])
    assert polys.apls == pytest.approx(1.0)
    # The ignored band cuts the vertical GT road's bottom too, so compare
    # with the prediction clipped the same way.
    clipped = np.where(gt_ign == 255, 0, gt)
    ref = apls_score(mask_to_network(gt_ign == 2, 0.5),
                     mask_to_network(clipped == 2, 0.5))
    assert ignored.apls == pytest.approx(ref.apls)
    with pytest.raises(ValueError, match="needs 'label_paths'"):
        METRICS.build(dict(type='APLSMetric', gt_source='polygons')
                      ).score_sample(gt, gt, 2)


def test_test_tool_reports_apls_on_the_sample(tmp_path):
    """tools/test.py with the sample config prints APLS beside mIoU."""
    import os
    import os.path as osp
    import re
    import subprocess
    import sys

    from mmengine.config import Config
    from mmengine.runner import save_checkpoint

    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg_path = osp.join(repo, 'configs', 'sia', 'fpn_r18_sia-sample.py')
    cfg = Config.fromfile(cfg_path)
    assert any(m['type'] == 'APLSMetric' for m in cfg.test_evaluator)
    torch.manual_seed(0)
    model = __import__('mmseg.registry', fromlist=['MODELS']).MODELS.build(
        cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'random.pth')
    save_checkpoint(model.state_dict(), ckpt)
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1',
               PYTHONPATH=repo)
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', cfg_path, ckpt, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         'test_dataloader.num_workers=0'],
        cwd=repo, env=env, capture_output=True, text=True, timeout=400)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    found = re.search(r'Iter\(test\).*mIoU: [\d.]+.*road_APLS: ([\d.]+)', out)
    assert found, out[-3000:]
    assert 0 <= float(found.group(1)) <= 100
    assert 'road networks (APLS, snap 4 m' in out
