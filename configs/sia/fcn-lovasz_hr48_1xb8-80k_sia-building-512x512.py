# HRNetV2-W48 (FCN head), buildings only, cross-entropy + Lovasz-Softmax.
# Public work on this dataset reports building IoU 83.5 with HRNet trained
# with CE + Lovasz (its own split). SIALovaszLoss has mmseg's Lovasz maths and
# also survives crops with one or no labelled pixel.
_base_ = './fcn_hr48_1xb8-80k_sia-512x512.py'

crop_size = (512, 512)
# Buildings only: see segformer_mit-b5_1xb8-80k_sia-building-512x512.py for
# why roads are left out of class_map (they must end up as background, and a
# class missing from metainfo would be mapped to the ignore index).
metainfo = dict(
    classes=('background', 'building'), palette=[[0, 0, 0], [128, 128, 0]])
load_annotations = dict(
    type='LoadPolygonAnnotations', class_map={'building_imcoords': 1})

model = dict(
    decode_head=dict(
        num_classes=2,
        loss_decode=[
            dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            dict(type='SIALovaszLoss', loss_weight=1.0),
        ]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
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
    load_annotations,
    dict(
        type='PackSegInputs',
        meta_keys=('img_path', 'seg_map_path', 'label_paths', 'ori_shape',
                   'img_shape', 'pad_shape', 'scale_factor', 'flip',
                   'flip_direction', 'reduce_zero_label'))
]
train_dataloader = dict(
    dataset=dict(metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
    dict(type='BuildingF1Metric'),
]
test_evaluator = val_evaluator
