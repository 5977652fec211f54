"""Losses the plugin registers in ``mmseg.registry.MODELS``."""
from .dice_loss import SIADiceLoss, soft_dice_per_class
from .focal_loss import SIAFocalLoss, sigmoid_focal_loss_map
from .lovasz_loss import SIALovaszLoss, lovasz_softmax_flat

__all__ = [
    'SIADiceLoss', 'SIAFocalLoss', 'SIALovaszLoss', 'soft_dice_per_class',
    'sigmoid_focal_loss_map', 'lovasz_softmax_flat'
]
