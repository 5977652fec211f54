# HRNetV2-W48 (FCN head), buildings only, cross-entropy + Lovasz-Softmax.
# Public work on this dataset reports building IoU 83.5 with HRNet trained
# with CE + Lovasz (its own split). SIALovaszLoss has mmseg's Lovasz maths and
# also survives crops with one or no labelled pixel.
_base_ = [
    '../_base_/models/fcn_hr48_sia.py',
    '../_base_/datasets/sia-building_512x512.py',
]

model = dict(
    decode_head=dict(
        num_classes=2,
        loss_decode=[
            dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            dict(type='SIALovaszLoss', loss_weight=1.0),
        ]))
