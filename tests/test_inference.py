"""Inference API, writers and tools/infer.py on a tiny random model."""
import csv
import errno
import importlib.util
import json
import os
import os.path as osp
import sys
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mmseg_sia.apis import (CheckpointMismatchError, FootprintError,
                            ImageReadError, init_segmentor, load_image,
                            polygons_to_mask, predict, segment_image,
                            window_grid)
from mmseg_sia.datasets import SIADataset
from mmseg_sia.testing import (blocks_image, calibrated_tiny_model,
                               tiny_segmentor_config)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('background', 'building', 'road')
PALETTE = [[0, 0, 0], [128, 128, 0], [128, 64, 128]]
FOOTPRINT = [[127.0210, 37.5412, 0], [127.0268, 37.5413, 0],
             [127.0267, 37.5367, 0], [127.0209, 37.5366, 0]]

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Config and checkpoint of a tiny random model whose predictions vary.

    Batch-norm statistics are calibrated on an image so that the random
    features are not flat, which gives masks with all three classes.
    """
    root = tmp_path_factory.mktemp('tiny')
    cfg = root / 'tiny.py'
    cfg.write_text(tiny_segmentor_config(3))
    cfg4 = root / 'tiny4.py'
    cfg4.write_text(tiny_segmentor_config(4))
    binary = root / 'tiny_binary.py'
    binary.write_text(tiny_segmentor_config(2, threshold=0.5))
    model = calibrated_tiny_model(str(cfg))
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=1.0)
    torch.nn.init.zeros_(model.decode_head.conv_seg.bias)
    ckpt = root / 'tiny.pth'
    meta = dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    bad_meta = root / 'tiny_2classes.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=CLASSES[:2]))),
               bad_meta)
    return dict(config=str(cfg), config4=str(cfg4), binary=str(binary),
                checkpoint=str(ckpt),
                bad_meta=str(bad_meta), root=root)


@pytest.fixture(scope='module')
def model(tiny):
    return init_segmentor(tiny['config'], tiny['checkpoint'], device='cpu')


def test_window_grid_matches_mmseg_positions():
    assert window_grid(100, 48, 32) == [0, 32, 52]
    assert window_grid(40, 48, 32) == [0]
    assert window_grid(48, 48, 32) == [0]


@pytest.mark.parametrize('shape,batch', [((100, 130), 3), ((40, 30), 2),
                                         ((70, 49), 1)])
def test_streamed_inference_matches_mmseg_slide(model, tmp_path, shape,
                                                batch):
    from mmseg.apis import inference_model

    img = blocks_image(*shape, seed=shape[0])
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, img)
    ref = inference_model(model, path).pred_sem_seg.data[0].numpy()
    ours = segment_image(model, path, batch_size=batch)
    assert ours.shape == shape and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, ref)
    assert len(np.unique(ours)) > 1
    # An array gives the same result; RGB arrays are flipped to BGR first.
    np.testing.assert_array_equal(segment_image(model, img), ours)
    np.testing.assert_array_equal(
        segment_image(model, img[..., ::-1].copy(), channel_order='rgb'),
        ours)


def test_binary_sigmoid_model_matches_mmseg_slide(tiny, tmp_path):
    from mmengine.registry import DefaultScope
    from mmseg.apis import inference_model, init_model

    torch.manual_seed(1)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = init_model(tiny['binary'], None, device='cpu')
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=0.3)
    torch.nn.init.zeros_(model.decode_head.conv_seg.bias)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, blocks_image(80, 100, 7))
    ref = inference_model(model, path).pred_sem_seg.data[0].numpy()
    ours = segment_image(model, path, batch_size=2)
    np.testing.assert_array_equal(ours, ref)
    assert 0.05 < ours.mean() < 0.95  # both classes present


def test_window_and_overlap_options(model):
    img = blocks_image(90, 90, 3)
    a = segment_image(model, img, window=64, overlap=16, batch_size=4)
    b = segment_image(model, img, window=(64, 64), stride=48, batch_size=1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match='overlap'):
        segment_image(model, img, window=32, overlap=32)
    with pytest.raises(ValueError, match='not both'):
        segment_image(model, img, window=32, overlap=8, stride=8)


def test_round_trip_real_prediction_through_sia_dataset(model, tmp_path):
    images = tmp_path / 'data' / 'images'
    images.mkdir(parents=True)
    results = {}
    for i, shape in enumerate([(96, 96), (64, 80), (120, 72)]):
        stem = f'BLD0000{i}_PS3_K3A_NIA000{i}'
        path = images / f'{stem}.png'
        cv2.imwrite(str(path), blocks_image(*shape, seed=10 + i))
        res = predict(model, str(path), footprint=FOOTPRINT)
        assert set(np.unique(res.mask)) >= {1, 2}
        res.save(str(tmp_path / 'data' / 'labels'), formats=['json'])
        results[stem] = res
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadPolygonAnnotations')]
    ds = SIADataset(data_root=str(tmp_path / 'data'), pipeline=pipeline)
    assert len(ds) == 3
    for i in range(len(ds)):
        sample = ds[i]
        stem = osp.splitext(osp.basename(sample['img_path']))[0]
        mask = results[stem].mask
        got = sample['gt_seg_map']
        for c in (1, 2):
            inter = np.logical_and(got == c, mask == c).sum()
            union = np.logical_or(got == c, mask == c).sum()
            assert inter / union >= 0.99
        np.testing.assert_array_equal(got, mask)
        np.testing.assert_array_equal(
            polygons_to_mask(results[stem].polygons, mask.shape), mask)


def test_outputs_and_georeference(model, tmp_path):
    img = blocks_image(64, 64, 5)
    res = predict(model, img, footprint=FOOTPRINT)
    paths = res.save(str(tmp_path), stem='tile')
    assert sorted(paths) == ['geojson', 'json', 'mask', 'overlay']
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(paths['json']).st_mode & 0o777 == 0o666 & ~umask
    # The mask is a grey PNG of class ids, as tools/test.py --out writes:
    # PIL, OpenCV and mmseg's LoadAnnotations all read the ids back.
    from mmseg.datasets.transforms import LoadAnnotations
    png = Image.open(paths['mask'])
    assert png.mode == 'L'
    np.testing.assert_array_equal(np.array(png), res.mask)
    np.testing.assert_array_equal(np.array(png.convert('L')), res.mask)
    np.testing.assert_array_equal(
        cv2.imread(paths['mask'], cv2.IMREAD_UNCHANGED), res.mask)
    assert set(np.unique(res.mask)) == {0, 1, 2}
    loaded = LoadAnnotations()(dict(seg_map_path=paths['mask'],
                                    reduce_zero_label=False, seg_fields=[]))
    np.testing.assert_array_equal(loaded['gt_seg_map'], res.mask)
    overlay = cv2.imread(paths['overlay'])
    assert overlay.shape == (64, 64, 3)
    bg = res.mask == 0
    np.testing.assert_array_equal(overlay[bg], img[bg])

    gj = json.loads(open(paths['geojson'], encoding='utf-8').read())
    assert 'note' not in gj and gj['mmseg_sia']['crs'] == 'EPSG:4326'
    lons = [pt[0] for f in gj['features']
            for ring in f['geometry']['coordinates'] for pt in ring]
    lats = [pt[1] for f in gj['features']
            for ring in f['geometry']['coordinates'] for pt in ring]
    assert 127.0209 - 1e-9 <= min(lons) and max(lons) <= 127.0268 + 1e-9
    assert 37.5366 - 1e-9 <= min(lats) and max(lats) <= 37.5413 + 1e-9
    pixel_m2 = res.transform.pixel_area_m2()
    for f in gj['features']:
        p = f['properties']
        assert p['class'] in ('building', 'road')
        assert p['area_m2'] == pytest.approx(p['area_px'] * pixel_m2,
                                             rel=1e-3)
        assert p['perimeter_m'] > 0
        ring = np.array(f['geometry']['coordinates'][0])
        assert np.array_equal(ring[0], ring[-1])
        x, y = ring[:-1, 0], ring[:-1, 1]
        # RFC 7946: exterior rings counter-clockwise.
        assert (x * np.roll(y, -1) - np.roll(x, -1) * y).sum() > 0
    row = res.measures()
    assert row['building_count'] == len(res.polygons[1])
    assert row['building_area_m2'] == pytest.approx(
        row['building_area_px'] * pixel_m2, rel=1e-3)
    assert row['road_length_m'] > 0

    # Without a footprint no GeoJSON is made (it would claim lon/lat): the
    # label JSON holds the pixel coordinates.
    plain = predict(model, img)
    with pytest.raises(ValueError, match='no footprint/georeference'):
        plain.to_geojson()
    written = plain.save(str(tmp_path / 'plain'), stem='tile')
    assert sorted(written) == ['json', 'mask', 'overlay']
    assert sorted(os.listdir(tmp_path / 'plain')) == [
        'tile.json', 'tile_mask.png', 'tile_overlay.png']
    label = json.loads((tmp_path / 'plain' / 'tile.json').read_text())
    assert label['features'][0]['geometry'] is None
    with pytest.raises(FileExistsError, match='tile_mask.png'):
        res.save(str(tmp_path), stem='tile', formats=['mask'])
    res.save(str(tmp_path), stem='tile', formats=['mask'], overwrite=True)
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]


def test_bad_inputs_name_the_file(tiny, model, tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        init_segmentor(tiny['config'], missing)
    with pytest.raises(FileNotFoundError, match='nope.py'):
        init_segmentor(str(tmp_path / 'nope.py'), tiny['checkpoint'])
    with pytest.raises(CheckpointMismatchError,
                       match=r'tiny\.pth.*tiny4\.py|tiny4\.py.*tiny\.pth'):
        init_segmentor(tiny['config4'], tiny['checkpoint'])
    with pytest.raises(CheckpointMismatchError, match='2 classes'):
        init_segmentor(tiny['config'], tiny['bad_meta'])
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG not really')
    with pytest.raises(ImageReadError, match='broken.png'):
        load_image(str(broken))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        predict(model, str(tmp_path / 'missing.png'))
    label = tmp_path / 'three.json'
    label.write_text(json.dumps(dict(type='FeatureCollection', features=[
        dict(type='Feature', properties={},
             geometry=dict(type='Polygon', coordinates=[FOOTPRINT[:3]]))])))
    with pytest.raises(FootprintError, match='three.json'):
        predict(model, blocks_image(32, 32), footprint=str(label))


def load_tool():
    # As when run as a script: tools/ is on the path (tools/_cli.py).
    if osp.join(REPO, 'tools') not in sys.path:
        sys.path.insert(0, osp.join(REPO, 'tools'))
    spec = importlib.util.spec_from_file_location(
        'infer_tool', osp.join(REPO, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_folder_run_with_failures_and_footprints(tiny, tmp_path,
                                                      capsys):
    tool = load_tool()
    data = tmp_path / 'data'
    images = data / 'images'
    (data / 'labels' / 'building').mkdir(parents=True)
    images.mkdir()
    cv2.imwrite(str(images / 'a.png'), blocks_image(64, 64, 1))
    cv2.imwrite(str(images / 'b.png'), blocks_image(100, 90, 2))
    (images / 'c.png').write_bytes(b'not an image')
    # a.png has a label file with its footprint in ../labels/building.
    feature = dict(type='Feature',
                   geometry=dict(type='Polygon', coordinates=[FOOTPRINT]),
                   properties=dict(building_imcoords='1,1,9,1,9,9'))
    (data / 'labels' / 'building' / 'a.json').write_text(
        json.dumps(dict(type='FeatureCollection', features=[feature])))
    out = tmp_path / 'out'
    args = [tiny['config'], tiny['checkpoint'], str(images), '--out-dir',
            str(out), '--no-progress', '--batch-size', '2']
    assert tool.main(args) == 1
    printed = capsys.readouterr()
    assert 'c.png' in printed.err and '2 of 3' in printed.out
    # a.png has a footprint: all four files; b.png has none: no GeoJSON
    # (it would claim lon/lat), one line naming it.
    assert sorted(os.listdir(out)) == [
        'a.geojson', 'a.json', 'a_mask.png', 'a_overlay.png', 'b.json',
        'b_mask.png', 'b_overlay.png', 'summary.csv']
    (line, ) = [x for x in printed.out.splitlines()
                if 'no georeference' in x]
    assert str(images / 'b.png') in line and 'a.png' not in line
    summary = pd.read_csv(out / 'summary.csv')
    assert list(summary['status']) == ['ok', 'ok', 'failed']
    assert 'c.png' in summary['error'][2]
    assert summary['georeferenced'][0] and not summary['georeferenced'][1]
    assert summary['building_area_m2'][0] > 0
    # Integer columns stay integers when an image failed (empty there).
    with open(out / 'summary.csv', newline='') as f:
        table = list(csv.DictReader(f))
    assert [r['width'] for r in table] == ['64', '90', '']
    assert [r['georeferenced'] for r in table] == ['True', 'False', '']
    for name in ('height', 'building_count', 'building_area_px',
                 'road_count', 'road_area_px'):
        assert table[0][name].isdigit() and table[1][name].isdigit()
        assert table[2][name] == ''
    assert table[1]['building_area_m2'] == ''
    a = json.loads((out / 'a.geojson').read_text())
    assert a['mmseg_sia']['crs'] == 'EPSG:4326'

    # Nothing is replaced without --overwrite; with it, all is rewritten.
    before = (out / 'a.json').stat().st_mtime_ns
    assert tool.main(args) == 2
    assert '--resume' in capsys.readouterr().err
    assert (out / 'a.json').stat().st_mtime_ns == before
    shutil.move(str(images / 'c.png'), str(tmp_path / 'c.png'))
    assert tool.main(args + ['--overwrite', '--formats', 'mask,summary']) == 0
    assert len(pd.read_csv(out / 'summary.csv')) == 2

    # A footprint that is not four points fails that image, naming the file.
    fp_dir = tmp_path / 'footprints'
    fp_dir.mkdir()
    feature['geometry']['coordinates'] = [FOOTPRINT[:3]]
    (fp_dir / 'a.json').write_text(
        json.dumps(dict(type='FeatureCollection', features=[feature])))
    code = tool.main([tiny['config'], tiny['checkpoint'],
                      str(images / '*.png'), '--out-dir',
                      str(tmp_path / 'out2'), '--no-progress',
                      '--footprints', str(fp_dir), '--formats',
                      'json,geojson'])
    assert code == 1
    assert osp.join('footprints', 'a.json') in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / 'out2')) == ['b.json']


def test_tool_usage_errors(tiny, tmp_path, capsys):
    tool = load_tool()
    img = tmp_path / 'x.png'
    cv2.imwrite(str(img), blocks_image(32, 32))
    base = [str(img), '--out-dir', str(tmp_path / 'o'), '--no-progress']
    assert tool.main([tiny['config'], str(tmp_path / 'none.pth')] + base) == 2
    assert 'none.pth' in capsys.readouterr().err
    assert tool.main([tiny['config4'], tiny['checkpoint']] + base) == 2
    assert 'tiny4.py' in capsys.readouterr().err
    assert tool.main([tiny['config'], tiny['checkpoint'],
                      str(tmp_path / 'nothing*.png'), '--out-dir',
                      str(tmp_path / 'o')]) == 2
    assert 'matches no file' in capsys.readouterr().err
    assert tool.main([tiny['config'], tiny['checkpoint']] + base +
                     ['--formats', 'mask,pdf']) == 2
    assert 'pdf' in capsys.readouterr().err


def test_measures_follow_their_definitions():
    """area/perimeter fields against shapely (pixels) and pyproj (ground)."""
    from pyproj import Geod
    from shapely.geometry import LineString, Polygon

    from mmseg_sia.apis import SIAPrediction, binary_to_polygons
    from mmseg_sia.geo import footprint_transform

    mask = np.zeros((40, 50), np.uint8)
    mask[5:30, 4:40] = 1
    mask[10:20, 10:25] = 0          # a courtyard: a hole in the building
    mask[33:38, 2:48] = 2
    res = SIAPrediction(
        mask=mask,
        polygons={c: binary_to_polygons(mask == c, c) for c in (1, 2)},
        classes=CLASSES, palette=PALETTE,
        transform=footprint_transform(FOOTPRINT, 50, 40))
    geod = Geod(ellps='WGS84')
    feats = res.to_geojson()['features']
    assert [f['properties']['class'] for f in feats] == ['building', 'road']
    building = feats[0]
    props = building['properties']
    rings = building['geometry']['coordinates']
    assert len(rings) == 2
    shape = Polygon(rings[0], rings[1:])
    area, outer_perimeter = geod.geometry_area_perimeter(shape)
    assert props['area_m2'] == pytest.approx(abs(area), rel=1e-6)
    # perimeter_m is the whole boundary: exterior and hole, geodesic.
    boundary = sum(geod.geometry_length(LineString(r)) for r in rings)
    assert props['perimeter_m'] == pytest.approx(boundary, rel=1e-6)
    assert props['perimeter_m'] > outer_perimeter * 1.2
    # The pixel measures are shapely's on the pixel polygon.
    poly = res.polygons[1][0]
    pixel_shape = Polygon(poly.exterior, poly.holes)
    assert props['area_px'] == pixel_shape.area == (mask == 1).sum()
    assert props['perimeter_px'] == pixel_shape.length == 2 * (36 + 25) + \
        2 * (15 + 10)
    row = res.measures()
    assert row['building_area_px'] == int((mask == 1).sum())
    assert row['building_area_m2'] == pytest.approx(abs(area), rel=1e-6)
    assert isinstance(row['building_count'], int)


def test_channel_order_of_arrays(model, tmp_path):
    from mmseg_sia.apis import blend_overlay

    bgr = blocks_image(64, 80, 9)
    path = str(tmp_path / 'x.png')
    cv2.imwrite(path, bgr)
    from_file = predict(model, path)
    rgb = bgr[..., ::-1].copy()
    from_rgb = predict(model, rgb, channel_order='rgb')
    np.testing.assert_array_equal(from_rgb.mask, from_file.mask)
    np.testing.assert_array_equal(from_rgb.overlay(), from_file.overlay())
    # Passing the RGB array as BGR (the default) is a different input.
    assert (predict(model, rgb).mask != from_file.mask).any()
    np.testing.assert_array_equal(
        blend_overlay(rgb, from_file.mask, PALETTE, channel_order='rgb'),
        from_file.overlay())
    with pytest.raises(ValueError, match='channel_order'):
        predict(model, rgb, channel_order='RGBA')


def test_streamed_writers_match_in_memory_encoders(tmp_path):
    from mmseg_sia.apis.writers import (blend_overlay, save_json,
                                        save_overlay_png, save_rgb_png)

    rng = np.random.default_rng(3)
    mask = rng.integers(0, 3, (301, 77)).astype(np.uint8)
    image = rng.integers(0, 256, (301, 77, 3)).astype(np.uint8)
    path = str(tmp_path / 'overlay.png')
    save_overlay_png(path, image, mask, PALETTE, 0.4, band=64)
    expected = blend_overlay(image, mask, PALETTE, 0.4, band=1000)
    np.testing.assert_array_equal(np.array(Image.open(path)), expected)
    save_rgb_png(str(tmp_path / 'rgb.png'), expected, band=7)
    np.testing.assert_array_equal(
        cv2.imread(str(tmp_path / 'rgb.png'))[..., ::-1], expected)
    feats = ({'type': 'Feature', 'id': i, 'properties': {'name': '건물'}}
             for i in range(3))
    save_json(str(tmp_path / 'a.json'), {'type': 'FeatureCollection',
                                         'name': 'x'}, features=feats)
    doc = json.loads((tmp_path / 'a.json').read_text(encoding='utf-8'))
    assert doc == {'type': 'FeatureCollection', 'name': 'x', 'features': [
        {'type': 'Feature', 'id': i, 'properties': {'name': '건물'}}
        for i in range(3)]}


def test_progress_callback_counts_windows(model):
    seen = []
    segment_image(model, blocks_image(100, 130), batch_size=3,
                  progress=lambda done, total: seen.append((done, total)))
    # 48-pixel windows at stride 32: 3 rows x 4 columns, 2 batches per row.
    assert seen[-1] == (12, 12) and len(seen) == 6
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_tool_help_imports_nothing_heavy():
    import subprocess
    import sys

    from mmseg_sia.apis.writers import ALL_FORMATS

    code = ('import runpy, sys\n'
            "sys.argv = ['infer.py', '--help']\n"
            f"sys.path.insert(0, {osp.join(REPO, 'tools')!r})\n"
            'try:\n'
            f"    runpy.run_path({osp.join(REPO, 'tools', 'infer.py')!r}, "
            "run_name='__main__')\n"
            'except SystemExit:\n'
            '    pass\n'
            "print(sorted(m for m in ('torch', 'mmengine', 'mmseg', "
            "'mmseg_sia', 'cv2', 'numpy', 'pandas') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert '--resume' in out and out.strip().endswith('[]')
    assert load_tool().FORMATS == ALL_FORMATS


def test_tool_full_disk_writes_summary_and_resume_completes(
        tiny, tmp_path, monkeypatch, capsys):
    """The disk fills up while the second image is written: the run stops,
    summary.csv says what was done, and --resume writes only what is
    missing."""
    import mmseg_sia.apis.writers as writers

    tool = load_tool()
    images = tmp_path / 'images'
    images.mkdir()
    for i, shape in enumerate([(64, 64), (70, 50), (40, 60)]):
        cv2.imwrite(str(images / f't{i}.png'), blocks_image(*shape, seed=i))
    out = tmp_path / 'out'
    args = [tiny['config'], tiny['checkpoint'], str(images), '--out-dir',
            str(out), '--no-progress']
    real = writers.atomic_write_bytes
    calls = []

    def full_disk(path, data, overwrite=False):
        calls.append(path)
        if len(calls) == 5:  # t1's second file (t0 wrote mask, overlay, json)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, data, overwrite)

    monkeypatch.setattr(writers, 'atomic_write_bytes', full_disk)
    assert tool.main(args) == 1
    printed = capsys.readouterr().out
    assert 'disk is full' in printed and '--resume' in printed
    assert sorted(os.listdir(out)) == [
        'summary.csv', 't0.json', 't0_mask.png', 't0_overlay.png',
        't1_mask.png']
    with open(out / 'summary.csv', newline='') as f:
        table = list(csv.DictReader(f))
    assert [r['status'] for r in table] == ['ok', 'failed', 'not run']
    assert 'No space left' in table[1]['error']
    assert 'disk is full' in table[2]['error']
    monkeypatch.setattr(writers, 'atomic_write_bytes', real)

    # A plain re-run refuses (nothing is overwritten) and says what to do.
    assert tool.main(args) == 2
    assert '--resume' in capsys.readouterr().err
    kept = {n: (out / n).stat().st_mtime_ns
            for n in ('t0.json', 't0_mask.png', 't1_mask.png')}
    assert tool.main(args + ['--resume']) == 0
    assert 'complete from before' in capsys.readouterr().out
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert sorted(os.listdir(out)) == sorted(
        ['summary.csv'] + [f't{i}{s}' for i in range(3)
                           for s in ('.json', '_mask.png', '_overlay.png')])
    # The completed output is what one uninterrupted run writes.
    fresh = tmp_path / 'fresh'
    assert tool.main(args[:4] + [str(fresh), '--no-progress']) == 0
    assert (out / 'summary.csv').read_text() == \
        (fresh / 'summary.csv').read_text()
    for name in os.listdir(fresh):
        if name.endswith('.png'):
            assert (out / name).read_bytes() == (fresh / name).read_bytes()
    # Nothing left to do: a second --resume runs no image.
    assert tool.main(args + ['--resume']) == 0
    assert '(3 complete from before)' in capsys.readouterr().out


def test_tool_shows_one_progress_bar(tiny, tmp_path, capsys):
    tool = load_tool()
    img = tmp_path / 'scene.png'
    cv2.imwrite(str(img), blocks_image(100, 130, 4))
    assert tool.main([tiny['config'], tiny['checkpoint'], str(img),
                      '--out-dir', str(tmp_path / 'o'), '--formats',
                      'mask']) == 0
    err = capsys.readouterr().err
    assert 'images' in err and 'window 12/12' in err
    assert 'windows:' not in err  # no nested per-image bar


def test_polygons_made_on_demand_keep_the_tolerance(model):
    img = blocks_image(96, 96, 8)
    eager = predict(model, img, tolerance=1.5)
    lazy = predict(model, img, tolerance=1.5, vectorize=False)
    assert lazy.polygons == {}

    def props(result):
        return [{k: v for k, v in f['properties'].items()
                 if k != 'ingest_time'} for f in result.iter_label_features()]

    assert props(lazy) == props(eager) and props(eager)
    for c in (1, 2):
        assert len(lazy.polygons[c]) == len(eager.polygons[c])
        for a, b in zip(lazy.polygons[c], eager.polygons[c]):
            np.testing.assert_array_equal(a.exterior, b.exterior)


def test_checkpoint_without_the_models_weights_is_refused(tiny, tmp_path):
    """init_segmentor never predicts with random weights by accident."""
    cases = {
        'empty.pth': dict(state_dict={}),
        'meta_only.pth': dict(meta=dict(dataset_meta=dict(classes=CLASSES))),
        'other_model.pth': dict(state_dict={
            'backbone.layer9.weight': torch.zeros(3),
            'head.fc.weight': torch.zeros(2, 2)}),
    }
    for name, content in cases.items():
        path = tmp_path / name
        torch.save(content, path)
        with pytest.raises(CheckpointMismatchError,
                           match=rf'{name} lacks \d+ of the \d+ '
                           r'weights.*tiny\.py'):
            init_segmentor(tiny['config'], str(path))
