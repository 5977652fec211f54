# UPerNet with a Swin-B encoder (window 12, ImageNet-22k pre-training) for the
# 3-class task (background, building, road) on one GPU: batch 8 of 512 x 512
# crops, AdamW 6e-5 with a 1.5k-step warm-up and poly decay, 80k iterations.
# No published figure on this dataset; a modern-backbone reference beside the
# others.
_base_ = [
    'mmseg::_base_/models/upernet_swin.py',
    '../_base_/datasets/sia_512x512.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/sia_80k.py',
]

# One GPU: plain BN (SyncBN needs a process group).
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=_base_.crop_size)
# ImageNet-22k weights of Swin-B at 384, as in mmseg's Swin configs.
checkpoint_file = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_base_patch4_window12_384_22k_20220317-e5c09f74.pth'  # noqa
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file),
        pretrain_img_size=384,
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=12,
        use_abs_pos_embed=False,
        drop_path_rate=0.3,
        patch_norm=True),
    decode_head=dict(
        in_channels=[128, 256, 512, 1024], num_classes=3, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=512, num_classes=3, norm_cfg=norm_cfg))
# Start from mmseg's ADE20K UPerNet Swin-B model (150 classes); the
# classifiers do not fit 3 classes and are left at random.
load_from = 'https://download.openmmlab.com/mmsegmentation/v0.5/swin/upernet_swin_base_patch4_window12_512x512_160k_ade20k_pretrain_384x384_22K/upernet_swin_base_patch4_window12_512x512_160k_ade20k_pretrain_384x384_22K_20210531_125459-429057bf.pth'  # noqa

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
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
