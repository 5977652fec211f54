"""The fast reading of regular GeoJSON label files (mmseg_sia._geojson)
against the general reader, which reads every file the fast one declines."""
import json

import numpy as np
import pytest

from mmseg_sia import _geojson, maplabels
from mmseg_sia.maplabels import _cached_class_value as class_value
from mmseg_sia.maplabels import read_map_label_file


def general(monkeypatch, *args, **kwargs):
    """``read_map_label_file`` with the fast path turned off."""
    with monkeypatch.context() as m:
        m.setattr(maplabels, '_read_regular', lambda *a: None)
        return read_map_label_file(*args, **kwargs)


def same_result(a, b):
    assert (a.path, a.num_features, a.unread, a.skipped, a.unusable) == \
        (b.path, b.num_features, b.unread, b.skipped, b.unusable)
    assert a.values == b.values
    assert str(a.crs) == str(b.crs)
    pa, pb = a.packed, b.packed
    np.testing.assert_array_equal(pa.points, pb.points)
    for name in ('ring_sizes', 'ring_counts', 'features', 'parts'):
        np.testing.assert_array_equal(getattr(pa, name), getattr(pb, name),
                                      err_msg=name)
    assert pa.values == pb.values


def number_text(rng, value, style):
    """A coordinate written as GIS tools and hand edits write them."""
    if style == 'repr':  # 17 significant digits: simdjson converts these
        return repr(float(value))
    if style == 'fixed':
        return f'{value:.{rng.integers(0, 9)}f}'
    if style == 'int':
        return str(int(round(value)))
    if style == 'exp':
        return f'{value:.{rng.integers(1, 12)}{"eE"[rng.integers(2)]}}'
    raise ValueError(style)


def write_collection(path, rng, *, dims=2, styles=('fixed',), indent=None,
                     closed=True, codes=(10, 30, 60), problems=False):
    """A FeatureCollection of Polygons and MultiPolygons (holes among them)
    in EPSG:5186-like numbers, its text made by hand so that the number
    spellings vary; with ``problems``, some features have no class, a null
    geometry or a LineString."""
    def ring(n):
        centre = rng.uniform([150000, 450000], [250000, 550000])
        pts = centre + rng.normal(0, 40, (n, 2))
        if dims > 2:  # heights, measures
            pts = np.c_[pts, rng.uniform(0, 50, (n, dims - 2))]
        if closed and rng.random() < 0.8:
            pts = np.r_[pts, pts[:1]]
        elif rng.random() < 0.3:  # ends below its start: not a closing
            pts = np.r_[pts, pts[:1] + np.eye(1, pts.shape[1], 1)]
        return pts

    def text_of(pts):
        return '[' + ', '.join(
            '[' + ','.join(number_text(rng, v, styles[rng.integers(
                len(styles))]) for v in p) + ']' for p in pts) + ']'

    features = []
    for i in range(int(rng.integers(5, 40))):
        polygon = lambda: '[' + ', '.join(  # noqa: E731
            text_of(ring(int(rng.integers(3, 12))))
            for _ in range(int(rng.integers(1, 4)))) + ']'
        if rng.random() < 0.3:
            kind = 'MultiPolygon'
            coords = '[' + ','.join(polygon() for _ in range(
                int(rng.integers(1, 4)))) + ']'
        else:
            kind, coords = 'Polygon', polygon()
        geometry = f'{{"type": "{kind}", "coordinates": {coords}}}'
        props = {'ANN_CD': int(codes[rng.integers(len(codes))]),
                 'ANN_NM': '건물'}
        if problems and i % 7 == 3:
            del props['ANN_CD']
        elif problems and i % 7 == 5:
            geometry = 'null'
        elif problems and i % 7 == 6:
            geometry = '{"type": "LineString", "coordinates": [[1, 2], [3, 4]]}'
        elif problems and i % 7 == 4:  # a ring of one point, closed
            point = '[' + ', '.join(['7'] * dims) + ']'
            geometry = ('{"type": "Polygon", "coordinates": [[' + point +
                        ', ' + point + ']]}')
        features.append(f'{{"type": "Feature", "properties": '
                        f'{json.dumps(props, ensure_ascii=False)}, '
                        f'"geometry": {geometry}}}')
    sep = ',\n' + ' ' * (indent or 0) if indent else ','
    text = ('{"type": "FeatureCollection", "crs": {"type": "name", '
            '"properties": {"name": "EPSG:5186"}}, "features": [' +
            sep.join(features) + ']}')
    path.write_text(text, encoding='utf-8')
    return path


@pytest.mark.parametrize('seed', range(6))
def test_fast_reader_reads_what_the_general_reader_reads(tmp_path,
                                                         monkeypatch, seed):
    rng = np.random.default_rng(seed)
    settings = [
        dict(),
        dict(styles=('fixed', 'int')),
        dict(styles=('exp', 'fixed'), indent=2),
        dict(dims=3, closed=False),
        dict(dims=4, problems=True),
        dict(problems=True),
        dict(styles=('repr', 'fixed')),
    ]
    for k, options in enumerate(settings):
        path = write_collection(tmp_path / f'{k}.json', rng, **options)
        raw = path.read_bytes()
        fast = _geojson.read_regular(raw, 'ANN_CD', None, class_value)
        assert fast is not None, options  # the fast path was taken
        # Numbers of 17 digits are left to simdjson; the others are
        # converted in the scan.
        assert fast.converted == ('repr' not in options.get('styles', ())), \
            options
        for only in (None, {10, 30}, {60}, set()):
            kwargs = dict(only=only, warn=False)
            same_result(read_map_label_file(str(path), **kwargs),
                        general(monkeypatch, str(path), **kwargs))


@pytest.mark.parametrize('coordinates', [
    '[[[0, 0], [1, [2]], [3, 4]]]',  # an array inside a position
    '[[[0, 0], [1], [2, 3, 4], [5, 5]]]',  # sizes 1 and 3 average 2
    '[[[0, 0], [1, 1, 1], [3, 4]]]',  # 2 and 3 numbers mixed
    '[[[0, 0], ["1", 1], [3, 4]]]',
    '[[[0, 0], [true, 1], [3, 4]]]',
    '[[[0, 0], [null, 1], [3, 4]]]',
    '[[[0, 0], {"x": 1}, [3, 4]]]',
    '[[]]', '[]', '[[[0, 0], [], [3, 4]]]', '5', 'null',
    '[[[0, 0], [1e400, 1], [3, 4]]]',
    '[[[0, 0], [123456789012345678901234567890, 1], [3, 4]]]',
    '[[0, 0], [1, 0], [1, 1]]',  # a ring where a polygon belongs
])
def test_irregular_coordinates_are_left_to_the_general_reader(
        tmp_path, monkeypatch, coordinates):
    text = ('{"type": "FeatureCollection", "features": ['
            '{"type": "Feature", "properties": {"ANN_CD": 10}, "geometry": '
            '{"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4]]]}},'
            '{"type": "Feature", "properties": {"ANN_CD": 30}, "geometry": '
            f'{{"type": "Polygon", "coordinates": {coordinates}}}}}]}}')
    path = tmp_path / 'x.json'
    path.write_bytes(text.encode())
    assert _geojson.read_regular(text.encode(), 'ANN_CD', None,
                                 class_value) is None
    try:
        expected = general(monkeypatch, str(path), warn=False)
    except Exception as e:  # noqa: BLE001 - the same error either way
        with pytest.raises(type(e), match='x.json'):
            read_map_label_file(str(path), warn=False)
        return
    same_result(read_map_label_file(str(path), warn=False), expected)


def test_irregular_documents_are_left_to_the_general_reader():
    def read(text):  # '\udcff' stands for the byte 0xff
        return _geojson.read_regular(text.encode('utf-8', 'surrogateescape'),
                                     'ANN_CD', None, class_value)

    polygon = ('{"type": "Polygon", "coordinates": '
               '[[[0, 0], [4, 0], [4, 4]]]}')
    assert read('{"features": [{"properties": {"ANN_CD": 1}, "geometry": '
                f'{polygon}}}]}}') is not None
    for text in ('[]', '{"features": 3}', '{"type": "FeatureCollection"}',
                 '{"features": [3]}', '{"features": [{"properties": [1]}]}',
                 '{"features": [{"properties": {"ANN_CD": 1}, "geometry": '
                 '"x"}]}', '{"features": [', '\xff'):
        assert read(text) is None, text
    # msgspec does not check the UTF-8 of a member it skips; the general
    # reader refuses such a file, and so the fast one leaves it to it.
    assert read('{"name": "\udcff", "features": [{"properties": {"ANN_CD": '
                f'1}}, "geometry": {polygon}}}]}}') is None
    # Features without a class or a polygon are named by the fast reader,
    # as the general one names them; a file of nothing else is left to it.
    assert read('{"features": [{"properties": {}, "geometry": '
                f'{polygon}}}]}}') is None


def test_numbers_are_converted_exactly():
    """Every number the scan converts equals Python's (correctly rounded)
    conversion of its text; the others are flagged for simdjson."""
    rng = np.random.default_rng(7)
    texts = [repr(float(v)) for v in rng.uniform(-1e6, 1e6, 3000)]
    texts += [f'{v:.{k}f}' for v, k in zip(rng.uniform(-1e6, 1e6, 3000),
                                           rng.integers(0, 12, 3000))]
    texts += [f'{v:.{k}e}' for v, k in zip(
        rng.uniform(-9, 9, 3000) * 10.0 ** rng.integers(-30, 30, 3000),
        rng.integers(0, 16, 3000))]
    texts += ['0', '-0', '0.0', '-0.5', '1e22', '1e23', '9007199254740992',
              '9007199254740993', '123456789012345678', '0.1', '1E5',
              '1e+5', '1e-5', '2.5e-22', '200160.9699',
              '9999999999999999999', '18446744073709551617',
              '0.0000000000000000001']
    converted = 0
    for text in texts:
        chars = np.frombuffer(text.encode(), np.uint8)
        value, end, exact = _geojson._number(chars, 0, len(chars),
                                             _geojson._POWERS)
        assert end == len(chars), text
        if exact:
            converted += 1
            assert value == float(text), text
    assert converted > len(texts) // 2
    # Past 2**53 or 10**22 the scan does not round: simdjson converts.
    for text in ('9007199254740993', '1e23', '0.30000000000000004'):
        chars = np.frombuffer(text.encode(), np.uint8)
        assert not _geojson._number(chars, 0, len(chars),
                                    _geojson._POWERS)[2], text


def test_numbers_left_to_simdjson_are_exact_too(tmp_path):
    rng = np.random.default_rng(3)
    rings = [rng.uniform(1e5, 6e5, (6, 2)) for _ in range(20)]
    features = [{'type': 'Feature', 'properties': {'ANN_CD': 10},
                 'geometry': {'type': 'Polygon',
                              'coordinates': [r.tolist()]}}
                for r in rings]
    raw = json.dumps({'type': 'FeatureCollection',
                      'features': features}).encode()
    fast = _geojson.read_regular(raw, 'ANN_CD', None, class_value)
    assert fast is not None and not fast.converted
    np.testing.assert_array_equal(fast.points, np.concatenate(rings))


def test_mutated_files_read_alike_or_go_to_the_general_reader(
        tmp_path, monkeypatch):
    """Single-character edits of a regular file (brackets, separators,
    digits, signs, letters, quotes): the fast reader either declines the
    result or reads what the general reader reads."""
    from mmseg_sia.labels import LabelFileError

    rng = np.random.default_rng(11)
    path = write_collection(tmp_path / 'x.json', rng, styles=('fixed', 'exp'))
    original = path.read_bytes()
    start = original.index(b'"features"')
    alphabet = b'[]{},-+.0123456789eE "tnx'
    declined = 0
    for trial in range(600):
        at = int(rng.integers(start, len(original)))
        edit = rng.integers(3)
        char = alphabet[rng.integers(len(alphabet)):][:1]
        text = original[:at] + (char if edit == 0 else b'') + \
            original[at + (edit != 1):]  # insert, delete or replace
        mutated = tmp_path / f'm{trial}.json'
        mutated.write_bytes(text)
        declined += _geojson.read_regular(text, 'ANN_CD', {10, 30},
                                          class_value) is None
        try:
            expected = general(monkeypatch, str(mutated), only={10, 30},
                               warn=False)
        except LabelFileError as e:
            with pytest.raises(LabelFileError) as got:
                read_map_label_file(str(mutated), only={10, 30}, warn=False)
            assert str(got.value) == str(e)
            continue
        same_result(read_map_label_file(str(mutated), only={10, 30},
                                        warn=False), expected)
    assert 0 < declined < 600  # both outcomes were exercised


@pytest.mark.parametrize('far', ['1e999', '-2E+400', '1' + '0' * 400])
def test_numbers_beyond_the_float_range(tmp_path, monkeypatch, far):
    """JSON sets no range; orjson refuses such a number, and the readers
    then take the json module's reading (infinite): the feature holding it
    is skipped and named, a member nothing reads does not matter."""
    def feature(code, ring, bbox='[0, 0, 1, 1]'):
        return (f'{{"type": "Feature", "bbox": {bbox}, "properties": '
                f'{{"ANN_CD": {code}}}, "geometry": {{"type": "Polygon", '
                f'"coordinates": [{ring}]}}}}')

    good = '[[0, 0], [4, 0], [4, 4]]'
    bad = f'[[0, 0], [4, 0], [4, {far}]]'
    cases = {
        'drawn': (feature(10, good), feature(30, bad)),
        'not drawn': (feature(10, good), feature(60, bad)),
        'bbox': (feature(10, good, f'[0, 0, {far}, 1]'), feature(30, good)),
    }
    for case, features in cases.items():
        path = tmp_path / 'x.json'
        path.write_text('{"type": "FeatureCollection", "features": [' +
                        ','.join(features) + ']}')
        fast = _geojson.read_regular(path.read_bytes(), 'ANN_CD', {10, 30},
                                     class_value)
        assert (fast is None) == (case == 'drawn'), case
        label = read_map_label_file(str(path), only={10, 30}, warn=False)
        same_result(label, general(monkeypatch, str(path), only={10, 30},
                                   warn=False))
        assert [p.feature for p in label.polygons] == \
            ([0] if case == 'drawn' else [0, 1] if case == 'bbox' else [0])
    with pytest.warns(maplabels.SIAMapLabelWarning,
                      match=r'feature 1: NaN or infinite coordinate'):
        path.write_text('{"type": "FeatureCollection", "features": [' +
                        ','.join(cases['drawn']) + ']}')
        read_map_label_file(str(path))
