"""Training throughput of the seed's Semantic FPN R101 1024 recipe, with and
without AMP.

Runs mmengine's own ``Runner`` on the recipe's config (by default
``configs/sia/fpn_r101_1024x1024_4k_sia.py``: Semantic FPN, ResNet-101 V1c,
BN, batch 8, 512 x 1024 crops of 1024 x 1024 tiles resized by 0.5-2.0) over
tiles it generates in the AIHub layout (PNG images, JSON polygon labels read
by ``LoadPolygonAnnotations``) in a temporary folder, so nothing has to be
downloaded. Pretrained weights are switched off; they do not change the
speed. For each mode it reports, over the iterations after a warm-up:

- images/s: ``batch_size * iterations / wall time``,
- data-loader wait: the fraction of the wall time the training loop spent
  waiting for the next batch (the time between the end of one iteration and
  the start of the next, as mmengine's ``IterTimerHook`` measures
  ``data_time``),
- seconds per iteration and peak GPU memory.

AMP on a GPU is exactly what ``tools/train.py --amp`` does
(``AmpOptimWrapper``, float16 with dynamic loss scaling). mmengine's
``AmpOptimWrapper`` refuses to run without a GPU; on a CPU the "AMP" run
uses bfloat16 autocast instead and is only a smoke test.

The figure that matters needs a GPU: on a CPU a 1024 recipe runs at seconds
per image, so use the options to shrink it (fewer iterations, a smaller
batch, ``--scale 0.25`` for 256-pixel tiles and crops) and read the output
as a check that the script works, not as a measurement of the recipe.

Examples::

    # On a GPU machine: the real figure (about 10 minutes on one GPU).
    python benchmarks/bench_train_throughput.py --iters 50 --warmup 10

    # On a laptop CPU: a quick run of the same code path.
    python benchmarks/bench_train_throughput.py --scale 0.25 --batch-size 2 \\
        --iters 3 --warmup 1 --num-workers 1 --tiles 4
"""
from __future__ import annotations

import argparse
import contextlib
import os
import os.path as osp
import platform
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from dense_tiles import write_dense_tiles  # noqa: E402
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'sia',
                          'fpn_r101_1024x1024_4k_sia.py')


def _scale_pipeline(pipeline: list, factor: float) -> None:
    """Scale the sizes of the train pipeline in place."""
    for step in pipeline:
        if step['type'] in ('RandomResize', 'Resize') and 'scale' in step:
            step['scale'] = tuple(int(s * factor) for s in step['scale'])
        if step['type'] == 'RandomCrop':
            step['crop_size'] = tuple(
                int(s * factor) for s in step['crop_size'])


def build_cfg(args: argparse.Namespace, data_root: str, work_dir: str,
              amp: bool):
    """The recipe's config, made to run offline for a few iterations."""
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    cfg.work_dir = work_dir
    cfg.load_from = None
    cfg.resume = False
    cfg.model.pretrained = None
    if cfg.model.backbone.get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    pipeline = cfg.train_dataloader.dataset.pipeline
    if args.scale != 1.0:
        _scale_pipeline(pipeline, args.scale)
        size = cfg.model.data_preprocessor.get('size')
        if size:
            cfg.model.data_preprocessor.size = tuple(
                int(s * args.scale) for s in size)
    loader = cfg.train_dataloader
    loader.dataset.data_root = data_root
    loader.dataset.ann_file = 'splits/train.txt'
    if args.batch_size:
        loader.batch_size = args.batch_size
    if args.num_workers is not None:
        loader.num_workers = args.num_workers
        loader.persistent_workers = args.num_workers > 0
    total = args.warmup + args.iters
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=total,
                         val_interval=total + 1)
    cfg.param_scheduler = []
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.pop('visualization', None)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10 ** 6)
    cfg.log_level = 'WARNING'
    # mmengine keeps one visualizer per name; a fresh name per run stops a
    # second run from writing into the first run's (deleted) folder.
    cfg.visualizer.name = f'bench_visualizer_{amp}_{time.time_ns()}'
    wrapper = cfg.optim_wrapper.to_dict()
    if amp:
        if torch.cuda.is_available():
            # What tools/train.py --amp sets.
            wrapper['type'] = 'AmpOptimWrapper'
            wrapper['loss_scale'] = 'dynamic'
        else:
            wrapper['type'] = 'BenchCPUAutocastOptimWrapper'
    cfg.optim_wrapper = wrapper
    return cfg


def _register_cpu_autocast_wrapper() -> None:
    from mmengine.optim import OptimWrapper
    from mmengine.registry import OPTIM_WRAPPERS

    if 'BenchCPUAutocastOptimWrapper' in OPTIM_WRAPPERS:
        return

    @OPTIM_WRAPPERS.register_module()
    class BenchCPUAutocastOptimWrapper(OptimWrapper):
        """OptimWrapper running forward under CPU bfloat16 autocast."""

        @contextlib.contextmanager
        def optim_context(self, model):
            with super().optim_context(model), torch.autocast(
                    'cpu', dtype=torch.bfloat16):
                yield


def run_mode(args: argparse.Namespace, data_root: str, amp: bool) -> Dict:
    """Train for warm-up + measured iterations and return the timings."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    class TimingHook(Hook):
        priority = 'VERY_LOW'

        def __init__(self) -> None:
            self.last = None
            self.data: List[float] = []
            self.step: List[float] = []

        def before_train(self, runner) -> None:
            self.last = time.perf_counter()

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.fetched = time.perf_counter()
            self.data.append(self.fetched - self.last)

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            now = time.perf_counter()
            self.step.append(now - self.last)
            self.last = now

    with tempfile.TemporaryDirectory() as work_dir:
        cfg = build_cfg(args, data_root, work_dir, amp)
        runner = Runner.from_cfg(cfg)
        hook = TimingHook()
        runner.register_hook(hook)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        runner.train()
        batch = cfg.train_dataloader.batch_size
    data = np.array(hook.data[args.warmup:])
    step = np.array(hook.step[args.warmup:])
    wall = float(step.sum())
    result = dict(
        amp=amp,
        iterations=len(step),
        batch_size=batch,
        images_per_s=batch * len(step) / wall,
        s_per_iter=wall / len(step),
        data_wait_fraction=float(data.sum()) / wall,
    )
    if torch.cuda.is_available():
        result['peak_memory_gib'] = torch.cuda.max_memory_allocated() / 2**30
    return result


def describe_device() -> str:
    """A line naming the device the benchmark ran on."""
    if torch.cuda.is_available():
        return f'GPU: {torch.cuda.get_device_name(0)}'
    return (f'CPU: {platform.processor() or platform.machine()}, '
            f'{os.cpu_count()} logical cores, torch threads '
            f'{torch.get_num_threads()}')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='training config (default: the seed recipe)')
    parser.add_argument('--iters', type=int, default=50,
                        help='measured iterations per mode (default 50)')
    parser.add_argument('--warmup', type=int, default=10,
                        help='iterations run before measuring (default 10)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help="batch size (default: the config's)")
    parser.add_argument('--num-workers', type=int, default=None,
                        help="data-loader workers (default: the config's)")
    parser.add_argument('--scale', type=float, default=1.0,
                        help='scale of tiles, resize and crop sizes '
                        '(default 1.0; e.g. 0.25 on a CPU)')
    parser.add_argument('--tiles', type=int, default=16,
                        help='number of generated tiles (default 16)')
    parser.add_argument('--amp', choices=('both', 'on', 'off'),
                        default='both', help='modes to run (default both)')
    parser.add_argument('--data-root', default=None,
                        help='use this AIHub-layout folder (with '
                        'splits/train.txt) instead of generated tiles')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    if not 0 < args.scale <= 4:
        parser.error('--scale must be in (0, 4]')
    if not osp.isfile(args.config):
        parser.error(f'config {args.config} not found')
    return args


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    """Run the benchmark and print one line per mode.

    Args:
        argv (list[str], optional): Command-line arguments.

    Returns:
        list[dict]: The measurements of each mode.
    """
    args = parse_args(argv)
    import mmseg_sia  # noqa: F401  (registers the plugin, applies fixes)
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    _register_cpu_autocast_wrapper()
    modes = {'both': [False, True], 'on': [True], 'off': [False]}[args.amp]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if data_root is None:
            data_root = osp.join(tmp, 'sia')
            t0 = time.perf_counter()
            write_dense_tiles(data_root, args.tiles,
                              size=round(1024 * args.scale), split=True)
            print(f'generated {args.tiles} tiles of '
                  f'{round(1024 * args.scale)} px in '
                  f'{time.perf_counter() - t0:.1f} s')
        print(f'config: {osp.relpath(args.config, ROOT)}')
        print(describe_device())
        for amp in modes:
            r = run_mode(args, data_root, amp)
            results.append(r)
            label = 'AMP' if amp else 'fp32'
            if amp and not torch.cuda.is_available():
                label = 'AMP (CPU bfloat16 autocast)'
            mem = f", peak {r['peak_memory_gib']:.1f} GiB" \
                if 'peak_memory_gib' in r else ''
            print(f"{label}: {r['images_per_s']:.3f} images/s, "
                  f"{r['s_per_iter']:.3f} s/iter, data-loader wait "
                  f"{100 * r['data_wait_fraction']:.1f} % "
                  f"(batch {r['batch_size']}, {r['iterations']} iterations"
                  f"{mem})")
        if len(results) == 2:
            speedup = results[1]['images_per_s'] / results[0]['images_per_s']
            print(f'AMP speed-up: {speedup:.2f}x')
    return results


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
