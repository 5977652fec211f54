# SegFormer MiT-B5 on every land-cover class of AIHub's land-cover data:
# background (no polygon) plus the 12 ANN_CD classes, with their own
# palette. Class ids follow the ANN_CD order; the map below is the one place
# that ties them. Where polygons overlap (rare: the labels are a partition),
# road wins over building, and otherwise the higher class id.
_base_ = [
    '../_base_/models/segformer_mit-b5_sia.py',
    '../_base_/datasets/sia_landcover.py',
]
metainfo = dict(
    classes=('background', 'building', 'parking', 'road', 'street trees',
             'paddy', 'greenhouse', 'field', 'broadleaf forest',
             'conifer forest', 'bare land', 'water', 'non-target'),
    palette=[[0, 0, 0], [194, 70, 66], [160, 112, 196], [128, 64, 128],
             [97, 190, 84], [242, 229, 130], [212, 233, 236], [235, 175, 90],
             [36, 120, 52], [13, 74, 39], [166, 138, 110], [52, 120, 220],
             [200, 200, 200]])
# ANN_CD -> class id.
class_map = {
    10: 1, 20: 2, 30: 3, 40: 4, 50: 5, 55: 6, 60: 7, 71: 8, 75: 9, 80: 10,
    95: 11, 100: 12
}
load_annotations = dict(type='LoadPolygonAnnotations', priority=(3, 1))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    load_annotations,
    dict(type='PackSegInputs')
]
model = dict(decode_head=dict(num_classes=13))
train_dataloader = dict(
    dataset=dict(
        metainfo=metainfo, class_map=class_map, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        metainfo=metainfo, class_map=class_map, pipeline=test_pipeline))
test_dataloader = val_dataloader
