# DeepLabV3+ with a ResNet-101 V1c (dilated, output stride 8) for the 3-class
# task (background, building, road) on one GPU: batch 8 of 512 x 512 crops,
# SGD 0.01 poly, 80k iterations. Public work on this dataset reports building
# IoU 81.3 with DeepLabV3+ R101 (its own split).
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/datasets/sia_512x512.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/sia_80k.py',
]

# One GPU: plain BN (SyncBN needs a process group).
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=_base_.crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # ImageNet weights of the backbone, as mmseg's configs use them.
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101, norm_cfg=norm_cfg),
    decode_head=dict(num_classes=3, norm_cfg=norm_cfg),
    auxiliary_head=dict(num_classes=3, norm_cfg=norm_cfg))
# Start from mmseg's LoveDA model (satellite tiles, 1024 x 1024, 7 classes);
# the classifier layers do not fit 3 classes and are left at random.
load_from = 'https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3plus/deeplabv3plus_r101-d8_512x512_80k_loveda/deeplabv3plus_r101-d8_512x512_80k_loveda_20211105_110759-4c1f297e.pth'  # noqa
