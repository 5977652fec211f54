# SegFormer MiT-B5, buildings only, cross-entropy + Dice. Public work on this
# dataset reports building IoU 83.5 with SegFormer MiT-B5 and a Dice loss (its
# own split; whether Dice was used alone is not stated, cross-entropy is kept
# here for stable early training). SIADiceLoss is the plugin's per-class Dice
# that leaves ignored pixels out (mmseg 1.2.2's DiceLoss does not).
_base_ = './segformer_mit-b5_1xb8-80k_sia-512x512.py'

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
            dict(type='SIADiceLoss', loss_weight=1.0),
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
