# SegFormer MiT-B5, building / road (3 classes) on AIHub's land-cover data
# (0.25 m aerial tiles of 512 x 512, labels from the EPSG:5186 polygons).
_base_ = [
    '../_base_/models/segformer_mit-b5_sia.py',
    '../_base_/datasets/sia_landcover.py',
]
