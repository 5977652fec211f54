# The seed's recipe in mmseg 1.x form: Semantic FPN with a ResNet-101 V1c
# backbone, fine-tuned from the Cityscapes checkpoint on the 3-class
# building/road task, one GPU (BN instead of SyncBN), batch 8, 4k iterations.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    '../_base_/datasets/sia.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
crop_size = (512, 1024)
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101, norm_cfg=norm_cfg),
    decode_head=dict(num_classes=3, norm_cfg=norm_cfg))

train_dataloader = dict(batch_size=8)

max_iters = 4000
interval = 1000
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=interval)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval))

# Fine-tune from the Cityscapes Semantic FPN R101 model, as the seed does; the
# 19-class head does not match and is left at its initialisation. Offline:
# --cfg-options load_from=None model.pretrained=None (trains from scratch).
load_from = ('https://download.openmmlab.com/mmsegmentation/v0.5/sem_fpn/'
             'fpn_r101_512x1024_80k_cityscapes/'
             'fpn_r101_512x1024_80k_cityscapes_20200717_012416-c5800d4c.pth')
