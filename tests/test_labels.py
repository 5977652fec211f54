"""The label reader and the pixel convention (issue 2, DESIGN.md)."""
import json
import warnings

import cv2
import numpy as np
import pytest
from matplotlib.path import Path

from mmseg_sia.labels import (LabelFileError, SIALabelWarning,
                              parse_footprint, parse_imcoords,
                              polygon_coverage, rasterize_label_files,
                              rasterize_polygons, read_label_file)


def reference_mask(polygons, height, width):
    """Pixel-centre rule computed independently with matplotlib's Path."""
    yy, xx = np.mgrid[0:height, 0:width]
    centres = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], axis=1)
    mask = np.zeros(height * width, dtype=bool)
    for pts in polygons:
        path = Path(np.vstack([pts, pts[:1]]), closed=True)
        mask |= path.contains_points(centres)
    return mask.reshape(height, width)


def write_json(path, features, bom=False):
    text = json.dumps({'type': 'FeatureCollection', 'features': features})
    path.write_bytes((b'\xef\xbb\xbf' if bom else b'') + text.encode())
    return str(path)


def feat(building='EMPTY', road='EMPTY', **extra):
    props = dict(object_imcoords='EMPTY', building_imcoords=building,
                 road_imcoords=road, image_id='X.png', type_id='1',
                 type_name='x')
    props.update(extra)
    return {'type': 'Feature', 'properties': props,
            'geometry': {'type': 'Polygon', 'coordinates': []}}


def random_polygons(rng, count, height, width):
    polys = []
    for _ in range(count):
        n = int(rng.integers(3, 10))
        centre = rng.uniform(-0.2, 1.2, 2) * (width, height)
        radius = rng.uniform(1.5, 0.4 * width)
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        scale = rng.uniform(0.4, 1.0, n) * radius
        polys.append(np.stack([centre[0] + scale * np.cos(ang),
                               centre[1] + scale * np.sin(ang)], axis=1))
    return polys


@pytest.mark.parametrize('seed', range(5))
def test_coverage_matches_independent_centre_rule(seed):
    rng = np.random.default_rng(seed)
    height, width = 48, 70
    polys = random_polygons(rng, 25, height, width)
    # Fractional vertices everywhere: no vertex sits on a pixel centre line.
    got = polygon_coverage(polys, height, width)
    np.testing.assert_array_equal(got, reference_mask(polys, height, width))
    # One polygon at a time as well (union of separate fills).
    for pts in polys[:5]:
        np.testing.assert_array_equal(
            polygon_coverage([pts], height, width),
            reference_mask([pts], height, width))


def test_self_crossing_ring_uses_even_odd_like_a_path():
    rng = np.random.default_rng(7)
    for _ in range(20):
        pts = rng.uniform(-5, 45, (7, 2))
        np.testing.assert_array_equal(
            polygon_coverage([pts], 40, 40), reference_mask([pts], 40, 40))


def test_float_vertices_are_not_truncated():
    # A square from 10.9 to 20.9: centres 11.5 ... 20.5 are inside, 10.5 is
    # not. The seed's int32 cast would start at 10 and shift the label.
    pts = np.array([[10.9, 10.9], [20.9, 10.9], [20.9, 20.9], [10.9, 20.9]])
    mask = polygon_coverage([pts], 32, 32)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (11, 20, 11, 20)
    seed_way = np.zeros((32, 32), np.uint8)
    cv2.fillPoly(seed_way, [pts.astype(np.int32)], 1)
    assert seed_way[10, 10] == 1 and not mask[10, 10]


def test_whole_tile_and_clipping():
    tiny = -2.8421709430404014e-14
    full = np.array([[tiny, tiny], [64, tiny], [64, 64], [tiny, 64]])
    assert polygon_coverage([full], 64, 64).all()
    outside = np.array([[-30., -30.], [100., -30.], [100., 100.], [-30., 100.]])
    assert polygon_coverage([outside], 64, 64).all()
    gone = np.array([[70., 10.], [90., 10.], [90., 20.]])
    assert not polygon_coverage([gone], 64, 64).any()


def test_overlapping_polygons_of_one_class_do_not_cancel():
    a = np.array([[2.5, 2.5], [20.5, 2.5], [20.5, 20.5], [2.5, 20.5]])
    b = a + 8
    mask = polygon_coverage([a, b], 32, 32)
    assert mask[15, 15]  # inside both
    # One cv2.fillPoly call with both polygons uses even-odd and drops it.
    cv = np.zeros((32, 32), np.uint8)
    cv2.fillPoly(cv, [a.astype(np.int32), b.astype(np.int32)], 1)
    assert cv[15, 15] == 0


def test_priority_decides_overlaps():
    building = np.array([[0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0]])
    road = np.array([[10.0, 0.0], [30.0, 0.0], [30.0, 20.0], [10.0, 20.0]])
    seg = rasterize_polygons({1: [building], 2: [road]}, (20, 32), (2, 1))
    assert seg[5, 5] == 1 and seg[5, 15] == 2 and seg[5, 31] == 0
    seg = rasterize_polygons({1: [building], 2: [road]}, (20, 32), (1, 2))
    assert seg[5, 15] == 1
    assert seg.dtype == np.uint8


@pytest.mark.parametrize('text, reason', [
    ('1,2,3,4,5', 'odd number of values'),
    ('1,2,3,x4,5,6', "token 'x4' is not a number"),
    ('1,2,nan,4,5,6', 'NaN or infinite'),
    ('1,2,inf,4,5,6', 'NaN or infinite'),
    ('1,2,3,4', 'fewer than 3 points'),
    ('1,,2,3,4,5', "token '' is not a number"),
])
def test_parse_imcoords_rejects(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_imcoords(text)


def test_parse_imcoords_accepts_trailing_comma_and_spaces():
    pts = parse_imcoords(' 1.5,2,3,4.25,5,-2.8421709430404014e-14, ')
    np.testing.assert_allclose(
        pts, [[1.5, 2], [3, 4.25], [5, -2.8421709430404014e-14]])


def test_bad_features_are_skipped_with_one_warning_naming_file(tmp_path):
    good = '1.5,1.5,10.5,1.5,10.5,10.5'
    path = write_json(tmp_path / 'T1.json', [
        feat(building=good),
        feat(building='1,2,3'),
        feat(road='1,2,abc,4,5,6'),
        feat(building='1,2,3,4'),
        'not a feature',
        feat(road='nan,1,2,3,4,5'),
        feat(building='', road='EMPTY'),
    ])
    with pytest.warns(SIALabelWarning) as record:
        label = read_label_file(path)
    assert len(record) == 1
    message = str(record[0].message)
    assert 'T1.json' in message
    assert 'feature 1:' in message and '; 2:' in message
    assert [i for i, _ in label.skipped] == [1, 2, 3, 4, 5]
    assert [p.feature for p in label.polygons] == [0]


def test_strict_mode_raises_naming_file_and_feature(tmp_path):
    path = write_json(tmp_path / 'T2.json', [
        feat(building='1.5,1.5,10.5,1.5,10.5,10.5'),
        feat(road='1,2,3,4,5'),
    ])
    with pytest.raises(LabelFileError,
                       match=r'T2\.json, feature 1: road_imcoords: odd'):
        read_label_file(path, strict=True)


@pytest.mark.parametrize('content, reason', [
    (b'{"type": "FeatureCollection", "features": [', 'not valid JSON'),
    (b'', 'not valid JSON'),
    ('{"features": []}'.encode('utf-16'), 'not UTF-8'),
    (b'{"type": "FeatureCollection"}', r'"features" is missing'),
    (b'{"features": {"a": 1}}', r'"features" is an object, not an array'),
    (b'[1, 2]', 'top level is an array'),
])
@pytest.mark.parametrize('strict', [False, True])
def test_unreadable_files_raise_naming_file(tmp_path, content, reason,
                                            strict):
    path = tmp_path / 'BAD_TILE.json'
    path.write_bytes(content)
    with pytest.raises(LabelFileError, match=rf'BAD_TILE\.json: .*{reason}'):
        read_label_file(str(path), strict=strict)


def test_missing_file_raises_naming_file(tmp_path):
    with pytest.raises(LabelFileError, match='NOPE.json: cannot be read'):
        read_label_file(str(tmp_path / 'NOPE.json'))


def test_bom_is_accepted_and_image_id_is_ignored(tmp_path):
    pts = '1.5,1.5,10.5,1.5,10.5,10.5'
    path = write_json(tmp_path / 'A.json',
                      [feat(building=pts, image_id='../../etc/passwd')],
                      bom=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        label = read_label_file(path)
    assert len(label.polygons) == 1
    assert label.image_ids == ['../../etc/passwd']


def test_footprint_spellings():
    corners = [[127.0, 37.5, 0], [127.1, 37.5, 0], [127.1, 37.4, 0],
               [127.0, 37.4, 0]]
    ring = parse_footprint({'coordinates': [corners]})
    bare = parse_footprint({'coordinates': corners})
    closed = parse_footprint({'coordinates': [corners + [corners[0]]]})
    for fp in (ring, bare, closed):
        np.testing.assert_allclose(fp, np.array(corners)[:, :2])
    assert parse_footprint({'coordinates': 'x'}) is None
    assert parse_footprint(None) is None


def test_rasterize_label_files_with_both_keys_in_one_folder(tmp_path):
    b = write_json(tmp_path / 'S.json', [
        feat(building='0,0,16,0,16,16,0,16'),
        feat(road='8,0,32,0,32,8,8,8'),
    ])
    seg, files = rasterize_label_files([b], (16, 32))
    assert seg[12, 4] == 1 and seg[4, 12] == 2 and seg[12, 30] == 0
    assert files[0].num_features == 2


# Issue 9: coordinates far outside the tile, and pathological polygons.

ISSUE_TRIANGLE = '1e308,10,-1e308,20,0,1e308'


@pytest.mark.parametrize('width', [32, 33])
def test_huge_coordinates_skip_the_feature_and_spare_its_neighbours(
        tmp_path, width):
    # Before: x1 - x0 overflowed to NaN; the triangle vanished silently and,
    # on odd widths, wiped the other buildings of the tile.
    house = '2.5,3.5,20.25,3.5,20.25,17.75,2.5,17.75'
    road = '0,22,33,22,33,26,0,26'
    path = write_json(tmp_path / 'HUGE.json', [
        feat(building=ISSUE_TRIANGLE), feat(building=house),
        feat(building='1.25,1.25,1e9,1.25,1.25,9.75'),  # at the bound: drawn
        feat(road=road, building='5,5,6,5,6,6,-1.0000001e9,5')])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        seg, files = rasterize_label_files([path], (32, width))
    assert [w.category for w in caught] == [SIALabelWarning]
    message = str(caught[0].message)
    assert message.startswith(f'{path}: skipped 2 of 4 features')
    assert ('feature 0: building_imcoords: coordinate 1e+308 is beyond '
            '+-1e+09 pixels') in message
    assert '; 3: building_imcoords: coordinate -1e+09 is beyond' in message
    assert [i for i, _ in files[0].skipped] == [0, 3]
    kept = [parse_imcoords(house),
            parse_imcoords('1.25,1.25,1e9,1.25,1.25,9.75')]
    np.testing.assert_array_equal(seg == 1, reference_mask(kept, 32, width))
    assert not (seg == 2).any()
    with pytest.raises(LabelFileError,
                       match=r'HUGE\.json, feature 0: building_imcoords: '
                       r'coordinate 1e\+308 is beyond'):
        read_label_file(path, strict=True)


def test_any_finite_coordinates_draw_without_overflow_or_interference():
    # The array API takes what the reader refuses: the issue's triangle
    # covers the rows whose centres lie below its edge at y ~ 15 exactly.
    huge = np.array([[1e308, 10], [-1e308, 20], [0, 1e308]])
    other = np.array([[2.21, 2.73], [10.67, 2.91], [10.33, 10.13]])
    giant = np.array([[-1.7976931348623157e308, -1e300], [1e308, 5e-324],
                      [3.25, 1.7976931348623157e308]])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        for width in (16, 17):
            mask = polygon_coverage([huge], 24, width)
            assert np.argwhere(mask.all(axis=1)).ravel().tolist() == \
                list(range(15, 24))
            assert not mask[:15].any()
            alone = [polygon_coverage([p], 24, width)
                     for p in (huge, other, giant)]
            together = polygon_coverage([huge, other, giant], 24, width)
            np.testing.assert_array_equal(together,
                                          alone[0] | alone[1] | alone[2])
            np.testing.assert_array_equal(
                alone[1], reference_mask([other], 24, width))


def test_large_accepted_coordinates_are_exact():
    # A triangle with vertices 1e8-1e9 px away whose edge y = x + 0.25 (in
    # the tile) passes a quarter pixel from the centres: nothing rounds.
    tri = np.array([[-1e9, -1e9 + 0.25], [1e9, 1e9 + 0.25], [-1e9, 1e8]])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        mask = polygon_coverage([tri], 40, 40)
    rows, cols = np.mgrid[0:40, 0:40]
    np.testing.assert_array_equal(mask, rows + 0.5 > cols + 0.5 + 0.25)


def test_non_finite_arrays_are_refused():
    good = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, 5.0]])
    with pytest.raises(ValueError, match='polygon 2 has a NaN or infinite'):
        polygon_coverage(
            [good, good[:2], np.array([[0, 0], [np.nan, 1], [2, 2]])], 8, 8)


def test_memory_is_bounded_by_the_tile_not_the_vertices():
    # 40,000 vertices zigzagging across a 128-wide tile: 5 million edge /
    # column crossings, ~400 MB at once before; now the tile plus a chunk.
    import tracemalloc
    n, size = 40000, 128
    ys = np.linspace(0.1, size - 0.1, n)
    xs = np.where(np.arange(n) % 2 == 0, 0.3, size - 0.3)
    zigzag = np.stack([xs, ys], axis=1)
    tracemalloc.start()
    try:
        mask = polygon_coverage([zigzag], size, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f'peak {peak / 2**20:.0f} MiB'
    # Same pixels as matplotlib on a few columns (each column's crossings
    # alternate with the rows, so every column has holes).
    for c in (0, 1, 63, 127):
        centres = np.stack([np.full(size, c + 0.5), np.arange(size) + 0.5], 1)
        np.testing.assert_array_equal(
            mask[:, c],
            Path(np.vstack([zigzag, zigzag[:1]])).contains_points(centres))


def test_many_polygons_keep_sub_micropixel_precision():
    # 20,000 polygons in one call (all off the tile) make polygon-numbered
    # sort keys ~2e10, spaced 4e-6 px: they would merge the two crossings of
    # this 2e-7 px sliver around the centres of row 700 and lose its pixels.
    off_tile = [np.array([[2000.0 + i, 5.0], [2001.0 + i, 5.0],
                          [2000.0 + i, 6.0]]) for i in range(20000)]
    sliver = np.array([[500.0, 700.5 + 1e-7], [510.0, 700.5 + 1e-7],
                       [510.0, 700.5 - 1e-7], [500.0, 700.5 - 1e-7]])
    mask = polygon_coverage(off_tile + [sliver], 1024, 1024)
    assert np.argwhere(mask).tolist() == [[700, c] for c in range(500, 510)]


def test_type_errors_are_said_in_json_words(tmp_path):
    path = tmp_path / 'typed.json'
    path.write_text('{"type": "FeatureCollection", "features": ['
                    '{"properties": {"building_imcoords": 12}},'
                    '{"properties": {"road_imcoords": ["1,2"]}}]}')
    with pytest.warns(SIALabelWarning) as record:
        label = read_label_file(str(path))
    assert label.polygons == []
    message = str(record[0].message)
    assert 'feature 0: building_imcoords is a number (12), expected a ' \
        'coordinate string' in message
    assert '; 1: road_imcoords is an array, expected' in message
    top = tmp_path / 'top.json'
    top.write_text('[1, 2]')
    with pytest.raises(LabelFileError, match='top level is an array'):
        read_label_file(str(top))


def test_rasterizer_works_where_no_cache_can_be_written():
    """A read-only installation run by a user without a writable home
    folder: numba finds nowhere to cache the compiled loops (simulated by
    giving it no cache locator) and refuses ``cache=True``; the rasterizer
    compiles them in the process instead and draws the same pixels."""
    import os.path as osp
    import subprocess
    import sys
    code = (
        'import numba.core.caching as caching\n'
        'caching.CacheImpl._locator_classes = []\n'
        'import numpy as np\n'
        'from mmseg_sia.labels import polygon_coverage\n'
        'tri = np.array([[0.25, 0.25], [3.75, 0.25], [3.75, 2.75]])\n'
        'print(np.argwhere(polygon_coverage([tri], 4, 5)).tolist())\n')
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    done = subprocess.run([sys.executable, '-c', code], cwd=repo,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    tri = np.array([[0.25, 0.25], [3.75, 0.25], [3.75, 2.75]])
    expected = np.argwhere(polygon_coverage([tri], 4, 5)).tolist()
    assert len(expected) == 6
    assert done.stdout.strip() == str(expected)
