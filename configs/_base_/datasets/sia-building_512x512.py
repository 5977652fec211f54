# Buildings only: 2 classes (background, building) in the 512 x 512 crops of
# sia_512x512.py, scored with mIoU / mFscore and per-building F1. It inherits
# sia.py, not sia_512x512.py, so that the configs in configs/sia/ built on it
# stay within three levels of inheritance; the pipelines are therefore
# restated here with the building-only labels.
_base_ = './sia.py'

crop_size = (512, 512)
# A subset of SIADataset's classes: the dataset maps ids 0 and 1 to
# themselves and id 2 (road) to 255. Roads are therefore not drawn at all
# (class_map without road_imcoords) so that their pixels stay background (a
# class missing from metainfo would be mapped to the ignore index).
metainfo = dict(
    classes=('background', 'building'), palette=[[0, 0, 0], [128, 128, 0]])
load_annotations = dict(
    type='LoadPolygonAnnotations', class_map={'building_imcoords': 1})

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
    # label_paths lets BuildingF1Metric use one reference per polygon.
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
