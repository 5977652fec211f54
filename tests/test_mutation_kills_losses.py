"""Loss values that mutation testing found unpinned (issue 14).

Values worked out by hand from the formulas in the docstrings.
"""
import math

import pytest
import torch
from mmseg.registry import MODELS

import mmseg_sia.models  # noqa: F401  (registers the losses)


def logit(p):
    return math.log(p / (1 - p))


def test_dice_with_one_output_channel_sees_the_foreground():
    """A binary head (``out_channels=1``): label 1 is the foreground. Before
    the fix every label was clamped to 0, so the target never entered the
    loss and a perfect and an inverted prediction scored the same."""
    loss = MODELS.build(dict(type='SIADiceLoss'))
    # Pixels: labels 1, 0, 1, ignored; sigmoid probabilities 0.8, 0.3, 0.6.
    probs = [0.8, 0.3, 0.6, 0.9]
    pred = torch.tensor([[[[logit(p) for p in probs]]]], dtype=torch.float64)
    target = torch.tensor([[[1, 0, 1, 255]]])
    # dice = (2 * (0.8 + 0.6) + 1) / ((0.64 + 0.09 + 0.36) + 2 + 1)
    want = 1 - (2 * 1.4 + 1) / (1.09 + 2 + 1)
    assert loss(pred, target).item() == pytest.approx(want, rel=1e-12)
    good = torch.tensor([[[[20.0, -20.0], [-20.0, 20.0]]]])
    labels = torch.tensor([[[1, 0], [0, 1]]])
    assert loss(good, labels).item() == pytest.approx(0.0, abs=1e-6)
    # All wrong: dice = 1 / (2 + 2 + 1).
    assert loss(-good, labels).item() == pytest.approx(1 - 1 / 5, rel=1e-6)


def probs_to_logits(probs):
    """Logits whose softmax over dim 1 gives ``probs`` (B, C, H, W)."""
    return torch.log(torch.tensor(probs, dtype=torch.float64))


# Two 1 x 2 images, 2 classes; softmax probabilities by class, then pixel.
IMG_A = [[[0.8, 0.4]], [[0.2, 0.6]]]     # labels [0, 1]
IMG_B = [[[0.3, 0.9]], [[0.7, 0.1]]]     # labels [0, 0]
LABELS_AB = torch.tensor([[[0, 1]], [[0, 0]]])


def test_dice_over_the_batch_and_per_image_by_hand():
    from mmseg_sia.models.losses.dice_loss import soft_dice_per_class
    logits = probs_to_logits([IMG_A, IMG_B])
    # Over the batch: class 0 inter 2.0, sum p^2 1.7, sum t^2 3;
    # class 1 inter 0.6, sum p^2 0.9, sum t^2 1.
    batch = 1 - (5 / 5.7 + 2.2 / 2.9) / 2
    loss = MODELS.build(dict(type='SIADiceLoss'))
    assert loss(logits, LABELS_AB).item() == pytest.approx(batch, rel=1e-12)
    # Per image: A (2.6/2.8, 2.2/2.4), B (3.4/3.9, 1/1.5).
    per_image = 1 - (2.6 / 2.8 + 2.2 / 2.4 + 3.4 / 3.9 + 1 / 1.5) / 4
    loss = MODELS.build(dict(type='SIADiceLoss', per_image=True))
    assert loss(logits, LABELS_AB).item() == pytest.approx(per_image,
                                                           rel=1e-12)
    # Class weights apply within each image, then images are averaged.
    loss = MODELS.build(dict(type='SIADiceLoss', per_image=True,
                             class_weight=[1.0, 3.0]))
    want = ((1 - 2.6 / 2.8) + 3 * (1 - 2.2 / 2.4) + (1 - 3.4 / 3.9) +
            3 * (1 - 1 / 1.5)) / 8
    assert loss(logits, LABELS_AB).item() == pytest.approx(want, rel=1e-12)
    # The function's defaults: smooth 1, exponent 2, over the batch.
    probs = torch.tensor([IMG_A, IMG_B], dtype=torch.float64)
    one_hot = torch.nn.functional.one_hot(LABELS_AB, 2).permute(0, 3, 1, 2)
    dice = soft_dice_per_class(probs, one_hot.double(),
                               torch.ones(2, 1, 2, dtype=torch.bool))
    assert dice.tolist() == pytest.approx([5 / 5.7, 2.2 / 2.9], rel=1e-12)


def test_dice_pixel_weights_and_ignore_override_by_hand():
    logits = probs_to_logits([IMG_A])
    labels = LABELS_AB[:1]
    loss = MODELS.build(dict(type='SIADiceLoss'))
    # Weights [1, 0.5]: class 0 (2 * 0.8 + 1) / (0.72 + 1 + 1), class 1
    # (2 * 0.3 + 1) / (0.22 + 0.5 + 1).
    weight = torch.tensor([[[1.0, 0.5]]], dtype=torch.float64)
    want = 1 - (2.6 / 2.72 + 1.6 / 1.72) / 2
    assert loss(logits, labels, weight=weight).item() == pytest.approx(
        want, rel=1e-12)
    # Label 1 ignored for this call only: pixel 0 alone.
    want = 1 - (2.6 / 2.64 + 1 / 1.04) / 2
    assert loss(logits, labels, ignore_index=1).item() == pytest.approx(
        want, rel=1e-12)


def test_dice_sigmoid_and_a_class_absent_from_the_labels():
    # Sigmoid per channel: class 0 [0.8, 0.3], class 1 [0.4, 0.9].
    pred = torch.tensor([[[[logit(0.8), logit(0.3)]],
                          [[logit(0.4), logit(0.9)]]]], dtype=torch.float64)
    loss = MODELS.build(dict(type='SIADiceLoss', use_sigmoid=True))
    want = 1 - (2.6 / 2.73 + 2.8 / 2.97) / 2
    assert loss(pred, LABELS_AB[:1]).item() == pytest.approx(want, rel=1e-12)
    # Three classes, labels 0 and 2 only: class 1 has no target pixel.
    probs = [[[[0.5, 0.2]], [[0.3, 0.2]], [[0.2, 0.6]]]]
    labels = torch.tensor([[[0, 2]]])
    want = 1 - ((2 * 0.5 + 1) / (0.29 + 1 + 1) + 1 / (0.13 + 1) +
                (2 * 0.6 + 1) / (0.40 + 1 + 1)) / 3
    loss = MODELS.build(dict(type='SIADiceLoss'))
    assert loss(probs_to_logits(probs), labels).item() == pytest.approx(
        want, rel=1e-12)


def test_dice_settings_and_errors_word_for_word():
    MODELS.build(dict(type='SIADiceLoss', smooth=0.0))
    MODELS.build(dict(type='SIADiceLoss', smooth=0.5))
    with pytest.raises(ValueError,
                       match=r'^SIADiceLoss: smooth must be >= 0, got -0\.1$'):
        MODELS.build(dict(type='SIADiceLoss', smooth=-0.1))
    loss = MODELS.build(dict(type='SIADiceLoss', class_weight=[1, 2, 3]))
    with pytest.raises(ValueError,
                       match=r'^SIADiceLoss: 3 class weights for 2 classes$'):
        loss(torch.zeros(1, 2, 3, 4), torch.zeros(1, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError,
                       match=r'^SIADiceLoss: pred must be \(B, C, H, W\) and '
                       r'target \(B, H, W\), got \(1, 2, 3, 4\) and '
                       r'\(1, 3, 5\)$'):
        loss(torch.zeros(1, 2, 3, 4), torch.zeros(1, 3, 5, dtype=torch.long))


def test_focal_defaults_weights_and_shapes_by_hand():
    from mmseg_sia.models.losses.focal_loss import sigmoid_focal_loss_map
    ln2 = math.log(2)
    # Logit 0 (p = 0.5): a positive costs alpha * 0.25 * ln 2 and a
    # negative (1 - alpha) * 0.25 * ln 2; defaults gamma 2, alpha 0.5.
    got = sigmoid_focal_loss_map(torch.zeros(1, 2, dtype=torch.float64),
                                 torch.tensor([0]))
    assert got.shape == (1, 2)
    assert got[0].tolist() == pytest.approx([0.125 * ln2, 0.125 * ln2],
                                            rel=1e-12)
    for alpha, want in ((1.0, [0.25 * ln2, 0.0]), (0.0, [0.0, 0.25 * ln2])):
        loss = MODELS.build(dict(type='SIAFocalLoss', alpha=alpha,
                                 reduction='none'))
        # (N, C) logits and (N,) labels are accepted as they are.
        got = loss(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0]))
        assert got.shape == (1, 2)
        assert got[0].tolist() == pytest.approx(want, abs=1e-15)
    # Per-pixel weights [2, 0.25, 1] on three pixels of label 1: each
    # (pixel, class) pair costs 0.125 ln 2; the mean is over the 6 pairs.
    loss = MODELS.build(dict(type='SIAFocalLoss'))
    pred = torch.zeros(1, 2, 1, 3, dtype=torch.float64)
    target = torch.tensor([[[1, 1, 1]]])
    weight = torch.tensor([[[2.0, 0.25, 1.0]]], dtype=torch.float64)
    assert loss(pred, target, weight=weight).item() == pytest.approx(
        2 * (2 + 0.25 + 1) * 0.125 * ln2 / 6, rel=1e-12)
    # avg_factor divides the sum (plus float32 eps).
    eps = torch.finfo(torch.float32).eps
    assert loss(pred, target, avg_factor=1.0).item() == pytest.approx(
        6 * 0.125 * ln2 / (1.0 + eps), rel=1e-12)


def test_focal_errors_word_for_word():
    with pytest.raises(ValueError,
                       match=r'^SIAFocalLoss: alpha must be a number in '
                       r'\[0, 1\] or a list of them, got 1\.5$'):
        MODELS.build(dict(type='SIAFocalLoss', alpha=1.5))
    loss = MODELS.build(dict(type='SIAFocalLoss'))
    with pytest.raises(ValueError,
                       match=r"^SIAFocalLoss: unknown reduction 'avg'$"):
        loss(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long),
             reduction_override='avg')
    with pytest.raises(ValueError,
                       match=r'^SIAFocalLoss: pred must be \(B, C, \*\) and '
                       r'target \(B, \*\) with matching sizes, got '
                       r'\(2, 3, 4, 4\) and \(3, 4, 4\)$'):
        loss(torch.zeros(2, 3, 4, 4), torch.zeros(3, 4, 4, dtype=torch.long))


# Two pixels, 3 classes (class 0 absent from the labels). Worked through
# mmseg's lovasz_grad: class 1 errors [0.4, 0.2] (gt [1, 0] after sorting)
# give 0.4; class 2 errors [0.5, 0.3] give 0.5; class 0 (no pixel) errors
# [0.3, 0.1] give its largest, 0.3.
LOVASZ_PROBS = [[[[0.1, 0.3]], [[0.6, 0.2]], [[0.3, 0.5]]]]
LOVASZ_LABELS = torch.tensor([[[1, 2]]])


@pytest.mark.parametrize('cfg, want', [
    (dict(), 0.45),
    (dict(classes='present'), 0.45),
    (dict(classes='all'), 0.4),
    (dict(classes=[2]), 0.5),
    (dict(classes=(0, 1)), 0.35),
    (dict(classes=[]), 0.0),
    (dict(class_weight=[2.0, 1.0, 3.0]), (0.4 + 3 * 0.5) / 2),
    (dict(classes='all', class_weight=[2.0, 1.0, 3.0]),
     (2 * 0.3 + 0.4 + 3 * 0.5) / 3),
])
def test_lovasz_classes_and_weights_by_hand(cfg, want):
    loss = MODELS.build(dict(type='SIALovaszLoss', **cfg))
    got = loss(probs_to_logits(LOVASZ_PROBS), LOVASZ_LABELS).item()
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_lovasz_function_defaults_and_a_single_pixel():
    from mmseg_sia.models.losses.lovasz_loss import lovasz_softmax_flat
    probs = torch.tensor(LOVASZ_PROBS, dtype=torch.float64)[0]
    flat = probs.permute(1, 2, 0).reshape(-1, 3)
    assert lovasz_softmax_flat(flat, LOVASZ_LABELS.reshape(-1)).item() == \
        pytest.approx(0.45, rel=1e-12)
    one = lovasz_softmax_flat(torch.tensor([[0.25]]), torch.tensor([0]))
    assert one.item() == pytest.approx(0.75, rel=1e-7)
    # Label 2 ignored for this call only: pixel 0 alone, class 1 error 0.4.
    loss = MODELS.build(dict(type='SIALovaszLoss'))
    assert loss(probs_to_logits(LOVASZ_PROBS), LOVASZ_LABELS,
                ignore_index=2).item() == pytest.approx(0.4, rel=1e-12)


def test_lovasz_errors_word_for_word():
    for bad in ('some', ['a'], [0, 1.5]):
        with pytest.raises(ValueError,
                           match=r"^SIALovaszLoss: classes must be 'all', "
                           r"'present' or a list of class ids, got "):
            MODELS.build(dict(type='SIALovaszLoss', classes=bad))
    loss = MODELS.build(dict(type='SIALovaszLoss'))
    with pytest.raises(ValueError,
                       match=r'^SIALovaszLoss: pred must be \(B, C, H, W\) '
                       r'and target \(B, H, W\), got \(1, 2, 3, 4\) and '
                       r'\(1, 3, 5\)$'):
        loss(torch.zeros(1, 2, 3, 4), torch.zeros(1, 3, 5, dtype=torch.long))
