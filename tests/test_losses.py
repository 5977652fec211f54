"""Tests of the plugin's losses (SIAFocalLoss, SIADiceLoss, SIALovaszLoss)."""
import math

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

FLT_MIN = float(np.finfo(np.float32).tiny)


def cuda_focal_reference(logits, labels, gamma, alpha, class_weight=None,
                         ignore_index=255, reduction='mean'):
    """mmseg's CUDA focal loss path, written out element by element.

    Mirrors ``mmcv/ops/csrc/common/cuda/sigmoid_focal_loss_cuda_kernel.cuh``
    (loss of each (sample, class) pair with ``log(max(p, FLT_MIN))``) and
    mmseg's ``sigmoid_focal_loss`` wrapper (ignored pixels relabelled 0 and
    weighted 0; a list alpha runs the kernel at 0.5, doubles the loss and
    weights by alpha / 1 - alpha; 'mean' divides by all N * C pairs).
    """
    n, c = logits.shape
    out = np.zeros((n, c))
    for i in range(n):
        t = int(labels[i])
        valid = t != ignore_index
        t = t if valid else 0
        for k in range(c):
            x = float(logits[i, k])
            p = 1.0 / (1.0 + math.exp(-x))
            a = alpha[k] if isinstance(alpha, list) else alpha
            if c == 1:
                positive = t == 1
            else:
                positive = t == k
            if positive:
                v = -a * (1 - p)**gamma * math.log(max(p, FLT_MIN))
            else:
                v = -(1 - a) * p**gamma * math.log(max(1 - p, FLT_MIN))
            if class_weight is not None:
                v *= class_weight[k]
            out[i, k] = v if valid else 0.0
    if reduction == 'mean':
        return out.mean()
    if reduction == 'sum':
        return out.sum()
    return out


@pytest.fixture
def focal_case():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 4, 5, generator=g) * 3
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)
    labels[0, 0, :3] = 255
    labels[1, 2, 4] = 255
    flat_logits = logits.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    flat_labels = labels.reshape(-1).numpy()
    return logits, labels, flat_logits, flat_labels


@pytest.mark.parametrize('alpha', [0.25, 0.5, [0.2, 0.5, 0.9]])
@pytest.mark.parametrize('gamma', [0.0, 2.0])
def test_focal_matches_cuda_formula(focal_case, alpha, gamma):
    logits, labels, flat_logits, flat_labels = focal_case
    loss = MODELS.build(dict(type='SIAFocalLoss', gamma=gamma, alpha=alpha))
    got = loss(logits, labels, ignore_index=255)
    want = cuda_focal_reference(flat_logits, flat_labels, gamma, alpha)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_focal_reductions_and_class_weight(focal_case):
    logits, labels, flat_logits, flat_labels = focal_case
    cw = [0.5, 1.0, 2.0]
    loss = MODELS.build(
        dict(type='SIAFocalLoss', alpha=0.25, class_weight=cw,
             loss_weight=3.0))
    want = cuda_focal_reference(flat_logits, flat_labels, 2.0, 0.25, cw,
                                reduction='none')
    got_sum = loss(logits, labels, reduction_override='sum')
    assert got_sum.item() == pytest.approx(3.0 * want.sum(), rel=1e-5)
    got_none = loss(logits, labels, reduction_override='none')
    assert got_none.shape == logits.shape
    # (B, C, H, W) back to the (N, C) order of the reference.
    flat = got_none.permute(0, 2, 3, 1).reshape(-1, 3).detach().numpy()
    np.testing.assert_allclose(flat, 3.0 * want, rtol=1e-5, atol=1e-7)
    # avg_non_ignore divides by the valid pairs only: 40 pixels, 4 ignored.
    avg = MODELS.build(
        dict(type='SIAFocalLoss', alpha=0.25, class_weight=cw,
             avg_non_ignore=True))
    assert avg(logits, labels).item() == pytest.approx(
        want.sum() / (36 * 3), rel=1e-5)


def test_focal_single_channel_and_gradient():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]], requires_grad=True)
    labels = torch.tensor([[[1, 0], [255, 0]]])
    loss = MODELS.build(dict(type='SIAFocalLoss', alpha=0.25))
    value = loss(logits, labels)
    want = cuda_focal_reference(
        logits.detach().reshape(-1, 1).numpy(), labels.reshape(-1).numpy(),
        2.0, 0.25)
    assert value.item() == pytest.approx(want, rel=1e-5)
    value.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 0, 1, 0] == 0  # the ignored pixel


def test_mmseg_focal_loss_fails_off_cuda(focal_case):
    """The reason SIAFocalLoss exists: mmseg 1.2.2's CPU path is broken."""
    logits, labels, _, _ = focal_case
    with pytest.raises(RuntimeError, match='must match the size of tensor'):
        MODELS.build(dict(type='FocalLoss'))(logits, labels)


def test_focal_rejects_bad_arguments():
    with pytest.raises(ValueError,
                       match=r'alpha must be a number in \[0, 1\].*1\.5'):
        MODELS.build(dict(type='SIAFocalLoss', alpha=1.5))
    with pytest.raises(ValueError, match="reduction must be one of .*'avg'"):
        MODELS.build(dict(type='SIAFocalLoss', reduction='avg'))
    with pytest.raises(ValueError, match='gamma must be a number >= 0, got -1'):
        MODELS.build(dict(type='SIAFocalLoss', gamma=-1))
    loss = MODELS.build(dict(type='SIAFocalLoss'))
    with pytest.raises(ValueError,
                       match=r'matching sizes, got \(1, 3, 4, 4\) and '
                       r'\(1, 5, 4\)'):
        loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 5, 4, dtype=torch.long))
    with pytest.raises(ValueError, match='2 class weights for 3 classes'):
        MODELS.build(dict(type='SIAFocalLoss', class_weight=[1.0, 2.0]))(
            torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match='2 alpha values for 3 classes'):
        MODELS.build(dict(type='SIAFocalLoss', alpha=[0.5, 0.5]))(
            torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))


def _logits_from_probs(probs):
    return torch.log(torch.tensor(probs, dtype=torch.float64))


def test_dice_value_by_hand():
    # One image of 1 x 3 pixels, 2 classes; the third pixel is ignored.
    probs = [[[[0.8, 0.4, 0.1]], [[0.2, 0.6, 0.9]]]]
    logits = _logits_from_probs(probs)
    labels = torch.tensor([[[0, 1, 255]]])
    loss = MODELS.build(dict(type='SIADiceLoss', smooth=1.0, exponent=2))
    # class 0: (2 * 0.8 + 1) / ((0.64 + 0.16) + 1 + 1) = 2.6 / 2.8
    # class 1: (2 * 0.6 + 1) / ((0.04 + 0.36) + 1 + 1) = 2.2 / 2.4
    want = 1 - (2.6 / 2.8 + 2.2 / 2.4) / 2
    assert loss(logits, labels).item() == pytest.approx(want, rel=1e-9)
    # class_weight weighs the per-class losses.
    weighted = MODELS.build(dict(type='SIADiceLoss', class_weight=[1.0, 3.0]))
    want_w = ((1 - 2.6 / 2.8) + 3 * (1 - 2.2 / 2.4)) / 4
    assert weighted(logits, labels).item() == pytest.approx(want_w, rel=1e-9)


def test_dice_ignores_ignored_pixels_unlike_mmseg():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 6, 6, generator=g)
    labels = torch.randint(0, 3, (2, 6, 6), generator=g)
    labels[:, :2] = 255
    changed = logits.clone()
    changed[:, :, :2] = torch.randn(2, 3, 2, 6, generator=g) * 5
    ours = MODELS.build(dict(type='SIADiceLoss'))
    assert ours(logits, labels).item() == pytest.approx(
        ours(changed, labels).item(), rel=1e-6)
    theirs = MODELS.build(dict(type='DiceLoss', use_sigmoid=False))
    assert theirs(logits, labels).item() != pytest.approx(
        theirs(changed, labels).item(), rel=1e-6)
    # A crop that is all padding gives no loss and no NaN.
    empty = torch.full((2, 6, 6), 255)
    logits.requires_grad_(True)
    value = ours(logits, empty)
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(logits.grad).all()


def test_lovasz_value_by_hand():
    # Two pixels, 2 classes, labels [0, 1]; worked through mmseg's
    # lovasz_grad: class 0 errors sorted [0.4, 0.2] with gt [0, 1] give
    # grad [0.5, 0.5] -> 0.3; class 1 errors [0.4, 0.2] with gt [1, 0] give
    # grad [1, 0] -> 0.4; mean 0.35.
    logits = _logits_from_probs([[[[0.8, 0.4]], [[0.2, 0.6]]]])
    labels = torch.tensor([[[0, 1]]])
    loss = MODELS.build(dict(type='SIALovaszLoss'))
    assert loss(logits, labels).item() == pytest.approx(0.35, rel=1e-9)


def test_lovasz_matches_mmseg_and_survives_edge_cases():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    labels = torch.randint(0, 3, (2, 8, 8), generator=g)
    labels[0, :3] = 255
    ours = MODELS.build(dict(type='SIALovaszLoss'))
    theirs = MODELS.build(dict(type='LovaszLoss', reduction='none'))
    assert ours(logits, labels, ignore_index=255).item() == pytest.approx(
        theirs(logits, labels, ignore_index=255).item(), rel=1e-6)
    per_image = MODELS.build(dict(type='SIALovaszLoss', per_image=True))
    theirs_pi = MODELS.build(dict(type='LovaszLoss', per_image=True))
    assert per_image(logits, labels).item() == pytest.approx(
        theirs_pi(logits, labels, ignore_index=255).item(), rel=1e-6)
    # One labelled pixel (mmseg raises) and none (mmseg returns an empty
    # tensor that averages to NaN).
    one = torch.full((2, 8, 8), 255)
    one[0, 0, 0] = 1
    logits.requires_grad_(True)
    value = ours(logits, one)
    assert torch.isfinite(value)
    none = torch.full((2, 8, 8), 255)
    value = ours(logits, none)
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(logits.grad).all()


def test_losses_in_a_decode_head():
    """The three losses together, called the way mmseg's heads call them."""
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    head = MODELS.build(
        dict(
            type='FCNHead',
            in_channels=8,
            channels=8,
            num_convs=1,
            num_classes=2,
            norm_cfg=dict(type='BN'),
            loss_decode=[
                dict(type='SIADiceLoss'),
                dict(type='SIAFocalLoss'),
                dict(type='SIALovaszLoss')
            ]))
    feats = [torch.randn(2, 8, 8, 8)]
    samples = []
    for _ in range(2):
        s = SegDataSample()
        label = torch.randint(0, 2, (1, 32, 32))
        label[:, :4] = 255
        s.gt_sem_seg = PixelData(data=label)
        s.set_metainfo(dict(img_shape=(32, 32), pad_shape=(32, 32)))
        samples.append(s)
    losses = head.loss(feats, samples, train_cfg=dict())
    for name in ('loss_dice', 'loss_focal', 'loss_lovasz'):
        assert torch.isfinite(losses[name])
    sum(losses[k] for k in losses if k.startswith('loss_')).backward()
