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
