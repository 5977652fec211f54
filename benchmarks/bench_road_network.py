#!/usr/bin/env python
r"""Road networks and regularized outlines against inference, per megapixel.

What the issue asks: extracting the road network and regularizing the
building outlines may add at most 20 % to inference time. One run measures,
side by side, on the same dense synthetic tiles (``benchmarks/dense_tiles.py``:
150-400 buildings and 4-12 curved roads per 1024 x 1024 tile):

* inference: ``mmseg.apis.inference_model`` of a randomly initialised model
  (speed does not depend on training; default the sample model, Semantic FPN
  ResNet-18, ``configs/sia/fpn_r18_sia-sample.py``, the smallest and so the
  hardest case) on one tile, after one untimed warm-up;
* road network: :func:`mmseg_sia.roads.mask_to_network` of the tile's road
  mask, the label mask with its outline roughened (``--noise``: each pixel
  within one pixel of the outline flips with that probability, as a model's
  outline is not clean);
* regularization: :func:`mmseg_sia.regularize.regularize_polygons` of the
  building outlines of :func:`mmseg_sia.vectorize.binary_to_polygons`
  (vectorizing itself is already part of ``tools/infer.py``; it is timed and
  printed apart);
* with ``--library``, the ``buildingregulariser`` package's per-polygon
  function on the same outlines, when it is importable.

Times are CPU-process times (``time.process_time``, so other load on a
shared machine inflates both sides alike), medians over ``--repeat`` runs,
in seconds per megapixel; the ratio printed is ``(network + regularization)
/ inference``, goal <= 0.20. The same ratio in wall time is printed too:
inference uses every core, the post-processing one.

    python benchmarks/bench_road_network.py
    python benchmarks/bench_road_network.py --tiles 4 --repeat 3
    python benchmarks/bench_road_network.py \
        --config configs/sia/fpn_r101_sia.py
"""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


WALL = []  # (name, wall seconds) of every timed call, for the wall figures


def timed(fn, repeat: int, name: str = ''):
    """Median CPU time of ``fn()`` and its last result (median wall time of
    the same runs goes to ``WALL``)."""
    times, walls = [], []
    out = None
    for _ in range(repeat):
        w0, t0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
    WALL.append((name, statistics.median(walls)))
    return statistics.median(times), out


def roughen(mask: np.ndarray, p: float, rng: np.random.Generator):
    """Flip pixels next to the outline with probability ``p``."""
    if p <= 0:
        return mask
    from scipy import ndimage
    edge = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)
    flip = edge & (rng.random(mask.shape) < p)
    return mask ^ flip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tiles', type=int, default=2)
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--noise', type=float, default=0.3)
    parser.add_argument('--config', default=osp.join(
        REPO, 'configs', 'sia', 'fpn_r18_sia-sample.py'))
    parser.add_argument('--library', action='store_true',
                        help='also time buildingregulariser if importable')
    args = parser.parse_args()

    import torch
    from dense_tiles import write_dense_tiles

    import mmseg_sia  # noqa: F401  (compat fixes before mmseg.apis)
    from mmseg.apis import inference_model, init_model
    from mmseg_sia.labels import rasterize_label_files
    from mmseg_sia.regularize import regularize_polygons
    from mmseg_sia.roads import mask_to_network
    from mmseg_sia.vectorize import binary_to_polygons

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(0)
    mp = args.size * args.size / 1e6
    with tempfile.TemporaryDirectory() as root:
        stems = write_dense_tiles(root, args.tiles, size=args.size)
        model = init_model(args.config, None, device='cpu')
        image = glob.glob(osp.join(root, 'images', '*.png'))[0]
        inference_model(model, image)  # warm-up
        t_inf, _ = timed(lambda: inference_model(model, image), args.repeat,
                         'inference')
        rows = []
        polygons_all = []
        for stem in stems:
            seg, _ = rasterize_label_files(
                [osp.join(root, 'labels', k, f'{stem}.json')
                 for k in ('building', 'road')], (args.size, args.size),
                warn=False)
            road = roughen(seg == 2, args.noise, rng)
            building = roughen(seg == 1, args.noise, rng)
            t_net, graph = timed(lambda: mask_to_network(road), args.repeat,
                                 'network')
            t_vec, polys = timed(lambda: binary_to_polygons(building),
                                 args.repeat)
            t_reg, _ = timed(lambda: regularize_polygons(polys), args.repeat,
                             'regularize')
            polygons_all += polys
            rows.append((t_net, t_vec, t_reg, graph.number_of_edges(),
                         len(polys)))
    t_net = statistics.mean(r[0] for r in rows) / mp
    t_vec = statistics.mean(r[1] for r in rows) / mp
    t_reg = statistics.mean(r[2] for r in rows) / mp
    t_inf /= mp
    n_poly = statistics.mean(r[4] for r in rows)
    print(f'model: {osp.basename(args.config)}; {args.tiles} tiles of '
          f'{args.size} x {args.size}, {n_poly:.0f} building outlines and '
          f'{statistics.mean(r[3] for r in rows):.0f} network edges per tile '
          f'(outline noise {args.noise}), medians of {args.repeat} runs')
    print(f'inference            {t_inf:8.3f} s/MP')
    print(f'road network         {t_net:8.3f} s/MP  '
          f'({100 * t_net / t_inf:.1f} % of inference)')
    print(f'regularize outlines  {t_reg:8.3f} s/MP  '
          f'({100 * t_reg / t_inf:.1f} % of inference; '
          f'{1e3 * t_reg * mp / n_poly:.2f} ms per outline)')
    print(f'(vectorize outlines  {t_vec:8.3f} s/MP, already part of infer)')
    print(f'added / inference    {(t_net + t_reg) / t_inf:8.3f}  '
          '(CPU time; goal <= 0.20)')

    def wall(name):
        return statistics.mean(w for n, w in WALL if n == name)

    w_add = (wall('network') + wall('regularize')) / wall('inference')
    print(f'added / inference    {w_add:8.3f}  (wall time, inference on '
          f'{torch.get_num_threads()} threads; goal <= 0.20)')
    if args.library:
        try:
            from buildingregulariser.regularization import \
                regularize_single_polygon
        except ImportError as err:
            print(f'buildingregulariser: not importable ({err})')
            return
        import warnings

        from shapely.geometry import Polygon
        shapes = [Polygon(p.exterior, p.holes) for p in polygons_all]

        def run_library():
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                for s in shapes:
                    regularize_single_polygon(
                        s, parallel_threshold=1.0, allow_45_degree=True,
                        diagonal_threshold_reduction=15, allow_circles=True,
                        circle_threshold=0.9, simplify=True,
                        simplify_tolerance=0.5)

        t_lib, _ = timed(run_library, 1)
        t_ours, _ = timed(lambda: regularize_polygons(polygons_all), 1)
        print(f'buildingregulariser  {1e3 * t_lib / len(shapes):.2f} ms per '
              f'outline against {1e3 * t_ours / len(shapes):.2f} ms here '
              f'(ratio {t_lib / t_ours:.1f})')


if __name__ == '__main__':
    main()
