# HRNetV2-W48 (FCN head), roads only: 2 classes (background, road);
# buildings are not drawn, so they count as background. Plain cross-entropy.
_base_ = [
    '../_base_/models/fcn_hr48_sia.py',
    '../_base_/datasets/sia-road_512x512.py',
]

model = dict(decode_head=dict(num_classes=2))
