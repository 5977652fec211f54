# CPU-sized Semantic FPN (ResNet-18 V1c, from scratch, nothing downloaded)
# for building / road on the land-cover layout, set up on the tiny test data
# of tests/data/landcover/lc (3 tiles of 96 x 96, written by its data.py):
#   python tools/train.py configs/sia/fpn_r18_sia-landcover-tiny.py
# trains and validates in seconds. For the release, point data_root and
# data_prefix at its folders (see configs/_base_/datasets/sia_landcover.py).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    '../_base_/datasets/sia_landcover.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)

data_root = 'tests/data/landcover/lc'
data_prefix = dict(
    img_path='TS_AP25_512픽셀',
    seg_map_path='TL_AP25_512픽셀_Json',
    meta_path='TL_AP25_512픽셀_Meta')
crop_size = (64, 64)
num_classes = 3
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    decode_head=dict(
        in_channels=[32, 32, 32, 32],
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg))
load_annotations = dict(type='LoadPolygonAnnotations')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, data_prefix=data_prefix,
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, data_prefix=data_prefix,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 4
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = []
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
