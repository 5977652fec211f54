"""Sigmoid focal loss that gives the same numbers on CPU and GPU.

mmseg 1.2.2's ``FocalLoss(use_sigmoid=True)`` has two code paths: on CUDA it
calls mmcv's compiled ``sigmoid_focal_loss``; anywhere else it builds the
one-hot target with ``target[:, num_classes]`` (one column: the spare column of
the one-hot encoding) where ``target[:, :num_classes]`` is meant, and the loss
fails with a shape error. :class:`SIAFocalLoss` computes the CUDA path's
formula in plain PyTorch, so it trains on CPU, on GPU with or without full
mmcv, and gives the CUDA path's values everywhere.
"""
from __future__ import annotations

from typing import List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

__all__ = ['SIAFocalLoss', 'sigmoid_focal_loss_map']

_REDUCTIONS = ('none', 'mean', 'sum')


def sigmoid_focal_loss_map(
        logits: torch.Tensor,
        labels: torch.Tensor,
        gamma: float = 2.0,
        alpha: Union[float, List[float]] = 0.5) -> torch.Tensor:
    """Element-wise sigmoid focal loss of class-index labels.

    Each class is a binary problem: the labelled class is the positive, every
    other class a negative. With ``p = sigmoid(x)``, a positive costs
    ``-alpha * (1 - p) ** gamma * log(p)`` and a negative
    ``-(1 - alpha) * p ** gamma * log(1 - p)``, as in mmcv's CUDA kernel. With
    one output channel, label 1 is the positive and label 0 the negative.

    Args:
        logits (torch.Tensor): ``(N, C)`` logits.
        labels (torch.Tensor): ``(N,)`` class indices; any value outside
            ``[0, C)`` makes every class a negative.
        gamma (float): Focusing parameter. Defaults to 2.0.
        alpha (float | list[float]): Weight of the positive side, one value
            or one per class. Defaults to 0.5.

    Returns:
        torch.Tensor: ``(N, C)`` losses.
    """
    num_classes = logits.size(1)
    if num_classes == 1:
        positive = (labels == 1).view(-1, 1).to(logits.dtype)
    else:
        classes = torch.arange(num_classes, device=logits.device)
        positive = (labels.view(-1, 1) == classes.view(1, -1)).to(logits.dtype)
    if isinstance(alpha, (list, tuple)):
        alpha_t = logits.new_tensor(alpha).view(1, -1)
    else:
        alpha_t = float(alpha)
    prob = logits.sigmoid()
    # logsigmoid keeps log(p) and log(1 - p) finite for large logits.
    pos = -alpha_t * (1 - prob).pow(gamma) * F.logsigmoid(logits)
    neg = -(1 - alpha_t) * prob.pow(gamma) * F.logsigmoid(-logits)
    return positive * pos + (1 - positive) * neg


@MODELS.register_module()
class SIAFocalLoss(nn.Module):
    """Sigmoid focal loss for segmentation heads, working on any device.

    A drop-in replacement for mmseg's ``FocalLoss(use_sigmoid=True)`` with the
    values of its CUDA path: the loss of every (pixel, class) pair is weighted
    by the optional per-pixel ``weight``, ``class_weight`` and the ignore mask,
    and ``'mean'`` divides by the number of (pixel, class) pairs including the
    ignored pixels, unless ``avg_non_ignore=True`` (then only the pixels that
    are not ignored count, as in ``CrossEntropyLoss(avg_non_ignore=True)``).

    Example config::

        loss_decode=[
            dict(type='CrossEntropyLoss', loss_weight=1.0),
            dict(type='SIAFocalLoss', gamma=2.0, alpha=0.25, loss_weight=1.0)]

    Args:
        gamma (float): Focusing parameter. Defaults to 2.0.
        alpha (float | list[float]): Weight of the positive side of each
            class's binary problem, one value or one per class, in [0, 1].
            Defaults to 0.5.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        class_weight (list[float], optional): Weight of each class. Defaults
            to None.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
        avg_non_ignore (bool): Average over the pixels that are not ignored
            only. Defaults to False (the CUDA path's behaviour).
        loss_name (str): Name of the loss item; must start with ``loss_`` to
            be back-propagated. Defaults to 'loss_focal'.
    """

    def __init__(self,
                 gamma: float = 2.0,
                 alpha: Union[float, List[float]] = 0.5,
                 reduction: str = 'mean',
                 class_weight: Optional[List[float]] = None,
                 loss_weight: float = 1.0,
                 avg_non_ignore: bool = False,
                 loss_name: str = 'loss_focal') -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'SIAFocalLoss: reduction must be one of '
                             f'{_REDUCTIONS}, got {reduction!r}')
        alphas = alpha if isinstance(alpha, (list, tuple)) else [alpha]
        if not all(isinstance(a, (int, float)) and 0 <= a <= 1
                   for a in alphas):
            raise ValueError('SIAFocalLoss: alpha must be a number in [0, 1] '
                             f'or a list of them, got {alpha!r}')
        if not isinstance(gamma, (int, float)) or gamma < 0:
            raise ValueError(
                f'SIAFocalLoss: gamma must be a number >= 0, got {gamma!r}')
        self.gamma = float(gamma)
        self.alpha = list(alpha) if isinstance(alpha,
                                               (list, tuple)) else float(alpha)
        self.reduction = reduction
        self.class_weight = None if class_weight is None else \
            [float(w) for w in class_weight]
        self.loss_weight = float(loss_weight)
        self.avg_non_ignore = bool(avg_non_ignore)
        self._loss_name = loss_name

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                ignore_index: int = 255,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (torch.Tensor): ``(B, C, *)`` logits (or ``(N, C)``).
            target (torch.Tensor): ``(B, *)`` class indices (or ``(N,)``).
            weight (torch.Tensor, optional): Per-pixel weight, same shape as
                ``target``. Defaults to None.
            avg_factor (float, optional): Divide the summed loss by this
                instead of the element count ('mean' only). Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.
            ignore_index (int): Label of ignored pixels. Defaults to 255.
            **kwargs: Accepted and unused, for the decode head's call.

        Returns:
            torch.Tensor: A scalar, or ``(B, C, *)`` with 'none'.

        Raises:
            ValueError: When shapes do not match or the reduction is unknown.
        """
        reduction = reduction_override or self.reduction
        if reduction not in _REDUCTIONS:
            raise ValueError(f'SIAFocalLoss: unknown reduction {reduction!r}')
        if pred.dim() < 2 or pred.size(0) != target.size(0) or \
                pred.shape[2:] != target.shape[1:]:
            raise ValueError(
                'SIAFocalLoss: pred must be (B, C, *) and target (B, *) with '
                f'matching sizes, got {tuple(pred.shape)} and '
                f'{tuple(target.shape)}')
        num_classes = pred.size(1)
        if self.class_weight is not None and \
                len(self.class_weight) != num_classes:
            raise ValueError(
                f'SIAFocalLoss: {len(self.class_weight)} class weights for '
                f'{num_classes} classes')
        if isinstance(self.alpha, list) and len(self.alpha) != num_classes:
            raise ValueError(f'SIAFocalLoss: {len(self.alpha)} alpha values '
                             f'for {num_classes} classes')
        original_shape = pred.shape
        logits = pred.movedim(1, -1).reshape(-1, num_classes)
        labels = target.reshape(-1).long()
        valid = labels != ignore_index
        labels = torch.where(valid, labels, torch.zeros_like(labels))

        loss = sigmoid_focal_loss_map(logits, labels, self.gamma, self.alpha)
        factor = valid.to(loss.dtype).view(-1, 1)
        if weight is not None:
            factor = factor * weight.reshape(-1, 1).to(loss.dtype)
        if self.class_weight is not None:
            factor = factor * loss.new_tensor(self.class_weight).view(1, -1)
        loss = loss * factor

        if reduction == 'none':
            loss = loss.view(*original_shape[:1], *original_shape[2:],
                             num_classes).movedim(-1, 1)
        elif reduction == 'sum':
            loss = loss.sum()
        else:
            if avg_factor is None and self.avg_non_ignore:
                avg_factor = valid.sum().item() * num_classes
            if avg_factor is None:
                loss = loss.mean()
            else:
                eps = torch.finfo(torch.float32).eps
                loss = loss.sum() / (avg_factor + eps)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """str: The name of the loss item."""
        return self._loss_name
