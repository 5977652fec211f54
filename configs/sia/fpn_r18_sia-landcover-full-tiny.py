# fpn_r18_sia-landcover-tiny.py with every land-cover class (13 classes,
# their own palette), as in segformer_mit-b5_1xb8-80k_sia-landcover-full-
# 512x512.py.
_base_ = ['./fpn_r18_sia-landcover-tiny.py']

metainfo = dict(
    classes=('background', 'building', 'parking', 'road', 'street trees',
             'paddy', 'greenhouse', 'field', 'broadleaf forest',
             'conifer forest', 'bare land', 'water', 'non-target'),
    palette=[[0, 0, 0], [194, 70, 66], [160, 112, 196], [128, 64, 128],
             [97, 190, 84], [242, 229, 130], [212, 233, 236], [235, 175, 90],
             [36, 120, 52], [13, 74, 39], [166, 138, 110], [52, 120, 220],
             [200, 200, 200]])
class_map = {
    10: 1, 20: 2, 30: 3, 40: 4, 50: 5, 55: 6, 60: 7, 71: 8, 75: 9, 80: 10,
    95: 11, 100: 12
}
load_annotations = dict(type='LoadPolygonAnnotations', priority=(3, 1))
crop_size = (64, 64)
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
model = dict(decode_head=dict(num_classes=13))
train_dataloader = dict(
    dataset=dict(
        metainfo=metainfo, class_map=class_map, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        metainfo=metainfo, class_map=class_map, pipeline=test_pipeline))
test_dataloader = val_dataloader
