"""Model loading: :func:`init_segmentor`, mmseg's ``init_model`` with checks.

The checkpoint is checked against the model its config builds before any
weight is loaded (every parameter present with the same shape, the class
names numbering the model's classes), so a wrong file fails with a message
naming both files instead of predicting with random weights.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import torch

from ..checkpoint import (CheckpointMismatchError, UnsafeCheckpointError,
                          check_checkpoint_fits)
from ..datasets.sia import SIADataset

if TYPE_CHECKING:  # only for annotations
    from mmengine.config import Config

__all__ = ['CheckpointMismatchError', 'init_segmentor']


def _check_device(device: str) -> str:
    device = str(device)
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'device {device!r} was asked for, but CUDA is '
                           'not available here; use --device cpu')
    return device


def _class_count(model: torch.nn.Module) -> int:
    head = getattr(model, 'decode_head', None)
    if isinstance(head, (list, tuple, torch.nn.ModuleList)):
        head = head[-1]
    count = getattr(head, 'num_classes', None)
    if count is None:
        raise ValueError('the model has no decode_head.num_classes; '
                         'mmseg_sia inference needs an EncoderDecoder-like '
                         'segmentor')
    return int(count)


def _default_meta(num_classes: int) -> dict:
    meta = SIADataset.METAINFO
    if num_classes == len(meta['classes']):
        return dict(classes=tuple(meta['classes']),
                    palette=[list(p) for p in meta['palette']])
    rng = np.random.default_rng(0)
    palette = [[0, 0, 0]] + rng.integers(
        0, 256, (max(num_classes - 1, 0), 3)).tolist()
    return dict(classes=tuple(f'class{i}' for i in range(num_classes)),
                palette=palette[:num_classes])


def init_segmentor(config: Union[str, os.PathLike, 'Config'],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a segmentor from a config and load its checkpoint.

    The model is built by ``mmseg.apis.init_model`` (same config handling,
    ``model.cfg`` set), then the checkpoint is checked against it before its
    weights are loaded: every parameter of the model must be in the
    checkpoint with the same shape, and the checkpoint's class names (its
    ``meta['dataset_meta']``) must number the model's classes. The class
    names and palette are stored as ``model.dataset_meta``.

    Args:
        config (str | PathLike | Config): The config file or object.
        checkpoint (str, optional): The weights; None leaves the model
            randomly initialised (with a warning).
        device (str): 'cpu', 'cuda' or 'cuda:N'. Defaults to 'cpu'.
        cfg_options (dict, optional): Config overrides.

    Returns:
        torch.nn.Module: The segmentor, in eval mode on ``device``.

    Raises:
        FileNotFoundError: When the config or checkpoint file is missing.
        CheckpointMismatchError: When the checkpoint does not fit the model
            (the message names both files).
        RuntimeError: When CUDA is asked for but not available.
    """
    from mmengine import Config
    from mmengine.runner import CheckpointLoader
    from mmseg.apis import init_model

    device = _check_device(device)
    cfg_name = '<Config object>'
    if isinstance(config, (str, os.PathLike)):
        cfg_name = os.fspath(config)
        if not osp.isfile(cfg_name):
            raise FileNotFoundError(f'config {cfg_name} does not exist')
        config = Config.fromfile(cfg_name)
    elif not isinstance(config, Config):
        raise TypeError('config must be a file name or an mmengine Config, '
                        f'got {type(config).__name__}')
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        remote = '://' in checkpoint  # URL, open-mmlab://, s3://...
        if not remote and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    model = init_model(config, None, device='cpu', cfg_options=cfg_options)
    num_classes = _class_count(model)
    meta = None
    if checkpoint is None:
        warnings.warn(f'no checkpoint given for {cfg_name}: the model keeps '
                      'its random initial weights')
    else:
        try:
            ckpt = CheckpointLoader.load_checkpoint(checkpoint,
                                                    map_location='cpu')
        except UnsafeCheckpointError:
            raise
        except Exception as e:  # any reader failure: name the file
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} cannot be loaded: {e}') from e
        if not isinstance(ckpt, dict):
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} is not a state dict or a '
                f'checkpoint dict (it holds a {type(ckpt).__name__})')
        meta = (ckpt.get('meta') or {}).get('dataset_meta')
        if not meta and (ckpt.get('meta') or {}).get('CLASSES'):
            meta = dict(classes=ckpt['meta']['CLASSES'],
                        palette=ckpt['meta'].get('PALETTE'))
        if meta and meta.get('classes') is not None and \
                len(meta['classes']) != num_classes:
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint} was trained for '
                f'{len(meta["classes"])} classes {tuple(meta["classes"])}, '
                f'but config {cfg_name} builds a model with {num_classes} '
                'classes')
        state = check_checkpoint_fits(model, ckpt, checkpoint,
                                      f'config {cfg_name}')
        own = model.state_dict()
        unexpected = [k for k in state if k not in own]
        if unexpected:
            warnings.warn(f'checkpoint {checkpoint}: {len(unexpected)} '
                          f'weights unused by the model (e.g. '
                          f'{unexpected[0]})')
        model.load_state_dict({k: v for k, v in state.items() if k in own},
                              strict=False)
    if not meta or meta.get('classes') is None:
        meta = _default_meta(num_classes)
    elif not meta.get('palette'):
        meta = dict(meta, palette=_default_meta(num_classes)['palette'])
    model.dataset_meta = dict(meta)
    model.to(device)
    model.eval()
    return model


def _unwrap(model) -> torch.nn.Module:
    # MMSegInferencer and wrappers keep the segmentor in ``.model`` or
    # ``.module``.
    for attr in ('model', 'module'):
        inner = getattr(model, attr, None)
        if isinstance(inner, torch.nn.Module) and hasattr(
                inner, 'encode_decode'):
            return inner
    if not hasattr(model, 'encode_decode'):
        raise TypeError('expected an mmseg segmentor with encode_decode (e.g. '
                        'from init_segmentor or mmseg.apis.init_model), got '
                        f'{type(model).__name__}')
    return model
