# HRNetV2-W48 with an FCN head for the 3-class task (background, building,
# road) on one GPU: batch 8 of 512 x 512 crops, SGD 0.01 poly, 80k
# iterations. Public work on this dataset reports building IoU 83.5 with
# HRNet trained with cross-entropy + Lovasz
# (fcn-lovasz_hr48_1xb8-80k_sia-building-512x512.py).
_base_ = [
    '../_base_/models/fcn_hr48_sia.py',
    '../_base_/datasets/sia_512x512.py',
]
