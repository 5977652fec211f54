"""The dataset tools of issue 5, on data generated here (malformed included).

Tiles are small (48 x 64, height x width, so a swapped size shows) to keep the
file fast; the conversion is compared with ``LoadPolygonAnnotations`` built
through mmseg's ``TRANSFORMS`` registry.
"""
import importlib.util
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from mmseg.registry import DATASETS, TRANSFORMS

import mmseg_sia  # noqa: F401  (registers the plugin)
from mmseg_sia.dataset_tools import (CHECKS, atomic_write_bytes,
                                     browse_dataset,
                                     check_dataset, class_weights, colorize,
                                     convert_labels, dataset_stats,
                                     make_splits, polygon_area,
                                     read_split_file, tile_content)
from mmseg_sia.datasets import SIADataset
from mmseg_sia.labels import SIALabelWarning

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
H, W = 48, 64
BUILDING_RGB = (128, 128, 0)
ROAD_RGB = (128, 64, 128)


# --------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------
def feature(building='EMPTY', road='EMPTY', image_id='X.png',
            type_name='Secondary'):
    """One feature in the release's schema."""
    return {
        'type': 'Feature',
        'geometry': {'type': 'Polygon',
                     'coordinates': [[[31.36, 30.14, 0], [31.37, 30.14, 0],
                                      [31.37, 30.15, 0]]]},
        'properties': {'object_imcoords': 'EMPTY',
                       'building_imcoords': building,
                       'road_imcoords': road, 'image_id': image_id,
                       'ingest_time': '2020-11-11T08:29:37.297611Z',
                       'type_id': '3', 'type_name': type_name}}


def write_label(path, features, bom=False):
    os.makedirs(osp.dirname(path), exist_ok=True)
    text = json.dumps({'type': 'FeatureCollection', 'features': features},
                      ensure_ascii=False, indent=1)
    with open(path, 'wb') as f:
        f.write((b'\xef\xbb\xbf' if bom else b'') + text.encode('utf-8'))
    return str(path)


def write_image(path, height=H, width=W, seed=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return str(path)


def rect(x0, y0, x1, y1):
    return f'{x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1}'


def make_good_root(root):
    """Four tiles with building and road files, all readable.

    - ``both``: buildings (one on the top edge, written with the release's
      -2.8e-14 and a trailing comma), a road across them (road wins), and a
      road file with a byte-order mark; one polygon reaches x = 64 = W.
    - ``bld``: buildings only, two type names.
    - ``road``: road only.
    - ``empty``: an image without labels.
    """
    root = str(root)
    for k, stem in enumerate(['both', 'bld', 'road', 'empty']):
        write_image(osp.join(root, 'images', f'{stem}.png'), seed=k)
    lb = osp.join(root, 'labels', 'building')
    lr = osp.join(root, 'labels', 'road')
    write_label(osp.join(lb, 'both.json'), [
        feature('-2.8421709430404014e-14,-2.8421709430404014e-14,20.4,'
                '-2.8421709430404014e-14,20.4,10.6,0,10.6,',
                image_id='both.png'),
        feature(rect(30.2, 20.7, 64, 40.1), image_id='both.png',
                type_name='Primary'),
    ])
    write_label(osp.join(lr, 'both.json'), [
        feature(road=rect(10.5, 5.5, 50.5, 12.5), image_id='both.png'),
    ], bom=True)
    write_label(osp.join(lb, 'bld.json'), [
        feature('3.3,3.3,12.7,4.1,9.9,15.5', image_id='bld.png',
                type_name='아파트'),
        feature(rect(40, 30, 55.5, 44.5), image_id='bld.png',
                type_name='공장'),
    ])
    write_label(osp.join(lr, 'road.json'), [
        feature(road='0,20,64,22,64,30,0,28', image_id='road.png',
                type_name='Mortorway'),
    ])
    return root


@pytest.fixture
def good_root(tmp_path):
    return make_good_root(tmp_path / 'good')


def make_bad_root(root):
    """A data root with one example of every problem the tools report."""
    root = str(root)
    lb = osp.join(root, 'labels', 'building')
    lr = osp.join(root, 'labels', 'road')
    for k, stem in enumerate(['notjson', 'notutf8', 'nofeatures', 'feats',
                              'bomcomma', 'wrongid', 'nolabel', 'dup']):
        write_image(osp.join(root, 'images', f'{stem}.png'), seed=k)
    write_image(osp.join(root, 'images', 'small.png'), height=32, width=32)
    with open(osp.join(root, 'images', 'broken.png'), 'wb') as f:
        f.write(b'this is not a picture')
    os.makedirs(lb)
    with open(osp.join(lb, 'notjson.json'), 'w') as f:
        f.write('{"type": "FeatureCollection", "features": [')
    with open(osp.join(lb, 'notutf8.json'), 'wb') as f:
        f.write('{"type": "FeatureCollection", "features": [], '
                '"name": "café"}'.encode('latin-1'))
    write_label(osp.join(lb, 'nofeatures.json'), None)
    with open(osp.join(lb, 'nofeatures.json'), 'w') as f:
        json.dump({'type': 'FeatureCollection'}, f)
    write_label(osp.join(lb, 'feats.json'), [
        feature(rect(1, 1, 20, 20), image_id='feats.png'),   # 0 good
        feature('1,2,3,4,5', image_id='feats.png'),          # 1 odd
        feature('1,2,abc,4,5,6', image_id='feats.png'),      # 2 token
        feature('1,2,NaN,4,5,6', image_id='feats.png'),      # 3 NaN
        feature('1,2,3,4', image_id='feats.png'),            # 4 < 3 points
        feature(rect(30, 30, 40, 40), image_id='feats.png'),  # 5 good
    ])
    write_label(osp.join(lr, 'bomcomma.json'), [
        feature(road=rect(0, 0, 10, 10) + ',', image_id='bomcomma.png'),
    ], bom=True)
    write_label(osp.join(lb, 'wrongid.json'), [
        feature(rect(2, 2, 8, 8), image_id='someone_else.png'),
    ])
    write_label(osp.join(lb, 'orphan.json'), [
        feature(rect(2, 2, 8, 8), image_id='orphan.png'),
    ])
    write_label(osp.join(lb, 'dup.json'), [
        feature(rect(2, 2, 8, 8), image_id='dup.png'),
    ])
    write_label(osp.join(lb, 'small.json'), [
        feature(rect(2, 2, 8, 8), image_id='small.png'),
    ])
    write_label(osp.join(lb, 'broken.json'), [
        feature(rect(2, 2, 8, 8), image_id='broken.png'),
    ])
    os.makedirs(osp.join(root, 'splits'))
    with open(osp.join(root, 'splits', 'train.txt'), 'w') as f:
        f.write('dup\nfeats\ndup\nghost\n')
    with open(osp.join(root, 'splits', 'val.txt'), 'w') as f:
        f.write('wrongid\nfeats\n')
    return root


@pytest.fixture
def bad_root(tmp_path):
    return make_bad_root(tmp_path / 'bad')


def pipeline_map(data_root, stem):
    """The gt_seg_map SIADataset + LoadImageFromFile + LoadPolygonAnnotations
    (both built through TRANSFORMS) make for a tile."""
    dataset = SIADataset(data_root=data_root, pipeline=[])
    info = next(dataset.get_data_info(i) for i in range(len(dataset))
                if osp.basename(dataset.get_data_info(i)['img_path'])
                == f'{stem}.png')
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    label = TRANSFORMS.build(dict(type='LoadPolygonAnnotations'))
    return label(load(info))['gt_seg_map']


def read_mask(path):
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask


def load_tool(name):
    """Import ``tools/<name>.py`` as a module."""
    path = osp.join(REPO, 'tools', f'{name}.py')
    # As when run as a script: tools/ is on the path (tools/_cli.py).
    if osp.join(REPO, 'tools') not in sys.path:
        sys.path.insert(0, osp.join(REPO, 'tools'))
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------
# convert_labels
# --------------------------------------------------------------------------
def test_convert_equals_load_polygon_annotations(good_root, tmp_path):
    out = tmp_path / 'masks'
    summary = convert_labels(good_root, str(out), progress=False)
    assert summary.ok and summary.tiles == 4 and summary.written == 4
    assert summary.polygons == {'building': 4, 'road': 2}
    assert summary.skipped_features == []
    for stem in ['both', 'bld', 'road', 'empty']:
        mask = read_mask(out / f'{stem}.png')
        assert mask.dtype == np.uint8 and mask.shape == (H, W)
        np.testing.assert_array_equal(mask, pipeline_map(good_root, stem))
    both = read_mask(out / 'both.png')
    assert set(np.unique(both)) == {0, 1, 2}
    # Road wins over building; x = 64 reaches the last column.
    assert both[8, 15] == 2 and both[2, 2] == 1 and both[25, W - 1] == 1
    assert not read_mask(out / 'empty.png').any()
    # Nothing but the masks in the output folder (no temporary files).
    assert sorted(os.listdir(out)) == [
        'bld.png', 'both.png', 'empty.png', 'road.png']


def test_plain_base_seg_dataset_trains_from_converted_folder(
        good_root, tmp_path):
    """The README's config: mmseg's own BaseSegDataset + LoadAnnotations."""
    convert_labels(good_root, osp.join(good_root, 'masks'), progress=False)
    dataset = DATASETS.build(dict(
        type='BaseSegDataset',
        data_root=good_root,
        data_prefix=dict(img_path='images', seg_map_path='masks'),
        img_suffix='.png',
        seg_map_suffix='.png',
        metainfo=SIADataset.METAINFO,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations')]))
    assert len(dataset) == 4
    for i in range(len(dataset)):
        sample = dataset[i]
        stem = osp.splitext(osp.basename(sample['img_path']))[0]
        np.testing.assert_array_equal(sample['gt_seg_map'],
                                      pipeline_map(good_root, stem))
    # The split files of make_splits serve as its ann_file.
    splits = make_splits(good_root, val_ratio=0.5, progress=False)
    train = DATASETS.build(dict(
        type='BaseSegDataset', data_root=good_root,
        ann_file='splits/train.txt',
        data_prefix=dict(img_path='images', seg_map_path='masks'),
        img_suffix='.png', seg_map_suffix='.png',
        metainfo=SIADataset.METAINFO))
    assert sorted(osp.basename(train.get_data_info(i)['seg_map_path'])
                  for i in range(len(train))) == [
                      f'{s}.png' for s in splits.train]


def test_convert_workers_color_and_split(good_root, tmp_path):
    one = convert_labels(good_root, str(tmp_path / 'one'), progress=False)
    # OpenCV's thread pool running in the parent must not trouble the forked
    # workers (changing its thread count in a worker used to hang).
    cv2.GaussianBlur(np.zeros((1024, 1024, 3), np.uint8), (5, 5), 0)
    two = convert_labels(good_root, str(tmp_path / 'two'), workers=2,
                         color=True, progress=False)
    assert one.ok and two.ok and two.written == 4
    assert two.color_dir == str(tmp_path / 'two') + '_color'
    for stem in ['both', 'bld', 'road', 'empty']:
        a = (tmp_path / 'one' / f'{stem}.png').read_bytes()
        b = (tmp_path / 'two' / f'{stem}.png').read_bytes()
        assert a == b
    mask = read_mask(tmp_path / 'one' / 'both.png')
    rgb = cv2.imread(str(tmp_path / 'two_color' / 'both.png'))[..., ::-1]
    np.testing.assert_array_equal(rgb, colorize(mask))
    assert tuple(rgb[2, 2]) == BUILDING_RGB and tuple(rgb[8, 15]) == ROAD_RGB
    assert tuple(rgb[H - 1, 0]) == (0, 0, 0)

    split = tmp_path / 'some.txt'
    split.write_text('bld\nghost\n')
    part = convert_labels(good_root, str(tmp_path / 'part'),
                          split_file=str(split), progress=False)
    assert part.tiles == 1 and os.listdir(tmp_path / 'part') == ['bld.png']
    assert len(part.errors) == 1 and "'ghost' has no image" in \
        part.errors[0][1]


def test_convert_keeps_existing_files_unless_overwrite(good_root, tmp_path):
    out = tmp_path / 'masks'
    convert_labels(good_root, str(out), progress=False)
    (out / 'bld.png').write_bytes(b'hand-edited')
    again = convert_labels(good_root, str(out), progress=False)
    assert again.kept == 4 and again.written == 0
    assert (out / 'bld.png').read_bytes() == b'hand-edited'
    assert 'pass --overwrite' in again.format()
    redo = convert_labels(good_root, str(out), overwrite=True,
                          progress=False)
    assert redo.written == 4
    np.testing.assert_array_equal(read_mask(out / 'bld.png'),
                                  pipeline_map(good_root, 'bld'))
    assert not [n for n in os.listdir(out) if n.endswith('.tmp')]


def test_convert_refuses_image_or_label_folder(good_root):
    with pytest.raises(ValueError, match='is the image or labels folder'):
        convert_labels(good_root, osp.join(good_root, 'images'),
                       progress=False)
    with pytest.raises(FileNotFoundError, match='is not a folder'):
        convert_labels(osp.join(good_root, 'nowhere'), 'x', progress=False)


def test_atomic_write(tmp_path):
    target = tmp_path / 'sub' / 'a.bin'
    atomic_write_bytes(str(target), b'one')
    with pytest.raises(FileExistsError, match='already exists'):
        atomic_write_bytes(str(target), b'two')
    assert target.read_bytes() == b'one'
    atomic_write_bytes(str(target), b'two', overwrite=True)
    assert target.read_bytes() == b'two'
    with pytest.raises(TypeError, match='b.bin: data must be bytes, not str'):
        atomic_write_bytes(str(tmp_path / 'sub' / 'b.bin'), 'not bytes')
    # A failed write leaves neither the file nor a temporary file.
    assert sorted(os.listdir(tmp_path / 'sub')) == ['a.bin']


def test_atomic_output(tmp_path):
    from mmseg_sia.fileio import atomic_output
    target = tmp_path / 'out' / 'a.gpkg'
    with atomic_output(target) as tmp:
        assert tmp.endswith('a.gpkg') and tmp != str(target)
        assert not target.exists()  # nothing at the name while writing
        with open(tmp, 'wb') as f:
            f.write(b'one')
    assert target.read_bytes() == b'one'
    with pytest.raises(FileExistsError, match='already exists'):
        with atomic_output(target):
            pass
    # The name appears while the body writes: not replaced.
    other = tmp_path / 'out' / 'b.gpkg'
    with pytest.raises(FileExistsError, match='already exists'):
        with atomic_output(other) as tmp:
            other.write_bytes(b'theirs')
            with open(tmp, 'wb') as f:
                f.write(b'mine')
    assert other.read_bytes() == b'theirs'
    # A writer that fails leaves no file and no scratch folder.
    with pytest.raises(RuntimeError, match='disk'):
        with atomic_output(tmp_path / 'out' / 'c.gpkg') as tmp:
            open(tmp, 'wb').close()
            raise RuntimeError('disk')
    with pytest.raises(FileNotFoundError, match='produced no file'):
        with atomic_output(tmp_path / 'out' / 'd.gpkg'):
            pass
    with atomic_output(target, overwrite=True) as tmp:
        with open(tmp, 'wb') as f:
            f.write(b'two')
    assert target.read_bytes() == b'two'
    assert sorted(os.listdir(tmp_path / 'out')) == ['a.gpkg', 'b.gpkg']


def test_convert_reports_bad_files_and_features(bad_root, tmp_path):
    summary = convert_labels(bad_root, str(tmp_path / 'm'), progress=False)
    errors = dict(summary.errors)
    lb = osp.join(bad_root, 'labels', 'building')
    assert 'is not valid JSON' in errors[osp.join(lb, 'notjson.json')]
    assert 'is not UTF-8' in errors[osp.join(lb, 'notutf8.json')]
    assert '"features" is missing' in errors[osp.join(lb, 'nofeatures.json')]
    assert 'cannot be read as an image' in errors[
        osp.join(bad_root, 'images', 'broken.png')]
    skipped = {(osp.basename(p), i): why
               for p, i, why in summary.skipped_features}
    assert sorted(skipped) == [('feats.json', i) for i in (1, 2, 3, 4)]
    assert 'odd number of values' in skipped['feats.json', 1]
    assert "'abc' is not a number" in skipped['feats.json', 2]
    assert 'NaN' in skipped['feats.json', 3]
    assert 'fewer than 3 points' in skipped['feats.json', 4]
    assert summary.labels_without_image == [osp.join(lb, 'orphan.json')]
    text = summary.format()
    assert (f"{osp.join(lb, 'feats.json')}, feature 2: building_imcoords: "
            "token 'abc'") in text
    # The readable tiles were converted, the good features drawn.
    feats = read_mask(tmp_path / 'm' / 'feats.png')
    with pytest.warns(SIALabelWarning, match='feats.json: skipped 4 of 6'):
        expected = pipeline_map(bad_root, 'feats')
    np.testing.assert_array_equal(feats, expected)
    assert feats[10, 10] == 1 and feats[35, 35] == 1
    assert not osp.exists(tmp_path / 'm' / 'notjson.png')

    strict = convert_labels(bad_root, str(tmp_path / 's'), strict=True,
                            progress=False)
    assert 'feature 1: building_imcoords: odd number' in dict(
        strict.errors)[osp.join(lb, 'feats.json')]


def test_convert_cli(good_root, bad_root, tmp_path, capsys):
    tool = load_tool('convert_labels')
    out = str(tmp_path / 'cli')
    assert tool.main([good_root, '--out-dir', out, '--no-progress',
                      '--color']) == 0
    assert 'tiles: 4 (4 written' in capsys.readouterr().out
    assert tool.main([good_root, '--out-dir', out, '--no-progress']) == 0
    assert 'pass --overwrite' in capsys.readouterr().out
    assert tool.main([bad_root, '--out-dir', str(tmp_path / 'b'),
                      '--no-progress', '--workers', '2']) == 1
    assert 'is not valid JSON' in capsys.readouterr().out
    assert tool.main([str(tmp_path / 'missing'), '--out-dir', out,
                      '--no-progress']) == 2
    assert 'is not a folder' in capsys.readouterr().err


def test_class_map_of_aihub_labels(good_root, tmp_path, capsys):
    """A class map drawing buildings only gives them id 1 and leaves roads
    out; one keyed by ANN_CD codes (land-cover) is refused up front
    instead of drawing every tile as background."""
    out = tmp_path / 'bld'
    summary = convert_labels(good_root, str(out), progress=False,
                             class_map={'building_imcoords': 1})
    assert summary.ok
    want = pipeline_map(good_root, 'both')
    want[want == 2] = 0
    # Where the road covered a building, the building shows through now.
    got = read_mask(out / 'both.png')
    assert set(np.unique(got)) == {0, 1}
    assert (got[want == 1] == 1).all()
    with pytest.raises(ValueError, match=r"convert_labels: the class map of "
                       r"AIHub label files is keyed by their polygon "
                       r"properties .* not '10'; ANN_CD codes need the "
                       r"land-cover layout \(--meta-dir\)"):
        convert_labels(good_root, str(tmp_path / 'x'), progress=False,
                       class_map={'10': 1})
    assert not (tmp_path / 'x').exists()
    for name in ('check_dataset', 'dataset_stats', 'convert_labels'):
        tool = load_tool(name)
        args = [good_root, '--no-progress', '--class-map', '10=1']
        if name != 'check_dataset':
            args += ['--output-dir', str(tmp_path / name)]
        assert tool.main(args) == 2
        assert "not '10'" in capsys.readouterr().err


# --------------------------------------------------------------------------
# check_dataset
# --------------------------------------------------------------------------
def test_check_dataset_reports_every_problem(bad_root, tmp_path):
    report = check_dataset(bad_root, image_size=(H, W), progress=False)
    rows = report.rows
    assert list(rows.columns) == ['severity', 'check', 'file', 'feature',
                                  'problem']
    found = {(r.check, osp.basename(r.file),
              None if pd.isna(r.feature) else int(r.feature))
             for r in rows.itertuples()}
    expected = {
        ('label-file', 'notjson.json', None),
        ('label-file', 'notutf8.json', None),
        ('label-file', 'nofeatures.json', None),
        ('feature', 'feats.json', 1),
        ('feature', 'feats.json', 2),
        ('feature', 'feats.json', 3),
        ('feature', 'feats.json', 4),
        ('label-without-image', 'orphan.json', None),
        ('image', 'broken.png', None),
        ('image-size', 'small.png', None),
        ('image-without-label', 'nolabel.png', None),
        ('image-id', 'wrongid.json', None),
        ('split-duplicate', 'train.txt', None),
        ('split-missing', 'train.txt', None),
        ('split-overlap', 'val.txt', None),
    }
    assert found == expected
    assert report.num_errors == 12 and report.num_warnings == 3
    assert not report.ok
    # Errors come first; BOM and trailing comma are fine.
    assert list(rows['severity']) == ['error'] * 12 + ['warning'] * 3
    assert 'bomcomma.json' not in ' '.join(rows['file'])
    problem = dict(zip(zip(rows['check'], rows['feature'].astype(object)),
                       rows['problem']))
    assert "'abc' is not a number" in problem['feature', 2]
    by_check = rows.set_index('check')['problem']
    assert "stem 'dup' is listed 2 times" in by_check['split-duplicate']
    assert "stem 'feats' is also in" in by_check['split-overlap']
    assert "'someone_else.png'" in by_check['image-id']
    assert 'image is 32x32' in by_check['image-size']
    text = report.format()
    assert 'errors: 12, warnings: 3' in text
    assert 'feats.json, feature 3' in text

    csv = tmp_path / 'report.csv'
    report.to_csv(str(csv))
    table = pd.read_csv(csv)
    assert len(table) == len(rows) == 15
    with pytest.raises(FileExistsError, match='already exists'):
        report.to_csv(str(csv))


def test_check_dataset_clean_root_and_cli(good_root, bad_root, tmp_path,
                                          capsys):
    report = check_dataset(good_root, image_size=(H, W), progress=False)
    assert report.ok and report.num_warnings == 1  # 'empty' has no label
    assert report.rows.loc[0, 'check'] == 'image-without-label'
    assert report.polygons == 6 and report.images == 4
    tool = load_tool('check_dataset')
    assert tool.main([good_root, '--image-size', str(H), str(W),
                      '--no-progress']) == 0
    assert 'errors: 0, warnings: 1' in capsys.readouterr().out
    assert tool.main([good_root, '--any-size', '--strict',
                      '--no-progress']) == 1
    csv = str(tmp_path / 'all.csv')
    assert tool.main([bad_root, '--csv', csv, '--no-progress', '--workers',
                      '2', '--max-rows', '3']) == 1
    out = capsys.readouterr().out
    assert f'wrote {len(pd.read_csv(csv))} rows to {csv}' in out
    assert 'more rows (--csv FILE writes them all)' in out


# --------------------------------------------------------------------------
# dataset_stats
# --------------------------------------------------------------------------
def test_dataset_stats(good_root, tmp_path):
    os.makedirs(osp.join(good_root, 'splits'))
    with open(osp.join(good_root, 'splits', 'train.txt'), 'w') as f:
        f.write('both\nbld\nroad\n')
    with open(osp.join(good_root, 'splits', 'val.txt'), 'w') as f:
        f.write('empty\n')
    out = tmp_path / 'stats'
    stats = dataset_stats(good_root, str(out), progress=False)

    content = stats.content.set_index('split')
    assert list(content.columns) == ['building only', 'road only', 'both',
                                     'none', 'total']
    assert content.loc['all'].tolist() == [1, 1, 1, 1, 4]
    assert content.loc['train'].tolist() == [1, 1, 1, 0, 3]
    assert content.loc['val'].tolist() == [0, 0, 0, 1, 1]

    types = stats.polygon_types
    all_types = types[types['split'] == 'all'].set_index(
        ['class', 'type_name'])['polygons'].to_dict()
    assert all_types == {('building', 'Secondary'): 1,
                         ('building', 'Primary'): 1,
                         ('building', '아파트'): 1,
                         ('building', '공장'): 1,
                         ('road', 'Secondary'): 1,
                         ('road', 'Mortorway'): 1}

    # Pixel counts are those of the pipeline's maps.
    maps = [pipeline_map(good_root, s) for s in ['both', 'bld', 'road',
                                                 'empty']]
    counts = np.bincount(np.concatenate([m.ravel() for m in maps]),
                         minlength=3)
    pixels = stats.pixels[stats.pixels['split'] == 'all']
    assert pixels['pixels'].tolist() == counts.tolist()
    assert pixels['frequency'].sum() == pytest.approx(1.0)
    w_median, _ = class_weights(counts)
    np.testing.assert_allclose(pixels['weight_median_freq'], w_median)
    assert 'class_weight=[' in stats.class_weight_snippet()

    areas = stats.areas[(stats.areas['split'] == 'all')]
    assert areas.groupby('class')['polygons'].sum().to_dict() == {
        'building': 4, 'road': 2}
    # The 20.4 x 10.6 building (216 px^2) is in the [128, 256) bin.
    bld = areas[(areas['class'] == 'building') & (areas['area_min'] == 128)]
    assert bld['polygons'].item() >= 1

    for name in ['tile_content.csv', 'polygon_types.csv',
                 'pixel_frequency.csv', 'polygon_areas.csv', 'tiles.csv',
                 'errors.csv']:
        assert not pd.read_csv(out / name).columns.empty
    for name in ['tile_content.png', 'polygon_types.png',
                 'pixel_frequency.png', 'polygon_areas.png']:
        assert cv2.imread(str(out / name)) is not None
    with pytest.raises(FileExistsError, match='exist already'):
        dataset_stats(good_root, str(out), progress=False)
    assert 'Tiles by content' in stats.format()


def test_dataset_stats_lists_unreadable_tiles_and_cli(bad_root, tmp_path,
                                                      capsys):
    stats = dataset_stats(bad_root, None, progress=False)
    assert sorted(stats.errors['stem']) == [
        'broken', 'nofeatures', 'notjson', 'notutf8']
    assert stats.content.set_index('split').loc['all', 'total'] == 6
    tool = load_tool('dataset_stats')
    assert tool.main([bad_root, '--out-dir', str(tmp_path / 'o'),
                      '--no-plots', '--no-progress']) == 1
    assert 'tile(s) or entries left out' in capsys.readouterr().out


def test_polygon_area_and_weights():
    assert polygon_area(np.array([[0, 0], [4, 0], [4, 3], [0, 3.]])) == 12
    w_median, w_log = class_weights([80, 15, 5])
    np.testing.assert_allclose(w_median, [15 / 80, 1, 15 / 5])
    assert w_log[0] < w_log[1] < w_log[2]
    assert class_weights([10, 0, 10])[0][1] == 0


# --------------------------------------------------------------------------
# make_splits
# --------------------------------------------------------------------------
def make_many_tiles(root, per_content=10):
    """``per_content`` tiles of each content (4 x 10 tiles in all)."""
    root = str(root)
    for k in range(per_content):
        for content in ['both', 'bld', 'road', 'none']:
            stem = f'{content}{k:02d}'
            write_image(osp.join(root, 'images', f'{stem}.png'), 8, 8)
            if content in ('both', 'bld'):
                write_label(osp.join(root, 'labels', 'building',
                                     f'{stem}.json'),
                            [feature(rect(1, 1, 5, 5))])
            if content in ('both', 'road'):
                write_label(osp.join(root, 'labels', 'road', f'{stem}.json'),
                            [feature(road=rect(0, 2, 8, 4))])
    return root


def test_make_splits_stratified_and_safe(tmp_path):
    root = make_many_tiles(tmp_path / 'many')
    # A malformed feature does not count; an empty road file is 'none'.
    write_label(osp.join(root, 'labels', 'road', 'none00.json'),
                [feature(road='1,2,3')])
    assert tile_content([osp.join(root, 'labels', 'road', 'none00.json')]) \
        == 'none'
    result = make_splits(root, val_ratio=0.2, seed=0, progress=False)
    assert len(result.val) == 8 and len(result.train) == 32
    assert not set(result.train) & set(result.val)
    assert sorted(result.train + result.val) == sorted(
        osp.splitext(n)[0] for n in os.listdir(osp.join(root, 'images')))
    strata = result.strata.set_index('content')
    assert strata['val'].to_dict() == {'both': 2, 'building only': 2,
                                       'road only': 2, 'none': 2}
    train_file = osp.join(root, 'splits', 'train.txt')
    assert read_split_file(train_file) == result.train
    assert read_split_file(osp.join(root, 'splits', 'val.txt')) == result.val

    with pytest.raises(FileExistsError, match='exist already'):
        make_splits(root, progress=False)
    same = make_splits(root, seed=0, overwrite=True, progress=False)
    assert same.val == result.val
    other = make_splits(root, seed=1, overwrite=True, progress=False)
    assert other.val != result.val and len(other.val) == 8

    for ratio in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match=r'val_ratio must be in \(0, 1\)'):
            make_splits(root, val_ratio=ratio, overwrite=True,
                        progress=False)
    with pytest.raises(ValueError, match='leaves a split empty'):
        make_splits(root, val_ratio=0.001, overwrite=True, progress=False)


def test_make_splits_leaves_out_unreadable_tiles_and_cli(bad_root, capsys):
    os.remove(osp.join(bad_root, 'splits', 'train.txt'))
    os.remove(osp.join(bad_root, 'splits', 'val.txt'))
    result = make_splits(bad_root, val_ratio=0.3, progress=False)
    assert [s for s, _ in result.excluded] == ['nofeatures', 'notjson',
                                               'notutf8']
    assert 'orphan' not in result.train + result.val
    assert len(result.train) + len(result.val) == 7
    assert 'is not valid JSON' in result.format()
    tool = load_tool('make_splits')
    assert tool.main([bad_root, '--no-progress']) == 2
    assert 'exist already' in capsys.readouterr().err
    # Written, but tiles were left out: the data has errors (1).
    assert tool.main([bad_root, '--no-progress', '--overwrite', '--seed',
                      '3', '--val-ratio', '0.5']) == 1
    assert 'train: 3 tiles, val: 4 tiles' in capsys.readouterr().out


# --------------------------------------------------------------------------
# browse_dataset
# --------------------------------------------------------------------------
def test_browse_data_root(good_root, tmp_path):
    out = tmp_path / 'vis'
    written = browse_dataset(str(out), data_root=good_root, num=2, seed=0,
                             progress=False)
    assert len(written) == 2 and all(osp.isfile(p) for p in written)
    side = browse_dataset(str(out), data_root=good_root,
                          stems=['both'], overwrite=True, progress=False)
    picture = cv2.imread(side[0])[..., ::-1]
    assert picture.shape[0] > H and picture.shape[1] == 2 * W + 4
    image = cv2.imread(osp.join(good_root, 'images', 'both.png'))[..., ::-1]
    np.testing.assert_array_equal(picture[:H, :W], image)
    np.testing.assert_array_equal(
        picture[:H, W + 4:], colorize(pipeline_map(good_root, 'both')))
    with pytest.raises(FileExistsError, match='exist already'):
        browse_dataset(str(out), data_root=good_root, stems=['both'],
                       progress=False)

    blend = browse_dataset(str(tmp_path / 'blend'), data_root=good_root,
                           stems=['bld'], mode='blend', alpha=1.0,
                           progress=False)
    picture = cv2.imread(blend[0])[..., ::-1]
    assert picture.shape[1] == W
    assert tuple(picture[40, 50]) == BUILDING_RGB
    image = cv2.imread(osp.join(good_root, 'images', 'bld.png'))[..., ::-1]
    np.testing.assert_array_equal(picture[0, 0], image[0, 0])

    with pytest.raises(ValueError, match='give a data root or a config'):
        browse_dataset(str(out))
    with pytest.raises(ValueError, match='mode must be one of'):
        browse_dataset(str(out), data_root=good_root, mode='overlay')
    with pytest.raises(FileNotFoundError, match='ghost'):
        browse_dataset(str(out), data_root=good_root, stems=['ghost'])
    with pytest.raises(ValueError, match='repeats applies to config mode'):
        browse_dataset(str(out), data_root=good_root, repeats=2)


CONFIG = """
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)
default_scope = 'mmseg'
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    dataset=dict(
        type='SIADataset',
        data_root={root!r},
        data_prefix=dict(img_path='images', seg_map_path='labels'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadPolygonAnnotations'),
            dict(type='Resize', scale=({w2}, {h2}), keep_ratio=False),
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            dict(type='PackSegInputs'),
        ]))
"""


def test_browse_config_pipeline(good_root, tmp_path, capsys):
    config = tmp_path / 'browse_cfg.py'
    config.write_text(CONFIG.format(root=good_root, w2=2 * W, h2=2 * H))
    out = tmp_path / 'aug'
    written = browse_dataset(str(out), config=str(config), num=0, repeats=2,
                             progress=False)
    assert sorted(osp.basename(p) for p in written) == sorted(
        f'{s}_{k}.png' for s in ['both', 'bld', 'road', 'empty']
        for k in range(2))
    picture = cv2.imread(str(out / 'both_0.png'))[..., ::-1]
    assert picture.shape[1] == 2 * (2 * W) + 4
    # The label half is the pipeline's map, resized 2x and flipped, drawn in
    # the palette of SIADataset.METAINFO.
    expected = np.fliplr(
        np.repeat(np.repeat(pipeline_map(good_root, 'both'), 2, 0), 2, 1))
    palette = SIADataset.METAINFO['palette']
    np.testing.assert_array_equal(
        picture[:2 * H, 2 * W + 4:],
        np.asarray(palette, np.uint8)[expected])
    assert tuple(picture[:2 * H, 2 * W + 4:][expected == 2][0]) == ROAD_RGB

    tool = load_tool('browse_dataset')
    assert tool.main(['--config', str(config), '--output-dir',
                      str(tmp_path / 'cli'), '-n', '1', '--mode', 'blend',
                      '--no-progress', '--cfg-options',
                      'train_dataloader.dataset.pipeline.3.prob=0.0']) == 0
    assert 'wrote 1 pictures' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # argparse: bad usage
        tool.main(['--output-dir', str(tmp_path / 'cli')])
    assert exit_info.value.code == 2
    assert 'give a DATA_ROOT or --config' in capsys.readouterr().err


# --------------------------------------------------------------------------
# Hostile folders (issue 9): one bad entry is reported by name, the others
# go on.
# --------------------------------------------------------------------------
def png_header_only(path, width, height):
    """A PNG file whose IHDR claims ``width x height`` (no pixel data)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                chunk(b'IEND', b''))
    return str(path)


def make_hostile_root(root):
    """The good root plus a symlink loop (folder and files), a FIFO and
    links to /dev/zero named like tiles, a folder named like an image and
    a PNG header over Pillow's decompression-bomb limit."""
    root = make_good_root(root)
    images = osp.join(root, 'images')
    labels = osp.join(root, 'labels')
    os.symlink('loop', osp.join(labels, 'loop'))              # ELOOP folder
    os.symlink('again.json', osp.join(labels, 'building', 'again.json'))
    os.symlink('loop.png', osp.join(images, 'loop.png'))      # ELOOP image
    os.mkfifo(osp.join(labels, 'building', 'pipe.json'))      # FIFO
    os.symlink('/dev/zero', osp.join(labels, 'road', 'zero.json'))
    os.symlink('/dev/zero', osp.join(images, 'zero.png'))
    os.mkdir(osp.join(images, 'folder.png'))
    os.symlink('.', osp.join(labels, 'same'))                  # a cycle
    png_header_only(osp.join(images, 'huge.png'), 20000, 20000)
    hostile = {
        osp.join(labels, 'loop'): 'Too many levels of symbolic links',
        osp.join(labels, 'building', 'again.json'):
            'Too many levels of symbolic links',
        osp.join(images, 'loop.png'): 'Too many levels of symbolic links',
        osp.join(labels, 'building', 'pipe.json'): 'FIFO',
        osp.join(labels, 'road', 'zero.json'): 'character device',
        osp.join(images, 'zero.png'): 'character device',
        osp.join(images, 'folder.png'): 'folder',
    }
    return root, hostile


@pytest.fixture
def hostile(tmp_path):
    """The hostile root; a FIFO that is opened would block: fail instead."""
    import signal

    def stop(*_):
        raise TimeoutError('a tool blocked on a hostile entry')

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(120)
    try:
        yield make_hostile_root(tmp_path / 'hostile')
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_reported(pairs, hostile):
    """Every hostile entry is named with its reason."""
    found = {}
    for path, why in pairs:
        found.setdefault(path, []).append(why)
    for path, reason in hostile.items():
        assert path in found, path
        assert any(reason in w for w in found[path]), (path, found[path])


def test_index_reports_hostile_entries_and_goes_on(hostile):
    from mmseg_sia.dataset_tools import index_tiles

    root, bad = hostile
    index = index_tiles(root)
    assert_reported(index.problems, bad)
    assert sorted(index.images) == ['bld', 'both', 'empty', 'huge', 'road']
    assert sorted(index.labels) == ['bld', 'both', 'road']
    # The folder reached again through 'same' -> '.' is not read twice.
    assert index.labels['both'] == [
        osp.join(root, 'labels', 'building', 'both.json'),
        osp.join(root, 'labels', 'road', 'both.json')]
    assert any(p.endswith('same') and 'already indexed' in why
               for p, why in index.problems)


def test_sia_dataset_skips_hostile_entries_with_a_warning(hostile,
                                                          monkeypatch):
    import mmengine.logging

    root, bad = hostile
    logged = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    dataset = SIADataset(data_root=root, pipeline=[])
    assert sorted(osp.basename(dataset.get_data_info(i)['img_path'])
                  for i in range(len(dataset))) == [
                      'bld.png', 'both.png', 'empty.png', 'huge.png',
                      'road.png']
    assert len(logged) == 1 and 'left out' in logged[0][0]
    for path in bad:
        assert path in logged[0][0]
    # Without a list to fill, the index functions warn, naming the entry.
    from mmseg_sia.datasets.sia import SIAIndexWarning, index_images
    with pytest.warns(SIAIndexWarning, match='zero.png: is a symbolic link '
                      'to a character device'):
        index_images(osp.join(root, 'images'))


def test_check_dataset_on_hostile_folder(hostile):
    root, bad = hostile
    report = check_dataset(root, image_size=(H, W), verify_images=True,
                           progress=False)
    rows = report.rows
    entries = rows[rows['check'] == 'entry']
    assert_reported(zip(entries['file'], entries['problem']), bad)
    huge = rows[rows['file'] == osp.join(root, 'images', 'huge.png')]
    assert set(huge['check']) == {'image-pixels', 'image-size',
                                  'image-without-label'}
    assert '20000x20000 (400,000,000 pixels), over the limit of ' \
        '178,956,970' in huge[huge['check'] == 'image-pixels'][
            'problem'].item()
    # The good tiles were checked as in a clean root.
    assert report.polygons == 6 and report.images == 5
    assert not rows['check'].isin(['label-file', 'image', 'feature']).any()


def test_convert_stats_splits_browse_on_hostile_folder(hostile, tmp_path):
    root, bad = hostile
    huge = osp.join(root, 'images', 'huge.png')
    summary = convert_labels(root, str(tmp_path / 'm'), progress=False)
    assert summary.written == 4 and not summary.ok
    assert_reported(summary.problems, bad)
    assert 'over the limit' in dict(summary.errors)[huge]
    for stem in ['both', 'bld', 'road', 'empty']:
        np.testing.assert_array_equal(
            read_mask(tmp_path / 'm' / f'{stem}.png'),
            pipeline_map(root, stem))
    tool = load_tool('convert_labels')
    assert tool.main([root, '--output-dir', str(tmp_path / 'cli'),
                      '--no-progress']) == 1

    stats = dataset_stats(root, None, progress=False)
    assert_reported(zip(stats.errors['stem'], stats.errors['message']), bad)
    assert huge in set(stats.errors['stem'].map(
        lambda s: osp.join(root, 'images', s + '.png')))
    assert stats.content.set_index('split').loc['all', 'total'] == 4

    splits = make_splits(root, val_ratio=0.4, progress=False)
    assert_reported(splits.problems, bad)
    assert sorted(splits.train + splits.val) == [
        'bld', 'both', 'empty', 'huge', 'road']

    errors = []
    written = browse_dataset(str(tmp_path / 'vis'), data_root=root, num=0,
                             progress=False, errors=errors)
    assert len(written) == 4
    assert_reported([(p, m) for p, m in errors], bad)
    assert 'over the limit' in dict(errors)[huge]


def test_unreadable_sub_folder_is_reported(tmp_path):
    """EACCES on a sub-folder, and on a link into a folder that cannot be
    searched. Root reads everything, so as root the index runs in a child
    process that has given up root."""
    import json as json_
    import shutil
    import tempfile

    from mmseg_sia.dataset_tools import index_tiles

    base = tempfile.mkdtemp(prefix='sia_eacces_', dir='/tmp')
    try:
        os.chmod(base, 0o755)
        root = make_good_root(osp.join(base, 'root'))
        secret = osp.join(root, 'labels', 'secret')
        write_label(osp.join(secret, 'inner', 'bld.json'),
                    [feature(rect(1, 1, 5, 5))])
        os.symlink(osp.join(secret, 'inner'),
                   osp.join(root, 'labels', 'through'))
        os.chmod(secret, 0)
        for folder, _, files in os.walk(base):
            os.chmod(folder, 0o755 if folder != secret else 0)
            for name in files:
                os.chmod(osp.join(folder, name), 0o644)
        if os.geteuid() != 0:
            index = index_tiles(root)
        else:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: drop root, index, send the result
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    index = index_tiles(root)
                    data = json_.dumps([index.problems, index.labels])
                except BaseException as e:  # noqa: B036
                    data = json_.dumps(['failed', repr(e)])
                os.write(write, data.encode())
                os._exit(0)
            os.close(write)
            with os.fdopen(read, 'rb') as f:
                data = json_.loads(f.read())
            os.waitpid(pid, 0)
            assert data[0] != 'failed', data[1]
            index = TileIndexLike(*data)
        problems = dict(map(tuple, index.problems))
        assert 'Permission denied' in problems[secret]
        assert 'Permission denied' in problems[
            osp.join(root, 'labels', 'through')]
        assert sorted(index.labels) == ['bld', 'both', 'road']
    finally:
        os.chmod(osp.join(base, 'root', 'labels', 'secret'), 0o755)
        shutil.rmtree(base)


class TileIndexLike:
    def __init__(self, problems, labels):
        self.problems = problems
        self.labels = labels


def test_huge_coordinates_in_stats_do_not_crash_or_warn(good_root):
    import warnings as warnings_

    write_label(osp.join(good_root, 'labels', 'building', 'empty.json'), [
        feature('1e308,10,-1e308,20,0,1e308'),
        feature(rect(1, 1, 5, 5)),
    ])
    with warnings_.catch_warnings():
        warnings_.simplefilter('error')  # nothing may print without a file
        stats = dataset_stats(good_root, None, progress=False)
    assert stats.errors.empty
    areas = stats.areas[(stats.areas['split'] == 'all') &
                        (stats.areas['class'] == 'building')]
    # The reader skips the feature beyond +-1e9 px, and says so with the
    # file's name; the other polygons are counted as usual.
    last = areas[areas['area_max'] == np.inf]
    assert last['polygons'].item() == 0
    assert areas['polygons'].sum() == 5
    empty = osp.join(good_root, 'labels', 'building', 'empty.json')
    assert all(f == empty for f in stats.warnings['files'])
    tiles = stats.tiles.set_index('stem')
    assert tiles.loc['empty', 'skipped_features'] == 1
    with warnings_.catch_warnings():
        warnings_.simplefilter('error')
        summary = convert_labels(good_root, osp.join(good_root, 'masks'),
                                 progress=False)
    assert summary.ok and summary.written == 4
    assert all(f == empty for f, _ in summary.warnings)


def test_polygon_area_is_exact_far_away_and_never_nan():
    from mmseg_sia.dataset_tools import area_bin
    from mmseg_sia.dataset_tools.stats import AREA_BINS

    far = np.array([[0, 0], [3, 0], [3, 4], [0, 4.]]) + 1e15
    assert polygon_area(far) == 12.0
    legs = 1.5e154  # the products overflow, the area does not
    tri = np.array([[0, 0], [legs, 0], [0, legs]])
    assert polygon_area(tri) == pytest.approx(0.5 * legs * legs, rel=1e-12)
    assert polygon_area(np.array([[1e308, 10], [-1e308, 20], [0, 1e308]])) \
        == np.inf
    assert area_bin(np.inf) == len(AREA_BINS) - 2
    assert area_bin(0.0) == 0 and area_bin(float('nan')) == 0
    assert area_bin(216.0) == int(np.log2(128)) + 1  # [128, 256)


def test_verify_images_names_truncated_png_without_libpng_noise(
        good_root, capfd):
    path = osp.join(good_root, 'images', 'bld.png')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    report = check_dataset(good_root, verify_images=True, progress=False)
    image_rows = report.rows[report.rows['check'] == 'image']
    assert list(image_rows['file']) == [path]
    assert 'cannot be read as an image' in image_rows['problem'].item()
    assert 'libpng' not in capfd.readouterr().err


# --------------------------------------------------------------------------
# Issue 6, 7 and 10: splits that read back, scenes, one CLI convention
# --------------------------------------------------------------------------
def test_split_stems_with_spaces_read_back_and_load(good_root):
    for stem in ['tail ', ' lead']:
        write_image(osp.join(good_root, 'images', f'{stem}.png'))
    write_image(osp.join(good_root, 'images', 'two\nlines.png'))
    result = make_splits(good_root, val_ratio=0.5, seed=0, progress=False)
    assert [s for s, _ in result.excluded] == ['two\nlines']
    assert 'cannot be a line of a split file' in result.excluded[0][1]
    assert sorted(result.train + result.val) == [
        ' lead', 'bld', 'both', 'empty', 'road', 'tail ']
    for name in ('train', 'val'):
        path = osp.join(good_root, 'splits', f'{name}.txt')
        assert read_split_file(path) == getattr(result, name)
        dataset = SIADataset(data_root=good_root,
                             ann_file=f'splits/{name}.txt', pipeline=[])
        assert sorted(osp.basename(dataset.get_data_info(i)['img_path'])
                      for i in range(len(dataset))) == sorted(
                          f'{s}.png' for s in getattr(result, name))
    # A hand-edited line with a stray space still names its image.
    with open(osp.join(good_root, 'splits', 'hand.txt'), 'w') as f:
        f.write('bld  \ntail \n\troad\n')
    dataset = SIADataset(data_root=good_root, ann_file='splits/hand.txt',
                         pipeline=[])
    assert [osp.basename(dataset.get_data_info(i)['img_path'])
            for i in range(len(dataset))] == ['bld.png', 'tail .png',
                                              'road.png']
    report = check_dataset(good_root, progress=False)
    assert not (report.rows['check'] == 'split-missing').any()
    # Windows line ends are not part of a stem.
    crlf = osp.join(good_root, 'crlf.txt')
    with open(crlf, 'wb') as f:
        f.write(b'\xef\xbb\xbfbld\r\n\r\ntail \r\n')
    assert read_split_file(crlf) == ['bld', 'tail ']
    fifo = osp.join(good_root, 'fifo.txt')
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match='fifo.txt: split file is a FIFO'):
        read_split_file(fifo)


def make_scenes(root, scenes=12, seed=0):
    """Tiles of several scenes: BLDnnnnn_PS3_K3A_NIAxxxx, 2 to 5 per scene,
    content varying within a scene."""
    rng = np.random.default_rng(seed)
    root = str(root)
    stems = []
    k = 0
    for scene in range(scenes):
        for _ in range(int(rng.integers(2, 6))):
            stem = f'BLD{k:05d}_PS3_K3A_NIA{scene:04d}'
            k += 1
            stems.append(stem)
            write_image(osp.join(root, 'images', f'{stem}.png'), 8, 8)
            content = int(rng.integers(0, 4))
            if content in (0, 1):
                write_label(osp.join(root, 'labels', 'building',
                                     f'{stem}.json'),
                            [feature(rect(1, 1, 5, 5))])
            if content in (0, 2):
                write_label(osp.join(root, 'labels', 'road', f'{stem}.json'),
                            [feature(road=rect(0, 2, 8, 4))])
    return root, stems


def test_make_splits_keeps_scenes_together(tmp_path, capsys):
    from mmseg_sia.dataset_tools import scene_of

    root, stems = make_scenes(tmp_path / 'scenes')
    assert scene_of('BLD00596_PS3_K3A_NIA0277') == 'PS3_K3A_NIA0277'
    assert scene_of('nounderscore') == 'nounderscore'
    result = make_splits(root, val_ratio=0.25, seed=0, progress=False)
    train_scenes = {scene_of(s) for s in result.train}
    val_scenes = {scene_of(s) for s in result.val}
    assert train_scenes and val_scenes and not train_scenes & val_scenes
    assert sorted(result.train + result.val) == sorted(stems)
    groups = result.groups.set_index('scene')
    assert len(groups) == 12 and set(groups['split']) == {'train', 'val'}
    assert groups['tiles'].sum() == len(stems)
    for scene, row in groups.iterrows():
        assert row['split'] == ('val' if scene in val_scenes else 'train')
    assert abs(len(result.val) - 0.25 * len(stems)) <= 3
    assert 'no scene has tiles in both splits' in result.format()
    report = check_dataset(root, progress=False)
    assert not (report.rows['check'] == 'split-scene').any()

    # Without grouping: exact quotas per content, and scenes leak, which
    # check_dataset reports.
    plain = make_splits(root, val_ratio=0.25, seed=0, overwrite=True,
                        group_by_scene=False, progress=False)
    assert len(plain.val) == round(0.25 * len(stems))
    assert (plain.groups['split'] == 'both').any()
    report = check_dataset(root, progress=False)
    leaks = report.rows[report.rows['check'] == 'split-scene']
    assert len(leaks) == (plain.groups['split'] == 'both').sum()
    assert leaks['problem'].str.contains(r"scene 'PS3_K3A_NIA\d{4}': \d+ "
                                         r'tile\(s\) here and \d+ in').all()

    tool = load_tool('make_splits')
    assert tool.main([root, '--overwrite', '--no-progress', '--seed',
                      '1']) == 0
    assert 'scenes: 12 (train' in capsys.readouterr().out
    with pytest.raises(ValueError, match='of one scene'):
        make_splits(root, overwrite=True, scene_pattern=r'(PS3)',
                    progress=False)


def test_convert_refuses_colour_folder_equal_to_mask_folder(good_root,
                                                            tmp_path,
                                                            capsys):
    out = str(tmp_path / 'm')
    with pytest.raises(ValueError, match='is the mask folder'):
        convert_labels(good_root, out, color_dir=out, progress=False)
    assert not osp.exists(out)
    tool = load_tool('convert_labels')
    assert tool.main([good_root, '--output-dir', out, '--color-dir',
                      out + '/.', '--no-progress']) == 2
    assert 'is the mask folder' in capsys.readouterr().err


def test_check_csv_refused_up_front_and_exit_statuses(good_root, tmp_path,
                                                      capsys, monkeypatch):
    csv = tmp_path / 'old.csv'
    csv.write_text('keep me')
    # Refused before the data root is even looked at.
    with pytest.raises(FileExistsError, match='exist already'):
        check_dataset(str(tmp_path / 'missing'), csv=str(csv),
                      progress=False)
    tool = load_tool('check_dataset')
    assert tool.main([good_root, '--csv', str(csv), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'pass --overwrite' in err and 'overwrite=True' not in err
    assert csv.read_text() == 'keep me'
    assert tool.main([good_root, '--csv', str(csv), '--overwrite',
                      '--no-progress']) == 0
    assert len(pd.read_csv(csv)) == 1

    assert tool.main([good_root, '--scene-pattern', '(', '--no-progress']) \
        == 2
    assert 'is not a regular expression' in capsys.readouterr().err
    # The tool's own failure is 2, not 1 (which means: the data has errors).
    import mmseg_sia.dataset_tools as tools_pkg

    def broken(*args, **kwargs):
        raise RuntimeError('a bug')

    monkeypatch.setattr(tools_pkg, 'check_dataset', broken)
    assert tool.main([good_root, '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'RuntimeError: a bug' in err and 'not a problem of the data' in err
    with pytest.raises(SystemExit):
        tool.main(['--help'])
    epilog = capsys.readouterr().out.split('checks (severity):')[1]
    for check, (severity, _) in CHECKS.items():
        assert f'{check} ({severity})' in epilog
    for name in ('check_dataset', 'convert_labels', 'dataset_stats',
                 'make_splits', 'browse_dataset'):
        with pytest.raises(SystemExit) as exit_info:
            load_tool(name).main(['--no-such-flag'])
        assert exit_info.value.code == 2
        with pytest.raises(SystemExit) as exit_info:
            load_tool(name).main(['--help'])
        assert exit_info.value.code == 0
        assert 'exit status:' in capsys.readouterr().out


def test_check_expects_the_common_size_and_sample_is_clean(good_root):
    report = check_dataset(good_root, progress=False)
    assert not (report.rows['check'] == 'image-size').any()
    write_image(osp.join(good_root, 'images', 'odd.png'), 32, 32)
    report = check_dataset(good_root, progress=False)
    sizes = report.rows[report.rows['check'] == 'image-size']
    assert list(sizes['file']) == [osp.join(good_root, 'images', 'odd.png')]
    assert 'image is 32x32 (width x height), the size of 4 of the 5 images ' \
        'is 64x48' in sizes['problem'].item()
    assert not (check_dataset(good_root, same_size=False, progress=False)
                .rows['check'] == 'image-size').any()
    sample = osp.join(REPO, 'data', 'sia_sample')
    report = check_dataset(sample, progress=False)
    assert report.ok and report.images == 50
    assert set(report.rows['check']) == {'image-without-label'}


def test_help_imports_no_heavy_module():
    import subprocess
    import sys

    probe = (
        'import os, runpy, sys\n'
        'sys.argv = [sys.argv[1], "--help"]\n'
        '# as when run as a script: the tool\'s folder first on the path\n'
        'sys.path.insert(0, os.path.dirname(sys.argv[0]))\n'
        'try:\n'
        '    runpy.run_path(sys.argv[0], run_name="__main__")\n'
        'except SystemExit:\n'
        '    pass\n'
        'heavy = ["numpy", "torch", "mmseg", "mmengine", "mmseg_sia", "cv2",\n'
        '         "PIL", "pandas"]\n'
        'print("LOADED", [m for m in heavy if m in sys.modules])\n')
    for name in ('check_dataset', 'convert_labels', 'dataset_stats',
                 'make_splits', 'browse_dataset', 'train', 'test'):
        out = subprocess.run(
            [sys.executable, '-c', probe,
             osp.join(REPO, 'tools', f'{name}.py')],
            capture_output=True, text=True, check=True).stdout
        assert 'usage:' in out and out.strip().endswith('LOADED []'), name


def test_browse_cli_positional_root_and_old_spellings(good_root, tmp_path,
                                                      capsys):
    tool = load_tool('browse_dataset')
    assert tool.main([good_root, '--output-dir', str(tmp_path / 'a'),
                      '-n', '2', '--no-progress']) == 0
    assert len(os.listdir(tmp_path / 'a')) == 2
    assert tool.main(['--data-root', good_root, '--out-dir',
                      str(tmp_path / 'b'), '-n', '1', '--no-progress']) == 0
    assert len(os.listdir(tmp_path / 'b')) == 1
    assert tool.main([good_root, '--output-dir', str(tmp_path / 'a'),
                      '-n', '2', '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'pass --overwrite' in err and 'overwrite=True' not in err
    with pytest.raises(SystemExit):
        tool.main([good_root, '--data-root', good_root, '--output-dir', 'x'])
    assert 'give the data root once' in capsys.readouterr().err


def test_cli_max_pixels_default_is_the_packages():
    from mmseg_sia.dataset_tools import DEFAULT_MAX_PIXELS
    load_tool('check_dataset')  # puts tools/ on the path
    import _cli
    assert _cli.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS == 178_956_970
