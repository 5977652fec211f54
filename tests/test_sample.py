"""The bundled-sample generator and the committed sample (issues 3, 10, 12)."""
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import warnings

import cv2
import numpy as np
import pytest

from mmseg_sia.labels import (DEFAULT_CLASS_MAP, SIALabelWarning,
                              parse_imcoords, polygon_coverage,
                              rasterize_label_files, read_label_file)
from mmseg_sia.dataset_tools.stats import TYPE_NAMES_EN
from mmseg_sia.sample import (BUILDING_TYPES, ROAD_TYPES, SAMPLE_NUM_TRAIN,
                              SAMPLE_NUM_VAL, SAMPLE_SEED, SAMPLE_TILE_SIZE,
                              TILE_KINDS, SampleSettings, make_sample)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
COMMITTED = osp.join(REPO, 'data', 'sia_sample')
PROPERTY_KEYS = [
    'object_imcoords', 'building_imcoords', 'road_imcoords', 'image_id',
    'ingest_time', 'type_id', 'type_name'
]
TIME_FORMAT = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$')
SMALL = dict(seed=5, num_train=6, num_val=4, tile_size=128)
MIXED = SampleSettings(label_style='mixed')
# The two building type names the released files spell with spaces.
SPACED = {'소형 시설': '소형시설', '중형 단독 시설': '중형단독시설'}


@pytest.fixture(scope='module')
def small_sample(tmp_path_factory):
    out = tmp_path_factory.mktemp('small') / 'sample'
    info = make_sample(str(out), **SMALL)
    return str(out), info


@pytest.fixture(scope='module')
def mixed_sample(tmp_path_factory):
    """The same tiles with the label files of other redistributions."""
    out = tmp_path_factory.mktemp('mixed') / 'sample'
    info = make_sample(str(out), settings=MIXED, **dict(SMALL, num_train=14))
    return str(out), info


def all_files(root):
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            found[osp.relpath(path, root)] = path
    return found


def label_paths(root, stem):
    return sorted(glob.glob(osp.join(root, 'labels', '*', f'{stem}.json')))


def read_split(root, split):
    with open(osp.join(root, 'splits', f'{split}.txt')) as f:
        return [line.strip() for line in f if line.strip()]


def read_png(path):
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def load_json(path):
    with open(path, 'rb') as f:
        return json.loads(f.read().decode('utf-8-sig'))


def test_same_seed_same_files(small_sample, tmp_path):
    root, _ = small_sample
    again = tmp_path / 'again'
    make_sample(str(again), **SMALL)
    first, second = all_files(root), all_files(str(again))
    assert sorted(first) == sorted(second)
    for rel, path in first.items():
        with open(path, 'rb') as a, open(second[rel], 'rb') as b:
            assert a.read() == b.read(), rel

    other = tmp_path / 'other'
    make_sample(str(other), **dict(SMALL, seed=6))
    assert sorted(all_files(str(other))) != sorted(first)


def test_layout_and_kinds(small_sample):
    root, info = small_sample
    assert read_split(root, 'train') == info.train
    assert read_split(root, 'val') == info.val
    assert len(info.train) == SMALL['num_train']
    assert len(info.val) == SMALL['num_val']
    assert not set(info.train) & set(info.val)
    images = sorted(os.listdir(osp.join(root, 'images')))
    assert images == sorted(f'{s}.png' for s in info.train + info.val)
    for split in (info.train, info.val):
        assert {info.kinds[s] for s in split} == set(TILE_KINDS)
    for stem, kind in info.kinds.items():
        assert re.fullmatch(r'BLD\d{5}_PS3_K3A_NIA\d{4}', stem)
        image = read_png(osp.join(root, 'images', f'{stem}.png'))
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        has_building = osp.isfile(
            osp.join(root, 'labels', 'building', f'{stem}.json'))
        has_road = osp.isfile(osp.join(root, 'labels', 'road', f'{stem}.json'))
        assert has_building == (kind in ('both', 'building'))
        assert has_road == (kind in ('both', 'road'))


@pytest.mark.parametrize('root_kind', ['small', 'mixed', 'committed'])
def test_label_files_follow_the_schema(root_kind, small_sample, mixed_sample):
    root = dict(small=small_sample[0], mixed=mixed_sample[0],
                committed=COMMITTED)[root_kind]
    files = sorted(glob.glob(osp.join(root, 'labels', '*', '*.json')))
    assert files
    for path in files:
        folder = osp.basename(osp.dirname(path))
        stem = osp.basename(path)[:-5]
        key = f'{folder}_imcoords'
        other = 'road_imcoords' if folder == 'building' else \
            'building_imcoords'
        types = BUILDING_TYPES if folder == 'building' else ROAD_TYPES
        with warnings.catch_warnings():
            warnings.simplefilter('error', SIALabelWarning)
            label = read_label_file(path, strict=True)
        assert not label.skipped
        doc = load_json(path)
        assert doc['type'] == 'FeatureCollection'
        assert len(label.polygons) == len(doc['features']) >= 1
        assert {p.key for p in label.polygons} == {key}
        assert label.footprint is not None and label.footprint.shape == (4,
                                                                         2)
        assert label.image_ids == [f'{stem}.png']
        for feature in doc['features']:
            assert feature['type'] == 'Feature'
            assert feature['geometry']['type'] == 'Polygon'
            props = feature['properties']
            assert list(props) == PROPERTY_KEYS
            assert props['object_imcoords'] == 'EMPTY'
            assert props[other] in ('EMPTY', '')
            name = props['type_name']
            if root_kind == 'mixed':  # the names without spaces
                assert ' ' not in name
                name = {v: k for k, v in SPACED.items()}.get(name, name)
            assert (props['type_id'], name) in types
            assert TIME_FORMAT.match(props['ingest_time'])


def test_committed_sample_is_written_like_the_release():
    """Byte facts of the genuine label files (issue 12), read independently."""
    paths = sorted(glob.glob(osp.join(COMMITTED, 'labels', '*', '*.json')))
    texts = []
    spaced = set()
    for path in paths:
        with open(path, 'rb') as f:
            raw = f.read()
        # Pure ASCII (no byte-order mark, Korean escaped), one line, no
        # final newline, exactly what json.dumps writes with its defaults,
        # features before type.
        text = raw.decode('ascii')
        assert '\n' not in text and '\r' not in text, path
        doc = json.loads(text)
        assert json.dumps(doc) == text, path
        assert list(doc) == ['features', 'type'], path
        assert text.startswith('{"features": [{"geometry": {'), path
        assert text.endswith('"type": "FeatureCollection"}'), path
        key = osp.basename(osp.dirname(path)) + '_imcoords'
        footprints = []
        for feature in doc['features']:
            props = feature['properties']
            for unused in {'object_imcoords', 'building_imcoords',
                           'road_imcoords'} - {key}:
                assert props[unused] == 'EMPTY', path
            coords = props[key]
            assert not coords.endswith(','), path
            values = [float(v) for v in coords.split(',')]
            # Open polygons: the first vertex is not repeated at the end.
            assert values[:2] != values[-2:], path
            if props['type_name'] in SPACED:
                spaced.add(props['type_name'])
            # The footprint: a bare list of four open [lon, lat, 0.0] corners.
            ring = feature['geometry']['coordinates']
            assert len(ring) == 4, path
            assert all(len(p) == 3 and isinstance(p[0], float)
                       and p[2] == 0.0 and isinstance(p[2], float)
                       for p in ring), path
            footprints.append(ring)
        assert all(ring == footprints[0] for ring in footprints), path
        # Bottom-left, bottom-right, top-right, top-left.
        (w0, s0, _), (e1, s1, _), (e2, n2, _), (w3, n3, _) = footprints[0]
        assert max(s0, s1) < min(n2, n3), path
        assert w0 < e1 and w3 < e2, path
        texts.append(text)
    assert spaced == set(SPACED)
    everything = ''.join(texts)
    # Korean only as escapes: 소형 시설 is "\uc18c\ud615 \uc2dc\uc124".
    assert '\\uc18c\\ud615 \\uc2dc\\uc124' in everything
    # Floating-point noise at the tile border, and exact border values.
    assert re.search(r'[",]-?\d\.\d+e-1[45][,"]', everything)
    assert re.search(r'[",]%d\.0000000000000\d+[,"]' % SAMPLE_TILE_SIZE,
                     everything)
    assert re.search(r'[",]%d[,"]' % SAMPLE_TILE_SIZE, everything)
    assert re.search(r'[",]0[,"]', everything)
    assert '"Mortorway"' in everything


def test_mixed_style_shows_the_redistribution_quirks(mixed_sample):
    root, _ = mixed_sample
    raw = [
        open(p, 'rb').read()
        for p in sorted(glob.glob(osp.join(root, 'labels', '*', '*')))
    ]
    assert any(data.startswith(b'\xef\xbb\xbf') for data in raw)
    assert any(not data.startswith(b'\xef\xbb\xbf') for data in raw)
    texts = [data.decode('utf-8-sig') for data in raw]
    assert all('\n  ' in t for t in texts)  # indented
    assert any('-2.8421709430404014e-14' in t for t in texts)
    assert any(re.search(r'\d,"', t) for t in texts)  # trailing comma
    assert any('"building_imcoords": ""' in t for t in texts)
    assert any('"road_imcoords": "EMPTY"' in t for t in texts)
    rings = {
        isinstance(json.loads(t)['features'][0]['geometry']
                   ['coordinates'][0][0], list)
        for t in texts
    }
    assert rings == {True, False}
    assert any('소형시설' in t or '중형단독시설' in t for t in texts)
    assert not any('소형 시설' in t or '중형 단독 시설' in t for t in texts)


def test_both_spellings_of_the_type_names_are_known():
    """The dataset statistics name every building type of the sample."""
    names = set()
    for path in glob.glob(osp.join(COMMITTED, 'labels', 'building', '*')):
        names |= {f['properties']['type_name']
                  for f in load_json(path)['features']}
    assert set(SPACED) <= names
    for spaced, compact in SPACED.items():
        assert TYPE_NAMES_EN[spaced] == TYPE_NAMES_EN[compact]
    assert names <= set(TYPE_NAMES_EN)


def test_labels_agree_with_the_image():
    """Label classes match what the tile shows, road drawn over buildings."""
    overlaps = 0
    for stem in read_split(COMMITTED, 'val') + read_split(COMMITTED, 'train'):
        image = read_png(osp.join(COMMITTED, 'images', f'{stem}.png'))
        paths = label_paths(COMMITTED, stem)
        seg, files = rasterize_label_files(paths, image.shape[:2])
        by_class = {1: [], 2: []}
        for label in files:
            for poly in label.polygons:
                by_class[DEFAULT_CLASS_MAP[poly.key]].append(poly.points)
        buildings = polygon_coverage(by_class[1], *image.shape[:2])
        roads = polygon_coverage(by_class[2], *image.shape[:2])
        assert np.array_equal(seg == 2, roads)
        assert np.array_equal(seg == 1, buildings & ~roads)
        # Away from the edges, road pixels are grey asphalt.
        kernel = np.ones((5, 5), np.uint8)
        inner = cv2.erode(roads.astype(np.uint8), kernel) > 0
        if inner.any():
            pixels = image[inner].astype(int)
            spread = pixels.max(axis=1) - pixels.min(axis=1)
            assert np.median(spread) < 12, stem
        both = buildings & roads
        if both.any():
            overlaps += 1
            assert (seg[both] == 2).all()
            inner_both = cv2.erode(both.astype(np.uint8), kernel) > 0
            if inner_both.any():
                pixels = image[inner_both].astype(int)
                spread = pixels.max(axis=1) - pixels.min(axis=1)
                assert np.median(spread) < 12, stem
    assert overlaps >= 1


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / 'sample'
    out.mkdir()
    (out / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='overwrite'):
        make_sample(str(out), **SMALL)
    assert sorted(os.listdir(out)) == ['notes.txt']

    # An empty folder is fine; so is replacing with overwrite=True, which
    # leaves other entries alone and removes stale tiles.
    empty = tmp_path / 'empty'
    empty.mkdir()
    make_sample(str(empty), **SMALL)
    stale = out / 'images' / 'stale.png'
    stale.parent.mkdir()
    stale.write_bytes(b'x')
    info = make_sample(str(out), overwrite=True, **SMALL)
    assert (out / 'notes.txt').read_text() == 'keep me'
    assert not stale.exists()
    assert len(os.listdir(out / 'images')) == len(info.kinds)
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]

    a_file = tmp_path / 'file'
    a_file.write_text('')
    with pytest.raises(NotADirectoryError):
        make_sample(str(a_file), **SMALL)
    with pytest.raises(ValueError, match='num_val'):
        make_sample(str(tmp_path / 'x'), num_val=3)
    with pytest.raises(ValueError, match='tile_size'):
        make_sample(str(tmp_path / 'x'), tile_size=32)
    assert not (tmp_path / 'x').exists()


def test_command_line(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'make_sample_tool', osp.join(REPO, 'tools', 'make_sample.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'cli')
    args = [out, '--seed', '5', '--num-train', '6', '--num-val', '4',
            '--tile-size', '128']
    assert tool.main(args) == 0
    assert 'wrote 6 train + 4 val tiles' in capsys.readouterr().out
    assert tool.main(args) == 2
    assert 'not empty' in capsys.readouterr().err
    assert tool.main(args + ['--overwrite']) == 0
    # Drawing options reach the generator and are recorded in the README.
    assert tool.main(args + ['--overwrite', '--road-width', '4', '6',
                             '--label-style', 'mixed']) == 0
    with open(osp.join(out, 'README.md')) as f:
        readme = f.read()
    assert '--road-width 4 6 --label-style mixed' in readme
    assert any(t.startswith(b'\xef\xbb\xbf') or b'\n  ' in t
               for t in (open(p, 'rb').read() for p in glob.glob(
                   osp.join(out, 'labels', '*', '*.json'))))
    assert tool.main(args + ['--overwrite', '--road-contrast', '2']) == 2
    assert 'road_contrast must be a number in [0, 1]' in \
        capsys.readouterr().err


def test_committed_sample_matches_the_generator(tmp_path):
    """data/sia_sample is what make_sample draws with the default seed."""
    fresh = tmp_path / 'fresh'
    info = make_sample(str(fresh))
    assert info.seed == SAMPLE_SEED
    assert len(info.train) == SAMPLE_NUM_TRAIN
    assert len(info.val) == SAMPLE_NUM_VAL
    made, committed = all_files(str(fresh)), all_files(COMMITTED)
    assert sorted(made) == sorted(committed)
    for rel in ('README.md', 'splits/train.txt', 'splits/val.txt'):
        with open(made[rel], 'rb') as a, open(committed[rel], 'rb') as b:
            assert a.read() == b.read(), rel
    for rel in made:
        if rel.startswith('labels'):
            # Same document; coordinates compared as numbers, so that a
            # last-digit difference of another platform's maths library does
            # not fail the test.
            doc_a, doc_b = load_json(made[rel]), load_json(committed[rel])
            for fa, fb in zip(doc_a['features'], doc_b['features']):
                pa, pb = fa['properties'], fb['properties']
                for key in PROPERTY_KEYS:
                    drawn = pa[key] not in ('', 'EMPTY')
                    if key.endswith('imcoords') and drawn:
                        np.testing.assert_allclose(
                            parse_imcoords(pa[key]), parse_imcoords(pb[key]),
                            rtol=0, atol=1e-6, err_msg=rel)
                    else:
                        assert pa[key] == pb[key], rel
                assert fa['geometry'] == fb['geometry'], rel
            assert len(doc_a['features']) == len(doc_b['features']), rel
        elif rel.startswith('images'):
            a, b = read_png(made[rel]), read_png(committed[rel])
            assert a.shape == b.shape == (SAMPLE_TILE_SIZE, ) * 2 + (3, )
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 2, rel
    for stem in info.train + info.val:
        shape = (SAMPLE_TILE_SIZE, SAMPLE_TILE_SIZE)
        seg_a, _ = rasterize_label_files(label_paths(str(fresh), stem), shape)
        seg_b, _ = rasterize_label_files(label_paths(COMMITTED, stem), shape)
        assert np.array_equal(seg_a, seg_b), stem


def road_polygons(root):
    """Road outlines read with json and shapely only."""
    from shapely.geometry import Polygon
    polygons = []
    for path in glob.glob(osp.join(root, 'labels', 'road', '*.json')):
        for feature in load_json(path)['features']:
            values = [float(v) for v in
                      feature['properties']['road_imcoords'].split(',') if v]
            polygons.append(Polygon(np.reshape(values, (-1, 2))))
    return polygons


def building_areas(root):
    from shapely.geometry import Polygon
    areas, counts = [], []
    for path in glob.glob(osp.join(root, 'labels', 'building', '*.json')):
        features = load_json(path)['features']
        counts.append(len(features))
        for feature in features:
            values = [float(v) for v in feature['properties']
                      ['building_imcoords'].split(',') if v]
            areas.append(Polygon(np.reshape(values, (-1, 2))).area)
    return np.array(areas), np.array(counts)


def road_contrast(root):
    """Median colour distance between road cores and the ground beside."""
    ratios = []
    for path in glob.glob(osp.join(root, 'labels', 'road', '*.json')):
        stem = osp.basename(path)[:-5]
        image = read_png(osp.join(root, 'images', f'{stem}.png')).astype(float)
        seg, _ = rasterize_label_files(label_paths(root, stem),
                                       image.shape[:2])
        road = (seg == 2).astype(np.uint8)
        core = cv2.erode(road, np.ones((3, 3), np.uint8)) > 0
        near = (cv2.dilate(road, np.ones((9, 9), np.uint8)) > 0) & (seg == 0)
        if core.sum() > 20 and near.sum() > 20:
            ratios.append(np.abs(image[core].mean(0) -
                                 image[near].mean(0)).sum())
    return float(np.median(ratios))


def test_settings_change_what_is_drawn(tmp_path):
    """Each drawing setting changes what it names, and only that (issue 10)."""
    base = dict(seed=3, num_train=10, num_val=4, tile_size=128)
    scale = 0.5  # lengths are given for 256-pixel tiles
    looks = {
        'default': SampleSettings(),
        'thin': SampleSettings(road_width=(4.0, 6.0)),
        'faint': SampleSettings(road_contrast=0.3),
        'dense': SampleSettings(buildings_per_tile=(20, 30),
                                building_scale=0.5),
        'bright': SampleSettings(ground_brightness=1.3),
        'empty': SampleSettings(kind_share=(0, 0, 0, 1)),
    }
    infos = {name: make_sample(str(tmp_path / name), settings=look, **base)
             for name, look in looks.items()}
    roots = {name: str(tmp_path / name) for name in looks}
    for name, info in infos.items():
        assert info.settings == looks[name]
        assert info.train == infos['default'].train, name
        if name != 'empty':
            assert info.kinds == infos['default'].kinds, name

    # Road width: 2 * area / perimeter of a long strip is a little under its
    # width (the sample draws 7-22 pixels by default).
    def widths(root):
        return np.array([2 * p.area / p.length / scale
                         for p in road_polygons(root)])
    default, thin = widths(roots['default']), widths(roots['thin'])
    assert default.min() >= 0.8 * 7 and default.max() <= 22.5
    assert default.max() > 12
    assert thin.min() >= 0.8 * 4 and thin.max() <= 6.5

    # Contrast: the same roads, closer to the ground's colour.
    faint = road_contrast(roots['faint'])
    assert faint < 0.6 * road_contrast(roots['default'])
    assert [p.wkt for p in road_polygons(roots['faint'])] == \
        [p.wkt for p in road_polygons(roots['default'])]

    # Density and size of buildings.
    areas, counts = building_areas(roots['default'])
    dense_areas, dense_counts = building_areas(roots['dense'])
    assert counts.max() <= 12 and dense_counts.max() <= 30
    assert dense_counts.mean() > 2 * counts.mean()
    assert np.median(dense_areas) < 0.4 * np.median(areas)

    # Ground brightness, on the tiles with nothing on them.
    def ground(root, info):
        return np.mean([read_png(osp.join(root, 'images', f'{s}.png')).mean()
                        for s, k in info.kinds.items() if k == 'none'])
    ratio = ground(roots['bright'], infos['bright']) / ground(
        roots['default'], infos['default'])
    assert 1.2 < ratio < 1.32

    # Tile content: every kind once per split, the rest empty.
    kinds = [infos['empty'].kinds[s] for s in infos['empty'].train]
    assert sorted(kinds) == ['both', 'building'] + ['none'] * 7 + ['road']


@pytest.mark.parametrize('bad, match', [
    (dict(road_width=(9, 3)), 'road_width must be .min, max. with min <= max'),
    (dict(road_width=5), r'road_width must be a \(min, max\) pair'),
    (dict(road_contrast=1.5), r'road_contrast must be a number in \[0, 1\]'),
    (dict(roads_per_tile=()), 'roads_per_tile must be a non-empty list'),
    (dict(buildings_per_tile=(2.5, 4)), 'buildings_per_tile must hold '
     'integers'),
    (dict(kind_share=(0, 0, 0, 0)), 'kind_share must be 4 non-negative'),
    (dict(kind_share=(1, 1)), 'kind_share must be 4 non-negative'),
    (dict(label_style='pretty'), "label_style must be one of"),
])
def test_bad_settings_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        SampleSettings(**bad)
