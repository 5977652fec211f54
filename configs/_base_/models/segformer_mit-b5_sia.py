# SegFormer with a MiT-B5 encoder on one GPU for the SIA configs: the model,
# its starting weights and mmseg's 80k schedule with AdamW. The data (task,
# crops, metrics) come from a configs/_base_/datasets/sia*_512x512.py base
# beside it; the head has the 3 classes of the 3-class task, per-target
# configs set their own num_classes.
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
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
# ImageNet weights of the MiT-B5 encoder, as in mmseg's SegFormer configs.
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b5_20220624-658746d9.pth'  # noqa
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
        embed_dims=64,
        num_layers=[3, 6, 40, 3]),
    decode_head=dict(
        in_channels=[64, 128, 320, 512], num_classes=3, norm_cfg=norm_cfg))
# Start from mmseg's Cityscapes model (1024 x 1024, 19 classes); the
# classifier does not fit the SIA classes and is left at random.
load_from = 'https://download.openmmlab.com/mmsegmentation/v0.5/segformer/segformer_mit-b5_8x1_1024x1024_160k_cityscapes/segformer_mit-b5_8x1_1024x1024_160k_cityscapes_20211206_072934-87a052ec.pth'  # noqa

# AdamW 6e-5 with a 1.5k-step linear warm-up and poly decay, as in mmseg's
# SegFormer configs, instead of the schedule's SGD.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_block': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'head': dict(lr_mult=10.)
        }))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=80000,
        by_epoch=False)
]
