#!/usr/bin/env python
"""Streamed scene inference against mmseg's own ``mode='slide'`` inference.

One run measures both, side by side, on the same synthetic scene (a PNG of
``--size`` x ``--size`` pixels) with the same randomly initialised weights
(speed and memory do not depend on training) of the sample model, Semantic
FPN with a ResNet-18 V1c backbone (``configs/sia/fpn_r18_sia-sample.py``, or
an identical model written below when that config is absent):

* mmseg: ``mmseg.apis.inference_model`` with
  ``test_cfg=dict(mode='slide', crop_size, stride)`` and a test pipeline of
  ``LoadImageFromFile`` + ``PackSegInputs`` (no resize);
* streamed: :func:`mmseg_sia.apis.segment_image`, same windows,
  ``--batch-size`` windows per forward pass.

Each run is its own subprocess, so that peak resident memory (``VmHWM``,
see :mod:`peak_rss`) is measured for it alone; both read the scene from the
same PNG file, and both run one untimed warm-up window first. The two sides run
``--repeat`` times (default 3) in alternating order (mmseg first in odd
rounds, streamed first in even ones), so that neither always runs on a
warmer or quieter machine. Timed: the inference call, in **wall-clock**
time (``time.perf_counter``), and beside it the process's CPU time
(``time.process_time``, all threads), which other jobs on a shared machine
inflate less. Printed: the median time of each side, the largest peak RSS
and RSS growth during inference, their ratios (streamed / mmseg, a
``ratio`` line) and the pixel agreement of the two masks. Goals (issue 4):
memory ratio <= 0.5, time ratio <= 1.0.

    python benchmarks/bench_scene_inference.py --size 8192
    python benchmarks/bench_scene_inference.py --size 8192 --model quarter
    python benchmarks/bench_scene_inference.py --size 256 --window 128 \\
        --stride 96 --repeat 1 --model quarter          # smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAMPLE_CONFIG = osp.join(REPO, 'configs', 'sia', 'fpn_r18_sia-sample.py')

# The sample model, for when its config file is not there ({w} = 1), and the
# same at a quarter of its width ({w} = 4, ``--model quarter``): a model whose
# compute is small beside the bookkeeping of the scene, for runs of large
# scenes on slow machines.
FALLBACK_CONFIG = """
custom_imports = dict(imports=['mmseg_sia'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=(256, 256)),
    backbone=dict(
        type='ResNetV1c', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
        stem_channels=64 // {w}, base_channels=64 // {w},
        dilations=(1, 1, 1, 1), strides=(1, 2, 2, 2), norm_cfg=norm_cfg,
        norm_eval=False, style='pytorch', contract_dilation=True),
    neck=dict(type='FPN', in_channels=[c // {w} for c in (64, 128, 256, 512)],
              out_channels=64 // {w}, num_outs=4),
    decode_head=dict(
        type='FPNHead', in_channels=[64 // {w}] * 4, in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32], channels=64 // {w}, dropout_ratio=0.1,
        num_classes=3, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
"""


def rss_now_mb() -> float:
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: the latter also holds the peak of the parent
    # this child was started from (see peak_rss).
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from peak_rss import own_peak_mib
    return own_peak_mib()


def write_scene(path: str, size: int, seed: int = 0) -> None:
    """A city-like test scene: textured ground, roofs and roads."""
    import cv2
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 120, (size // 16 + 1, size // 16 + 1, 3),
                         dtype=np.uint8)
    img = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(size * size // 6000):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        w, h = (int(v) for v in rng.integers(8, 60, 2))
        colour = [int(v) for v in rng.integers(90, 250, 3)]
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
    for _ in range(size // 150):
        a = tuple(int(v) for v in rng.integers(0, size, 2))
        b = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.line(img, a, b, (128, 128, 128), int(rng.integers(6, 20)))
    cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, 1])


def child(args: argparse.Namespace) -> None:
    """Run one side of the comparison; print a JSON line."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import mmseg_sia  # noqa: F401
    from mmengine import Config
    from mmengine.registry import init_default_scope

    init_default_scope('mmseg')
    cfg = Config.fromfile(args.config)
    crop = (args.window, args.window)
    stride = (args.stride, args.stride)
    cfg.model.test_cfg = dict(mode='slide', crop_size=crop, stride=stride)
    cfg.test_pipeline = [dict(type='LoadImageFromFile'),
                         dict(type='PackSegInputs')]
    # A warm-up file (mmseg's inference_model switches its pipeline to
    # LoadImageFromNDArray for good when given an array).
    import cv2
    warm = osp.join(osp.dirname(args.mask_out), f'warm_{args.child}.png')
    cv2.imwrite(warm, np.zeros((args.window, args.window, 3), np.uint8))
    if args.child == 'mmseg':
        from mmseg.apis import inference_model, init_model
        model = init_model(cfg, args.checkpoint, device='cpu')
        inference_model(model, warm)
        base = rss_now_mb()
        start, cpu = time.perf_counter(), time.process_time()
        result = inference_model(model, args.scene)
        mask = result.pred_sem_seg.data[0].numpy().astype(np.uint8)
    else:
        from mmseg_sia.apis import init_segmentor, segment_image
        model = init_segmentor(cfg, args.checkpoint, device='cpu')
        segment_image(model, warm)
        base = rss_now_mb()
        start, cpu = time.perf_counter(), time.process_time()
        mask = segment_image(model, args.scene, batch_size=args.batch_size)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = peak_rss_mb()
    np.save(args.mask_out, mask)
    print(json.dumps(dict(time_s=elapsed, cpu_s=cpu, peak_mb=peak,
                          base_mb=base,
                          threads=torch.get_num_threads())))


def run_child(args: argparse.Namespace, mode: str, scene: str, ckpt: str,
              mask_out: str) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), '--child', mode,
           '--scene', scene, '--checkpoint', ckpt, '--config', args.config,
           '--window', str(args.window), '--stride', str(args.stride),
           '--batch-size', str(args.batch_size), '--mask-out', mask_out]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f'{mode} run failed (exit {proc.returncode})')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    """Run the benchmark (or, with ``--child``, one side of it)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=8192,
                        help='scene side in pixels (default 8192)')
    parser.add_argument('--window', type=int, default=512)
    parser.add_argument('--stride', type=int, default=384)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each side, in alternating order '
                        '(median time, largest memory; default 3)')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads (default: torch\'s default)')
    parser.add_argument(
        '--model', choices=['sample', 'quarter'], default='sample',
        help='sample: the sample model (FPN R18); quarter: the same at a '
        'quarter of the channels (default: sample)')
    parser.add_argument('--config', default=None,
                        help='model config (overrides --model)')
    parser.add_argument('--child', choices=['mmseg', 'streamed'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--scene', help=argparse.SUPPRESS)
    parser.add_argument('--checkpoint', help=argparse.SUPPRESS)
    parser.add_argument('--mask-out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error('--repeat must be >= 1')
    if args.child:
        child(args)
        return

    with tempfile.TemporaryDirectory(prefix='bench_scene_') as tmp:
        if args.config is None:
            if args.model == 'sample' and osp.isfile(SAMPLE_CONFIG):
                args.config = SAMPLE_CONFIG
            else:
                width = 1 if args.model == 'sample' else 4
                args.config = osp.join(tmp, f'fpn_r18_{args.model}.py')
                with open(args.config, 'w') as f:
                    f.write(FALLBACK_CONFIG.replace('{w}', str(width)))
        import torch

        import mmseg_sia  # noqa: F401
        from mmengine.registry import init_default_scope
        from mmseg.apis import init_model
        init_default_scope('mmseg')
        torch.manual_seed(0)
        model = init_model(args.config, None, device='cpu')
        ckpt = osp.join(tmp, 'random.pth')
        meta = dict(dataset_meta=dict(
            classes=('background', 'building', 'road'),
            palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]]))
        torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
        n_params = sum(p.numel() for p in model.parameters())
        del model
        label = osp.relpath(args.config, REPO) if args.config.startswith(
            REPO) else 'built-in FPN R18 config'
        scene = osp.join(tmp, 'scene.png')
        t0 = time.perf_counter()
        write_scene(scene, args.size)
        print(f'scene {args.size} x {args.size} written in '
              f'{time.perf_counter() - t0:.1f} s '
              f'({osp.getsize(scene) / 2**20:.0f} MiB PNG); model '
              f'{label} ({args.model}, random '
              f'init, {n_params / 1e6:.2f} M parameters), window '
              f'{args.window}, stride {args.stride}, batch '
              f'{args.batch_size}')
        results = {'mmseg': [], 'streamed': []}
        agree = []
        for r in range(args.repeat):
            order = ('mmseg', 'streamed') if r % 2 == 0 else ('streamed',
                                                               'mmseg')
            for mode in order:
                out = run_child(args, mode, scene, ckpt,
                                osp.join(tmp, f'{mode}.npy'))
                results[mode].append(out)
                print(f'  run {r + 1} {mode:>8}: {out["time_s"]:7.1f} s wall,'
                      f' {out["cpu_s"]:7.1f} s CPU, peak RSS '
                      f'{out["peak_mb"]:7.0f} MiB (before inference '
                      f'{out["base_mb"]:.0f} MiB), {out["threads"]} threads',
                      flush=True)
            a = np.load(osp.join(tmp, 'mmseg.npy'))
            b = np.load(osp.join(tmp, 'streamed.npy'))
            agree.append(float((a == b).mean()) if a.shape == b.shape
                         else 0.0)

    def summary(mode):
        runs = results[mode]
        return (statistics.median(r['time_s'] for r in runs),
                statistics.median(r['cpu_s'] for r in runs),
                max(r['peak_mb'] for r in runs),
                max(r['peak_mb'] - r['base_mb'] for r in runs))

    tm, cm, pm, gm = summary('mmseg')
    ts, cs, ps, gs = summary('streamed')
    print(f'\nscene {args.size} x {args.size}, median of {args.repeat} '
          'run(s)   wall (s)   CPU (s)   peak RSS (MiB)   growth (MiB)')
    print(f'  mmseg slide                    {tm:9.1f} {cm:9.1f}   '
          f'{pm:14.0f}   {gm:12.0f}')
    print(f'  streamed                       {ts:9.1f} {cs:9.1f}   '
          f'{ps:14.0f}   {gs:12.0f}')
    print(f'ratio streamed / mmseg: time {ts / tm:.2f} (wall), '
          f'{cs / max(cm, 1e-9):.2f} (CPU); peak memory {ps / pm:.2f}, '
          f'growth {gs / max(gm, 1e-9):.2f} (goals: time <= 1.0, memory '
          '<= 0.5)')
    print(f'masks agree on {min(agree) * 100:.4f}% of pixels'
          + (' (identical in every run)' if min(agree) == 1.0 else ''))


if __name__ == '__main__':
    main()
