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
  function on the same outlines, when it is importable;
* with ``--baseline REF``, ``regularize_polygons`` of
  ``mmseg_sia/regularize.py`` as it was at git revision ``REF``, timed in
  turn with this version's on the same outlines (so both see the same
  load), and whether both give the same outlines (vertex for vertex) and
  IoUs.

Times are CPU-process times (``time.process_time``, so other load on a
shared machine inflates both sides alike), medians over ``--repeat`` runs,
in seconds per megapixel; the ratio printed is ``(network + regularization)
/ inference``, goal <= 0.20. The same ratio in wall time is printed too:
inference uses every core, the post-processing one.

With ``--scene SIZES`` it measures instead the streamed builder
(:func:`mmseg_sia.roads.mask_rows_to_network`) on whole scenes of growing
size: mosaics of dense 1024 x 1024 road masks (``--size``; four tiles,
roughened, laid out in a shuffled pattern), whose rows are made on the fly,
so the benchmark never holds a scene either. Each size runs in a fresh
subprocess that reports the builder's CPU and wall time and its peak
memory above the process's baseline (resident set size sampled every
5 ms); up to ``--whole-up-to`` pixels a side, the same subprocess also
builds the network from the whole mosaic with
:func:`mmseg_sia.roads.mask_to_network`, checks that both networks are the
same, and reports that peak too. Inference per megapixel is measured in
the same run, so the last column is the cost relative to inference.

    python benchmarks/bench_road_network.py
    python benchmarks/bench_road_network.py --tiles 4 --repeat 3
    python benchmarks/bench_road_network.py --noise 0 --baseline main
    python benchmarks/bench_road_network.py --scene 2048,4096,8192,20000
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


def load_baseline_regularize(ref: str):
    """``mmseg_sia/regularize.py`` of git revision ``ref``, as a module of
    the package (its relative imports are today's modules)."""
    import subprocess
    import types
    text = subprocess.run(
        ['git', '-C', REPO, 'show', f'{ref}:mmseg_sia/regularize.py'],
        check=True, capture_output=True, text=True).stdout
    name = 'mmseg_sia._baseline_regularize'
    module = types.ModuleType(name)
    module.__package__ = 'mmseg_sia'
    module.__file__ = f'{ref}:mmseg_sia/regularize.py'
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(text, module.__file__, 'exec'), module.__dict__)
    return module


def same_results(a, b):
    """Outlines compared vertex for vertex, and the largest IoU difference
    (None where the outlines differ)."""
    same, worst = 0, 0.0
    for x, y in zip(a, b):
        rings_x, rings_y = x.polygon.rings(), y.polygon.rings()
        if x.regularized == y.regularized and \
                len(rings_x) == len(rings_y) and \
                all(np.array_equal(p, q) for p, q in zip(rings_x, rings_y)):
            same += 1
            worst = max(worst, abs(x.iou - y.iou))
    return same, worst


def timed_pair(fn_a, fn_b, repeat: int):
    """Median CPU times of ``fn_a()`` and ``fn_b()`` run in turn, and their
    last results."""
    times_a, times_b = [], []
    for _ in range(repeat):
        t0 = time.process_time()
        out_a = fn_a()
        t1 = time.process_time()
        out_b = fn_b()
        times_b.append(time.process_time() - t1)
        times_a.append(t1 - t0)
    return (statistics.median(times_a), out_a,
            statistics.median(times_b), out_b)


def roughen(mask: np.ndarray, p: float, rng: np.random.Generator):
    """Flip pixels next to the outline with probability ``p``."""
    if p <= 0:
        return mask
    from scipy import ndimage
    edge = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)
    flip = edge & (rng.random(mask.shape) < p)
    return mask ^ flip


class PeakRSS:
    """Peak resident set size of this process above its level at start,
    sampled by a thread every ``interval`` seconds."""

    def __init__(self, interval: float = 0.005) -> None:
        import threading
        self.interval = interval
        self.page = os.sysconf('SC_PAGE_SIZE')
        self.base = self.peak = self.rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def rss(self) -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self.page

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            self.stop.wait(self.interval)

    def __enter__(self) -> 'PeakRSS':
        self.base = self.peak = self.rss()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def mosaic_reader(tiles: np.ndarray, size: int):
    """``read_rows`` of a ``size`` x ``size`` mosaic of the ``(K, T, T)``
    tiles (tile ``(ty, tx)`` is number ``(3 * ty + 5 * tx) % K``), made on
    the fly."""
    k, t, _ = tiles.shape
    nx_ = -(-size // t)

    def read_rows(y0: int, y1: int) -> np.ndarray:
        out = np.empty((y1 - y0, nx_ * t), dtype=tiles.dtype)
        y = y0
        while y < y1:
            ty, r = divmod(y, t)
            n = min(t - r, y1 - y)
            for tx in range(nx_):
                out[y - y0:y - y0 + n, tx * t:(tx + 1) * t] = \
                    tiles[(3 * ty + 5 * tx) % k, r:r + n]
            y += n
        return out[:, :size]

    return read_rows


def scene_child(args) -> None:
    """One scene size, in its own process: print one line of JSON."""
    import gc
    import json

    import networkx as nx

    from mmseg_sia.roads import (mask_rows_to_network, mask_to_network,
                                 network_length_m)
    tiles = np.load(args.tiles_npy)
    size = args.scene_child
    read_rows = mosaic_reader(tiles, size)

    def summary(graph):
        kinds = [d['kind'] for _, d in graph.nodes(data=True)]
        return dict(edges=graph.number_of_edges(),
                    junctions=kinds.count('junction'),
                    ends=kinds.count('end'),
                    components=nx.number_connected_components(graph),
                    length_km=network_length_m(graph) / 1e3)

    gc.collect()
    with PeakRSS() as mem:
        w0, t0 = time.perf_counter(), time.process_time()
        graph = mask_rows_to_network(read_rows, size, size, road_class=2,
                                     block=args.block)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    out = dict(size=size, cpu=cpu, wall=wall, mb=mem.mb,
               streamed=summary(graph))
    if size <= args.whole_up_to:
        whole_mask = read_rows(0, size)
        gc.collect()
        with PeakRSS() as mem:
            w0, t0 = time.perf_counter(), time.process_time()
            whole = mask_to_network(whole_mask == 2)
            cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        out.update(whole_cpu=cpu, whole_wall=wall, whole_mb=mem.mb,
                   whole=summary(whole))

        def key(g):
            return (sorted((n, d['x'], d['y'], d['kind'])
                           for n, d in g.nodes(data=True)),
                    sorted((u, v, k, d['geometry'].wkb, d['width_m'],
                            d['gap_px'])
                           for u, v, k, d in g.edges(keys=True, data=True)))

        out['identical'] = key(graph) == key(whole)
    print(json.dumps(out), flush=True)


def scene_main(args) -> None:
    """Streamed road networks of growing scenes against inference."""
    import json
    import subprocess

    import torch
    from dense_tiles import write_dense_tiles

    import mmseg_sia  # noqa: F401  (compat fixes before mmseg.apis)
    from mmseg.apis import inference_model, init_model
    from mmseg_sia.labels import rasterize_label_files

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(0)
    sizes = [int(v) for v in args.scene.split(',')]
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as root:
        t = args.size
        stems = write_dense_tiles(root, 4, size=t)
        tiles = np.zeros((len(stems), t, t), np.uint8)
        for i, stem in enumerate(stems):
            seg, _ = rasterize_label_files(
                [osp.join(root, 'labels', 'road', f'{stem}.json')],
                (t, t), warn=False)
            tiles[i][roughen(seg == 2, args.noise, rng)] = 2
        path = osp.join(root, 'tiles.npy')
        np.save(path, tiles)
        model = init_model(args.config, None, device='cpu')
        image = glob.glob(osp.join(root, 'images', '*.png'))[0]
        inference_model(model, image)  # warm-up
        t_inf, _ = timed(lambda: inference_model(model, image), args.repeat,
                         'inference')
        t_inf /= t * t / 1e6
        w_inf = WALL[-1][1] / (t * t / 1e6)
        results = []
        for size in sizes:
            proc = subprocess.run(
                [sys.executable, osp.abspath(__file__), '--scene-child',
                 str(size), '--tiles-npy', path, '--block', str(args.block),
                 '--whole-up-to', str(args.whole_up_to)],
                capture_output=True, text=True,
                env=dict(os.environ, PYTHONWARNINGS='ignore'))
            if proc.returncode:
                print(f'{size}: failed\n{proc.stderr[-2000:]}')
                continue
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = results[-1]
            print(f'# {size}: {json.dumps(r)}', flush=True)
    load1 = os.getloadavg()
    print(f'model: {osp.basename(args.config)}; inference '
          f'{t_inf:.3f} s/MP CPU, {w_inf:.3f} s/MP wall on '
          f'{torch.get_num_threads()} threads (one {t} x {t} tile); road '
          f'masks: mosaics of 4 dense tiles (outline noise {args.noise}); '
          f'bands of {args.block} rows; load average {load0[0]:.1f} at '
          f'start, {load1[0]:.1f} at end')
    print(f'{"scene":>13} {"MP":>6} {"CPU s":>7} {"s/MP":>6} {"wall s":>7} '
          f'{"peak MB":>8} {"B/px":>6} {"edges":>6} {"/ infer CPU":>11} '
          f'{"/ infer wall":>12}')
    for r in results:
        mp = r['size'] ** 2 / 1e6
        rows = [('streamed', r['cpu'], r['wall'], r['mb'], r['streamed'])]
        if 'whole' in r:
            rows.append(('whole mask', r['whole_cpu'], r['whole_wall'],
                         r['whole_mb'], r['whole']))
        for name, cpu, wall, mb, summ in rows:
            print(f'{r["size"]:>6}² {name[:6]:>6} {mp:6.1f} {cpu:7.2f} '
                  f'{cpu / mp:6.3f} {wall:7.2f} {mb:8.0f} '
                  f'{mb * 2**20 / (mp * 1e6):6.2f} {summ["edges"]:6d} '
                  f'{cpu / mp / t_inf:11.3f} {wall / mp / w_inf:12.3f}')
        if 'identical' in r:
            print(f'{"":>8}streamed and whole-mask networks identical: '
                  f'{r["identical"]} ({r["streamed"]["junctions"]} '
                  f'junctions, {r["streamed"]["components"]} components, '
                  f'{r["streamed"]["length_km"]:.3f} km)')
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f'peak memory from {a["size"]}² to {b["size"]}² '
              f'({b["size"] ** 2 / a["size"] ** 2:.0f}x the pixels): '
              f'{a["mb"]:.0f} MB -> {b["mb"]:.0f} MB '
              f'({b["mb"] / max(a["mb"], 1e-9):.2f}x)')


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
    parser.add_argument('--baseline', default=None, metavar='REF',
                        help='also time regularize_polygons of git revision '
                        'REF on the same outlines and compare the results')
    parser.add_argument('--scene', default=None,
                        help='comma-separated scene sizes (pixels a side): '
                        'time and memory of the streamed network builder')
    parser.add_argument('--block', type=int, default=1024,
                        help='rows per band with --scene')
    parser.add_argument('--whole-up-to', type=int, default=4096,
                        help='with --scene, also build from the whole mask '
                        'up to this size and compare')
    parser.add_argument('--scene-child', type=int, default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument('--tiles-npy', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scene_child is not None:
        scene_child(args)
        return
    if args.scene:
        scene_main(args)
        return

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
    base = load_baseline_regularize(args.baseline) if args.baseline else None
    load0 = os.getloadavg()
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
            t_reg, ours = timed(lambda: regularize_polygons(polys),
                                args.repeat, 'regularize')
            t_base, same, worst = float('nan'), 0, 0.0
            if base is not None:
                t_reg, ours, t_base, theirs = timed_pair(
                    lambda: regularize_polygons(polys),
                    lambda: base.regularize_polygons(polys), args.repeat)
                same, worst = same_results(ours, theirs)
            polygons_all += polys
            rows.append((t_net, t_vec, t_reg, graph.number_of_edges(),
                         len(polys), t_base, same, worst))
    load1 = os.getloadavg()
    t_net = statistics.mean(r[0] for r in rows) / mp
    t_vec = statistics.mean(r[1] for r in rows) / mp
    t_reg = statistics.mean(r[2] for r in rows) / mp
    t_inf /= mp
    n_poly = statistics.mean(r[4] for r in rows)
    print(f'model: {osp.basename(args.config)}; {args.tiles} tiles of '
          f'{args.size} x {args.size}, {n_poly:.0f} building outlines and '
          f'{statistics.mean(r[3] for r in rows):.0f} network edges per tile '
          f'(outline noise {args.noise}), medians of {args.repeat} runs; '
          f'load average {load0[0]:.1f} at start, {load1[0]:.1f} at end '
          f'({os.cpu_count()} cores)')
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
    if base is not None:
        t_base = statistics.mean(r[5] for r in rows) / mp
        n_all = sum(r[4] for r in rows)
        print(f'regularize, {args.baseline:9s} {t_base:8.3f} s/MP  '
              f'({1e3 * t_base * mp / n_poly:.2f} ms per outline; this '
              f'version is {t_base / t_reg:.2f}x faster, timed in turn); '
              f'same outlines {sum(r[6] for r in rows)}/{n_all}, IoU within '
              f'{max(r[7] for r in rows):.1e}')
        print(f'added / inference    {(t_net + t_base) / t_inf:8.3f}  '
              f'(CPU time with {args.baseline}\'s regularization)')
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
