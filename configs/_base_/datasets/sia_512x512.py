# The 3-class task of sia.py (background, building, road) in 512 x 512 crops
# of the tiles resized by 0.5-2.0, tested on the whole tile and scored with
# mIoU / mFscore, per-building F1 and road CCQ.
_base_ = './sia.py'

crop_size = (512, 512)
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
    dict(type='BuildingF1Metric'),
    dict(type='RoadCCQMetric', buffer_width=3),
    dict(type='APLSMetric', pixel_size=0.55),
]
test_evaluator = val_evaluator
