"""Values of the label reader that mutation testing found unpinned (issue 14).

Each test asserts what a user of :func:`read_label_file` or
:func:`format_imcoords` reads (points, classes, types, skipped features and
their reasons, warning text) with values written out by hand.
"""
import gc
import json

import numpy as np
import pytest

from mmseg_sia.labels import (LabelFileError, SIALabelWarning,
                              format_imcoords, parse_footprint,
                              parse_imcoords, read_label_file)


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
    """Integers, a trailing comma and blanks: the exact float64 vertices."""
    path = write(tmp_path / 'ints.json', [
        feat(building_imcoords='1,1,5,1,5,5'),
        feat(building_imcoords=' 0.5,2,7.25,2,7.25,9, '),
        feat(road_imcoords='0,0,1024,0,1024,1024,0,1024,'),
    ])
    label = read_label_file(path)
    pts = [p.points for p in label.polygons]
    assert [p.dtype for p in pts] == [np.float64] * 3
    assert [p.tolist() for p in pts] == [
        [[1, 1], [5, 1], [5, 5]],
        [[0.5, 2], [7.25, 2], [7.25, 9]],
        [[0, 0], [1024, 0], [1024, 1024], [0, 1024]]]
    assert [(p.key, p.feature) for p in label.polygons] == [
        ('building_imcoords', 0), ('building_imcoords', 1),
        ('road_imcoords', 2)]


def test_bad_strings_among_good_ones_are_skipped_by_name(tmp_path):
    """Odd counts that are multiples of 3, an empty token, a value just past
    the bound on the positive side only: each feature skipped with its
    reason, its neighbours drawn."""
    path = write(tmp_path / 'mixed.json', [
        feat(building_imcoords=TRI),
        feat(building_imcoords='1,2,3,4,5,6,7,8,9'),
        feat(building_imcoords='1,2,,3,4,5,6'),
        feat(building_imcoords='1,1,1.5e9,1,5,5'),
        feat(road_imcoords='2,2,9,2,9,9,2,9'),
    ])
    with pytest.warns(SIALabelWarning) as record:
        label = read_label_file(path)
    assert label.skipped == [
        (1, 'building_imcoords: odd number of values (9)'),
        (2, "building_imcoords: token '' is not a number"),
        (3, 'building_imcoords: coordinate 1.5e+09 is beyond +-1e+09 '
            'pixels, far outside any tile'),
    ]
    assert [p.feature for p in label.polygons] == [0, 4]
    assert label.polygons[1].points.tolist() == [[2, 2], [9, 2], [9, 9],
                                                 [2, 9]]
    assert len(record) == 1


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
    # The warning points at the caller's line, not at the library.
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
