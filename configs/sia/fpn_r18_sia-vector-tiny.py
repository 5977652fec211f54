# Georeferenced rasters plus one vector file of labels (SIAVectorDataset):
# GeoTIFFs in any CRS, building / road polygons in a GeoPackage, Shapefile or
# GeoJSON in any CRS, the class in a field. Set up on the tiny test data of
# tests/data/landcover/geo (two GeoTIFFs in EPSG:32652, footprints in
# EPSG:5186, field 'kind'):
#   python tools/train.py configs/sia/fpn_r18_sia-vector-tiny.py
# For your own data, set data_root, vector_file, attribute and class_map.
_base_ = ['./fpn_r18_sia-landcover-tiny.py']

data_root = 'tests/data/landcover/geo'
dataset = dict(
    _delete_=True,
    type='SIAVectorDataset',
    data_root=data_root,
    data_prefix=dict(img_path='images'),
    img_suffix='.tif',
    vector_file='footprints.gpkg',
    attribute='kind',
    class_map={'building': 1, 'road': 2})
# Pillow reads GeoTIFFs without OpenCV's notes about the GeoTIFF tags.
load_image = dict(type='LoadImageFromFile', imdecode_backend='pillow')
train_pipeline = [
    load_image,
    dict(type='LoadPolygonAnnotations'),
    dict(type='RandomCrop', crop_size=(64, 64)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    load_image,
    dict(type='LoadPolygonAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
