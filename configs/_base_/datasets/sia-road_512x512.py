# Roads only: 2 classes (background, road) in the 512 x 512 crops of
# sia_512x512.py, scored with mIoU / mFscore and road CCQ. It inherits
# sia.py, not sia_512x512.py, so that the configs in configs/sia/ built on it
# stay within three levels of inheritance; the pipelines are therefore
# restated here with the road-only labels.
_base_ = './sia.py'

crop_size = (512, 512)
# A subset of SIADataset's classes: the dataset maps id 0 to 0, id 2 (road)
# to 1 and id 1 (building) to 255. Buildings are therefore not drawn at all
# (class_map without building_imcoords), so their pixels stay background;
# roads keep their 3-class id 2 here and the dataset's map makes it 1.
metainfo = dict(
    classes=('background', 'road'), palette=[[0, 0, 0], [128, 64, 128]])
load_annotations = dict(
    type='LoadPolygonAnnotations', class_map={'road_imcoords': 2})

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
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
    dict(type='RoadCCQMetric', buffer_width=3),
    dict(type='APLSMetric', pixel_size=0.55),
]
test_evaluator = val_evaluator
