"""Loading checkpoints without running code from them.

A PyTorch checkpoint is a pickle, and unpickling can call any function the
file names. ``torch.load(weights_only=True)`` only rebuilds tensors, plain
containers and the globals on torch's allow-list. mmengine 0.10 calls
``torch.load`` without ``weights_only``, so which unpickler runs depends on
torch's default and on the environment (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
turns the default off), and it reads URLs through
``torch.hub.load_state_dict_from_url``, whose default is
``weights_only=False``; a file already in the hub cache is used as it is.

:func:`install_weights_only_loaders` (applied by ``import mmseg_sia``) puts
loaders that always pass ``weights_only=True`` behind every scheme of
mmengine's :class:`~mmengine.runner.CheckpointLoader`: local files, ``http(s)://``
(and so ``open-mmlab://``, ``torchvision://``, ``mmcls://``), the hub cache,
``s3://``/``petrel://`` and ``pavi://``. Everything mmseg loads goes through
that class: ``load_from``, ``resume`` (including a ``last_checkpoint`` that
holds a URL), ``model.pretrained``/``init_cfg``, ``tools/test.py``,
``mmseg.apis.init_model`` and :func:`mmseg_sia.apis.init_segmentor`.
The allow-list is torch's plus what mmengine's Runner writes (see
:mod:`mmseg_sia.compat`).
"""
from __future__ import annotations

import hashlib
import io
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlparse

import torch

__all__ = [
    'UnsafeCheckpointError', 'CheckpointMismatchError', 'load_weights_only',
    'load_url_weights_only', 'install_weights_only_loaders',
    'check_checkpoint_fits'
]

# torch.hub's convention: ``name-<first hex digits of sha256>.ext``.
_HASH_REGEX = re.compile(r'-([a-f0-9]{8,64})\.')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects that the weights-only loader refuses."""


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the model its config builds."""


def load_weights_only(source: Any,
                      map_location: Any = None,
                      name: Optional[str] = None) -> Any:
    """``torch.load(source, weights_only=True)`` with an error naming the file.

    ``weights_only=True`` is passed explicitly, so neither torch's default
    nor ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` can turn it off.

    Args:
        source: A path or a binary file object.
        map_location: As for :func:`torch.load`.
        name (str, optional): The name to use in errors (the URL, the
            ``s3://`` path...). Defaults to ``source`` when it is a path.

    Returns:
        The loaded object (usually a dict of tensors and metadata).

    Raises:
        UnsafeCheckpointError: When the file holds anything outside the
            allow-list (such as a function to call while loading); nothing of
            it was executed.
    """
    if name is None:
        name = os.fspath(source) if isinstance(source,
                                               (str, os.PathLike)) else \
            '<file object>'
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f'checkpoint {name} was not loaded: it holds objects other than '
            'tensors, numbers and containers, and mmseg-sia loads '
            'checkpoints weights-only (nothing in it was run). If you wrote '
            'the file yourself and trust it, allow the class it names with '
            '`torch.serialization.add_safe_globals([...])` before loading. '
            f'torch said: {_first_line(str(e))}') from e


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if 'Unsupported global' in line or 'Unsupported operand' in line:
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else text


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def load_url_weights_only(url: str,
                          model_dir: Optional[str] = None,
                          map_location: Any = None,
                          progress: bool = True,
                          check_hash: bool = True,
                          file_name: Optional[str] = None,
                          **kwargs) -> Any:
    """Download a checkpoint into torch's hub cache and load it weights-only.

    The cache is torch's (``$TORCH_HOME/hub/checkpoints`` unless
    ``model_dir``), so files mmengine or torch downloaded before are reused.
    Whether downloaded now or found in the cache, the file is loaded with
    :func:`load_weights_only`; when its name carries a hash prefix
    (``name-<sha256 prefix>.pth``, as OpenMMLab and torchvision publish
    them) the file is checked against it first.

    Args:
        url (str): ``http://`` or ``https://`` URL.
        model_dir (str, optional): Cache folder. Defaults to torch's.
        map_location: As for :func:`torch.load`.
        progress (bool): Show a download progress bar. Defaults to True.
        check_hash (bool): Check the hash prefix in the file name. Defaults to
            True.
        file_name (str, optional): Name of the cached file. Defaults to the
            URL's last path component.
        **kwargs: Ignored (accepts ``weights_only`` and other arguments of
            :func:`torch.hub.load_state_dict_from_url`; weights-only always).

    Returns:
        The loaded checkpoint.

    Raises:
        UnsafeCheckpointError: See :func:`load_weights_only`.
        ValueError: When the cached or downloaded file does not match the
            hash in its name.
    """
    from torch.hub import download_url_to_file, get_dir
    if model_dir is None:
        model_dir = osp.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or osp.basename(urlparse(url).path)
    if not filename:
        raise ValueError(f'checkpoint URL {url} names no file')
    cached = osp.join(model_dir, filename)
    match = _HASH_REGEX.search(filename) if check_hash else None
    if not osp.exists(cached):
        # torch checks the hash of a download and removes a bad one.
        download_url_to_file(url, cached,
                             match.group(1) if match else None,
                             progress=progress)
    elif match is not None:
        actual = _sha256(cached)
        if not actual.startswith(match.group(1)):
            raise ValueError(
                f'cached checkpoint {cached} (for {url}) does not match the '
                f'hash in its name: sha256 {actual[:len(match.group(1))]}, '
                f'name says {match.group(1)}. Delete it to download it again')
    return load_weights_only(cached, map_location, name=f'{url} ({cached})')


# --------------------------------------------------------------------------
# mmengine's CheckpointLoader schemes
# --------------------------------------------------------------------------
def _load_from_local(filename: str, map_location: Any = None) -> Any:
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_weights_only(filename, map_location)


def _load_from_ceph(filename: str,
                    map_location: Any = None,
                    backend: str = 'petrel') -> Any:
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(filename,
                                    backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return load_weights_only(buffer, map_location, name=filename)


def _load_from_pavi(filename: str, map_location: Any = None) -> Any:
    from tempfile import TemporaryDirectory
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return load_weights_only(downloaded, map_location, name=filename)


def _load_from_openmmlab(filename: str, map_location: Any = None) -> Any:
    from mmengine.runner import checkpoint as ckpt
    prefix = 'open-mmlab://' if filename.startswith('open-mmlab://') else \
        'openmmlab://'
    model_name = filename[len(prefix):]
    deprecated = ckpt.get_deprecated_model_names()
    model_name = deprecated.get(model_name, model_name)
    model_urls = ckpt.get_external_models()
    if model_name not in model_urls:
        raise KeyError(f'{filename}: no such model in mmengine\'s list of '
                       'OpenMMLab checkpoints')
    model_url = model_urls[model_name]
    if model_url.startswith(('http://', 'https://')):
        # mmengine's http loader, which downloads on rank 0 first; its
        # load_url is ours (see install_weights_only_loaders).
        return ckpt.load_from_http(model_url, map_location=map_location)
    return _load_from_local(
        osp.join(ckpt._get_mmengine_home(), model_url), map_location)


def _loaders() -> Dict[Any, Callable]:
    return {
        '': _load_from_local,
        ('open-mmlab://', 'openmmlab://'): _load_from_openmmlab,
        (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): _load_from_ceph,
        'pavi://': _load_from_pavi,
    }


_INSTALLED = False


def install_weights_only_loaders() -> None:
    """Make every checkpoint mmengine loads go through the weights-only loader.

    Replaces mmengine's local, ``open-mmlab://``, ``s3://``/``petrel://`` and
    ``pavi://`` schemes, and the ``load_url`` that its ``http(s)://``,
    ``torchvision://`` and ``mmcls://`` schemes call. Idempotent.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    import mmengine.utils.dl_utils as dl_utils
    from mmengine.runner import checkpoint as ckpt
    ckpt.load_url = load_url_weights_only
    dl_utils.load_url = load_url_weights_only
    for prefixes, loader in _loaders().items():
        ckpt.CheckpointLoader.register_scheme(prefixes, loader, force=True)
    _INSTALLED = True


def check_checkpoint_fits(model: torch.nn.Module,
                          checkpoint: Any,
                          name: str,
                          config_name: str = 'the config') -> Dict[str, Any]:
    """Check that a checkpoint holds every weight of ``model``, in shape.

    Args:
        model (torch.nn.Module): The model (a model wrapper or test-time
            augmentation model is unwrapped as mmengine does when loading).
        checkpoint: The loaded checkpoint (a state dict or a dict with
            ``state_dict``).
        name (str): The checkpoint's name for messages.
        config_name (str): The config's name for messages.

    Returns:
        dict: The state dict with any ``module.`` prefix removed.

    Raises:
        CheckpointMismatchError: When the checkpoint is not a dict, a weight
            of the model is missing from it (buffers counting batches apart),
            or has another shape.
    """
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'checkpoint {name} is not a state dict or a checkpoint dict (it '
            f'holds a {type(checkpoint).__name__})')
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        raise CheckpointMismatchError(
            f'checkpoint {name}: its state_dict is a '
            f'{type(state).__name__}, not a dict')
    state = {(k[7:] if isinstance(k, str) and k.startswith('module.') else k):
             v for k, v in state.items()}
    own = model.state_dict()
    wrong = [(k, tuple(v.shape), tuple(state[k].shape))
             for k, v in own.items()
             if k in state and hasattr(state[k], 'shape')
             and tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        shown = '; '.join(f'{k}: model {a}, checkpoint {b}'
                          for k, a, b in wrong[:3])
        more = '' if len(wrong) <= 3 else f' and {len(wrong) - 3} more'
        hint = ' (different number of classes?)' if any(
            'conv_seg' in k for k, _, _ in wrong) else ''
        raise CheckpointMismatchError(
            f'checkpoint {name} does not fit the model of {config_name}'
            f'{hint}: {shown}{more}')
    missing = [k for k in own
               if k not in state and not k.endswith('num_batches_tracked')]
    if missing:
        held = len(own) - len(missing)
        raise CheckpointMismatchError(
            f'checkpoint {name} lacks {len(missing)} of the {len(own)} '
            f'weights of the model of {config_name} (it holds {held}; e.g. '
            f'{missing[0]} is missing); was it trained with another config?')
    return state
