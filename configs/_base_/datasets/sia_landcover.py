# AIHub land-cover data (토지피복지도 항공위성 이미지), building / road: TIF tiles
# without georeference, a META file per tile giving the grid, and GeoJSON
# labels in EPSG:5186 drawn in the pipeline. ANN_CD 10 is building (1), 30 is
# road (2), every other documented code background; a code not in the class
# map is warned about, never drawn as background silently.
#
# The release's own folders are used as they are: Training/ for training,
# Validation/ for validation (no split files). The 0.25 m aerial part with
# 512 x 512 tiles is named here; point data_prefix at another part
# (e.g. TS_AP25_1024픽셀) to use it.
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)

dataset_type = 'SIALandCoverDataset'
data_root = 'data/landcover'
part = 'AP25_512픽셀'
crop_size = (512, 512)
# ANN_CD -> class id (background 0, building 1, road 2).
class_map = {
    10: 1, 20: 0, 30: 2, 40: 0, 50: 0, 55: 0, 60: 0, 71: 0, 75: 0, 80: 0,
    95: 0, 100: 0
}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPolygonAnnotations'),
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    # Labels are drawn at the tile's own size, so they may follow Resize.
    dict(type='LoadPolygonAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path=f'Training/01.원천데이터/TS_{part}',
            seg_map_path=f'Training/02.라벨링데이터/TL_{part}_Json',
            meta_path=f'Training/02.라벨링데이터/TL_{part}_Meta'),
        class_map=class_map,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path=f'Validation/01.원천데이터/VS_{part}',
            seg_map_path=f'Validation/02.라벨링데이터/VL_{part}_Json',
            meta_path=f'Validation/02.라벨링데이터/VL_{part}_Meta'),
        class_map=class_map,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore'])
test_evaluator = val_evaluator
