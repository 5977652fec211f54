"""Runtime fixes that let MMSegmentation 1.2 run on today's stack.

Applied once by ``import mmseg_sia`` (and so by ``custom_imports``):

* **mmcv-lite.** Several mmseg modules import ``mmcv.ops`` at import time,
  and ``mmcv.ops`` needs the compiled extension ``mmcv._ext``. When that
  extension is missing, ``mmcv.ops`` is replaced by a small module that offers
  pure-PyTorch ``point_sample`` and ``sigmoid_focal_loss`` (the kernel's
  formulas), mmcv's own pure-PyTorch ``CrissCrossAttention`` (so CCNet
  works), and raises :class:`ModuleNotFoundError` (the error mmseg's optional
  imports catch) naming the op for every other op or ``mmcv.ops``
  submodule. A working full mmcv is never touched.
* **torch >= 2.6 checkpoints.** ``torch.load`` defaults to
  ``weights_only=True`` and mmengine 0.10 calls it without arguments, so the
  checkpoints mmengine itself writes no longer load. Exactly the globals those
  checkpoints contain are added to torch's allow-list, and every checkpoint
  mmengine loads (local file, URL, hub cache, ``open-mmlab://``, ``s3://``)
  is read with ``weights_only=True`` passed explicitly, whatever torch's
  default or the environment says (:mod:`mmseg_sia.checkpoint`).
* **Known noise.** The few warnings a user cannot act on (mmcv-lite's
  "install mmcv" on every import, mmseg's internal use of its deprecated
  builder, a hook that says it will not draw) are filtered by exact
  message; every other warning is kept.
* **setuptools >= 82** no longer ships ``pkg_resources``, which mmengine 0.10
  uses to find installed packages when resolving ``mmseg::`` config bases.
  mmengine's two helpers are given ``importlib.metadata`` equivalents.
"""
from __future__ import annotations

import importlib
import importlib.util
import os.path as osp
import pickle
import sys
import types
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ['apply_patches', 'has_mmcv_ext', 'point_sample',
           'sigmoid_focal_loss']

_APPLIED = False


# --------------------------------------------------------------------------
# mmcv.ops without the compiled extension
# --------------------------------------------------------------------------
def has_mmcv_ext() -> bool:
    """Return whether mmcv's compiled extension ``mmcv._ext`` loads.

    Full mmcv ships it; mmcv-lite does not. An extension that is present but
    fails to load (built for another torch or CUDA) counts as missing.
    """
    try:
        importlib.import_module('mmcv._ext')
        return True
    except ImportError:
        return False


def point_sample(input: torch.Tensor,
                 points: torch.Tensor,
                 align_corners: bool = False,
                 **kwargs) -> torch.Tensor:
    """Sample ``input`` at normalised points, like ``mmcv.ops.point_sample``.

    Args:
        input (Tensor): Feature map of shape (N, C, H, W).
        points (Tensor): Points in ``[0, 1] x [0, 1]`` (x, y), shape (N, P, 2)
            or (N, Hgrid, Wgrid, 2).
        align_corners (bool): Passed to :func:`torch.nn.functional.grid_sample`.
            Defaults to False.
        **kwargs: Further arguments of ``grid_sample``.

    Returns:
        Tensor: Shape (N, C, P) or (N, C, Hgrid, Wgrid).
    """
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    output = F.grid_sample(
        input, 2.0 * points - 1.0, align_corners=align_corners, **kwargs)
    if add_dim:
        output = output.squeeze(3)
    return output


# The kernel clamps both logarithms at log(FLT_MIN) (about -87.34), in the
# input's own precision, so a confident wrong logit costs at most that much.
_FLT_MIN = 1.1754943508222875e-38


def _focal_terms(input: torch.Tensor, target: torch.Tensor,
                 weight: Optional[torch.Tensor]):
    num_classes = input.size(1)
    classes = torch.arange(num_classes, device=input.device)
    positive = (target.view(-1, 1) == classes.view(1, -1)).to(input.dtype)
    sample_w = None
    if weight is not None and weight.numel() > 0:
        valid = (target >= 0) & (target < num_classes)
        sample_w = torch.ones_like(target, dtype=input.dtype)
        sample_w[valid] = weight.to(input.dtype)[target[valid]]
        # The kernel reads weight[t] even for t == num_classes; mmseg never
        # passes a weight here, so out-of-range targets keep weight 1.
        sample_w = sample_w.view(-1, 1)
    # p = 1 / (1 + exp(-x)) as the kernel computes it.
    p = torch.reciprocal(1 + torch.exp(-input))
    log_p = torch.log(p.clamp(min=_FLT_MIN))
    log_q = torch.log((1 - p).clamp(min=_FLT_MIN))
    return positive, sample_w, p, log_p, log_q


class _SigmoidFocalLoss(torch.autograd.Function):
    """The forward and backward formulas of mmcv's compiled kernel."""

    @staticmethod
    def forward(ctx, input, target, gamma, alpha, weight):
        positive, sample_w, p, log_p, log_q = _focal_terms(
            input, target, weight)
        loss = positive * (-alpha * (1 - p).pow(gamma) * log_p) + \
            (1 - positive) * (-(1 - alpha) * p.pow(gamma) * log_q)
        if sample_w is not None:
            loss = loss * sample_w
        ctx.save_for_backward(input, target,
                              weight if weight is not None else
                              input.new_empty(0))
        ctx.gamma, ctx.alpha = gamma, alpha
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        input, target, weight = ctx.saved_tensors
        gamma, alpha = ctx.gamma, ctx.alpha
        positive, sample_w, p, log_p, log_q = _focal_terms(
            input, target, weight)
        grad_pos = -alpha * (1 - p).pow(gamma) * (1 - p - gamma * p * log_p)
        grad_neg = -(1 - alpha) * p.pow(gamma) * (
            gamma * (1 - p) * log_q - p)
        grad = positive * grad_pos + (1 - positive) * grad_neg
        if sample_w is not None:
            grad = grad * sample_w
        return grad * grad_output, None, None, None, None


def sigmoid_focal_loss(input: torch.Tensor,
                       target: torch.Tensor,
                       gamma: float = 2.0,
                       alpha: float = 0.25,
                       weight: Optional[torch.Tensor] = None,
                       reduction: str = 'mean') -> torch.Tensor:
    """Sigmoid focal loss with the semantics of mmcv's compiled op.

    ``target`` holds class indices; an index equal to ``num_classes`` (or any
    index outside ``[0, num_classes)``) makes every class a negative, as in the
    CUDA kernel. ``weight`` is a per-class weight indexed by the target. The
    forward and backward formulas are the kernel's, including its clamping
    of ``log(p)`` and ``log(1 - p)`` at ``log(FLT_MIN)``.

    Args:
        input (Tensor): Logits of shape (N, C).
        target (Tensor): Class indices of shape (N,).
        gamma (float): Focusing parameter. Defaults to 2.0.
        alpha (float): Weight of positives. Defaults to 0.25.
        weight (Tensor, optional): Per-class weights of shape (C,).
        reduction (str): 'none', 'mean' (sum over classes, mean over samples)
            or 'sum'. Defaults to 'mean'.

    Returns:
        Tensor: The loss, shape (N, C) for 'none', else a scalar.
    """
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(f'unknown reduction {reduction!r}')
    loss = _SigmoidFocalLoss.apply(input, target, float(gamma), float(alpha),
                                   weight)
    if reduction == 'mean':
        return loss.sum() / input.size(0)
    if reduction == 'sum':
        return loss.sum()
    return loss


_LITE_OPS = {
    'point_sample': point_sample,
    'sigmoid_focal_loss': sigmoid_focal_loss,
}
# Ops that mmcv 2.1 itself implements in pure PyTorch: the op's name -> its
# submodule of mmcv.ops, imported from mmcv's own file when asked for.
_PURE_OPS = {'CrissCrossAttention': 'cc_attention'}


def _needs_ext_error(what: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f'{what} needs the compiled ops of full mmcv, and this '
        'environment has mmcv-lite (no mmcv._ext). Install full mmcv 2.1 '
        '(e.g. `mim install "mmcv>=2.1,<2.2"`) to use it; without it '
        'mmseg-sia provides point_sample, sigmoid_focal_loss and '
        'CrissCrossAttention.',
        name='mmcv._ext')


def _lite_ops_getattr(name: str):
    if name in _LITE_OPS:
        return _LITE_OPS[name]
    if name in _PURE_OPS:
        module = importlib.import_module(f'mmcv.ops.{_PURE_OPS[name]}')
        return getattr(module, name)
    if name.startswith('__'):
        raise AttributeError(name)
    raise _needs_ext_error(f'mmcv.ops.{name}')


class _LiteOpsFinder:
    """Finds ``mmcv.ops.<submodule>`` while ``mmcv.ops`` is the stand-in.

    The pure-PyTorch submodules of :data:`_PURE_OPS` load from mmcv's own
    files; every other one (``mmcv.ops.nms``...) is refused with the message
    that names it, instead of Python's "'mmcv.ops' is not a package".
    """

    def __init__(self, ops_dir: str) -> None:
        self.ops_dir = ops_dir

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith('mmcv.ops.'):
            return None
        module = sys.modules.get('mmcv.ops')
        if module is None or not getattr(module, '__mmseg_sia_lite__',
                                         False):
            return None
        sub = fullname[len('mmcv.ops.'):]
        if sub in _PURE_OPS.values():
            return importlib.util.spec_from_file_location(
                fullname, osp.join(self.ops_dir, f'{sub}.py'))
        raise _needs_ext_error(fullname)


def _install_lite_ops() -> None:
    """Put a pure-PyTorch ``mmcv.ops`` in place when ``mmcv._ext`` is missing."""
    if has_mmcv_ext():
        return
    current = sys.modules.get('mmcv.ops')
    if current is not None and getattr(current, '__mmseg_sia_lite__', False):
        return
    if current is not None:
        # A real mmcv.ops that imported: the extension works, leave it be.
        return
    import mmcv
    module = types.ModuleType(
        'mmcv.ops', 'Pure-PyTorch stand-in for mmcv.ops (installed by '
        'mmseg_sia because mmcv._ext is missing).')
    module.__mmseg_sia_lite__ = True
    module.__all__ = sorted([*_LITE_OPS, *_PURE_OPS])
    module.__getattr__ = _lite_ops_getattr
    # A package with no folder of its own: submodules come from the finder.
    module.__path__ = []
    for key, value in _LITE_OPS.items():
        setattr(module, key, value)
    ops_dir = osp.join(osp.dirname(mmcv.__file__), 'ops')
    if not any(isinstance(f, _LiteOpsFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LiteOpsFinder(ops_dir))
    sys.modules['mmcv.ops'] = module
    mmcv.ops = module


# --------------------------------------------------------------------------
# torch.load(weights_only=True) and mmengine checkpoints
# --------------------------------------------------------------------------
def _history_buffer_getattr(obj: object, name: str):
    """Stand-in for ``getattr`` inside weights-only loading.

    A ``HistoryBuffer`` pickles its statistics methods (``HistoryBuffer.mean``
    ...) as ``getattr(HistoryBuffer, 'mean')``. Allowing the builtin
    ``getattr`` would let a file reach any attribute of any allowed class, so
    only those lookups are answered.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    # The four built-in statistics, and any registered with
    # HistoryBuffer.register_statistics in this process.
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(getattr(HistoryBuffer, '_statistics_methods', {}))
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'weights-only load refused getattr({obj!r}, {name!r}): only '
        'HistoryBuffer statistics methods are allowed')


def _mmengine_safe_globals() -> list:
    """The globals that checkpoints written by mmengine's Runner pickle.

    Besides tensors and plain containers (allowed by torch already), a
    checkpoint holds the message hub's ``HistoryBuffer`` objects, whose state
    is numpy arrays and scalars. Numpy pickles those through a few
    reconstructors whose module moved from ``numpy.core`` (1.x) to
    ``numpy._core`` (2.x); both spellings are allowed, since a checkpoint
    keeps the name it was written with.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray

    items: list = [HistoryBuffer, np.ndarray, np.dtype,
                   (_history_buffer_getattr, 'builtins.getattr')]
    for func in (multiarray._reconstruct, multiarray.scalar):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            items.append((func, f'{module}.{func.__name__}'))
    # numpy >= 1.25 pickles a dtype through its class (numpy.dtypes.*DType).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                items.append(obj)
    return items


def _allow_mmengine_checkpoints() -> None:
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 loads without the weights-only default
        return
    add(_mmengine_safe_globals())


# --------------------------------------------------------------------------
# mmengine's package helpers without pkg_resources
# --------------------------------------------------------------------------
def _is_installed(package: str) -> bool:
    """``mmengine.utils.is_installed`` without ``pkg_resources``."""
    from importlib import metadata
    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return False
        return spec is not None and spec.origin is not None


def _get_installed_path(package: str) -> str:
    """``mmengine.utils.get_installed_path`` without ``pkg_resources``."""
    from importlib import metadata
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise
        if spec.origin is None:
            raise RuntimeError(
                f'{package} is a namespace package, which is invalid for '
                '`get_install_path`')
        return osp.dirname(spec.origin)
    # Resolve the top-level module (mmcv-lite installs ``mmcv``).
    top_level = dist.read_text('top_level.txt')
    names = [package, package.replace('-', '_')]
    if top_level:
        names += [line.strip() for line in top_level.splitlines()
                  if line.strip()]
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin is not None:
            return osp.dirname(spec.origin)
    location = str(dist.locate_file(''))
    return osp.join(location, names[-1])


def _patch_mmengine_package_utils() -> None:
    # The importlib.metadata versions answer as mmengine's do, and importing
    # pkg_resources (slow, deprecated) is avoided even where it still exists.
    import mmengine.config.config as config_module
    import mmengine.utils as utils_module
    import mmengine.utils.package_utils as package_utils
    for module in (package_utils, utils_module, config_module):
        module.is_installed = _is_installed
        module.get_installed_path = _get_installed_path
    try:
        import mmengine.hub.hub as hub_module
        hub_module.get_installed_path = _get_installed_path
    except ImportError:  # pragma: no cover
        pass


# Warnings a user of the plugin cannot act on, matched exactly; every other
# warning is left alone. (message regex, category, only on mmcv-lite)
_KNOWN_WARNINGS = (
    # mmcv.cnn tells mmcv-lite users to install full mmcv, on every import;
    # mmcv-lite is what this plugin installs, and the op it names is not used
    # by any mmseg model.
    (r'Fail to import ``MultiScaleDeformableAttention`` from '
     r'``mmcv\.ops\.multi_scale_deform_attn``', UserWarning, True),
    # mmseg's own heads call its deprecated builder.
    (r'``build_loss`` would be deprecated soon', UserWarning, False),
    # mmseg's default runtime adds a visualization hook that does not draw
    # unless asked (tools/test.py --show-dir asks).
    (r'The draw is False, it means that the hook for visualization will not '
     r'take effect', UserWarning, False),
)


def quiet_known_warnings() -> None:
    """Filter the known warnings of :data:`_KNOWN_WARNINGS`, nothing else."""
    import warnings
    lite = not has_mmcv_ext()
    for message, category, lite_only in _KNOWN_WARNINGS:
        if lite or not lite_only:
            warnings.filterwarnings('ignore', message=message,
                                    category=category)


def apply_patches() -> None:
    """Apply every runtime fix once; later calls do nothing."""
    global _APPLIED
    if _APPLIED:
        return
    from .checkpoint import install_weights_only_loaders
    quiet_known_warnings()
    _install_lite_ops()
    _allow_mmengine_checkpoints()
    install_weights_only_loaders()
    _patch_mmengine_package_utils()
    _APPLIED = True
