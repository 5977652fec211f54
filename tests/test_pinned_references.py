"""Checks that used to compare code with itself, redone against values
worked out by hand or by an independent library (issue 14).

- ``compat.point_sample``: bilinear interpolation written out by hand
  (``align_corners=False``, zero padding), not the ``grid_sample`` call it
  wraps;
- ``class_weights`` and the statistics table: numbers worked out by hand;
- ``rasterize_label_files``: the expected map drawn by hand from the
  pixel-centre rule and matplotlib's ``Path.contains_points``, not with
  ``polygon_coverage``, which it calls;
- the mmcv compatibility layer: with full mmcv installed, its compiled ops
  stay usable (the old test asserted nothing in that case).
"""
import json
import math

import cv2
import numpy as np
import pytest
import torch
from matplotlib.path import Path

from mmseg_sia import compat
from mmseg_sia.dataset_tools import class_weights, dataset_stats
from mmseg_sia.labels import rasterize_label_files


# --------------------------------------------------------------------------
# point_sample
# --------------------------------------------------------------------------
def bilinear_by_hand(feat, x, y):
    """Sample ``feat`` (C, H, W) at normalised ``(x, y)`` in [0, 1]:
    pixel (r, c) holds the value at (c + 0.5, r + 0.5) of a W x H plane,
    neighbours outside the map count as 0."""
    channels, height, width = feat.shape
    u, v = x * width - 0.5, y * height - 0.5
    c0, r0 = math.floor(u), math.floor(v)
    fu, fv = u - c0, v - r0
    out = np.zeros(channels)
    for dr, wr in ((0, 1 - fv), (1, fv)):
        for dc, wc in ((0, 1 - fu), (1, fu)):
            r, c = r0 + dr, c0 + dc
            if 0 <= r < height and 0 <= c < width:
                out += wr * wc * feat[:, r, c]
    return out


def test_point_sample_is_bilinear_interpolation():
    rng = np.random.default_rng(0)
    feat = rng.normal(size=(2, 3, 9, 11))
    # Inner points, points in the outer half pixel (partly zero-padded) and
    # the exact corners of the plane.
    pts = np.concatenate([rng.uniform(0, 1, (2, 13, 2)),
                          np.array([[[0.01, 0.5], [0.99, 0.02], [0, 0],
                                     [1, 1]]] * 2)], axis=1)
    got = compat.point_sample(torch.from_numpy(feat),
                              torch.from_numpy(pts)).numpy()
    assert got.shape == (2, 3, 17)
    for n in range(2):
        for p in range(17):
            np.testing.assert_allclose(
                got[n, :, p], bilinear_by_hand(feat[n], *pts[n, p]),
                rtol=1e-12, atol=1e-12)
    # Worked out on a 2 x 2 map [[1, 2], [3, 4]]: the centre (0.5, 0.5) is
    # the mean 2.5; the plane's corner (0, 0) is a quarter of pixel (0, 0),
    # the rest being padding: 0.25.
    small = torch.tensor([[[[1., 2.], [3., 4.]]]])
    out = compat.point_sample(small, torch.tensor([[[0.5, 0.5], [0, 0],
                                                    [0.25, 0.75]]]))
    torch.testing.assert_close(out, torch.tensor([[[2.5, 0.25, 3.0]]]))
    # A grid of points keeps its (Hgrid, Wgrid) shape.
    grid = torch.full((1, 2, 3, 2), 0.5)
    assert compat.point_sample(small, grid).shape == (1, 1, 2, 3)


# --------------------------------------------------------------------------
# class weights
# --------------------------------------------------------------------------
def test_class_weights_by_hand():
    w_median, w_log = class_weights([80, 15, 5])
    # Frequencies 0.8, 0.15, 0.05; median 0.15.
    np.testing.assert_allclose(w_median, [0.1875, 1.0, 3.0], rtol=1e-12)
    # ENet's 1 / ln(1.02 + f): 1 / ln 1.82, 1 / ln 1.17, 1 / ln 1.07.
    np.testing.assert_allclose(
        w_log, [1 / math.log(1.82), 1 / math.log(1.17), 1 / math.log(1.07)],
        rtol=1e-12)
    np.testing.assert_allclose(w_log, [1.6699049, 6.3692747, 14.7800765],
                               rtol=1e-7)
    # An even number of classes: the median is the mean of the middle two
    # (0.2 and 0.05 -> 0.125).
    w_median, _ = class_weights([70, 20, 5, 5])
    np.testing.assert_allclose(w_median, [0.125 / 0.7, 0.625, 2.5, 2.5],
                               rtol=1e-12)
    # A class without pixels gets 0 and is left out of the median
    # (frequencies 0.5, 0, 0.5).
    w_median, w_log = class_weights([10, 0, 10])
    np.testing.assert_array_equal(w_median, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(
        w_log, [1 / math.log(1.52), 0.0, 1 / math.log(1.52)], rtol=1e-12)
    w_median, w_log = class_weights([0, 0, 0])
    np.testing.assert_array_equal(w_median, [0, 0, 0])
    np.testing.assert_array_equal(w_log, [0, 0, 0])


def label_file(path, key, coords):
    features = [{'type': 'Feature',
                 'geometry': {'type': 'Polygon', 'coordinates': []},
                 'properties': {'object_imcoords': 'EMPTY',
                                'building_imcoords': 'EMPTY',
                                'road_imcoords': 'EMPTY', key: c,
                                'image_id': 'x.png', 'type_id': '1',
                                'type_name': 'x'}} for c in coords]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'type': 'FeatureCollection',
                                'features': features}))
    return str(path)


def test_statistics_table_weights_by_hand(tmp_path):
    """One 8 x 8 tile: a 4 x 4 building (16 px), a 2 x 8 road (16 px)
    crossing it over 2 x 2 = 4 px (road wins), background 36."""
    root = tmp_path / 'data'
    (root / 'images').mkdir(parents=True)
    cv2.imwrite(str(root / 'images' / 'T.png'), np.zeros((8, 8, 3),
                                                          np.uint8))
    label_file(root / 'labels' / 'building' / 'T.json', 'building_imcoords',
               ['1,1,5,1,5,5,1,5'])
    label_file(root / 'labels' / 'road' / 'T.json', 'road_imcoords',
               ['0,4,8,4,8,6,0,6'])
    stats = dataset_stats(str(root), None, progress=False)
    pixels = stats.pixels[stats.pixels['split'] == 'all']
    # Building: rows 1-4, columns 1-4 (16) less rows 4 (4 px) = 12.
    assert pixels['pixels'].tolist() == [36, 12, 16]
    # Frequencies 36/64, 12/64, 16/64; median 16/64.
    np.testing.assert_allclose(pixels['weight_median_freq'],
                               [16 / 36, 16 / 12, 1.0], rtol=1e-9)


# --------------------------------------------------------------------------
# rasterize_label_files
# --------------------------------------------------------------------------
def centres_inside(points, height, width):
    """Pixels whose centre lies inside the polygon (matplotlib)."""
    rows, cols = np.mgrid[0:height, 0:width]
    centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], 1)
    return Path(np.asarray(points, float)).contains_points(
        centres).reshape(height, width)


def test_rasterize_label_files_drawn_by_hand(tmp_path):
    building = label_file(tmp_path / 'building' / 'S.json',
                          'building_imcoords', [
                              # x 2.3-9.7, y 1.2-6.6: columns 2-9 (centres
                              # 2.5-9.5), rows 1-6 (1.5-6.5).
                              '2.3,1.2,9.7,1.2,9.7,6.6,2.3,6.6',
                              # A triangle.
                              '12.2,1.1,22.9,1.1,12.2,11.8'])
    road = label_file(tmp_path / 'road' / 'S.json', 'road_imcoords', [
        # x 0-24 (past the right edge: clipped), y 5.1-7.9: rows 5-7.
        '-2.8421709430404014e-14,5.1,24,5.1,24,7.9,0,7.9'])
    seg, files = rasterize_label_files([building, road], (12, 20))
    expected = np.zeros((12, 20), np.uint8)
    expected[1:7, 2:10] = 1
    triangle = [[12.2, 1.1], [22.9, 1.1], [12.2, 11.8]]
    expected[centres_inside(triangle, 12, 20)] = 1
    expected[5:8, :] = 2             # road over building
    np.testing.assert_array_equal(seg, expected)
    # The triangle's hypotenuse x + y = 24 passes no pixel centre; worked
    # out by hand for row 3 (centre y 3.5): columns 12 to 19 (x 12.5-19.5 <
    # 20.5).
    assert seg[3].tolist() == [0, 0] + [1] * 8 + [0, 0] + [1] * 8
    assert [f.num_features for f in files] == [2, 1]
    # Priority (highest first): buildings over roads where asked.
    seg, _ = rasterize_label_files([building, road], (12, 20),
                                   priority=(1, 2))
    assert seg[5, 3] == 1 and seg[5, 0] == 2


# --------------------------------------------------------------------------
# mmcv: lite or full
# --------------------------------------------------------------------------
def test_optional_ops_with_lite_or_full_mmcv():
    import mmseg.models  # noqa: F401
    from mmseg.models.decode_heads import cc_head, psa_head
    if compat.has_mmcv_ext():
        # Full mmcv: its compiled ops are what mmseg gets.
        from mmcv.ops import RoIAlign  # noqa: F401
        assert cc_head.CrissCrossAttention is not None
        assert psa_head.PSAMask is not None
        import mmcv.ops
        assert '__mmseg_sia_lite__' not in vars(mmcv.ops)
    else:
        # CCNet's attention is pure PyTorch in mmcv 2.1: mmcv's own module.
        assert cc_head.CrissCrossAttention is not None
        assert psa_head.PSAMask is None
        with pytest.raises(ModuleNotFoundError,
                           match='mmcv.ops.RoIAlign needs the compiled ops'):
            from mmcv.ops import RoIAlign  # noqa: F401,F811
    # Either way the plugin's point_sample and sigmoid_focal_loss work.
    from mmcv.ops import point_sample
    small = torch.tensor([[[[1., 2.], [3., 4.]]]])
    torch.testing.assert_close(
        point_sample(small, torch.tensor([[[0.5, 0.5]]])),
        torch.tensor([[[2.5]]]))
