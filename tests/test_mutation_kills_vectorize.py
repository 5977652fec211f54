"""Values of :mod:`mmseg_sia.vectorize` that mutation testing found unpinned
(issue 14): ring canonical form, hole and polygon order, keyhole bridges,
mask cleaning, simplification and the error messages.

References are worked by hand or taken from shapely (ring orientation,
vertices) and from a brute-force search written here (nearest vertex
pairs).
"""
import numpy as np
import pytest
from shapely.geometry import LinearRing, Polygon

from mmseg_sia.vectorize import (MaskPolygon, binary_to_polygons,
                                 canonical_ring, clean_mask, keyhole_ring,
                                 label_shapes, mask_to_polygons,
                                 polygon_from_rings, polygons_to_mask,
                                 ring_signed_area, simplify_polygons)


# --------------------------------------------------------------------------
# Small measures
# --------------------------------------------------------------------------
def test_bounds_of_a_wide_polygon():
    poly = MaskPolygon(np.array([[2, 1], [9, 1], [9, 4], [2, 4]], float))
    assert poly.bounds() == (2.0, 1.0, 9.0, 4.0)
    assert poly.bounds() == Polygon(poly.exterior).bounds


def test_signed_area_of_a_triangle_and_of_too_few_points():
    # (0, 0) -> (4, 0) -> (0, 3): clockwise on screen (y down).
    assert ring_signed_area([[0, 0], [4, 0], [0, 3]]) == 6.0
    assert ring_signed_area([[0, 0], [0, 3], [4, 0]]) == -6.0
    assert ring_signed_area([[0, 0], [4, 0]]) == 0.0
    assert ring_signed_area(np.zeros((0, 2))) == 0.0


# --------------------------------------------------------------------------
# canonical_ring
# --------------------------------------------------------------------------
def test_canonical_ring_form_by_hand():
    want = np.array([[0, 0], [4, 0], [4, 2], [0, 2]], float)
    # Open, started mid-edge, with a repeated vertex and collinear vertices
    # on horizontal and vertical edges; counter-clockwise on screen.
    given = [[2, 2], [0, 2], [0, 1], [0, 0], [0, 0], [3, 0], [4, 0],
             [4, 2]]
    for ring in (given, given + given[:1], [p + [7.0] for p in given]):
        got = canonical_ring(ring, exterior=True)
        assert got.dtype == np.float64 and got.shape == (4, 2)
        np.testing.assert_array_equal(got, want)
    hole = canonical_ring(given, exterior=False)
    np.testing.assert_array_equal(hole, want[[0, 3, 2, 1]])
    # Integer input comes back as float64 (the documented type).
    got = canonical_ring(np.array([[0, 0], [4, 0], [4, 2], [0, 2]]), True)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_canonical_ring_of_an_open_ring_keeps_its_last_vertex():
    # A repeated first vertex and first/last vertices that differ in x and y.
    tri = [[0, 0], [0, 0], [4, 1], [1, 3]]
    np.testing.assert_array_equal(
        canonical_ring(tri, True), [[0, 0], [4, 1], [1, 3]])
    np.testing.assert_array_equal(
        canonical_ring([[0, 0], [4, 1], [1, 3]], True),
        [[0, 0], [4, 1], [1, 3]])


def test_canonical_triangles_are_turned_and_started_top_left():
    # Counter-clockwise on screen, starting at the bottom: turned and rolled.
    np.testing.assert_array_equal(
        canonical_ring([[1, 3], [4, 1], [0, 0]], True),
        [[0, 0], [4, 1], [1, 3]])
    # The same with a collinear vertex on a diagonal edge (4 -> 3 vertices).
    np.testing.assert_array_equal(
        canonical_ring([[2, 4], [4, 2], [0, 0], [1, 2]], True),
        [[0, 0], [4, 2], [2, 4]])
    # With a repeated vertex (4 -> 3 vertices after dropping it).
    np.testing.assert_array_equal(
        canonical_ring([[1, 3], [4, 1], [4, 1], [0, 0]], True),
        [[0, 0], [4, 1], [1, 3]])
    # Half a pixel of area: still an exterior.
    np.testing.assert_array_equal(
        canonical_ring([[0, 0], [0, 1], [1, 0]], True),
        [[0, 0], [1, 0], [0, 1]])
    # Collinear vertices on diagonal edges (a diamond with edge midpoints).
    diamond = [[2, 0], [3, 1], [4, 2], [3, 3], [2, 4], [1, 3], [0, 2],
               [1, 1]]
    np.testing.assert_array_equal(
        canonical_ring(diamond, True), [[2, 0], [4, 2], [2, 4], [0, 2]])


def test_canonical_ring_of_one_or_two_points():
    np.testing.assert_array_equal(canonical_ring([[1, 2]], True), [[1, 2]])
    np.testing.assert_array_equal(canonical_ring([[1, 2], [1, 2]], True),
                                  [[1, 2]])


@pytest.mark.parametrize('seed', range(3))
def test_canonical_ring_of_gdal_rings_in_any_order(seed):
    """Every GDAL ring of a random mask, rolled and reversed at random:
    shapely's orientation, the corners where the outline turns, the start
    at the smallest (y, x)."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((23, 19)) < 0.55).astype(np.uint8)
    rings = 0
    for _, geom in label_shapes(mask, mask.astype(bool)):
        for i, coords in enumerate(geom['coordinates']):
            ring = np.array(coords)[:-1]
            # Corners: the direction of the edge changes there.
            step = np.roll(ring, -1, 0) - ring
            before = np.roll(step, 1, 0)
            corners = {tuple(p) for p, a, b in zip(ring, before, step)
                       if not np.array_equal(np.sign(a), np.sign(b))}
            for _ in range(3):
                given = np.roll(ring, int(rng.integers(len(ring))), 0)
                if rng.random() < 0.5:
                    given = given[::-1]
                got = canonical_ring(given, exterior=i == 0)
                assert {tuple(p) for p in got} == corners
                assert len(got) == len(corners)
                # Clockwise on screen (y down) is counter-clockwise in
                # shapely's y-up reading of the same numbers.
                assert LinearRing(got).is_ccw == (i == 0)
                top = min(corners, key=lambda p: (p[1], p[0]))
                assert tuple(got[0]) == top
            rings += 1
    assert rings > 20


# --------------------------------------------------------------------------
# Order of holes and polygons; label_shapes
# --------------------------------------------------------------------------
def test_polygon_from_rings_orders_holes_by_top_left_vertex():
    ext = [[0, 0], [20, 0], [20, 20], [0, 20]]
    tall = [[2, 2], [4, 2], [4, 12], [2, 12]]        # top-left (2, 2)
    flat = [[16, 5], [18, 5], [18, 6], [16, 6]]      # top-left (16, 5)
    tri = [[14, 1], [15, 4], [13, 4]]                # top (14, 1)
    # Top (6, 1), its next vertex (as a hole) at x = 8; top (7, 1), next
    # vertex at x = 7.2 (given already counter-clockwise on screen).
    tri2 = [[6, 1], [10, 2], [8, 3]]
    tri3 = [[7, 1], [7.2, 1.1], [7.8, 1.15]]
    poly = polygon_from_rings([ext, flat, tall, tri, tri3, tri2])
    assert poly.class_id == 1
    assert [tuple(h[0]) for h in poly.holes] == [(6, 1), (7, 1), (14, 1),
                                                  (2, 2), (16, 5)]
    np.testing.assert_array_equal(poly.holes[1], tri3)
    assert ring_signed_area(poly.exterior) > 0
    assert all(ring_signed_area(h) < 0 for h in poly.holes)
    assert polygon_from_rings([ext], class_id=3).class_id == 3


def test_polygons_are_ordered_by_top_left_pixel():
    m = np.zeros((12, 10), np.uint8)
    m[0:10, 0:2] = 1     # tall, finished last by GDAL
    m[0:2, 5:7] = 1      # short, same top row
    m[3:5, 3:4] = 1
    polys = binary_to_polygons(m)
    assert [tuple(p.exterior[0]) for p in polys] == [(0, 0), (5, 0), (3, 3)]
    assert [p.class_id for p in polys] == [1, 1, 1]


def test_label_shapes_shifts_by_row0():
    m = np.zeros((2, 3), np.uint8)
    m[1, 1] = 4
    ((value, geom), ) = list(label_shapes(m, m > 0, row0=5))
    assert value == 4
    assert Polygon(geom['coordinates'][0]).equals(
        Polygon([(1, 6), (2, 6), (2, 7), (1, 7)]))


# --------------------------------------------------------------------------
# keyhole_ring
# --------------------------------------------------------------------------
def test_keyhole_bridge_joins_the_nearest_vertices():
    ext = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    hole = np.array([[6, 6], [6, 8], [8, 8], [8, 6]], float)   # ccw on screen
    ring = keyhole_ring(MaskPolygon(ext, [hole]))
    # Exterior vertex (10, 10) is nearest to the hole's (8, 8); the hole is
    # walked from (8, 8) and the bridge goes back to (10, 10).
    np.testing.assert_array_equal(ring, [
        [0, 0], [10, 0], [10, 10],
        [8, 8], [8, 6], [6, 6], [6, 8], [8, 8], [10, 10],
        [0, 10]])


def _brute_pair(ext, hole):
    best = None
    for k in range(len(ext)):
        for j in range(len(hole)):
            d = float(((ext[k] - hole[j])**2).sum())
            if best is None or d < best[0]:
                best = (d, k, j)
    return best[1], best[2]


def staircase_with_holes():
    m = np.zeros((70, 70), bool)
    for i in range(60):                 # a staircase: many exterior vertices
        m[i, 2:4 + i] = True
    m[40:48, 10:14] = False             # a hole with 4 vertices
    m[50:54, 20:22] = False
    m[50, 22] = False                   # an L-shaped hole
    m[52:55, 30:34] = False
    for k in range(10):                 # a staircase hole (22 vertices)
        m[20 + k, 5:6 + k] = False
    return m


def diamond(pinched):
    """A diamond of 280 vertices with a 2 x 2 hole on its axis, as near to
    the left as to the right flank (ties); or with a one-pixel hole that
    touches the outline at a corner (distance 0)."""
    m = np.zeros((72, 140), bool)
    for i in range(70):
        m[i, 69 - i:71 + i] = True
    if pinched:
        m[20, 50] = False
    else:
        m[3:5, 69:71] = False
    return m


def speckled_block(seed):
    """A block with dozens of random holes of one to a few pixels (the
    holes of a scene's road region), many of them on the k-d tree path
    together, and with ties."""
    rng = np.random.default_rng(seed)
    m = np.zeros((130, 90), bool)
    for r in range(2, 128):  # ragged sides: hundreds of exterior vertices
        m[r, rng.integers(1, 4):rng.integers(86, 89)] = True
    for _ in range(80):
        r, c = rng.integers(6, 84, 2)
        h, w = rng.integers(1, 4, 2)
        m[r:r + h, c:c + w] = False
    return m


@pytest.mark.parametrize('make', [staircase_with_holes,
                                  lambda: diamond(False),
                                  lambda: diamond(True),
                                  lambda: speckled_block(3),
                                  lambda: speckled_block(11)])
def test_keyhole_of_a_large_polygon_uses_the_nearest_pairs(make):
    """Rings with more than 1024 vertex pairs (the k-d tree path): the
    bridge of each hole joins the pair a brute-force search picks (the
    first exterior, then hole, vertex among equals)."""
    m = make()
    (poly, ) = [p for p in binary_to_polygons(m) if p.holes]
    assert len(poly.exterior) * max(map(len, poly.holes)) > 1024
    ring = keyhole_ring(poly)
    expected, start = [], 0
    attach = {}
    for hole in poly.holes:
        k, j = _brute_pair(poly.exterior, hole)
        attach.setdefault(k, []).append(np.roll(hole, -j, axis=0))
    for k in sorted(attach):
        expected.append(poly.exterior[start:k + 1])
        for hole in attach[k]:
            expected += [hole, hole[:1], poly.exterior[k:k + 1]]
        start = k + 1
    expected.append(poly.exterior[start:])
    np.testing.assert_array_equal(ring, np.concatenate(expected))
    assert len(ring) == len(poly.exterior) + sum(len(h) + 2
                                                 for h in poly.holes)
    np.testing.assert_array_equal(
        polygons_to_mask({1: [poly]}, m.shape), m.astype(np.uint8))


# --------------------------------------------------------------------------
# Rasterizing back: priority and background
# --------------------------------------------------------------------------
def test_polygons_to_mask_priority_and_background():
    a = MaskPolygon(np.array([[0, 0], [3, 0], [3, 2], [0, 2]], float),
                    class_id=1)
    b = MaskPolygon(np.array([[2, 0], [4, 0], [4, 2], [2, 2]], float),
                    class_id=2)
    out = polygons_to_mask({1: [a], 2: [b]}, (3, 5), priority=(1, 2),
                           background=7)
    np.testing.assert_array_equal(out, [[1, 1, 1, 2, 7],
                                        [1, 1, 1, 2, 7],
                                        [7, 7, 7, 7, 7]])
    out = polygons_to_mask({1: [a], 2: [b]}, (3, 5))
    np.testing.assert_array_equal(out[0], [1, 1, 2, 2, 0])


# --------------------------------------------------------------------------
# clean_mask
# --------------------------------------------------------------------------
def test_clean_mask_messages_name_the_argument():
    with pytest.raises(ValueError,
                       match=r'^clean_mask: mask must be 2-D, got shape '
                       r'\(2, 2, 2\)$'):
        clean_mask(np.zeros((2, 2, 2)))
    for name in ('opening', 'min_area', 'hole_area'):
        with pytest.raises(ValueError,
                           match=rf'^clean_mask: {name} must be >= 0, got '
                           r'-2$'):
            clean_mask(np.zeros((2, 2)), **{name: -2})


def test_min_area_counts_4_connected_regions_and_keeps_equal_ones():
    m = np.zeros((8, 8), np.uint8)
    m[0, 0] = m[1, 1] = 1          # two pixels touching at a corner
    m[4:6, 4:6] = 1                # exactly 4 pixels: kept at min_area 4
    m[7, 7] = 2                    # another class: left alone
    out = clean_mask(m, min_area=2)
    assert out[0, 0] == out[1, 1] == 0
    out = clean_mask(m, [1], min_area=4)
    assert (out[4:6, 4:6] == 1).all() and out[7, 7] == 2
    # The region scanned first (label 1) is removed like any other; the
    # pixels outside the class (fewer than min_area) are not touched.
    m = np.full((3, 3), 2, np.uint8)
    m[0, 0] = 1
    m[2, 2] = 1
    out = clean_mask(m, [1], min_area=5)
    np.testing.assert_array_equal(out, np.where(m == 1, 0, m))


def test_hole_filling_border_and_size():
    m = np.ones((9, 9), np.uint8)
    m[0, 4] = m[8, 4] = m[4, 0] = m[4, 8] = 0   # notches on the four edges
    m[2, 2] = 0                                  # a one-pixel hole
    m[5:7, 5:7] = 0                              # a four-pixel hole
    out = clean_mask(m, hole_area=4)
    want = m.copy()
    want[2, 2] = 1
    np.testing.assert_array_equal(out, want)
    # The first hole in scan order (label 1 of the background) is filled.
    m = np.ones((5, 5), np.uint8)
    m[2, 2] = 0
    np.testing.assert_array_equal(clean_mask(m, hole_area=2), np.ones(
        (5, 5), np.uint8))


def test_clean_mask_classes_default_order_and_absent():
    m = np.zeros((10, 10), np.uint8)
    m[0, 0] = 1
    m[9, 9] = 2
    m[2:6, 2:6] = 2
    out = clean_mask(m, min_area=2)
    assert out[0, 0] == 0 and out[9, 9] == 0 and (out[2:6, 2:6] == 2).all()
    # An absent class first does not stop the others.
    out = clean_mask(m, [3, 1], min_area=2)
    assert out[0, 0] == 0 and out[9, 9] == 2
    # Only the background class: nothing to clean.
    np.testing.assert_array_equal(
        clean_mask(np.zeros((3, 3), np.uint8), min_area=5),
        np.zeros((3, 3), np.uint8))


def test_opening_sizes_two_and_five():
    m = np.zeros((12, 12), np.uint8)
    m[1:3, 1:11] = 1              # 2 rows thick: survives opening 2
    m[5:9, 1:11] = 1              # 4 rows thick: removed by opening 5
    np.testing.assert_array_equal(clean_mask(m, opening=2), m)
    m[10, 1:11] = 1               # 1 row thick: removed by opening 2
    out = clean_mask(m, opening=2)
    assert out[10].sum() == 0
    np.testing.assert_array_equal(out[:10], m[:10])
    np.testing.assert_array_equal(clean_mask(m, opening=5),
                                  np.zeros_like(m))
    out = clean_mask(m, opening=3)
    np.testing.assert_array_equal(out[:10], np.where(
        np.arange(10)[:, None] >= 5, m[:10], 0))


def test_opening_then_min_area_and_holes():
    # The cleaning steps after an opening work on the opened region.
    m = np.zeros((12, 14), np.uint8)
    m[1:9, 1:9] = 1
    m[1:3, 9:13] = 1               # a bar 2 thick: gone with opening 3
    m[3:5, 11:13] = 1              # ... bent down: a 2 x 2 spur of its own
    m[4, 4] = 0                    # a one-pixel hole: opening 3 leaves it
    want = np.zeros_like(m)
    want[1:9, 1:9] = 1
    want[4, 4] = 0
    np.testing.assert_array_equal(clean_mask(m, opening=3), want)
    want[4, 4] = 1
    np.testing.assert_array_equal(
        clean_mask(m, opening=3, min_area=2, hole_area=2), want)
    np.testing.assert_array_equal(clean_mask(m, opening=3, hole_area=2),
                                  want)


# --------------------------------------------------------------------------
# Simplification
# --------------------------------------------------------------------------
def staircase(n):
    m = np.zeros((n + 2, n + 2), np.uint8)
    for i in range(n):
        m[i, :i + 1] = 1
    return m


def test_simplified_staircase_is_a_triangle():
    # A staircase of 10 steps simplifies (tolerance 1.5) to its three
    # corners, by hand: the steps lie within 1 / sqrt(2) of the diagonal.
    (poly, ) = binary_to_polygons(staircase(10), class_id=2, tolerance=1.5)
    np.testing.assert_array_equal(poly.exterior, [[0, 0], [10, 10], [0, 10]])
    assert poly.class_id == 2


def test_simplify_polygons_holes_and_dropped_rings():
    tiny = MaskPolygon(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float))
    big = np.zeros((30, 30), np.uint8)
    big[2:28, 2:28] = 1
    big[4:15, 4:15] = 0
    for i in range(10):               # a staircase hole: a triangle
        big[4 + i, 4 + i + 1:15] = 1
    big[20, 20] = 0                   # a one-pixel hole: dropped
    (poly, ) = binary_to_polygons(big, class_id=2)
    out = simplify_polygons([tiny, poly], 1.5)
    assert len(out) == 1
    (got, ) = out
    assert got.class_id == 2
    np.testing.assert_array_equal(got.exterior, [[2, 2], [28, 2], [28, 28],
                                                 [2, 28]])
    assert len(got.holes) == 1
    assert {tuple(p) for p in got.holes[0]} == {(4, 4), (4, 15), (15, 15)}
    # Tolerance 0 gives the polygons back as they are.
    assert simplify_polygons([tiny], 0) == [tiny]


def test_simplification_closes_the_ring():
    # A closed curve: the first vertex is not kept when it lies on the
    # straight line through its neighbours' simplification.
    ring = np.array([[0, 0], [5, 1], [10, 0], [10, 10], [0, 10]], float)
    (got, ) = simplify_polygons([MaskPolygon(ring)], 1.5)
    np.testing.assert_array_equal(got.exterior, [[0, 0], [10, 0], [10, 10],
                                                 [0, 10]])


# --------------------------------------------------------------------------
# mask_to_polygons
# --------------------------------------------------------------------------
def test_mask_to_polygons_defaults_and_errors():
    m = np.zeros((6, 7), np.uint8)
    m[1:3, 1:3] = 1
    m[4:6, 4:7] = 2
    polys = mask_to_polygons(m)
    assert sorted(polys) == [1, 2]
    assert [p.class_id for p in polys[2]] == [2]
    assert [p.area for p in polys[1]] == [4.0]
    assert mask_to_polygons(m, [2]).keys() == {2}
    assert mask_to_polygons(m, background=1).keys() == {0, 2}
    # Pixels cleaned away take the background class given (not 0).
    m[0, 6] = 1
    m[5, 0] = 3
    polys = mask_to_polygons(m, background=3, min_area=2)
    assert polys.keys() == {0, 1, 2}
    assert [p.area for p in polys[0]] == [6 * 7 - 4 - 6 - 2]
    assert [p.area for p in polys[1]] == [4.0]
    with pytest.raises(ValueError, match=r'^mask_to_polygons: mask must be '
                       r'2-D, got shape \(6,\)$'):
        mask_to_polygons(np.zeros(6))


def test_mask_to_polygons_passes_the_cleaning_options():
    m = np.zeros((20, 20), np.uint8)
    m[1:10, 1:10] = 1
    m[5, 5] = 0                    # one-pixel hole
    m[12, 12] = 1                  # speckle
    m[1:10, 12:13] = 1             # one pixel wide: gone with opening 2
    m[14:19, 14:19] = 2            # a road ...
    m[16, 16] = 1                  # ... holding a building pixel
    polys = mask_to_polygons(m, [1], min_area=2)
    assert sorted(p.area for p in polys[1]) == [9.0, 80.0]
    polys = mask_to_polygons(m, [1], min_area=1, hole_area=2)
    assert sorted(p.area for p in polys[1]) == [1.0, 1.0, 9.0, 81.0]
    polys = mask_to_polygons(m, [1], opening=2)
    assert sorted(p.area for p in polys[1]) == [80.0]
    # Only the classes asked for are cleaned: the road's one-pixel "hole"
    # (the building pixel) stays a building.
    polys = mask_to_polygons(m, [1], hole_area=2, background=0)
    assert 1.0 in [p.area for p in polys[1]]
    polys = mask_to_polygons(staircase(10), [1], tolerance=1.5)
    assert len(polys[1][0].exterior) == 3


def _opening_by_squares(binary, k):
    """The opening by a k x k square, by definition: the union of every
    k x k square that fits in the region."""
    out = np.zeros_like(binary)
    h, w = binary.shape
    for y in range(h - k + 1):
        for x in range(w - k + 1):
            if binary[y:y + k, x:x + k].all():
                out[y:y + k, x:x + k] = True
    return out


@pytest.mark.parametrize('size', [2, 3, 4, 5])
def test_opening_is_the_union_of_fitting_squares(size):
    """Bug found by mutation testing: with an even size OpenCV's
    ``MORPH_OPEN`` dilates with the same anchor as it erodes, which moves
    the result one pixel down and right, so a region exactly ``opening``
    pixels thick lost a row and a column."""
    rng = np.random.default_rng(size)
    m = np.zeros((36, 33), np.uint8)   # 6 empty pixels round the edge
    m[6:-6, 6:-6] = rng.random((24, 21)) < 0.7
    m[8:10, 7:26] = 1              # exactly 2 thick
    m[16:21, 9:14] = 1
    out = clean_mask(m, [1], opening=size)
    want = _opening_by_squares(m == 1, size)
    np.testing.assert_array_equal(out == 1, want)
    np.testing.assert_array_equal(out[~want], 0)
