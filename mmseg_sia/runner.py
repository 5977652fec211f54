"""What ``tools/train.py`` and ``tools/test.py`` do, as functions.

The tools keep mmseg's command lines; the logic lives here so it can be
tested and reused. Training and testing go through mmengine's ``Runner``;
multi-process runs use PyTorch's distributed engine through mmengine. On a
machine without CUDA two gaps of mmengine 0.10 are bridged:

* its ``pytorch`` launcher calls ``torch.cuda.set_device`` unconditionally,
  which fails on a CPU-only torch. It skips its own initialisation when a
  process group already exists, so the group is created here with ``gloo``;
* its DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which CPU modules
  reject, so ``model_wrapper_cfg`` gets ``device_ids=None``.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction  # noqa: F401 (re-export)

__all__ = ['UsageError', 'prepare_distributed', 'make_train_config',
           'make_test_config', 'train', 'test']


class UsageError(RuntimeError):
    """An option that cannot be honoured here (the tools print it plainly)."""


def _env_int(*names: str) -> Optional[int]:
    for name in names:
        if os.environ.get(name) not in (None, ''):
            return int(os.environ[name])
    return None


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make a multi-process run work with or without CUDA.

    On CUDA machines nothing changes: mmengine initialises NCCL itself. On a
    machine without CUDA, the process group is created with ``gloo`` from the
    launcher's environment (``RANK``/``WORLD_SIZE`` from torchrun, or
    ``SLURM_PROCID``/``SLURM_NTASKS``), and DDP is told not to pin devices.

    Args:
        cfg (Config): The config, modified in place.
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if dist.is_available() and dist.is_initialized():
        return
    rank = _env_int('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK')
    world = _env_int('WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE')
    if rank is None or world is None:
        raise UsageError(
            f'--launcher {launcher}: RANK and WORLD_SIZE are not set; start '
            'the processes with tools/dist_train.sh (torchrun) or srun')
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ.setdefault('LOCAL_RANK', str(_env_int('SLURM_LOCALID') or 0))
    timeout = cfg.env_cfg.dist_cfg.get('timeout', 1800)
    dist.init_process_group(
        backend='gloo', rank=rank, world_size=world,
        timeout=timedelta(seconds=timeout))


def _common(cfg: Config, config_path: str, work_dir: Optional[str],
            cfg_options: Optional[dict], launcher: str) -> Config:
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    prepare_distributed(cfg, launcher)
    return cfg


def make_train_config(config: str,
                      work_dir: Optional[str] = None,
                      resume: bool = False,
                      amp: bool = False,
                      cfg_options: Optional[dict] = None,
                      launcher: str = 'none') -> Config:
    """Load a config and apply the options of ``tools/train.py``.

    Args:
        config (str): Config file.
        work_dir (str, optional): Where logs and checkpoints go; defaults to
            the config's ``work_dir`` or ``./work_dirs/<config name>``.
        resume (bool): Resume from the latest checkpoint in ``work_dir``.
            Defaults to False.
        amp (bool): Mixed precision training (needs a GPU). Defaults to False.
        cfg_options (dict, optional): Overrides, as ``--cfg-options`` gives.
        launcher (str): Job launcher. Defaults to 'none'.

    Returns:
        Config: The config to give ``Runner.from_cfg``.

    Raises:
        UsageError: For ``amp`` without a GPU.
    """
    cfg = Config.fromfile(config)
    cfg = _common(cfg, config, work_dir, cfg_options, launcher)
    if amp:
        if not torch.cuda.is_available():
            raise UsageError(
                '--amp needs a CUDA GPU: mmengine\'s AmpOptimWrapper does not '
                'run on the CPU')
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = resume
    return cfg


def _trigger_visualization(cfg: Config, show: bool,
                           show_dir: Optional[str], wait_time: float) -> None:
    hooks = cfg.get('default_hooks', {})
    vis = hooks.get('visualization')
    if vis is None:
        raise RuntimeError(
            'the config has no default_hooks.visualization '
            '(SegVisualizationHook) to draw predictions with')
    vis['draw'] = True
    # mmseg's hook draws every 50th sample by default; a user asking for
    # pictures of the test set expects one per image.
    vis['interval'] = 1
    if show:
        vis['show'] = True
        vis['wait_time'] = wait_time
    if show_dir:
        visualizer = cfg.visualizer
        visualizer['save_dir'] = show_dir
        # The hook writes under the visualizer's save_dir; keep the files on
        # disk (LocalVisBackend) and not only in TensorBoard.
        backends = visualizer.get('vis_backends') or []
        if not any(b.get('type') == 'LocalVisBackend' for b in backends):
            backends.append(dict(type='LocalVisBackend'))
        visualizer['vis_backends'] = backends


def make_test_config(config: str,
                     checkpoint: str,
                     work_dir: Optional[str] = None,
                     out: Optional[str] = None,
                     show: bool = False,
                     show_dir: Optional[str] = None,
                     wait_time: float = 2,
                     tta: bool = False,
                     cfg_options: Optional[dict] = None,
                     launcher: str = 'none') -> Config:
    """Load a config and apply the options of ``tools/test.py``.

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint to evaluate.
        work_dir (str, optional): Where logs go.
        out (str, optional): Folder for the predicted label maps (PNG); the
            metric is still computed.
        show (bool): Show predictions in a window. Defaults to False.
        show_dir (str, optional): Folder for pictures of the predictions.
        wait_time (float): Seconds each shown picture stays. Defaults to 2.
        tta (bool): Test-time augmentation with the config's ``tta_pipeline``
            and ``tta_model``. Defaults to False.
        cfg_options (dict, optional): Overrides.
        launcher (str): Job launcher. Defaults to 'none'.

    Returns:
        Config: The config to give ``Runner.from_cfg``.

    Raises:
        FileNotFoundError: When the checkpoint file does not exist.

    The returned config also holds a ``CheckpointCheckHook``, so the test run
    stops with :class:`~mmseg_sia.checkpoint.CheckpointMismatchError` when
    the checkpoint lacks weights of the model or has other shapes.
    """
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    cfg = Config.fromfile(config)
    cfg = _common(cfg, config, work_dir, cfg_options, launcher)
    cfg.load_from = checkpoint
    # mmengine loads ``load_from`` leniently (missing weights stay random and
    # are only logged): evaluating such a model would report a wrong score.
    hooks = [h for h in (cfg.get('custom_hooks') or [])
             if h.get('type') != 'CheckpointCheckHook']
    hooks.append(dict(type='CheckpointCheckHook', checkpoint=checkpoint))
    cfg.custom_hooks = hooks
    if show or show_dir:
        _trigger_visualization(cfg, show, show_dir, wait_time)
    if tta:
        if 'tta_pipeline' not in cfg:
            raise UsageError(f'{config} defines no tta_pipeline, which '
                             '--tta needs')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model = cfg.get('tta_model') or dict(type='SegTTAModel')
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if out is not None:
        # The evaluator may be one metric or a list (IoU beside APLS...):
        # mmseg's IoUMetric is the one that writes the label maps.
        evaluators = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
        writers = [e for e in evaluators if e.get('type') == 'IoUMetric']
        if not writers:
            raise UsageError(f'{config}: --out needs an IoUMetric in '
                             'test_evaluator, which writes the label maps')
        for metric in writers:
            metric['output_dir'] = out
            metric['keep_results'] = True
    return cfg


class _KnownLogNoise(logging.Filter):
    """Drops mmengine log lines a user cannot act on (matched exactly).

    mmengine's own checkpoint hook uses its deprecated file client, and its
    metric base class asks for a ``prefix`` mmseg's metrics never set.
    """

    PREFIXES = ('"FileClient" will be deprecated in future',
                '"HardDiskBackend" is the alias of "LocalBackend"',
                'The prefix is not set in metric class IoUMetric')

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.PREFIXES)


def _build_runner(cfg: Config):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if not any(isinstance(f, _KnownLogNoise) for f in runner.logger.filters):
        runner.logger.addFilter(_KnownLogNoise())
    return runner


def _finish_distributed() -> None:
    """Leave the process group together.

    mmengine never destroys the group. Without this, the first process to
    exit closes its gloo connections while another is still tearing down,
    and gloo aborts that one (exit code -6) although training succeeded.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def train(cfg: Config):
    """Train with mmengine's Runner; returns the trained model."""
    model = _build_runner(cfg).train()
    # Only after success: a process that failed is stopped by torchrun, and
    # a barrier would leave the others waiting for it.
    _finish_distributed()
    return model


def test(cfg: Config) -> dict:
    """Evaluate with mmengine's Runner; returns the metrics."""
    metrics = _build_runner(cfg).test()
    _finish_distributed()
    return metrics
