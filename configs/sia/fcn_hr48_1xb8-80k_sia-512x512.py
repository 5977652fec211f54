# HRNetV2-W48 with an FCN head for the 3-class task (background, building,
# road) on one GPU: batch 8 of 512 x 512 crops, SGD 0.01 poly, 80k
# iterations. Public work on this dataset reports building IoU 83.5 with
# HRNet trained with cross-entropy + Lovasz
# (fcn-lovasz_hr48_1xb8-80k_sia-building-512x512.py).
_base_ = [
    'mmseg::_base_/models/fcn_hr18.py',
    '../_base_/datasets/sia.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)

crop_size = (512, 512)
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # ImageNet weights of HRNetV2-W48, as mmseg's configs use them.
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(
        norm_cfg=norm_cfg,
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=dict(
        in_channels=[48, 96, 192, 384],
        channels=sum([48, 96, 192, 384]),
        num_classes=3,
        norm_cfg=norm_cfg))
# Start from mmseg's LoveDA model (satellite tiles, 1024 x 1024, 7 classes);
# the classifier does not fit 3 classes and is left at random.
load_from = 'https://download.openmmlab.com/mmsegmentation/v0.5/hrnet/fcn_hr48_512x512_80k_loveda/fcn_hr48_512x512_80k_loveda_20211211_044756-67072f55.pth'  # noqa

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPolygonAnnotations'),
    dict(
        type='RandomResize',
        scale=(1024, 1024),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='LoadPolygonAnnotations'),
    # label_paths lets BuildingF1Metric use one reference per polygon.
    dict(
        type='PackSegInputs',
        meta_keys=('img_path', 'seg_map_path', 'label_paths', 'ori_shape',
                   'img_shape', 'pad_shape', 'scale_factor', 'flip',
                   'flip_direction', 'reduce_zero_label'))
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
    dict(type='BuildingF1Metric'),
    dict(type='RoadCCQMetric', buffer_width=3),
]
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=8000,
        max_keep_ckpts=3,
        save_best='mIoU'))
