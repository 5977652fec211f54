# SegFormer MiT-B5, buildings only, cross-entropy + Dice. Public work on this
# dataset reports building IoU 83.5 with SegFormer MiT-B5 and a Dice loss (its
# own split; whether Dice was used alone is not stated, cross-entropy is kept
# here for stable early training). SIADiceLoss is the plugin's per-class Dice
# that leaves ignored pixels out (mmseg 1.2.2's DiceLoss does not).
_base_ = [
    '../_base_/models/segformer_mit-b5_sia.py',
    '../_base_/datasets/sia-building_512x512.py',
]

model = dict(
    decode_head=dict(
        num_classes=2,
        loss_decode=[
            dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            dict(type='SIADiceLoss', loss_weight=1.0),
        ]))
