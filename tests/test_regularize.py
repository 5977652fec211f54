"""Regularized building outlines (mmseg_sia.regularize)."""
import glob
import os.path as osp

import numpy as np
import pytest
from shapely.geometry import Polygon

from mmseg_sia.evaluation import BuildingF1Metric
from mmseg_sia.labels import polygon_coverage, rasterize_label_files
from mmseg_sia.regularize import (dominant_orientation, regularize_polygon,
                                  regularize_polygons)
from mmseg_sia.vectorize import (binary_to_polygons, polygons_to_mask,
                                 ring_signed_area)

SAMPLE = osp.join(osp.dirname(__file__), '..', 'data', 'sia_sample')


def rotated(points, degrees, centre=(50, 50)):
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.asarray(points, float) @ rot.T + centre


def pixel_outline(ring, shape=(100, 100)):
    """The pixel outline a mask gives of a polygon."""
    polys = binary_to_polygons(polygon_coverage([ring], *shape))
    assert len(polys) == 1
    return polys[0]


def corner_angles(ring):
    """Interior angles in degrees at each vertex of an open ring."""
    a = np.roll(ring, 1, axis=0) - ring
    b = np.roll(ring, -1, axis=0) - ring
    cos = (a * b).sum(1) / np.hypot(*a.T) / np.hypot(*b.T)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def iou(a, b):
    inter = a.intersection(b).area
    return inter / (a.area + b.area - inter)


def test_rotated_rectangle_becomes_a_rectangle():
    truth = rotated([[-30, -15], [30, -15], [30, 15], [-30, 15]], 30)
    outline = pixel_outline(truth)
    assert len(outline.exterior) > 40  # a staircase
    r = regularize_polygon(outline)
    ring = r.polygon.exterior
    assert r.regularized and len(ring) == 4
    np.testing.assert_allclose(corner_angles(ring), 90, atol=1e-6)
    # Oriented within two degrees of the true walls.
    assert abs(np.degrees(dominant_orientation(ring)) - 30) < 2
    # Closer to the true rectangle than the staircase, and its reported IoU
    # is the one against the pixel outline.
    true_poly = Polygon(truth)
    assert iou(Polygon(ring), true_poly) > 0.95
    assert iou(Polygon(ring), true_poly) >= iou(
        Polygon(outline.exterior), true_poly) - 0.01
    assert r.iou == pytest.approx(iou(Polygon(ring),
                                      Polygon(outline.exterior)))
    # Same ring orientation as the vectorizer's (clockwise on screen).
    assert ring_signed_area(ring) > 0


def test_axis_aligned_l_shape_is_kept_exactly():
    mask = np.zeros((40, 40), bool)
    mask[5:30, 5:15] = True
    mask[20:30, 15:35] = True
    outline, = binary_to_polygons(mask)
    r = regularize_polygon(outline)
    assert r.iou == pytest.approx(1.0, abs=1e-12)
    assert Polygon(r.polygon.exterior).equals_exact(
        Polygon(outline.exterior), tolerance=1e-9, normalize=True)
    assert len(r.polygon.exterior) == 6


def test_rotated_l_shape_keeps_its_six_right_angles():
    truth = rotated([[-30, -20], [0, -20], [0, 0], [30, 0], [30, 20],
                     [-30, 20]], 20)
    r = regularize_polygon(pixel_outline(truth))
    ring = r.polygon.exterior
    assert len(ring) == 6
    angles = np.sort(corner_angles(ring))
    np.testing.assert_allclose(angles, 90, atol=1e-6)
    assert iou(Polygon(ring), Polygon(truth)) > 0.93


def test_diagonal_wall_is_kept():
    # A right triangle: its legs snap, its 45 degree side is not a right
    # angle to anything and keeps its direction.
    truth = np.array([[10, 10], [80, 10], [10, 80]], float)
    r = regularize_polygon(pixel_outline(truth))
    ring = r.polygon.exterior
    assert len(ring) == 3
    np.testing.assert_allclose(np.sort(corner_angles(ring)), [45, 45, 90],
                               atol=1.5)


def test_courtyard_hole_is_regularized_too():
    outer = rotated([[-35, -25], [35, -25], [35, 25], [-35, 25]], 15)
    inner = rotated([[-15, -10], [15, -10], [15, 10], [-15, 10]], 15)
    cover = polygon_coverage([outer], 100, 100) & \
        ~polygon_coverage([inner], 100, 100)
    outline, = binary_to_polygons(cover)
    r = regularize_polygon(outline)
    assert len(r.polygon.exterior) == 4 and len(r.polygon.holes) == 1
    assert len(r.polygon.holes[0]) == 4
    np.testing.assert_allclose(corner_angles(r.polygon.holes[0]), 90,
                               atol=1e-6)
    assert ring_signed_area(r.polygon.holes[0]) < 0
    assert iou(Polygon(r.polygon.exterior, r.polygon.holes),
               Polygon(outer, [inner])) > 0.9


def test_min_iou_falls_back_to_the_simplified_outline():
    truth = rotated([[-30, -15], [30, -15], [30, 15], [-30, 15]], 30)
    outline = pixel_outline(truth)
    r = regularize_polygon(outline, min_iou=1.0)
    assert not r.regularized
    assert len(r.polygon.exterior) < len(outline.exterior)
    assert r.iou == pytest.approx(
        iou(Polygon(r.polygon.exterior), Polygon(outline.exterior)))


def test_bad_parameters_are_named():
    outline = pixel_outline(np.array([[10, 10], [30, 10], [30, 30],
                                      [10, 30]], float))
    with pytest.raises(ValueError, match=r'angle_tolerance must be in'):
        regularize_polygon(outline, angle_tolerance=60)
    with pytest.raises(ValueError, match=r'min_iou must be in \[0, 1\]'):
        regularize_polygon(outline, min_iou=2)
    with pytest.raises(ValueError, match='merge_px must be >= 0'):
        regularize_polygon(outline, merge_px=-1)


def test_building_f1_does_not_drop_on_the_sample():
    """F1 at IoU 0.5 of regularized label masks against the label polygons.

    The label mask of each bundled sample tile, vectorized and regularized
    with the defaults and drawn again, must match the label polygons at
    least as well as the mask itself does.
    """
    metric = BuildingF1Metric(gt_source='polygons')
    counts = {'pixel': np.zeros(3, int), 'regular': np.zeros(3, int)}
    ious = []
    files = sorted(glob.glob(osp.join(SAMPLE, 'labels', 'building',
                                      '*.json')))
    assert len(files) >= 20
    for path in files:
        seg, _ = rasterize_label_files([path], (256, 256), warn=False)
        outlines = binary_to_polygons(seg == 1)
        results = regularize_polygons(outlines)
        ious += [r.iou for r in results]
        regular = polygons_to_mask({1: [r.polygon for r in results]},
                                   seg.shape)
        for name, pred in (('pixel', seg), ('regular', regular)):
            counts[name] += metric.count_sample(pred, seg, 1,
                                                label_paths=[path])

    def f1(tp, fp, fn):
        return 2 * tp / (2 * tp + fp + fn)

    assert f1(*counts['regular']) >= f1(*counts['pixel'])
    assert min(ious) >= 0.8  # the default min_iou


def test_pixel_rectangles_come_back_exactly():
    # Specks and rectangular buildings along the pixel grid are already
    # straight and square: their own corners, without rounding noise.
    mask = np.zeros((12, 1000), bool)
    mask[1, 949] = True
    mask[0, 597] = True
    mask[4:9, 0:30] = True
    polys = binary_to_polygons(mask)
    assert len(polys) == 3
    for poly, result in zip(polys, regularize_polygons(polys)):
        assert result.regularized and result.iou == 1.0
        assert sorted(map(tuple, result.polygon.exterior.tolist())) == \
            sorted(map(tuple, poly.exterior.tolist()))
        assert ring_signed_area(result.polygon.exterior) == \
            ring_signed_area(poly.exterior)
