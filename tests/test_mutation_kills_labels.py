"""Values of the label reader that mutation testing found unpinned (issue 14).

Each test asserts what a user of :func:`read_label_file` or
:func:`format_imcoords` reads (points, classes, types, skipped features and
their reasons, warning text) with values written out by hand.
"""
import gc
import json
import os
import warnings

import numpy as np
import pytest
from matplotlib.path import Path

import mmseg_sia.labels as labels_module

from mmseg_sia.labels import (LabelFileError, SIALabelWarning,
                              format_imcoords, parse_footprint,
                              parse_imcoords, polygon_coverage,
                              rasterize_polygons, read_label_file)


def write(path, features, **top):
    doc = dict(type='FeatureCollection', features=features, **top)
    path.write_text(json.dumps(doc))
    return str(path)


def feat(**props):
    return {'type': 'Feature', 'properties': props,
            'geometry': {'type': 'Polygon', 'coordinates': []}}


TRI = '1,1,5,1,5,5'


def test_parse_imcoords_messages_word_for_word():
    with pytest.raises(ValueError, match=r'^NaN or infinite coordinate$'):
        parse_imcoords('1,2,nan,4,5,6')
    with pytest.raises(ValueError, match=r'^fewer than 3 points \(2\)$'):
        parse_imcoords('1,2,3,4')
    with pytest.raises(ValueError, match=r'^odd number of values \(9\)$'):
        parse_imcoords('1,2,3,4,5,6,7,8,9')


def test_points_are_float64_pairs_whatever_the_spelling(tmp_path):
    """Integers only (a file the fast batch parse reads as integers), and a
    trailing comma with blanks: the exact float64 vertices."""
    path = write(tmp_path / 'ints.json', [
        feat(building_imcoords='1,1,5,1,5,5'),
        feat(road_imcoords='0,0,1024,0,1024,1024,0,1024')])
    label = read_label_file(path)
    assert [p.points.dtype for p in label.polygons] == [np.float64] * 2
    assert [p.points.tolist() for p in label.polygons] == [
        [[1, 1], [5, 1], [5, 5]],
        [[0, 0], [1024, 0], [1024, 1024], [0, 1024]]]
    assert [(p.key, p.feature) for p in label.polygons] == [
        ('building_imcoords', 0), ('road_imcoords', 1)]
    path = write(tmp_path / 'comma.json', [
        feat(building_imcoords=' 0.5,2,7.25,2,7.25,9, '),
        feat(building_imcoords='1,1,5,1,5,5,')])
    label = read_label_file(path)
    assert [p.points.tolist() for p in label.polygons] == [
        [[0.5, 2], [7.25, 2], [7.25, 9]], [[1, 1], [5, 1], [5, 5]]]


def test_bad_strings_among_good_ones_are_skipped_by_name(tmp_path):
    """Plain numbers throughout (the fast batch parse): an odd count that is
    a multiple of 3, a value just past the bound on the positive side only;
    each feature skipped with its reason, its neighbours drawn."""
    path = write(tmp_path / 'mixed.json', [
        feat(building_imcoords=TRI),
        feat(building_imcoords='1,2,3,4,5,6,7,8,9'),
        feat(building_imcoords='1,1,1.5e9,1,5,5'),
        feat(road_imcoords='2,2,9,2,9,9,2,9'),
    ])
    with pytest.warns(SIALabelWarning) as record:
        label = read_label_file(path)
    assert label.skipped == [
        (1, 'building_imcoords: odd number of values (9)'),
        (2, 'building_imcoords: coordinate 1.5e+09 is beyond +-1e+09 '
            'pixels, far outside any tile'),
    ]
    assert [p.feature for p in label.polygons] == [0, 3]
    assert label.polygons[1].points.tolist() == [[2, 2], [9, 2], [9, 9],
                                                 [2, 9]]
    assert len(record) == 1
    path = write(tmp_path / 'token.json', [
        feat(building_imcoords='1,2,,3,4,5,6'), feat(road_imcoords=TRI)])
    with pytest.warns(SIALabelWarning):
        label = read_label_file(path)
    assert label.skipped == [(0, "building_imcoords: token '' is not a "
                                 'number')]
    assert [p.feature for p in label.polygons] == [1]


def test_features_that_are_not_objects_do_not_stop_the_reading(tmp_path):
    path = write(tmp_path / 'odd.json', [
        7, {'type': 'Feature'}, feat(building_imcoords=TRI)])
    with pytest.warns(SIALabelWarning):
        label = read_label_file(path)
    assert label.skipped == [(0, 'is not an object'),
                             (1, 'has no "properties" object')]
    assert [p.feature for p in label.polygons] == [2]
    assert label.num_features == 3


def test_types_of_each_polygon(tmp_path):
    path = write(tmp_path / 'types.json', [
        feat(building_imcoords=TRI, type_id='3', type_name='공장'),
        feat(building_imcoords=TRI, type_id=5, type_name=None),
        feat(road_imcoords=TRI),
        feat(road_imcoords=TRI, type_id='', type_name='Primary'),
    ])
    label = read_label_file(path)
    assert [(p.type_id, p.type_name) for p in label.polygons] == [
        ('3', '공장'), ('5', ''), ('', ''), ('', 'Primary')]


def test_footprint_is_the_first_geometry_of_the_file(tmp_path):
    corners = [[127.0, 37.5, 0.0], [127.1, 37.5, 0.0], [127.1, 37.4, 0.0],
               [127.0, 37.4, 0.0]]
    first = dict(feat(building_imcoords=TRI),
                 geometry={'type': 'Polygon', 'coordinates': [corners]})
    other = dict(feat(building_imcoords=TRI),
                 geometry={'type': 'Polygon',
                           'coordinates': [[[1.0, 2.0], [3.0, 4.0],
                                            [5.0, 6.0]]]})
    path = write(tmp_path / 'fp.json', [{'no': 'properties'}, first, other])
    with pytest.warns(SIALabelWarning):
        label = read_label_file(path)
    assert label.footprint.tolist() == [c[:2] for c in corners]


def test_footprint_edge_cases():
    assert parse_footprint({'coordinates': []}) is None
    assert parse_footprint({'coordinates': [[1.0, 2.0]]}).tolist() == [
        [1.0, 2.0]]
    # Two equal points: the second is the closing one.
    assert parse_footprint({'coordinates': [[1.0, 2.0], [1.0, 2.0]]}
                           ).tolist() == [[1.0, 2.0]]
    # A last point 1e-12 away from the first is a corner of its own.
    pts = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1e-12, 0.0]]
    assert parse_footprint({'coordinates': pts}).tolist() == pts


@pytest.mark.parametrize('content, reason', [
    ('null', r'top level is null, expected an object'),
    ('"FeatureCollection"', r'top level is a string, expected an object'),
    ('true', r'top level is true/false, expected an object'),
    ('{"features": 3.5}', r'"features" is a number \(3\.5\), not an array'),
])
def test_top_level_kinds_in_json_words(tmp_path, content, reason):
    path = tmp_path / 'kind.json'
    path.write_text(content)
    with pytest.raises(LabelFileError,
                       match=rf'^{path}: is not a FeatureCollection \('
                       rf'{reason}\)$'):
        read_label_file(str(path))


def test_property_kinds_in_json_words(tmp_path):
    path = write(tmp_path / 'props.json', [
        feat(building_imcoords=True), feat(road_imcoords={'a': 1})])
    with pytest.warns(SIALabelWarning):
        label = read_label_file(path)
    assert label.skipped == [
        (0, 'building_imcoords is true/false, expected a coordinate string'),
        (1, 'road_imcoords is an object, expected a coordinate string')]


def test_strict_error_carries_file_feature_and_reason(tmp_path):
    path = write(tmp_path / 'S.json', [feat(building_imcoords=TRI),
                                       feat(road_imcoords='1,2,3')])
    with pytest.raises(LabelFileError) as info:
        read_label_file(path, strict=True)
    assert (info.value.path, info.value.feature, info.value.reason) == (
        path, 1, 'road_imcoords: odd number of values (3)')
    bad = tmp_path / 'B.json'
    bad.write_text('[]')
    with pytest.raises(LabelFileError) as info:
        read_label_file(str(bad))
    assert info.value.feature is None
    assert info.value.reason == ('is not a FeatureCollection (top level is '
                                 'an array, expected an object)')


@pytest.mark.parametrize('bad, listed, more', [
    (10, 10, ''), (11, 10, '; ... 1 more'), (12, 10, '; ... 2 more')])
def test_warning_lists_ten_features_and_counts_the_rest(tmp_path, bad,
                                                        listed, more):
    features = [feat(building_imcoords=TRI)] + \
        [feat(building_imcoords='1,2,3')] * bad
    path = write(tmp_path / 'many.json', features)
    with pytest.warns(SIALabelWarning) as record:
        read_label_file(path)
    items = '; '.join(f'{i}: building_imcoords: odd number of values (3)'
                      for i in range(1, listed + 1))
    assert str(record[0].message) == (
        f'{path}: skipped {bad} of {bad + 1} features that cannot be drawn '
        f'(feature {items}{more})')
    # The warning points at the caller's line, not at the library (mutmut's
    # trampoline adds a frame between the two, so only the first holds
    # under mutmut).
    assert record[0].filename != labels_module.__file__
    if 'MUTANT_UNDER_TEST' not in os.environ:
        assert record[0].filename == __file__


def test_reading_leaves_the_garbage_collector_as_it_was(tmp_path):
    path = write(tmp_path / 'gc.json', [feat(building_imcoords=TRI)])
    assert gc.isenabled()
    read_label_file(path)
    assert gc.isenabled()
    gc.disable()
    try:
        read_label_file(path)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_format_imcoords_by_hand():
    assert format_imcoords(np.array([[1.23456, 2.0], [3.5, 10.0]])) == \
        '1.2346,2,3.5,10'
    assert format_imcoords([[1, 2], [3, 4]]) == '1,2,3,4'
    assert format_imcoords([[0.123456789, 1e-5]], decimals=6) == \
        '0.123457,0.00001'
    # What it writes reads back as the same points, rounded.
    pts = np.array([[0.5, 1024.0], [12.125, 0.0], [7.0, 3.3333333]])
    np.testing.assert_array_equal(parse_imcoords(format_imcoords(pts)),
                                  [[0.5, 1024], [12.125, 0], [7, 3.3333]])


# ---------------------------------------------------------------- rasterizer

def centre_rule(polygons, height, width):
    """Independent pixel-centre rule: matplotlib's Path, even-odd over the
    rings of each polygon, union over polygons."""
    yy, xx = np.mgrid[0:height, 0:width]
    centres = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], axis=1)
    union = np.zeros(height * width, dtype=bool)
    for poly in polygons:
        rings = poly if isinstance(poly, list) else [poly]
        inside = np.zeros(height * width, dtype=bool)
        for ring in rings:
            ring = np.asarray(ring, np.float64)
            if len(ring) < 3:
                continue
            inside ^= Path(np.vstack([ring, ring[:1]]),
                           closed=True).contains_points(centres)
        union |= inside
    return union.reshape(height, width)


def square(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


# Vertices on quarter pixels: no pixel centre lies on an edge, so
# matplotlib's boundary handling never decides a pixel.
HOLED = [square(1.25, 1.25, 14.75, 12.75), square(4.25, 3.75, 9.75, 8.25)]
TRIANGLE_RING = [np.array([[16.25, 2.25], [27.75, 2.25], [16.25, 11.75]])]
WITH_STUB = [square(18.25, 14.25, 26.75, 19.75), np.array([[0.0, 0.0],
                                                           [30.0, 20.0]])]
STUB_ONLY = [np.array([[0.0, 0.0], [30.0, 20.0]])]
NO_RINGS = []
INT_SQUARE = np.array([[3, 15], [9, 15], [9, 19], [3, 19]])  # int64


def polygons_mixed():
    return [HOLED, TRIANGLE_RING, WITH_STUB, STUB_ONLY, NO_RINGS, INT_SQUARE,
            square(11.25, 13.25, 16.75, 18.75)]


def test_rings_holes_and_integer_vertices_against_matplotlib():
    polys = polygons_mixed()
    mask = polygon_coverage(polys, 20, 30)
    np.testing.assert_array_equal(mask, centre_rule(polys, 20, 30))
    # The hole is empty: rows 4-7, columns 4-9 (centres 4.5..7.5 x 4.5..9.5).
    assert not mask[4:8, 4:10].any() and mask[3, 4] and mask[8, 9]
    # Each polygon alone gives its own pixels.
    assert mask.sum() == sum(polygon_coverage([p], 20, 30).sum()
                             for p in polys)
    # Integer vertices on pixel edges: columns 3-8, rows 15-18 exactly.
    alone = polygon_coverage([INT_SQUARE], 20, 30)
    assert np.argwhere(alone).tolist() == [[r, c] for r in range(15, 19)
                                           for c in range(3, 9)]


@pytest.mark.parametrize('height, width', [(0, 5), (5, 0), (-3, 5),
                                           (5, -2), (0, 0)])
def test_empty_maps_have_the_asked_shape(height, width):
    mask = polygon_coverage([square(0, 0, 4, 4)], height, width)
    assert mask.shape == (max(height, 0), max(width, 0))
    assert mask.dtype == bool
    seg = rasterize_polygons({1: [square(0, 0, 4, 4)]}, (max(height, 0),
                                                          max(width, 0)))
    assert seg.shape == (max(height, 0), max(width, 0))
    assert seg.dtype == np.uint8


@pytest.mark.parametrize('height, width', [(1, 7), (7, 1), (1, 1)])
def test_one_row_or_column_maps(height, width):
    poly = square(-0.5, -0.5, 0.75, 0.75)  # covers pixel (0, 0) only
    expected = np.zeros((height, width), bool)
    expected[0, 0] = True
    np.testing.assert_array_equal(polygon_coverage([poly], height, width),
                                  expected)
    full = polygon_coverage([square(-2, -2, 9, 9)], height, width)
    assert full.all()


@pytest.mark.parametrize('height', [31, 63, 32])
def test_runs_past_the_bottom_on_padded_rows(height):
    """Heights 31 and 63 fill the 32-row blocks of the step planes exactly;
    a polygon running past the bottom must not touch the next plane."""
    building = square(1.25, 4.25, 5.75, height + 10.0)
    road = square(7.25, -3.0, 9.75, 2.75)
    seg = rasterize_polygons({1: [building], 2: [road]}, (height, 12))
    expected = np.zeros((height, 12), np.uint8)
    expected[4:, 1:6] = 1
    expected[:3, 7:10] = 2
    np.testing.assert_array_equal(seg, expected)


def test_refused_arrays_say_why():
    with pytest.raises(ValueError,
                       match=r'^polygons must be \(N, 2\) arrays of '
                       r'\(x, y\)$'):
        polygon_coverage([np.zeros((4, 3))], 8, 8)
    for bad in (-np.inf, np.inf, np.nan):
        tri = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, bad]])
        with pytest.raises(ValueError,
                           match=r'^polygon 1 has a NaN or infinite '
                           r'coordinate$'):
            polygon_coverage([square(0, 0, 2, 2), tri], 8, 8)
    # A polygon of one repeated point is empty, not an error.
    dot = np.array([[3.5, 3.5]] * 3)
    assert not polygon_coverage([dot], 8, 8).any()


def test_edges_far_beyond_the_tile_in_y_only():
    """A triangle whose vertices are 1e300 px above and below the tile (its
    slanted edge crosses the tile at x = 5), drawn together with a tame
    square running 1000 px past both borders: the pixels of both by hand."""
    wild = np.array([[0.0, -1e300], [10.0, 1e300], [0.0, 1e300]])
    tame = square(8.25, -1000.0, 10.75, 1008.0)
    expected = np.zeros((8, 12), bool)
    expected[:, :5] = True
    alone = polygon_coverage([wild], 8, 12)
    np.testing.assert_array_equal(alone, expected)
    expected[:, 8:11] = True
    np.testing.assert_array_equal(polygon_coverage([wild, tame], 8, 12),
                                  expected)
    # A tame slanted edge drawn beside wild ones: y = x / 2 + 0.3 between
    # x = 2 and 12, under which the centres lie inside.
    slant = np.array([[2.0, 1.3], [12.0, 6.3], [12.0, 9.0], [2.0, 9.0]])
    rows, cols = np.mgrid[0:8, 0:12]
    below_slant = (rows + 0.5 > (cols + 0.5) / 2 + 0.3) & (cols >= 2)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        np.testing.assert_array_equal(
            polygon_coverage([wild, slant], 8, 12),
            below_slant | (cols < 5))
    # Far below only (low negative, high small): same rule.
    below = np.array([[-1e300, 3.25], [6.75, 3.25], [6.75, 5.75],
                      [-1e300, 5.75]])
    expected = np.zeros((8, 12), bool)
    expected[3:6, :7] = True
    np.testing.assert_array_equal(polygon_coverage([below], 8, 12), expected)


def test_vertices_hugely_negative_on_both_axes_raise_no_warning():
    """A vertex at (-1e300, -1e300): its edges are intersected in the scaled
    form (the plain form would overflow and warn); the polygon beside it
    keeps its own pixels."""
    far = np.array([[-1e300, -1e300], [10.0, 4.25], [0.25, 6.75]])
    other = square(5.25, 5.25, 7.75, 7.75)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with np.errstate(all='warn'):
            together = polygon_coverage([far, other], 8, 12)
            alone = polygon_coverage([far], 8, 12)
    np.testing.assert_array_equal(
        together, alone | centre_rule([other], 8, 12))


@pytest.mark.parametrize('chunk', [6, 40, None])
def test_small_chunks_draw_the_same_pixels(monkeypatch, chunk):
    """The path for polygons with very many crossings (a parity plane for
    each such polygon, beside the row buffers of the others) forced on
    small polygons: same pixels as matplotlib, for one and for two
    classes."""
    import mmseg_sia.labels as labels
    if chunk is not None:
        monkeypatch.setattr(labels, '_CHUNK', chunk)
    rng = np.random.default_rng(5)
    height, width = 20, 30
    small = [square(x, y, x + 1.5, y + 2.5)
             for x, y in ((20.25, 1.25), (24.75, 1.75), (2.25, 15.25))]
    # A long, thin, tilted polygon running past the top and the bottom:
    # its edges cross 20+ columns each (more than a chunk).
    long = np.array([[-3.25, -4.75], [33.5, 12.25], [33.5, 26.5],
                     [-3.25, 3.75]])
    turns = np.linspace(0, 4 * np.pi, 5)[:-1] * 1.25
    star = np.stack([15 + 7 * np.cos(turns), 10 + 7 * np.sin(turns)], axis=1)
    zigzag = np.array([[x + 0.25, 0.25 if i % 2 else 19.75]
                       for i, x in enumerate(range(2, 28, 3))] +
                      [[27.75, 21.0], [1.75, 21.0]])
    blobs = [square(*rng.uniform(0, 25, 2).round(2),
                    *(rng.uniform(0, 25, 2).round(2) + 4.125))
             for _ in range(6)]
    # One-column pegs (two crossings each) make groups of several polygons
    # that start past the first one; two polygons lie beside the tile.
    pegs = [square(x + 0.25, 14.25, x + 0.75, 17.75) for x in range(8)]
    left = square(-9.75, 2.25, -1.25, 6.75)
    right = square(31.25, 2.25, 39.75, 6.75)
    # A peg whose rows fall between those of the peg before ``left``: sort
    # keys shared by the two would pair their crossings across columns.
    inner = square(20.25, 15.25, 20.75, 16.75)
    polys = pegs[:3] + [left, inner] + small + \
        [long, HOLED, star, zigzag] + pegs[3:] + [right] + blobs + \
        [TRIANGLE_RING]
    mask = labels.polygon_coverage(polys, height, width)
    np.testing.assert_array_equal(mask, centre_rule(polys, height, width))
    few = [pegs[2], left, inner, right, pegs[5]]
    np.testing.assert_array_equal(labels.polygon_coverage(few, height, width),
                                  centre_rule(few, height, width))
    # Two classes, the second drawn over the first.
    seg = labels.rasterize_polygons({1: polys[:6], 2: polys[6:]},
                                    (height, width))
    expected = np.where(centre_rule(polys[6:], height, width), 2,
                        np.where(centre_rule(polys[:6], height, width), 1,
                                 0))
    np.testing.assert_array_equal(seg, expected)


@pytest.mark.parametrize('depth', [128, 255, 256, 65535, 65536])
def test_many_polygons_on_one_pixel_keep_it_covered(depth):
    """Depth counters sized to the deepest column: ``depth`` copies of the
    same peg cover its 3 pixels whatever the count."""
    peg = square(2.25, 1.25, 2.75, 3.75)
    mask = polygon_coverage([peg] * depth, 5, 5)
    assert np.argwhere(mask).tolist() == [[1, 2], [2, 2], [3, 2]]


def test_a_class_with_nothing_drawable_spares_the_next(monkeypatch):
    import mmseg_sia.labels as labels
    monkeypatch.setattr(labels, '_CHUNK', 4)
    stub = np.array([[0.0, 0.0], [9.0, 9.0]])
    road = square(1.25, 1.25, 6.75, 3.75)
    seg = rasterize_polygons({1: [stub], 2: [road], 3: [stub]}, (6, 8))
    expected = np.zeros((6, 8), np.uint8)
    expected[1:4, 1:7] = 2
    np.testing.assert_array_equal(seg, expected)


def test_priority_and_background_by_hand():
    a = square(0.25, 0.25, 4.75, 4.75)    # rows/cols 0-4
    b = square(2.25, 2.25, 6.75, 6.75)    # rows/cols 2-6
    c = square(4.25, 0.25, 7.75, 3.75)    # rows 0-3, cols 4-7
    polys = {1: [a], 2: [b], 3: [c]}
    # Priority 2 over 3 over 1: not ascending ids.
    seg = rasterize_polygons(polys, (8, 8), priority=(2, 3, 1))
    assert seg[3, 4] == 2 and seg[1, 4] == 3 and seg[3, 3] == 2
    assert seg[1, 1] == 1 and seg[7, 7] == 0
    # Default (higher id wins), with a background that is not 0.
    for background in (1, 255):
        seg = rasterize_polygons({2: [b], 3: [c]}, (8, 8),
                                 background=background)
        assert seg[7, 7] == background and seg[0, 0] == background
        assert seg[3, 4] == 3 and seg[5, 5] == 2


def test_rasterize_label_files_passes_warn(tmp_path):
    from mmseg_sia.labels import rasterize_label_files
    path = write(tmp_path / 'quiet.json', [
        feat(building_imcoords='1,2,3'),
        feat(building_imcoords='1,1,5,1,5,5,1,5')])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        seg, files = rasterize_label_files([path], (6, 6), warn=False)
    assert files[0].skipped == [(0, 'building_imcoords: odd number of '
                                    'values (3)')]
    assert np.argwhere(seg == 1).tolist() == [[r, c] for r in range(1, 5)
                                              for c in range(1, 5)]


def test_packed_polygons_draw_the_pixels_of_the_lists():
    """The flat-array input (what the map-label reader gives) against the
    same polygons as lists and against matplotlib: short rings and polygons
    of none dropped, holes paired with their exterior, classes kept apart."""
    from mmseg_sia.labels import PackedPolygons
    polys = polygons_mixed()
    packed = PackedPolygons.from_polygons(polys)
    # The stubs (2 points) and the polygon without rings hold empty rings.
    assert packed.ring_counts.tolist() == [2, 1, 2, 1, 1, 1, 1]
    assert packed.ring_sizes.tolist() == [4, 4, 3, 4, 0, 0, 0, 4, 4]
    assert packed.points.shape == (23, 2)
    np.testing.assert_array_equal(polygon_coverage(packed, 20, 30),
                                  centre_rule(polys, 20, 30))
    # Built by hand: a holed square and a triangle, then the same as lists.
    hand = PackedPolygons(np.concatenate(HOLED + TRIANGLE_RING),
                          np.array([4, 4, 3]), np.array([2, 1]))
    seg = rasterize_polygons({1: hand, 2: [INT_SQUARE]}, (20, 30))
    expected = rasterize_polygons({1: [HOLED, TRIANGLE_RING],
                                   2: [INT_SQUARE]}, (20, 30))
    np.testing.assert_array_equal(seg, expected)
    assert set(np.unique(seg)) == {0, 1, 2}
    # Polygons left without a ring (stubs only), first and last.
    for polys in ([STUB_ONLY, HOLED], [HOLED, STUB_ONLY],
                  [STUB_ONLY, NO_RINGS, TRIANGLE_RING, STUB_ONLY]):
        np.testing.assert_array_equal(
            polygon_coverage(PackedPolygons.from_polygons(polys), 20, 30),
            centre_rule(polys, 20, 30))
    # No polygon at all: the background only.
    none = PackedPolygons(np.zeros((0, 2)), np.zeros(0, np.int64),
                          np.zeros(0, np.int64))
    assert not rasterize_polygons({1: none}, (4, 5), background=0).any()
    assert (rasterize_polygons({1: none}, (4, 5), background=7) == 7).all()


def test_packed_polygons_name_the_polygon_with_a_nan():
    from mmseg_sia.labels import PackedPolygons
    tri = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, np.nan]])
    packed = PackedPolygons.from_polygons([square(0, 0, 2, 2), HOLED,
                                           [square(4, 4, 6, 6), tri]])
    with pytest.raises(ValueError, match=r'^polygon 2 has a NaN or infinite '
                       r'coordinate$'):
        polygon_coverage(packed, 8, 8)
    # A ring too short to draw after it, or a NaN in such a ring before it.
    stub = np.array([[0.0, 0.0], [1.0, 1.0]])
    for polys, bad in (([[tri, stub]], 0), ([[tri], [stub]], 0),
                       ([[np.array([[np.nan, 0.0], [1.0, 1.0]])], [tri]], 1)):
        for given in (polys, PackedPolygons.from_polygons(polys)):
            with pytest.raises(ValueError, match=rf'^polygon {bad} has a '
                               r'NaN or infinite coordinate$'):
                polygon_coverage(given, 8, 8)


def exact_centre_rule(polygons, height, width):
    """The rule in exact rational arithmetic: column ``c`` is crossed by an
    edge when ``min(x0, x1) <= c + 1/2 < max(x0, x1)``, at the exact ``y``;
    pixel ``r`` lies below a crossing when ``y <= r + 1/2``; even-odd within
    a polygon, union over polygons."""
    from fractions import Fraction
    half = Fraction(1, 2)
    union = np.zeros((height, width), bool)
    for rings in polygons:
        crossings = [[] for _ in range(width)]
        for ring in rings:
            pts = [(Fraction(x), Fraction(y)) for x, y in ring.tolist()]
            for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1]):
                for c in range(width):
                    if min(ax, bx) <= c + half < max(ax, bx):
                        crossings[c].append(ay + (c + half - ax) *
                                            (by - ay) / (bx - ax))
        for c in range(width):
            for r in range(height):
                below = sum(y <= r + half for y in crossings[c])
                union[r, c] |= below % 2 == 1
    return union


def test_centres_on_edges_are_decided_exactly():
    """Vertices on an eighth-pixel grid put pixel centres exactly on slanted
    edges: each is decided by the half-open rule as exact arithmetic decides
    it. The edge (0.125, 0)-(10.875, 7) passes through the centre (5.5, 3.5)
    and (0.625, 0)-(8.875, 9) through (7.5, 7.5); through a rounded slope
    their heights come out 3.5000000000000004 and 7.499999999999999, so the
    height must be rounded once (multiplying before dividing)."""
    rng = np.random.default_rng(12)
    height, width = 9, 11
    polys = [[np.array([[0.125, 0.0], [10.875, 7.0], [0.125, 7.0]])],
             [np.array([[0.625, 0.0], [8.875, 9.0], [10.5, 0.0]])]]
    for _ in range(12):
        n = int(rng.integers(3, 7))
        polys.append([rng.integers(-8, 8 * 12, (n, 2)) / 8.0])
    exact = exact_centre_rule(polys, height, width)
    # The centres on those edges: inside the first (the edge is its upper
    # boundary, y <= r + 1/2 counts), outside the second (its lower one).
    assert exact_centre_rule(polys[:1], height, width)[3, 5]
    assert not exact_centre_rule(polys[1:2], height, width)[7, 7]
    np.testing.assert_array_equal(polygon_coverage(polys, height, width),
                                  exact)
    for poly in polys[:2]:
        np.testing.assert_array_equal(
            polygon_coverage([poly], height, width),
            exact_centre_rule([poly], height, width))
