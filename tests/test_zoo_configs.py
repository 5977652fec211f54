"""The model-zoo configs load, build and label the data as they claim."""
import ast
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import DATASETS, MODELS, TRANSFORMS

import mmseg

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(__file__)), 'configs', 'sia')
MMSEG_CONFIGS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs')

# config -> (classes, URL-valued pretrained settings expected)
ZOO = {
    'deeplabv3plus_r101-d8_1xb8-80k_sia-512x512.py': 3,
    'segformer_mit-b5_1xb8-80k_sia-512x512.py': 3,
    'fcn_hr48_1xb8-80k_sia-512x512.py': 3,
    'upernet_swin-b_1xb8-80k_sia-512x512.py': 3,
    'segformer_mit-b5_1xb8-80k_sia-building-512x512.py': 2,
    'segformer_mit-b5_1xb8-80k_sia-road-512x512.py': 2,
    'fcn_hr48_1xb8-80k_sia-building-512x512.py': 2,
    'fcn_hr48_1xb8-80k_sia-road-512x512.py': 2,
    'segformer-dice_mit-b5_1xb8-80k_sia-building-512x512.py': 2,
    'fcn-lovasz_hr48_1xb8-80k_sia-building-512x512.py': 2,
    'segformer-dice-focal-lovasz-cutout_mit-b5_1xb8-80k_sia-road-512x512.py':
    2,
    'segformer-dice_mit-b5_1xb8-80k_sia-building-boundary-512x512.py': 3,
}


def inheritance_depth(path):
    """Levels of the config file chain, a file without ``_base_`` being 1."""
    if path.startswith('mmseg::'):
        path = osp.join(MMSEG_CONFIGS, path[len('mmseg::'):])
    tree = ast.parse(open(path, encoding='utf-8').read())
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    resolved = [
        b if b.startswith('mmseg::') else osp.normpath(
            osp.join(osp.dirname(path), b)) for b in bases
    ]
    return 1 + max((inheritance_depth(b) for b in resolved), default=0)


def walk(obj):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from walk(v)


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


@pytest.mark.parametrize('name', sorted(ZOO))
def test_config_loads_and_builds(name):
    cfg = load(name)
    assert 'mmseg_sia' in cfg.custom_imports['imports']
    assert inheritance_depth(osp.join(CONFIG_DIR, name)) <= 3
    # One GPU: no SyncBN anywhere in the model.
    assert not [d for d in walk(cfg.model.to_dict())
                if d.get('type') == 'SyncBN']
    # Pretrained weights point at OpenMMLab's public files.
    assert cfg.load_from.startswith('https://download.openmmlab.com/')
    backbone_init = (cfg.model.backbone.get('init_cfg') or {}).get(
        'checkpoint') or cfg.model.get('pretrained')
    assert backbone_init.startswith(('https://download.openmmlab.com/',
                                     'open-mmlab://'))
    dataset = cfg.train_dataloader.dataset
    classes = (dataset.get('metainfo') or {}).get('classes') or \
        DATASETS.get(dataset.type).METAINFO['classes']
    assert len(classes) == ZOO[name]
    for head in ('decode_head', 'auxiliary_head'):
        if cfg.model.get(head):
            assert cfg.model[head].num_classes == ZOO[name]
    # Offline: weights switched off, as the README tells users.
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    cfg.load_from = None
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 1e7
    for step in cfg.train_dataloader.dataset.pipeline:
        TRANSFORMS.build(step)
    for step in cfg.val_dataloader.dataset.pipeline:
        TRANSFORMS.build(step)


@pytest.mark.parametrize('name', [
    'segformer-dice-focal-lovasz-cutout_mit-b5_1xb8-80k_sia-road-512x512.py',
    'fcn-lovasz_hr48_1xb8-80k_sia-building-512x512.py',
    'segformer-dice_mit-b5_1xb8-80k_sia-building-boundary-512x512.py',
])
def test_loss_recipes_train_a_step(name):
    """The loss combinations run forward and backward through the head.

    The decode head of the config (with its losses) gets random features of
    the backbone's shapes; building the whole MiT-B5 / HRNet-W48 step would
    cost half a minute of CPU per config here.
    """
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = load(name)
    head = MODELS.build(cfg.model.decode_head)
    head.train()
    torch.manual_seed(0)
    feats = [
        torch.randn(2, c, 16 // 2**i, 16 // 2**i, requires_grad=True)
        for i, c in enumerate(cfg.model.decode_head.in_channels)
    ]
    samples = []
    for _ in range(2):
        s = SegDataSample()
        label = torch.randint(0, ZOO[name], (1, 64, 64))
        label[:, :8] = 255
        s.gt_sem_seg = PixelData(data=label)
        s.set_metainfo(dict(img_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(s)
    losses = head.loss(feats, samples, train_cfg=dict())
    names = {k for k in losses if k.startswith('loss_')}
    want = {
        loss['type']: loss.get('loss_name')
        for loss in cfg.model.decode_head.loss_decode
    }
    assert len(names) == len(want)
    total = sum(losses[k] for k in names)
    assert torch.isfinite(total)
    total.backward()
    assert all(torch.isfinite(f.grad).all() for f in feats)


def _tile(root, stem, buildings, roads, size=32):
    """One tile in the AIHub layout with rectangle polygons."""
    import os
    for sub in ('images', 'labels/building', 'labels/road'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    cv2.imwrite(osp.join(root, 'images', stem + '.png'),
                np.full((size, size, 3), 90, np.uint8))
    for kind, boxes in (('building', buildings), ('road', roads)):
        features = []
        for x0, y0, x1, y1 in boxes:
            props = {'building_imcoords': 'EMPTY', 'road_imcoords': 'EMPTY',
                     'object_imcoords': 'EMPTY', 'type_id': '1',
                     'type_name': 'x'}
            props[f'{kind}_imcoords'] = \
                f'{x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1}'
            features.append({'type': 'Feature', 'properties': props,
                             'geometry': {'type': 'Polygon',
                                          'coordinates': []}})
        with open(osp.join(root, 'labels', kind, stem + '.json'), 'w') as f:
            json.dump({'type': 'FeatureCollection', 'features': features}, f)


@pytest.mark.parametrize('name, want', [
    # building-only: roads are background, never ignored.
    ('segformer_mit-b5_1xb8-80k_sia-building-512x512.py', {
        'building': 1, 'road': 0, 'under_road': 1}),
    ('fcn-lovasz_hr48_1xb8-80k_sia-building-512x512.py', {
        'building': 1, 'road': 0, 'under_road': 1}),
    # road-only: roads are 1, buildings background.
    ('segformer-dice-focal-lovasz-cutout_mit-b5_1xb8-80k_sia-road-512x512.py',
     {'building': 0, 'road': 1, 'under_road': 1}),
    ('fcn_hr48_1xb8-80k_sia-road-512x512.py', {
        'building': 0, 'road': 1, 'under_road': 1}),
    # 3 classes: road wins where both are drawn.
    ('segformer_mit-b5_1xb8-80k_sia-512x512.py', {
        'building': 1, 'road': 2, 'under_road': 2}),
])
def test_per_target_labels(tmp_path, name, want):
    # A building at columns 2-13 crossed by a road at rows 14-17.
    _tile(str(tmp_path), 'T0001', buildings=[(2, 2, 14, 20)],
          roads=[(0, 14, 32, 18)])
    cfg = load(name)
    ds_cfg = cfg.train_dataloader.dataset.to_dict()
    ds_cfg.update(data_root=str(tmp_path), ann_file='',
                  pipeline=ds_cfg['pipeline'][:2])
    dataset = DATASETS.build(ds_cfg)
    seg = dataset[0]['gt_seg_map']
    assert seg[5, 5] == want['building']
    assert seg[15, 25] == want['road']
    assert seg[15, 5] == want['under_road']
    assert seg[28, 28] == 0
    assert 255 not in seg


def test_boundary_config_labels(tmp_path):
    # Two touching buildings: columns 2-7 and 8-13, rows 2-9.
    _tile(str(tmp_path), 'T0002', buildings=[(2, 2, 8, 10), (8, 2, 14, 10)],
          roads=[(0, 20, 32, 24)])
    cfg = load('segformer-dice_mit-b5_1xb8-80k_sia-building-boundary-'
               '512x512.py')
    ds_cfg = cfg.val_dataloader.dataset.to_dict()
    ds_cfg.update(data_root=str(tmp_path), ann_file='')
    dataset = DATASETS.build(ds_cfg)
    assert dataset.metainfo['classes'] == ('background', 'building',
                                          'boundary')
    item = dataset[0]
    seg = item['data_samples'].gt_sem_seg.data[0].numpy()
    assert set(np.unique(seg)) == {0, 1, 2}
    assert (seg[21] == 0).all()              # road: background
    # 2-pixel band: columns 6, 7 | 8, 9 along the shared edge.
    assert (seg[4:8, 6:10] == 2).all()
    assert (seg[4:8, 4:6] == 1).all() and (seg[4:8, 10:12] == 1).all()
    assert item['data_samples'].label_paths  # for BuildingF1Metric
