"""Mask -> polygons -> mask round trips and mask cleaning."""
import cv2
import numpy as np
import pytest

from mmseg_sia.labels import format_imcoords, parse_imcoords
from mmseg_sia.vectorize import (binary_to_polygons, clean_mask,
                                 keyhole_ring, mask_to_polygons,
                                 polygons_to_mask, ring_signed_area)


def iou_per_class(a: np.ndarray, b: np.ndarray, classes=(1, 2)) -> dict:
    out = {}
    for c in classes:
        inter = np.logical_and(a == c, b == c).sum()
        union = np.logical_or(a == c, b == c).sum()
        out[c] = 1.0 if union == 0 else inter / union
    return out


def scene_mask() -> np.ndarray:
    """Buildings (1) and roads (2) with every awkward case in one tile."""
    m = np.zeros((64, 72), np.uint8)
    m[0:10, 0:12] = 1            # in the top-left corner of the tile
    m[0:10, 12:20] = 1           # touches the first: same class, merges
    m[10:16, 4:9] = 2            # a road touching the building below it
    m[20:40, 20:44] = 1          # a building with a hole ...
    m[25:35, 26:38] = 0
    m[28:31, 29:33] = 2          # ... holding a road island
    m[29, 30] = 0                # ... holding a hole of its own
    m[20:40, 44:50] = 2          # a road touching the building's side
    m[50:64, 60:72] = 1          # in the bottom-right corner
    m[44, 0:72] = 2              # one-pixel road across the whole tile
    m[55, 5] = m[56, 6] = 1      # two pixels touching at a corner only
    m[57:60, 10:14] = 1          # pinched loop: ring with a missing corner
    m[58, 11:13] = 0
    m[57, 10] = 0
    m[60:64, 30:34] = 1          # on the bottom edge
    m[30:34, 68:72] = 2          # on the right edge
    return m


def test_round_trip_is_exact_on_generated_tile():
    mask = scene_mask()
    polys = mask_to_polygons(mask, [1, 2])
    back = polygons_to_mask(polys, mask.shape)
    ious = iou_per_class(mask, back)
    assert min(ious.values()) >= 0.99
    np.testing.assert_array_equal(back, mask)


def test_round_trip_through_imcoords_strings():
    # The form written to label files: one keyhole ring per polygon.
    mask = scene_mask()
    polys = mask_to_polygons(mask, [1, 2])
    from mmseg_sia.labels import rasterize_polygons
    rings = {c: [parse_imcoords(format_imcoords(keyhole_ring(p)))
                 for p in ps] for c, ps in polys.items()}
    np.testing.assert_array_equal(
        rasterize_polygons(rings, mask.shape, priority=(2, 1)), mask)


@pytest.mark.parametrize('seed', range(6))
def test_round_trip_random_masks(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(5, 48, 2)
    mask = (rng.random((h, w)) < 0.45).astype(np.uint8) * rng.integers(
        1, 3, (h, w)).astype(np.uint8)
    polys = mask_to_polygons(mask, [1, 2])
    np.testing.assert_array_equal(polygons_to_mask(polys, (h, w)), mask)
    for c, ps in polys.items():
        assert sum(p.area for p in ps) == (mask == c).sum()


def test_structure_of_holes_and_touching_regions():
    mask = scene_mask()
    polys = mask_to_polygons(mask, [1, 2])
    buildings = polys[1]
    for p in buildings + polys[2]:
        assert ring_signed_area(p.exterior) > 0
        assert all(ring_signed_area(h) < 0 for h in p.holes)
        # Every vertex on the pixel-corner lattice.
        for ring in p.rings():
            assert np.array_equal(ring, np.round(ring))
    # The two touching blocks in the corner are one region.
    corner = [p for p in buildings if p.bounds()[:2] == (0.0, 0.0)]
    assert len(corner) == 1 and corner[0].area == 200
    # The building with a hole: one hole, the road island is its own polygon
    # of class 2, and the island's hole is a hole of the island.
    ring_building = [p for p in buildings if p.bounds()[:2] == (20.0, 20.0)]
    assert len(ring_building) == 1 and len(ring_building[0].holes) == 1
    island = [p for p in polys[2] if p.bounds()[:2] == (29.0, 28.0)]
    assert len(island) == 1 and len(island[0].holes) == 1
    # Pixels touching only at a corner stay two polygons.
    diag = [p for p in buildings if p.bounds()[0] in (5.0, 6.0) and
            p.bounds()[1] in (55.0, 56.0)]
    assert len(diag) == 2


def test_pinched_loop_becomes_exterior_plus_touching_hole():
    m = np.zeros((6, 6), bool)
    m[1:5, 1:5] = True
    m[2:4, 2:4] = False
    m[1, 1] = False  # the inner background reaches out through a corner
    (poly, ) = binary_to_polygons(m)
    assert len(poly.holes) == 1
    assert poly.area == m.sum()
    # The hole touches the exterior at exactly one vertex.
    ext = {tuple(v) for v in poly.exterior}
    assert len(ext & {tuple(v) for v in poly.holes[0]}) == 1
    np.testing.assert_array_equal(
        polygons_to_mask({1: [poly]}, m.shape, priority=None), m)


def test_empty_and_full_masks():
    assert binary_to_polygons(np.zeros((4, 5), bool)) == []
    (full, ) = binary_to_polygons(np.ones((4, 5), bool))
    assert full.area == 20 and full.perimeter == 18
    assert sorted(map(tuple, full.exterior)) == [(0, 0), (0, 4), (5, 0),
                                                  (5, 4)]


def test_simplification_reduces_vertices():
    yy, xx = np.mgrid[:80, :80]
    disc = (xx - 40)**2 + (yy - 40)**2 < 30**2
    (exact, ) = binary_to_polygons(disc)
    (simple, ) = binary_to_polygons(disc, tolerance=1.0)
    assert len(simple.exterior) < len(exact.exterior) / 3
    back = polygons_to_mask({1: [simple]}, disc.shape, priority=None)
    assert iou_per_class(back, disc.astype(np.uint8), (1, ))[1] > 0.97


def test_clean_mask_speckle_holes_and_opening():
    m = np.zeros((40, 40), np.uint8)
    m[5:25, 5:25] = 1
    m[10, 10] = 0                 # one-pixel hole
    m[15:19, 15:19] = 2           # 16-pixel hole holding a road
    m[35, 35] = 1                 # speckle
    m[30:32, 2:30] = 2            # a 2-pixel-wide road
    out = clean_mask(m, [1, 2], min_area=3, hole_area=4)
    assert out[35, 35] == 0 and out[10, 10] == 1
    assert (out[15:19, 15:19] == 2).all()  # big hole kept
    assert (out[30:32, 2:30] == 2).all()
    opened = clean_mask(m, [2], opening=3)
    assert (opened[30:32] == 0).all()      # thinner than the opening
    assert (opened[15:19, 15:19] == 2).all()
    np.testing.assert_array_equal(clean_mask(m), m)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='2-D'):
        binary_to_polygons(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match='tolerance'):
        binary_to_polygons(np.zeros((2, 2)), tolerance=-1)
    with pytest.raises(ValueError, match='min_area'):
        clean_mask(np.zeros((2, 2)), min_area=-1)


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_polygons_from_rings_together_equal_one_by_one(seed):
    """Rings made canonical together are the arrays polygon_from_rings makes
    one polygon at a time: GDAL's outlines of speckle and of blobs (pinched
    holes, diagonal contacts), and rings the batch leaves to the one-ring
    code (open, repeated vertices, fractional, under 3 corners)."""
    from mmseg_sia.vectorize import (label_shapes, polygon_from_rings,
                                     polygons_from_rings)
    rng = np.random.default_rng(seed)
    items = []
    for trial in range(12):
        h, w = rng.integers(5, 70, 2)
        mask = (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
        if trial % 2:
            mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
        items += [g['coordinates'] for _, g in label_shapes(
            mask, mask.astype(bool), int(rng.integers(0, 5000)))]
    items += [[[(0, 0), (0, 0), (2, 0), (2, 2), (0, 2), (0, 0)]],
              [[(0.5, 0), (2, 0), (2, 2), (0, 2), (0.5, 0)]],
              [[(0, 0), (0, 3), (3, 3), (3, 0)]],
              [[(0, 0), (2, 0), (0, 0), (0, 0)]],
              [[(0, 0), (4, 0), (4, 4), (0, 4), (0, 0)],
               [(2, 2), (3, 2), (3, 3), (2, 3), (2, 2)],
               [(1, 1), (2, 1), (2, 2), (1, 2), (1, 1)]]]
    # A ring through its top-left vertex twice, either way round, as an
    # exterior and as a hole: the first of the two in the final direction.
    twice = [(0, 0), (4, 0), (4, 1), (0, 0), (1, 3), (-1, 3), (0, 0)]
    for ring in (twice, twice[::-1]):
        items += [[ring], [[(-5, -5), (9, -5), (9, 9), (-5, 9), (-5, -5)],
                           ring]]
    rng.shuffle(items)
    together = polygons_from_rings(items, 2)
    assert len(together) == len(items) > 50
    for item, got in zip(items, together):
        want = polygon_from_rings(item, 2)
        assert got.class_id == want.class_id == 2
        np.testing.assert_array_equal(got.exterior, want.exterior)
        assert len(got.holes) == len(want.holes)
        for a, b in zip(got.holes, want.holes):
            np.testing.assert_array_equal(a, b)
    assert polygons_from_rings([], 1) == []
