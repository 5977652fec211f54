# HRNetV2-W48 (FCN head), buildings only: 2 classes (background, building);
# roads are not drawn, so they count as background. Plain cross-entropy; the
# published HRNet recipe adds Lovasz
# (fcn-lovasz_hr48_1xb8-80k_sia-building-512x512.py).
_base_ = [
    '../_base_/models/fcn_hr48_sia.py',
    '../_base_/datasets/sia-building_512x512.py',
]

model = dict(decode_head=dict(num_classes=2))
