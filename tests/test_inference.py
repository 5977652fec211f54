"""Inference API, writers and tools/infer.py on a tiny random model."""
import importlib.util
import json
import os
import os.path as osp
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

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('background', 'building', 'road')
PALETTE = [[0, 0, 0], [128, 128, 0], [128, 64, 128]]
FOOTPRINT = [[127.0210, 37.5412, 0], [127.0268, 37.5413, 0],
             [127.0267, 37.5367, 0], [127.0209, 37.5366, 0]]

TINY_CONFIG = """
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                  base_channels=8, out_indices=(1, 2, 3), norm_cfg=norm_cfg),
    decode_head=dict(
        type='FCNHead', in_channels=16, in_index=0, channels=8, num_convs=1,
        concat_input=False, num_classes={num_classes}, norm_cfg=norm_cfg,
        align_corners=False, {extra}
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0,
                         use_sigmoid={sigmoid})),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(48, 48), stride=(32, 32)))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
"""


def blocks_image(h, w, seed=0):
    """An image of coloured rectangles (something for the model to see)."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 90, np.uint8)
    for _ in range(h * w // 300):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = rng.integers(0, 256, 3).tolist()
        cv2.rectangle(img, (x, y), (x + int(rng.integers(4, 25)),
                                    y + int(rng.integers(4, 25))), colour, -1)
    return img


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Config and checkpoint of a tiny random model whose predictions vary.

    Batch-norm statistics are calibrated on an image so that the random
    features are not flat, which gives masks with all three classes.
    """
    from mmengine.registry import DefaultScope
    from mmseg.apis import init_model

    root = tmp_path_factory.mktemp('tiny')
    cfg = root / 'tiny.py'
    cfg.write_text(TINY_CONFIG.format(num_classes=3, extra='',
                                      sigmoid=False))
    cfg4 = root / 'tiny4.py'
    cfg4.write_text(TINY_CONFIG.format(num_classes=4, extra='',
                                       sigmoid=False))
    binary = root / 'tiny_binary.py'
    binary.write_text(TINY_CONFIG.format(
        num_classes=2, extra='out_channels=1, threshold=0.5,',
        sigmoid=True))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = init_model(str(cfg), None, device='cpu')
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None
    x = torch.from_numpy(blocks_image(96, 96, 1)).permute(2, 0, 1)[None]
    x = (x.float() - model.data_preprocessor.mean) / \
        model.data_preprocessor.std
    model.train()
    with torch.no_grad():
        model.decode_head(model.extract_feat(x))
    model.eval()
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
    assert (ours == ref).mean() > 0.999
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
    assert (ours == ref).mean() > 0.999
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
    # The palette PNG reads back as the class ids, with the dataset colours.
    png = Image.open(paths['mask'])
    assert png.mode == 'P'
    np.testing.assert_array_equal(np.array(png), res.mask)
    assert png.getpalette()[:9] == sum(PALETTE, [])
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

    # Without a footprint: pixel coordinates and a note saying so.
    plain = predict(model, img).to_geojson()
    assert 'pixel' in plain['note']
    assert all(f['properties']['area_m2'] is None for f in plain['features'])
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
    for stem in ('a', 'b'):
        for suffix in ('_mask.png', '_overlay.png', '.json', '.geojson'):
            assert (out / f'{stem}{suffix}').is_file()
    assert not (out / 'c_mask.png').exists()
    summary = pd.read_csv(out / 'summary.csv')
    assert list(summary['status']) == ['ok', 'ok', 'failed']
    assert 'c.png' in summary['error'][2]
    assert summary['georeferenced'][0] and not summary['georeferenced'][1]
    assert summary['building_area_m2'][0] > 0
    a = json.loads((out / 'a.geojson').read_text())
    b = json.loads((out / 'b.geojson').read_text())
    assert 'note' not in a and 'note' in b

    # Nothing is replaced without --overwrite; with it, all is rewritten.
    before = (out / 'a.json').stat().st_mtime_ns
    assert tool.main(args) == 2
    assert 'exist' in capsys.readouterr().err
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
                      '--footprints', str(fp_dir), '--formats', 'geojson'])
    assert code == 1
    assert osp.join('footprints', 'a.json') in capsys.readouterr().err
    assert (tmp_path / 'out2' / 'b.geojson').is_file()


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
