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


def random_outlines(seed, n_masks=3, size=160):
    """Pixel outlines of random masks: rotated rectangles, L-shapes,
    triangles, ellipses and star-shaped polygons, some cut out of others
    (holes and notches), with the outline roughened in some masks."""
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    outlines = []
    for _ in range(n_masks):
        mask = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(3, 10))):
            w, h = rng.uniform(1, 30, 2)
            kind = rng.integers(5)
            if kind == 0:
                pts = [[-w, -h], [w, -h], [w, h], [-w, h]]
            elif kind == 1:
                pts = [[-w, -h], [0, -h], [0, 0], [w, 0], [w, h], [-w, h]]
            elif kind == 2:
                pts = [[-w, -h], [w, -h], [-w, h]]
            else:
                t = np.sort(rng.uniform(0, 2 * np.pi, 40 if kind == 3 else 9))
                r = 1 if kind == 3 else rng.uniform(0.3, 1, 9)
                pts = np.c_[w * r * np.cos(t), h * r * np.sin(t)]
            ring = rotated(pts, rng.uniform(0, 180),
                           rng.uniform(10, size - 10, 2))
            cover = polygon_coverage([ring], size, size)
            mask = mask & ~cover if rng.random() < 0.3 else mask | cover
        p = rng.choice([0, 0.2, 0.4])
        edge = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)
        mask ^= edge & (rng.random(mask.shape) < p)
        outlines += binary_to_polygons(mask)
    return outlines


def assert_same_results(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.regularized == b.regularized
        assert a.iou == b.iou
        assert a.polygon.class_id == b.polygon.class_id
        assert len(a.polygon.holes) == len(b.polygon.holes)
        for ra, rb in zip(a.polygon.rings(), b.polygon.rings()):
            np.testing.assert_array_equal(ra, rb)


PARAMETERS = [{}, dict(angle_tolerance=0, min_iou=0.95),
              dict(simplify_px=0, merge_px=0),
              dict(angle_tolerance=45, simplify_px=4, max_shift_px=0)]


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_many_outlines_at_once_equal_one_at_a_time(seed):
    # All outlines of a call are regularized together (one simplification
    # call, the edges of all rings in one array, the IoUs of all polygons
    # at once): each result must be the one its outline gets alone.
    outlines = random_outlines(seed)
    assert len(outlines) > 40
    assert sum(len(p.holes) for p in outlines) > 0
    params = PARAMETERS[seed % len(PARAMETERS)]
    together = regularize_polygons(outlines, **params)
    assert_same_results(together,
                        [regularize_polygon(p, **params) for p in outlines])


@pytest.mark.parametrize('seed', [3, 4])
def test_reported_iou_is_shapelys(seed):
    # The IoU against the pixel outline is computed from pairs of edges,
    # not by overlaying the polygons: it must be the overlay's.
    outlines = random_outlines(seed)
    kinds = set()
    for params in PARAMETERS:
        for outline, r in zip(outlines, regularize_polygons(outlines,
                                                            **params)):
            kinds.add(r.regularized)
            source = Polygon(outline.exterior, outline.holes)
            result = Polygon(r.polygon.exterior, r.polygon.holes)
            assert result.is_valid
            assert r.iou == pytest.approx(iou(result, source), abs=1e-9)
            if r.regularized:
                assert r.iou >= params.get('min_iou', 0.8)
    assert kinds == {True, False}  # the simplified outline kept too


def test_intersection_areas_without_overlay_match_shapely():
    from mmseg_sia.regularize import _intersection_areas
    from mmseg_sia.vectorize import MaskPolygon

    def square(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)

    frame = MaskPolygon(square(0, 0, 10, 10), [square(3, 3, 6, 6)[::-1]])
    tilted = MaskPolygon(rotated(square(-6, -3, 6, 3), 25, (5, 5)))
    cases = [
        (frame, frame),                                      # identical
        (MaskPolygon(square(0, 0, 4, 4)),
         MaskPolygon(square(4, 0, 8, 4))),                   # shared edge
        (MaskPolygon(square(0, 0, 4, 4)),
         MaskPolygon(square(20, 20, 24, 24))),               # apart
        (MaskPolygon(square(3, 3, 6, 6)), frame),            # in the hole
        (MaskPolygon(square(-5, -5, 15, 15)), frame),        # around
        (tilted, frame),
        # Rings turning the other way than the vectorizer's.
        (MaskPolygon(tilted.exterior[::-1]),
         MaskPolygon(frame.exterior[::-1], [frame.holes[0][::-1]])),
        (MaskPolygon(square(0, 0, 10, 5)),
         MaskPolygon(square(0, 0, 10, 10), [square(2, 5, 4, 8)])),
    ]
    # Regularized outlines against their pixel outlines.
    outlines = random_outlines(5, n_masks=2)
    cases += [(r.polygon, p) for p, r in
              zip(outlines, regularize_polygons(outlines, min_iou=0))]
    a, b = zip(*cases)
    got = _intersection_areas(list(a), list(b))
    for (p, q), area in zip(cases, got):
        expected = Polygon(p.exterior, p.holes).intersection(
            Polygon(q.exterior, q.holes)).area
        assert area == pytest.approx(expected, abs=1e-9 * max(1, expected))
    # The axis-aligned cases by hand: the frame is 100 - 9.
    assert got[[0, 1, 2, 3, 4, 7]].tolist() == [91, 0, 0, 0, 91, 50]


def test_rare_paths_give_the_same_results(monkeypatch):
    # Two vertices whose hashes collide (the exact keys are sorted then),
    # batches of a few polygons, and polygons too big for pairs of edges
    # (GEOS intersects them): none may change an outline, and the IoUs stay
    # within rounding of each other.
    from mmseg_sia import regularize
    outlines = random_outlines(6)
    expected = regularize_polygons(outlines)
    monkeypatch.setattr(regularize, '_vertex_hash',
                        lambda ring, bits: np.zeros(len(ring), np.uint64))
    assert_same_results(regularize_polygons(outlines), expected)
    monkeypatch.undo()
    monkeypatch.setattr(regularize, '_BATCH', 7)
    assert_same_results(regularize_polygons(outlines), expected)
    # Pairs of edges for the small polygons, a few at a time; GEOS for the
    # others.
    pairs = [len(p.exterior) ** 2 for p in outlines]
    monkeypatch.setattr(regularize, '_MAX_PAIRS', int(np.median(pairs)))
    got = regularize_polygons(outlines)
    for a, b in zip(got, expected):
        assert a.iou == pytest.approx(b.iou, abs=1e-12)
        assert a.regularized == b.regularized
        np.testing.assert_array_equal(a.polygon.exterior, b.polygon.exterior)


def test_outlines_whose_rings_cross_are_measured_by_their_valid_version():
    # Outlines simplified before regularizing (tools/infer.py --simplify
    # with --regularize) can have rings that cross: GEOS's intersection
    # raised a TopologyException for them. The IoU is now taken against
    # the outline made valid, and the other outlines of the call are not
    # affected.
    import shapely
    from mmseg_sia.vectorize import MaskPolygon
    crossing_hole = MaskPolygon(
        np.array([[0, 0], [20, 1], [40, 0], [41, 15], [40, 30], [20, 29],
                  [0, 30], [1, 15]], float),
        [np.array([[30, 10], [30, 20], [50, 20], [50, 10]], float)])
    bow_tie = MaskPolygon(np.array([[0, 0], [30, 20], [30, 0], [0, 20]],
                                   float))
    fine = pixel_outline(rotated([[-30, -15], [30, -15], [30, 15],
                                  [-30, 15]], 30))
    outlines = [crossing_hole, fine, bow_tie]
    results = regularize_polygons(outlines)
    assert_same_results(results[1:2], [regularize_polygon(fine)])
    for outline, r in zip(outlines[:2], results):
        source = shapely.make_valid(Polygon(outline.exterior, outline.holes))
        result = Polygon(r.polygon.exterior, r.polygon.holes)
        assert result.is_valid and r.regularized
        assert r.iou == pytest.approx(iou(result, source), abs=1e-9)
        assert r.iou > 0.8
    # Nothing valid comes of the bow tie: it is returned as it was.
    assert not results[2].regularized and results[2].iou == 1.0
    assert sorted(map(tuple, results[2].polygon.exterior.tolist())) == \
        sorted(map(tuple, bow_tie.exterior.tolist()))
