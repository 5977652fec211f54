# HRNetV2-W48 with an FCN head on one GPU for the SIA configs: the model,
# its starting weights and mmseg's 80k SGD schedule. The data (task, crops,
# metrics) come from a configs/_base_/datasets/sia*_512x512.py base beside
# it; the head has the 3 classes of the 3-class task, per-target configs set
# their own num_classes.
_base_ = [
    'mmseg::_base_/models/fcn_hr18.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]

# As in ../schedules/sia_80k.py, which is not inherited here so that the
# configs in configs/sia/ stay within three levels of inheritance: keep the 3
# latest checkpoints and the best one by mIoU.
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3, save_best='mIoU'))

# One GPU: plain BN (SyncBN needs a process group).
norm_cfg = dict(type='BN', requires_grad=True)
# The crop_size of the datasets/sia*_512x512.py bases.
data_preprocessor = dict(size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    # ImageNet weights of HRNetV2-W48, as mmseg's configs use them.
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(
        norm_cfg=norm_cfg,
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=dict(
        in_channels=[48, 96, 192, 384],
        channels=sum([48, 96, 192, 384]),
        num_classes=3,
        norm_cfg=norm_cfg))
# Start from mmseg's LoveDA model (satellite tiles, 1024 x 1024, 7 classes);
# the classifier does not fit the SIA classes and is left at random.
load_from = 'https://download.openmmlab.com/mmsegmentation/v0.5/hrnet/fcn_hr48_512x512_80k_loveda/fcn_hr48_512x512_80k_loveda_20211211_044756-67072f55.pth'  # noqa
