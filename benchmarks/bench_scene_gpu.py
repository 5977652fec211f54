#!/usr/bin/env python
"""Streamed scene inference per megapixel of the seed recipe, on a GPU.

Builds the seed's Semantic FPN R101 model (``configs/sia/
fpn_r101_1024x1024_4k_sia.py``, random weights: speed does not depend on
training) on the fastest device there is, segments a random uint8 scene of
``--size`` x ``--size`` pixels with :func:`mmseg_sia.apis.segment_image`
(the windows of ``tools/infer.py``: the model's slide window and stride) and
prints, side by side in one run:

* the wall time per megapixel of the whole streamed call (windows cut,
  normalised, moved to the device, logits stitched and averaged, class ids
  taken, rows handed back);
* the model's own forward time per megapixel (``encode_decode`` on the same
  number of windows in batches of the same size, inputs already on the
  device), and their ratio.

Polygons and files are not part of it: their cost is the CPU writer's (see
``bench_geotiff_scene.py``).

    python benchmarks/bench_scene_gpu.py --size 8192 --batch-size 4
"""
from __future__ import annotations

import argparse
import os.path as osp
import time

import numpy as np
import torch

import mmseg_sia  # noqa: F401
from mmseg_sia.apis import init_segmentor, segment_image
from mmseg_sia.apis.segment import _preprocess, window_grid

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'sia', 'fpn_r101_1024x1024_4k_sia.py')


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--size', type=int, default=8192)
    parser.add_argument('--window', type=int, default=1024)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=2)
    args = parser.parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = init_segmentor(args.config, None, device=device)
    model.eval()
    window = (args.window, args.window)
    stride = (args.window - args.window // 4, ) * 2  # infer.py's overlap
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    mp = args.size * args.size / 1e6
    rows = len(window_grid(args.size, window[0], stride[0]))
    cols = len(window_grid(args.size, window[1], stride[1]))
    count = rows * cols
    # Warm-up: cuDNN picks its algorithms for these shapes.
    segment_image(model, scene[:window[0] * 2, :window[1] * 2],
                  window=window, stride=stride, batch_size=args.batch_size,
                  progress=False)
    streamed, forward = [], []
    # The forward passes of the same windows: full batches and the rest.
    sizes = [args.batch_size] * (count // args.batch_size) + (
        [count % args.batch_size] if count % args.batch_size else [])
    meta = dict(img_shape=window, pad_shape=window, ori_shape=window)
    with torch.no_grad():
        made = {n: _preprocess(model, rng.integers(
            0, 256, (n, window[0], window[1], 3), dtype=np.uint8),
            device)[0] for n in set(sizes)}
        for _ in range(args.repeat):
            sync(device)
            t0 = time.perf_counter()
            mask = segment_image(model, scene, window=window, stride=stride,
                                 batch_size=args.batch_size, progress=False)
            sync(device)
            streamed.append(time.perf_counter() - t0)
            sync(device)
            t0 = time.perf_counter()
            for n in sizes:
                model.encode_decode(made[n], [meta] * n)
            sync(device)
            forward.append(time.perf_counter() - t0)
    name = torch.cuda.get_device_name() if device == 'cuda' else 'CPU'
    s, f = min(streamed), min(forward)
    print(f'{name}; {osp.basename(args.config)}, random weights; scene '
          f'{args.size}^2 ({mp:.1f} MP), windows {window} at stride '
          f'{stride}: {count} windows, batch {args.batch_size}; best of '
          f'{args.repeat}')
    print(f'  streamed segment_image: {s / mp:.4f} s/MP ({s:.2f} s), mask '
          f'{mask.shape} {mask.dtype}')
    print(f'  forward passes alone:   {f / mp:.4f} s/MP ({f:.2f} s)')
    print(f'ratio streamed / forward: {s / f:.2f}')
    if device == 'cuda':
        print(f'peak GPU memory: '
              f'{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB')


if __name__ == '__main__':
    main()
