"""Lovász-Softmax loss that survives crops with few or no labelled pixels.

mmseg 1.2.2's ``LovaszLoss`` works on CPU for ordinary batches, but selects
the valid pixels with ``probs[valid.nonzero().squeeze()]``: with exactly one
valid pixel the index becomes a scalar and the loss raises, and with none it
returns an empty tensor that the runner averages into NaN. It also insists on
``reduction='none'`` unless ``per_image=True``. :class:`SIALovaszLoss` keeps
the same maths (mmseg's ``lovasz_grad``) and handles those cases.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.losses.lovasz_loss import lovasz_grad
from mmseg.registry import MODELS

__all__ = ['SIALovaszLoss', 'lovasz_softmax_flat']


def lovasz_softmax_flat(probs: torch.Tensor,
                        labels: torch.Tensor,
                        classes: Union[str, Sequence[int]] = 'present',
                        class_weight: Optional[torch.Tensor] = None
                        ) -> torch.Tensor:
    """Lovász-Softmax loss of flattened, valid pixels.

    Args:
        probs (torch.Tensor): ``(P, C)`` class probabilities.
        labels (torch.Tensor): ``(P,)`` labels in ``[0, C)``.
        classes (str | Sequence[int]): 'present' (classes in ``labels``),
            'all', or a list of class ids to average. Defaults to 'present'.
        class_weight (torch.Tensor, optional): ``(C,)`` weights.

    Returns:
        torch.Tensor: Scalar loss; 0 (with a gradient path) when there is no
        pixel or no class to average.
    """
    if probs.numel() == 0:
        return probs.sum() * 0.
    num_classes = probs.size(1)
    chosen = range(num_classes) if classes in ('all', 'present') else classes
    losses = []
    for c in chosen:
        fg = (labels == c).to(probs.dtype)
        if classes == 'present' and fg.sum() == 0:
            continue
        errors = (fg - probs[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        # lovasz_grad works in float32; match the errors' dtype (float64
        # inputs, or half precision under AMP) before the dot product.
        grad = lovasz_grad(fg[perm]).to(errors_sorted.dtype)
        loss = torch.dot(errors_sorted, grad)
        if class_weight is not None:
            loss = loss * class_weight[c]
        losses.append(loss)
    if not losses:
        return probs.sum() * 0.
    return torch.stack(losses).mean()


@MODELS.register_module()
class SIALovaszLoss(nn.Module):
    """Multi-class Lovász-Softmax loss, a surrogate of the mean IoU.

    Same maths as mmseg's ``LovaszLoss(loss_type='multi_class')``; pixels
    labelled ``ignore_index`` are left out. Example, beside cross-entropy::

        loss_decode=[
            dict(type='CrossEntropyLoss', loss_weight=1.0),
            dict(type='SIALovaszLoss', loss_weight=1.0)]

    Args:
        classes (str | list[int]): 'present', 'all' or a list of class ids.
            Defaults to 'present'.
        per_image (bool): Compute the loss per image and average, instead of
            over the whole batch at once. Defaults to False.
        class_weight (list[float], optional): Weight of each class. Defaults
            to None.
        ignore_index (int): Label of pixels left out (the decode head's value
            wins when it passes one). Defaults to 255.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
        loss_name (str): Name of the loss item. Defaults to 'loss_lovasz'.
    """

    def __init__(self,
                 classes: Union[str, List[int]] = 'present',
                 per_image: bool = False,
                 class_weight: Optional[List[float]] = None,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_lovasz') -> None:
        super().__init__()
        if not (classes in ('all', 'present') or
                (isinstance(classes, (list, tuple)) and
                 all(isinstance(c, int) for c in classes))):
            raise ValueError("SIALovaszLoss: classes must be 'all', 'present' "
                             f'or a list of class ids, got {classes!r}')
        self.classes = classes if isinstance(classes, str) else list(classes)
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
            weight (torch.Tensor, optional): Unused (the Lovász extension has
                no per-pixel weight); accepted for the decode head's call.
            ignore_index (int, optional): Overrides the ignore label.
            **kwargs: Accepted and unused.

        Returns:
            torch.Tensor: Scalar loss.

        Raises:
            ValueError: When the shapes of ``pred`` and ``target`` disagree.
        """
        if pred.dim() != 4 or target.shape != (pred.shape[0], *pred.shape[2:]):
            raise ValueError(
                'SIALovaszLoss: pred must be (B, C, H, W) and target '
                f'(B, H, W), got {tuple(pred.shape)} and '
                f'{tuple(target.shape)}')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        probs = F.softmax(pred, dim=1)
        cw = None if self.class_weight is None else \
            probs.new_tensor(self.class_weight)
        groups = [(probs, target)] if not self.per_image else \
            [(p[None], t[None]) for p, t in zip(probs, target)]
        losses = []
        for p, t in groups:
            flat = p.permute(0, 2, 3, 1).reshape(-1, p.size(1))
            labels = t.reshape(-1)
            valid = labels != ignore
            losses.append(
                lovasz_softmax_flat(flat[valid], labels[valid], self.classes,
                                    cw))
        return self.loss_weight * torch.stack(losses).mean()

    @property
    def loss_name(self) -> str:
        """str: The name of the loss item."""
        return self._loss_name
