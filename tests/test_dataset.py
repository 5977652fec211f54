"""SIADataset and LoadPolygonAnnotations built through mmseg's registries."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS, TRANSFORMS

from mmseg_sia.datasets import index_label_files
from mmseg_sia.labels import LabelFileError, SIALabelWarning

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadPolygonAnnotations')]


def build(root, **kwargs):
    cfg = dict(type='SIADataset', data_root=root, pipeline=LOAD)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_reads_release_layout_and_split(sia_root):
    train = build(sia_root, ann_file='splits/train.txt')
    val = build(sia_root, ann_file='splits/val.txt')
    everything = build(sia_root)
    assert len(train) == 3 and len(val) == 2 and len(everything) == 5
    assert train.metainfo['classes'] == ('background', 'building', 'road')
    assert train.metainfo['palette'][1] == [128, 128, 0]
    info = everything.get_data_info(0)
    assert osp.basename(info['img_path']) == 'BLD00001_PS3_K3A_NIA0001.png'
    assert [osp.relpath(p, sia_root) for p in info['label_paths']] == [
        'labels/building/BLD00001_PS3_K3A_NIA0001.json',
        'labels/road/BLD00001_PS3_K3A_NIA0001.json'
    ]


def test_samples_follow_the_design(sia_root):
    ds = build(sia_root)
    by_stem = {
        osp.basename(ds.get_data_info(i)['img_path'])[:-4]: ds[i]
        for i in range(len(ds))
    }
    both = by_stem['BLD00001_PS3_K3A_NIA0001']
    seg = both['gt_seg_map']
    assert seg.shape == both['img'].shape[:2] == (64, 64)
    assert seg.dtype == np.uint8
    assert 'gt_seg_map' in both['seg_fields']
    assert seg[10, 10] == 1  # building
    assert seg[33, 5] == 2 and seg[33, 63] == 2  # road across the tile
    assert seg[33, 35] == 2  # road wins where it overlaps a building
    assert seg[26, 35] == 1
    assert seg[55, 63] == 1  # clipped at the right edge
    # No label file: all background.
    assert not by_stem['BLD00004_PS3_K3A_NIA0004']['gt_seg_map'].any()
    # Building only: no road; road only: no building.
    assert set(np.unique(by_stem['BLD00002_PS3_K3A_NIA0002']['gt_seg_map'])) \
        == {0, 1}
    assert set(np.unique(by_stem['BLD00003_PS3_K3A_NIA0003']['gt_seg_map'])) \
        == {0, 2}
    # -2.8e-14 and exactly 64 cover the first row/column and the far corner.
    assert by_stem['BLD00002_PS3_K3A_NIA0002']['gt_seg_map'][0, 0] == 1
    assert by_stem['BLD00002_PS3_K3A_NIA0002']['gt_seg_map'][63, 63] == 1


def test_flat_labels_folder_gives_the_same_maps(sia_root, tmp_path):
    shutil.copytree(osp.join(sia_root, 'images'), tmp_path / 'images')
    flat = tmp_path / 'labels'
    flat.mkdir()
    # Both kinds in one folder: name them apart as some redistributions do
    # (one file per tile holding both kinds of feature).
    import json
    for stem in os.listdir(osp.join(sia_root, 'images')):
        stem = stem[:-4]
        features = []
        for kind in ('building', 'road'):
            p = osp.join(sia_root, 'labels', kind, stem + '.json')
            if osp.exists(p):
                with open(p, encoding='utf-8-sig') as f:
                    features += json.load(f)['features']
        if features:
            (flat / (stem + '.json')).write_text(json.dumps(
                {'type': 'FeatureCollection', 'features': features}))
    a, b = build(sia_root), build(str(tmp_path))
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i]['gt_seg_map'], b[i]['gt_seg_map'])


def test_split_stem_without_image_is_an_error(sia_root, tmp_path):
    root = tmp_path / 'root'
    shutil.copytree(sia_root, root, ignore=shutil.ignore_patterns('*.py'))
    (root / 'splits' / 'bad.txt').write_text(
        'BLD00001_PS3_K3A_NIA0001\nBLD99999_MISSING\n')
    with pytest.raises(FileNotFoundError,
                       match=r'bad\.txt have no image.*BLD99999_MISSING'):
        build(str(root), ann_file='splits/bad.txt')
    with pytest.raises(FileNotFoundError, match='nothere.txt'):
        build(str(root), ann_file='splits/nothere.txt')


def test_index_reads_one_level_down_only(tmp_path):
    (tmp_path / 'building').mkdir()
    (tmp_path / 'deep' / 'deeper').mkdir(parents=True)
    (tmp_path / 'A.json').write_text('{}')
    (tmp_path / 'building' / 'A.json').write_text('{}')
    (tmp_path / 'building' / 'B.json').write_text('{}')
    (tmp_path / 'building' / 'notes.txt').write_text('')
    (tmp_path / 'deep' / 'deeper' / 'C.json').write_text('{}')
    index = index_label_files(str(tmp_path))
    assert sorted(index) == ['A', 'B']
    assert len(index['A']) == 2


def test_bad_label_file_fails_loudly_in_the_pipeline(sia_root, tmp_path):
    root = tmp_path / 'root'
    shutil.copytree(sia_root, root, ignore=shutil.ignore_patterns('*.py'))
    bad = root / 'labels' / 'road' / 'BLD00003_PS3_K3A_NIA0003.json'
    bad.write_text('<html>404</html>')
    ds = build(str(root), ann_file='splits/train.txt', serialize_data=False)
    with pytest.raises(LabelFileError,
                       match=r'BLD00003_PS3_K3A_NIA0003\.json: is not valid'):
        ds[2]


def test_bad_feature_warns_or_raises_in_the_pipeline(sia_root, tmp_path):
    import json
    root = tmp_path / 'root'
    shutil.copytree(sia_root, root, ignore=shutil.ignore_patterns('*.py'))
    path = root / 'labels' / 'building' / 'BLD00005_PS3_K3A_NIA0005.json'
    doc = json.loads(path.read_text(encoding='utf-8'))
    broken = json.loads(json.dumps(doc['features'][0]))
    broken['properties']['building_imcoords'] = '1,2,3'
    doc['features'].append(broken)
    path.write_text(json.dumps(doc))
    ds = build(str(root), ann_file='splits/val.txt')
    with pytest.warns(SIALabelWarning, match=r'NIA0005\.json: skipped 1 of 2'):
        seg = ds[1]['gt_seg_map']
    assert (seg == 1).any()
    strict = build(str(root), ann_file='splits/val.txt', pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPolygonAnnotations', strict=True)])
    with pytest.raises(LabelFileError, match=r'NIA0005\.json, feature 1'):
        strict[1]


def test_priority_and_class_map_are_parameters(sia_root):
    building_first = build(sia_root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPolygonAnnotations', priority=(1, 2))])
    assert building_first[0]['gt_seg_map'][33, 35] == 1
    roads_only = build(sia_root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPolygonAnnotations',
             class_map={'road_imcoords': 1})])
    seg = roads_only[0]['gt_seg_map']
    assert seg[10, 10] == 0 and seg[33, 5] == 1


def test_transform_repr_and_argument_check():
    t = TRANSFORMS.build(dict(type='LoadPolygonAnnotations', strict=True))
    text = repr(t)
    for arg in ('class_map=', 'priority=(2, 1)', 'strict=True',
                'reduce_zero_label=None'):
        assert arg in text
    with pytest.raises(ValueError, match="class id of 'road_imcoords'"):
        TRANSFORMS.build(dict(type='LoadPolygonAnnotations',
                              class_map={'road_imcoords': 300}))
    with pytest.raises(KeyError, match='LoadImageFromFile before it'):
        t(dict(label_paths=[], img_path='x.png'))
    # A bare image, as mmseg's inference APIs build it, passes through.
    bare = t(dict(img_path='x.png', ori_shape=(4, 4), seg_fields=[]))
    assert 'gt_seg_map' not in bare and bare['seg_fields'] == []
    # An image with no label file is all background.
    empty = t(dict(label_paths=[], ori_shape=(4, 5), seg_fields=[]))
    assert empty['gt_seg_map'].shape == (4, 5) and not empty['gt_seg_map'].any()


def test_base_config_pipelines_run_unchanged(sia_root):
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/sia.py'))
    for loader, n in (('train_dataloader', 3), ('val_dataloader', 2)):
        ds_cfg = cfg[loader]['dataset']
        ds_cfg['data_root'] = sia_root
        ds = DATASETS.build(ds_cfg)
        assert len(ds) == n
        sample = ds[0]
        inputs, data_sample = sample['inputs'], sample['data_samples']
        gt = data_sample.gt_sem_seg.data
        assert gt.shape[-2:] == inputs.shape[-2:] or loader == 'val_dataloader'
        assert set(np.unique(gt.numpy())) <= {0, 1, 2, 255}
    # Test pipeline: the label keeps the tile's size after Resize.
    assert tuple(gt.shape[-2:]) == (64, 64)
    assert tuple(inputs.shape[-2:]) == (1024, 1024)
