"""Small models and images for tests and benchmarks (no download, CPU).

As ``mmseg.testing`` does for mmseg: a tiny encoder-decoder config whose
random predictions still vary over an image, and a seeded picture of
coloured rectangles for it to look at.
"""
from __future__ import annotations

import numpy as np

__all__ = ['tiny_segmentor_config', 'blocks_image', 'calibrated_tiny_model']

_TINY = """
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                  base_channels=8, out_indices=(1, 2, 3), norm_cfg=norm_cfg),
    decode_head=dict(
        type='FCNHead', in_channels=16, in_index=0, channels=8, num_convs=1,
        concat_input=False, num_classes={num_classes}, norm_cfg=norm_cfg,
        align_corners=False, {extra}
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0,
                         use_sigmoid={sigmoid})),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=({crop}, {crop}),
                  stride=({stride}, {stride})))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
"""


def tiny_segmentor_config(num_classes: int = 3,
                          threshold: float | None = None,
                          crop: int = 48,
                          stride: int = 32) -> str:
    """The text of a tiny ResNet-18 (8 channels) FCN config, slide inference.

    Args:
        num_classes (int): Classes. Defaults to 3.
        threshold (float, optional): Makes a binary model (one sigmoid output
            channel, ``num_classes`` must be 2) with this threshold.
        crop (int): Sliding window size. Defaults to 48.
        stride (int): Sliding window stride. Defaults to 32.

    Returns:
        str: The config, to write into a ``.py`` file.
    """
    binary = threshold is not None
    if binary and num_classes != 2:
        raise ValueError('a binary model has num_classes=2')
    extra = f'out_channels=1, threshold={threshold},' if binary else ''
    return _TINY.format(num_classes=num_classes, extra=extra, sigmoid=binary,
                        crop=crop, stride=stride)


def blocks_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A ``(h, w, 3)`` uint8 BGR image of coloured rectangles on grey."""
    import cv2
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 90, np.uint8)
    for _ in range(h * w // 300):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = rng.integers(0, 256, 3).tolist()
        cv2.rectangle(img, (x, y), (x + int(rng.integers(4, 25)),
                                    y + int(rng.integers(4, 25))), colour, -1)
    return img


def calibrated_tiny_model(config: str, seed: int = 0, size: int = 96):
    """Build a model from ``config`` with random weights (``seed``) whose
    batch-norm statistics are taken from :func:`blocks_image`, so that its
    random features, and so its predictions, vary over an image (with the
    initial statistics the masks come out nearly flat).

    Args:
        config (str): Config file, e.g. written from
            :func:`tiny_segmentor_config`.
        seed (int): Torch seed of the weights. Defaults to 0.
        size (int): Side of the calibration image. Defaults to 96.

    Returns:
        torch.nn.Module: The segmentor, in eval mode, on the CPU.
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmseg.apis import init_model

    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = init_model(str(config), None, device='cpu')
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # a plain average of what it sees
    x = torch.from_numpy(blocks_image(size, size, 1)).permute(2, 0, 1)[None]
    x = (x.float() - model.data_preprocessor.mean) / \
        model.data_preprocessor.std
    model.train()
    with torch.no_grad():
        model.decode_head(model.extract_feat(x))
    model.eval()
    return model
