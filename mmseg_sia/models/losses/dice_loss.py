"""Per-class soft Dice loss that leaves ignored pixels out.

mmseg 1.2.2's ``DiceLoss`` (taken from mmdetection) flattens all class
channels of an image into one vector, so it scores a single Dice over every
class at once (dominated by the background), and it does not drop pixels
labelled ``ignore_index``: their predictions still enter the denominator, and
a crop that is all padding scores a loss of 1. For thin roads and small
buildings the Dice of each class is what is wanted, so the plugin ships
:class:`SIADiceLoss`.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

__all__ = ['SIADiceLoss', 'soft_dice_per_class']


def soft_dice_per_class(probs: torch.Tensor,
                        one_hot: torch.Tensor,
                        valid: torch.Tensor,
                        smooth: float = 1.0,
                        exponent: int = 2,
                        per_image: bool = False) -> torch.Tensor:
    """Soft Dice coefficient of every class over the valid pixels.

    ``dice_c = (2 * sum(p_c * t_c) + smooth) /
    (sum(p_c ** e) + sum(t_c ** e) + smooth)``, the sums running over the
    valid pixels of the batch (or of each image with ``per_image``).

    Args:
        probs (torch.Tensor): ``(B, C, H, W)`` probabilities.
        one_hot (torch.Tensor): ``(B, C, H, W)`` one-hot targets.
        valid (torch.Tensor): ``(B, H, W)`` weights, 0 on ignored pixels.
        smooth (float): Added to numerator and denominator. Defaults to 1.0.
        exponent (int): Power in the denominator. Defaults to 2.
        per_image (bool): One coefficient per image and class instead of one
            per class over the batch. Defaults to False.

    Returns:
        torch.Tensor: ``(C,)`` coefficients, or ``(B, C)`` with ``per_image``.
    """
    w = valid.unsqueeze(1).to(probs.dtype)
    dims = (2, 3) if per_image else (0, 2, 3)
    inter = (probs * one_hot * w).sum(dims)
    denom = (probs.pow(exponent) * w).sum(dims) + \
        (one_hot.pow(exponent) * w).sum(dims)
    return (2 * inter + smooth) / (denom + smooth)


@MODELS.register_module()
class SIADiceLoss(nn.Module):
    """Soft Dice loss averaged over classes, ignoring ``ignore_index`` pixels.

    The loss is ``1 - dice_c`` per class (see :func:`soft_dice_per_class`),
    averaged over classes (weighted by ``class_weight``). Softmax over the
    class channels by default; ``use_sigmoid=True`` scores each channel
    independently. Example, Dice beside cross-entropy::

        loss_decode=[
            dict(type='CrossEntropyLoss', loss_weight=1.0),
            dict(type='SIADiceLoss', loss_weight=1.0)]

    Args:
        use_sigmoid (bool): Sigmoid per channel instead of softmax. Defaults
            to False.
        smooth (float): Smoothing term. Defaults to 1.0.
        exponent (int): Power of the denominator terms (2 as in V-Net).
            Defaults to 2.
        per_image (bool): Compute the Dice of each image, then average,
            instead of over the whole batch. Defaults to False.
        class_weight (list[float], optional): Weight of each class in the
            average. Defaults to None (equal).
        ignore_index (int): Label of pixels left out. Also taken from the
            decode head's call. Defaults to 255.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
        loss_name (str): Name of the loss item. Defaults to 'loss_dice'.
    """

    def __init__(self,
                 use_sigmoid: bool = False,
                 smooth: float = 1.0,
                 exponent: int = 2,
                 per_image: bool = False,
                 class_weight: Optional[List[float]] = None,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice') -> None:
        super().__init__()
        if smooth < 0:
            raise ValueError(f'SIADiceLoss: smooth must be >= 0, got {smooth}')
        self.use_sigmoid = bool(use_sigmoid)
        self.smooth = float(smooth)
        self.exponent = exponent
        self.per_image = bool(per_image)
        self.class_weight = None if class_weight is None else \
            [float(w) for w in class_weight]
        self.ignore_index = ignore_index
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (torch.Tensor): ``(B, C, H, W)`` logits.
            target (torch.Tensor): ``(B, H, W)`` class indices.
            weight (torch.Tensor, optional): ``(B, H, W)`` per-pixel weights.
                Defaults to None.
            ignore_index (int, optional): Overrides the ignore label given at
                construction. Defaults to None.
            **kwargs: Accepted and unused (``avg_factor``, ...).

        Returns:
            torch.Tensor: Scalar loss.

        Raises:
            ValueError: When the shapes of ``pred`` and ``target`` disagree.
        """
        if pred.dim() != 4 or target.shape != (pred.shape[0], *pred.shape[2:]):
            raise ValueError(
                'SIADiceLoss: pred must be (B, C, H, W) and target (B, H, W), '
                f'got {tuple(pred.shape)} and {tuple(target.shape)}')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        num_classes = pred.size(1)
        target = target.long()
        valid = target != ignore
        if weight is not None:
            valid = valid.to(pred.dtype) * weight.to(pred.dtype)
        labels = torch.where(target != ignore, target,
                             torch.zeros_like(target))
        # One output channel is a binary head: labels 0 and 1.
        labels = labels.clamp(0, max(num_classes - 1, 1))
        if self.use_sigmoid or num_classes == 1:
            probs = pred.sigmoid()
        else:
            probs = pred.softmax(dim=1)
        if num_classes == 1:
            one_hot = (labels == 1).unsqueeze(1).to(pred.dtype)
        else:
            one_hot = F.one_hot(labels, num_classes).permute(0, 3, 1,
                                                           2).to(pred.dtype)
        dice = soft_dice_per_class(probs, one_hot, valid, self.smooth,
                                   self.exponent, self.per_image)
        loss = 1 - dice
        if self.class_weight is not None:
            if len(self.class_weight) != num_classes:
                raise ValueError(
                    f'SIADiceLoss: {len(self.class_weight)} class weights for '
                    f'{num_classes} classes')
            cw = loss.new_tensor(self.class_weight)
            loss = (loss * cw).sum(-1) / cw.sum()
        else:
            loss = loss.mean(-1)
        return self.loss_weight * loss.mean()

    @property
    def loss_name(self) -> str:
        """str: The name of the loss item."""
        return self._loss_name
