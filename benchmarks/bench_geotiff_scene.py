#!/usr/bin/env python
"""Whole georeferenced scenes through ``tools/infer.py``: memory and speed.

For each ``--sizes`` value the benchmark writes a tiled 4-band uint16
GeoTIFF (EPSG:32652, 0.55 m pixels, a nodata border an eighth of the side
wide on the left and top, written block by block), then runs
``tools/infer.py`` on it in a subprocess (mask COG, GeoPackage, GeoJSON and
summary). By default (``--content blocks``) the scene is a plain town:
flat ground, about 300 buildings per megapixel and a street grid connected
across the scene (one road region with a city block in each mesh), and the
model is the sample model's FPN R18 (11.7 M parameters) trained for 200
steps on another such scene, so its mask is a trained model's (0.91-0.93
IoU for both classes, printed after each size) and so is the work after
it. ``--model quarter`` takes a quarter of its width; ``--content noise``
random values, on which the random model's mask is speckle (the writer's
worst case). Printed side by side, one row per size:

* peak RSS of the whole ``infer.py`` process (``wait4``'s ``ru_maxrss``,
  through :mod:`peak_rss`'s launcher, so that this process' own peak is
  not read as the tool's);
* its wall time per megapixel of the scene;
* the model's own forward time per megapixel: ``encode_decode`` on batches
  of windows of the same size, timed in this process, times the number of
  windows ``infer.py`` runs (those with a valid pixel), per megapixel;
* the same less the fixed cost of a run (start-up, imports, model loading,
  the median of ``--start-runs`` runs (default 3) on a scene of one
  window), and its ratio to the forward time
  (goal: at most 1.1; the rest is reading, stretching, stitching,
  polygonizing and writing). The forward time is measured in this process
  just before and just after each run and the two averaged (its speed
  drifts on a shared machine), on ``--forward-sample`` of the batches
  that run makes, scaled to all of them; under OpenMP's default wait
  policy, as ``infer.py`` runs it (it set ``OMP_WAIT_POLICY=PASSIVE``
  until the batches were normalised beside the model: that made the
  forward alone 5-10 % slower and, then, the run faster);
* the process' CPU time (user + system) per megapixel next to the wall
  time, and the load average of the machine before each size (on a shared
  machine the wall times move with the load); "CPU ratio" is the CPU time
  of the run less that of the one-window run, over the CPU time of the
  forward passes (steadier than the wall ratio under load).

Each size runs ``--repeats`` times (default 3): times are medians, the peak
RSS the largest. Goals (issue 11): peak RSS flat across sizes and at most
1.5 GB at 20,000^2; time per megapixel within 1.1x the forward's.

``--thread-cpu`` runs ``infer.py`` through ``thread_cpu.py`` and prints,
after each size, the CPU time per megapixel of its threads: the model's
(the main thread and OpenMP's) and each of those beside it (reading,
batches, writing, road length).

``--folder N`` then runs ``infer.py`` once on a folder of N links to the
first size's scene and prints its peak RSS beside the scene's own: whether
a run's peak grows with the work it does or levels off.

``--network-regularize`` also runs each size with the road network
(``network,network_gpkg``) and ``--regularize``, interleaved with the plain
runs, and prints what they add to the run, wall and CPU time less the fixed
cost (issue 13's goal: at most 1.2 times the run without them).

    python benchmarks/bench_geotiff_scene.py --sizes 2048,4096,5000
    python benchmarks/bench_geotiff_scene.py --sizes 5000,10000,20000 \
        --repeats 1 --network-regularize
    python benchmarks/bench_geotiff_scene.py --sizes 5000 --model quarter \
        --content noise --train 0
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Optional

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
sys.path.insert(1, REPO)

from bench_scene_inference import FALLBACK_CONFIG  # noqa: E402
import thread_cpu  # noqa: E402
from peak_rss import run_measured  # noqa: E402

SLIDE = "\nmodel['test_cfg'] = dict(mode='slide', crop_size=({w}, {w}), " \
    'stride=({s}, {s}))\n'


def road_lines(rng: np.random.Generator, size: int) -> list:
    """A street grid across a scene of ``size`` pixels a side, in scene
    coordinates: ``(x0, y0, x1, y1, width)`` per road. Slightly tilted
    streets every 250-600 pixels both ways (6-16 pixels wide) and one
    diagonal avenue (16-24 pixels) per 2,000 pixels of side: one road
    network connected across the whole scene, about 7 % of its pixels,
    with a city block in every mesh."""
    lines = []
    for axis in (0, 1):
        at = int(rng.integers(100, 400))
        while at < size:
            a, b = at + rng.integers(-60, 61, 2)
            width = int(rng.integers(6, 17))
            lines.append((0, int(a), size, int(b), width) if axis else
                         (int(a), 0, int(b), size, width))
            at += int(rng.integers(250, 601))
    for _ in range(max(1, size // 2000)):
        a, b = rng.integers(0, size, 2)
        lines.append((0, int(a), size, int(b), int(rng.integers(16, 25))))
    return lines


def blocks_block(rng: np.random.Generator, y: int, x: int, h: int, w: int,
                 roads: list) -> np.ndarray:
    """``(4, h, w)`` uint16 of the block at ``(y, x)`` of a plain scene:
    flat ground with mild noise, about 300 rectangles per megapixel
    (buildings, 6-40 pixels) and the parts of the scene's ``roads`` (see
    :func:`road_lines`) that cross the block, so that a model's mask has
    regions of about the density of labelled tiles, not speckle."""
    import cv2
    block = np.empty((4, h, w), np.uint16)
    ground = rng.integers(900, 1100, (h, w)).astype(np.uint16)
    block[:] = ground
    for _ in range(max(1, int(300 * h * w / 1e6))):
        a, b = int(rng.integers(0, h)), int(rng.integers(0, w))
        block[:, a:a + int(rng.integers(6, 40)),
              b:b + int(rng.integers(6, 40))] = rng.integers(1800, 3000)
    plane = np.zeros((h, w), np.uint8)
    for x0, y0, x1, y1, width in roads:
        # Drawn in scene coordinates shifted to the block: the same pixels
        # whichever block draws them, so the roads meet across blocks.
        if min(x0, x1) - width > x + w or max(x0, x1) + width < x or \
                min(y0, y1) - width > y + h or max(y0, y1) + width < y:
            continue
        cv2.line(plane, (x0 - x, y0 - y), (x1 - x, y1 - y), 1, width)
    block[:, plane == 1] = 400
    return block


def write_scene(path: str, size: int, seed: int = 0,
                content: str = 'noise') -> None:
    """A tiled 4-band uint16 GeoTIFF with a nodata (0) border, by blocks:
    random values with bright rectangles (``'noise'``), or
    :func:`blocks_block` (``'blocks'``)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    border = size // 8
    roads = road_lines(rng, size) if content == 'blocks' else []
    profile = dict(driver='GTiff', width=size, height=size, count=4,
                   dtype='uint16', nodata=0, tiled=True, blockxsize=512,
                   blockysize=512, compress='deflate', crs='EPSG:32652',
                   transform=Affine(0.55, 0, 320000, 0, -0.55, 4160000))
    with rasterio.open(path, 'w', **profile) as ds:
        for y in range(0, size, 512):
            for x in range(0, size, 512):
                h, w = min(512, size - y), min(512, size - x)
                if content == 'blocks':
                    block = blocks_block(rng, y, x, h, w, roads)
                else:
                    block = rng.integers(200, 3000, (4, h, w),
                                         dtype=np.uint16)
                    # Some structure: bright rectangles.
                    for _ in range(6):
                        a, b = rng.integers(0, h), rng.integers(0, w)
                        block[:, a:a + 40, b:b + 60] = 3500
                yy = np.arange(y, y + h)[:, None]
                xx = np.arange(x, x + w)[None, :]
                block[:, (yy < border) | (xx < border)] = 0
                ds.write(block, window=Window(x, y, w, h))


def calibrate(model, scene: str, window: int) -> None:
    """Batch-norm statistics from windows of ``scene`` (stretched to 8 bit
    as ``infer.py`` does by default), so that the random model's mask
    follows the scene's regions (with the initial statistics it comes out
    nearly flat)."""
    import rasterio
    import torch
    from rasterio.windows import Window

    from mmseg_sia.apis.segment import _preprocess
    with rasterio.open(scene) as ds:
        size = ds.width
        x0 = min(size - window, size // 8)
        data = ds.read([3, 2, 1], window=Window(x0, x0, window, window))
    lo, hi = np.percentile(data[data > 0], [2, 98])
    img = np.clip((data.astype(np.float32) - lo) / max(hi - lo, 1) * 255,
                  0, 255).astype(np.uint8).transpose(1, 2, 0)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None
    inputs, _ = _preprocess(model, img[None], device_of(model))
    model.train()
    with torch.no_grad():
        model.decode_head(model.extract_feat(inputs))
    model.eval()


def blocks_truth(block: np.ndarray) -> np.ndarray:
    """The classes :func:`blocks_block` drew, from its values: 1 building
    (the rectangles, 1800-2999), 2 road (the bands, 400), 0 elsewhere
    (ground 900-1099 and the nodata border)."""
    truth = np.zeros(block.shape[-2:], np.uint8)
    truth[block[0] >= 1800] = 1
    truth[block[0] == 400] = 2
    return truth


def train(model, scene: str, iters: int, crop: int = 256, batch: int = 4,
          seed: int = 0) -> float:
    """Train ``model`` for ``iters`` steps (AdamW) on random crops of a
    blocks ``scene`` read as ``infer.py`` reads it (default bands and
    stretch), against :func:`blocks_truth`; returns the seconds taken. A
    random model's mask of such a scene is mostly one class in blobs
    (with the batch norm calibrated, 58 % of a scene came out as road),
    nothing like a trained model's; 200 steps of the sample-size model (56
    s on two cores) give 0.91-0.93 IoU for buildings and roads on towns of
    other seeds."""
    import rasterio
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmseg_sia.apis.raster import RasterReader
    from mmseg_sia.apis.segment import _preprocess

    with RasterReader(scene) as reader:
        bgr, _ = reader.read_rows(0, reader.height)
    with rasterio.open(scene) as ds:
        truth = blocks_truth(ds.read(1)[None]).astype(np.int64)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    meta = dict(img_shape=(crop, crop), pad_shape=(crop, crop),
                ori_shape=(crop, crop))
    t0 = time.perf_counter()
    model.train()
    for _ in range(iters):
        ys = rng.integers(0, bgr.shape[0] - crop, batch)
        xs = rng.integers(0, bgr.shape[1] - crop, batch)
        inputs, _ = _preprocess(model, np.stack(
            [bgr[y:y + crop, x:x + crop] for y, x in zip(ys, xs)]),
            device_of(model))
        samples = []
        for y, x in zip(ys, xs):
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(
                truth[None, y:y + crop, x:x + crop]).to(device_of(model)))
            samples.append(sample)
        losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return time.perf_counter() - t0


def mask_iou(mask_path: str, scene: str) -> str:
    """Building and road IoU of a run's mask against the blocks scene's
    truth (valid pixels), read a row of blocks at a time."""
    import rasterio
    from rasterio.windows import Window

    inter = np.zeros(3)
    union = np.zeros(3)
    # A small block cache: GDAL's default (5 % of the machine's memory)
    # filled with the scene's blocks, 1.8 GiB here at 20,000^2.
    with rasterio.Env(GDAL_CACHEMAX=64 << 20), \
            rasterio.open(mask_path) as m, rasterio.open(scene) as s:
        for y in range(0, s.height, 512):
            win = Window(0, y, s.width, min(512, s.height - y))
            pred, block = m.read(1, window=win), s.read(1, window=win)
            truth, valid = blocks_truth(block[None]), block > 0
            for c in (1, 2):
                p, t = (pred == c) & valid, (truth == c) & valid
                inter[c] += np.count_nonzero(p & t)
                union[c] += np.count_nonzero(p | t)
    return ', '.join(f'{name} {inter[c] / max(union[c], 1):.3f}'
                     for c, name in ((1, 'building'), (2, 'road')))


#: Model widths: the sample model (FPN R18, 11.7 M parameters, what
#: ``configs/sia/fpn_r18_sia-sample.py`` builds) and a quarter of it (0.7 M).
WIDTHS = {'sample': 1, 'quarter': 4}


def make_model(root: str, window: int, stride: int,
               calibrate_on: str | None = None, width: str = 'quarter',
               train_on: str | None = None, iters: int = 0,
               device: str = 'cpu'):
    import torch

    import mmseg_sia  # noqa: F401  (first: mmseg imports with mmcv-lite)
    from mmengine.registry import DefaultScope
    from mmseg.apis import init_model

    trained = bool(train_on and iters)
    tag = f'{width}_trained{iters}' if trained else width
    cfg = osp.join(root, f'{tag}.py')
    with open(cfg, 'w') as f:
        f.write(FALLBACK_CONFIG.format(w=WIDTHS[width]) +
                SLIDE.format(w=window, s=stride))
    ckpt = osp.join(root, f'{tag}.pth')
    # A model trained in an earlier run with --keep is loaded, not trained
    # (nor saved) again.
    kept = trained and osp.exists(ckpt)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = init_model(cfg, ckpt if kept else None, device=device)
    if kept:
        return cfg, ckpt, model.eval()
    if trained:
        took = train(model, train_on, iters)
        print(f'trained the {width} model for {iters} steps on '
              f'{osp.basename(train_on)} in {took:.0f} s', flush=True)
    elif calibrate_on:
        calibrate(model, calibrate_on, window)
    from mmseg_sia import SIADataset
    meta = dict(dataset_meta=dict(SIADataset.METAINFO))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    return cfg, ckpt, model.eval()


def device_of(model):
    return next(model.parameters()).device


def sync(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously)."""
    import torch
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def forward_seconds(model, window: int, batches: list,
                    sample: int = 0) -> tuple:
    """Wall and CPU time of ``encode_decode`` on batches of the given sizes
    of random uint8 windows (normalised as ``infer.py`` does), one warm-up
    first. With ``sample``, only that many batches, evenly spread, are run
    and the times scaled to all the windows."""
    import torch

    from mmseg_sia.apis.segment import _preprocess
    rng = np.random.default_rng(0)
    total = cpu = 0.0
    run = list(batches)
    if 0 < sample < len(run):
        run = [run[i] for i in np.linspace(0, len(run) - 1, sample,
                                           dtype=int)]
    device = device_of(model)
    with torch.no_grad():
        for i, batch in enumerate([run[0]] + run):
            x = rng.integers(0, 256, (batch, window, window, 3),
                             dtype=np.uint8)
            metas = [dict(img_shape=(window, window),
                          pad_shape=(window, window),
                          ori_shape=(window, window))] * batch
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            inputs, _ = _preprocess(model, x, device)
            model.encode_decode(inputs, metas)
            sync(device)
            if i:  # the first is the warm-up
                total += time.perf_counter() - t0
                cpu += time.process_time() - c0
    scale = sum(batches) / sum(run)
    return total * scale, cpu * scale


def contention(model, window: int, batch: int, share: float,
               batches: int = 6) -> tuple:
    """Seconds per batch of the forward alone, then beside a thread that
    keeps one core ``share`` busy with work that releases the GIL (numpy
    sorts, each followed by a sleep), and the share of a core that thread
    took: what CPU work beside the model (a scene's reading and writing)
    costs the model's wall time, GIL apart."""
    import threading

    big = np.random.default_rng(1).random(1 << 21)
    stop = threading.Event()
    used = [0.0]

    def load() -> None:
        while not stop.is_set():
            t0, c0 = time.perf_counter(), time.thread_time()
            np.sort(big)
            took = time.perf_counter() - t0
            used[0] += time.thread_time() - c0
            stop.wait(took * (1 - share) / share)

    sizes = [batch] * batches
    alone = forward_seconds(model, window, sizes)[0] / batches
    thread = threading.Thread(target=load, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    beside = forward_seconds(model, window, sizes)[0] / batches
    stop.set()
    thread.join()
    return alone, beside, used[0] / (time.perf_counter() - t0)


def batches_run(size: int, window: int, stride: int, batch: int) -> list:
    """The batch sizes ``infer.py`` runs: per row of windows, the windows
    holding a valid pixel (past the nodata border), ``batch`` at a time."""
    from mmseg_sia.apis.segment import window_grid
    border = size // 8
    starts = window_grid(size, window, stride)
    live = sum(1 for s in starts if s + window > border)
    rows = [min(batch, live - i) for i in range(0, live, batch)]
    return rows * live


def run_infer(cfg: str, ckpt: str, scene: str, out: str, batch: int,
              formats: str = 'mask,json,geojson,gpkg,summary',
              extra: tuple = (), threads: Optional[dict] = None):
    """Wall seconds, peak RSS (MiB) and CPU seconds of one ``infer.py``
    run; with ``threads`` (a dict), the run goes through
    :mod:`thread_cpu` and the dict gets its threads' CPU seconds."""
    cmd = [sys.executable, osp.join(REPO, 'tools', 'infer.py'), cfg, ckpt,
           scene, '--out-dir', out, '--no-progress', '--batch-size',
           str(batch), '--formats', formats, *extra]
    if threads is not None:
        cmd[1:1] = [osp.join(REPO, 'benchmarks', 'thread_cpu.py')]
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONWARNINGS='ignore')
    if osp.isdir(out):
        cmd.append('--overwrite')
    with tempfile.TemporaryFile() as log:
        # Started through peak_rss's launcher: this process' own peak (a
        # model trained here, a scene's mask read whole) is not the tool's.
        code, wall, rss, cpu = run_measured(cmd, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        log.seek(0)
        text = log.read().decode(errors='replace')
    if code != 0:
        raise SystemExit(f'infer.py failed:\n{text[-3000:]}')
    if threads is not None:
        threads.update(thread_cpu.parse(text))
    return wall, rss, cpu


def folder_run(root: str, scene: str, size: int, args, cfg: str, ckpt: str,
               common: tuple, single_rss: float) -> None:
    """``infer.py`` once on a folder of ``args.folder`` links to ``scene``
    (what a user's folder of scenes is to the tool): its peak RSS beside
    that of the scene alone."""
    folder = osp.join(root, f'folder_{size}')
    os.makedirs(folder, exist_ok=True)
    for k in range(args.folder):
        link = osp.join(folder, f'scene_{k}.tif')
        if not osp.exists(link):
            os.link(scene, link)  # the same bytes, another name
    wall, rss, _ = run_infer(cfg, ckpt, folder, osp.join(root,
                                                         f'out_folder_{size}'),
                             args.batch_size, args.formats, common)
    mp = args.folder * size * size / 1e6
    print(f'a folder of {args.folder} copies of the {size}^2 scene in one '
          f'run ({mp:.1f} MP, {wall / mp:.3f} s/MP): peak RSS {rss:.0f} '
          f'MiB, against {single_rss:.0f} MiB for the scene alone',
          flush=True)


def print_threads(runs: list, mp: float, fixed_cpu: float) -> None:
    """The CPU time of the run's threads per megapixel (medians over the
    repeats): the model's (the main thread and the threads Python did not
    start, OpenMP's), and each of the threads beside it."""
    names = sorted({k for r in runs for k in r} -
                   {'main', 'other', 'process'})
    model = median([r['main'] + r['other'] for r in runs]) - fixed_cpu
    beside = {n: median([r.get(n, 0.0) for r in runs]) for n in names}
    parts = ', '.join(f'{n} {v / mp:.4f}' for n, v in beside.items()
                      if v >= 0.0005 * mp)
    run = median([r['process'] for r in runs]) - fixed_cpu
    share = f'{sum(beside.values()) / run:.1%}' if run > 0 else 'n/a'
    print(f'{"":>7} CPU s/MP by thread: model (main and OpenMP, less the '
          f'fixed cost) {model / mp:.3f}; beside it: {parts}; the threads '
          f'beside the model took {share} of the run\'s CPU less the fixed '
          'cost\'s', flush=True)


def median(values):
    return float(np.median(values))


def stage_seconds(scene: str, mask_path: str, formats: str, window: int,
                  stride: int) -> tuple:
    """CPU seconds of the two stages beside the model, each alone in this
    process: reading the scene in the strips ``infer.py`` reads
    (:class:`mmseg_sia.apis.raster.RasterReader`, default bands and
    stretch), and writing the run's outputs of ``formats`` (but the
    summary file) from its mask, in bands of ``stride`` rows
    (:class:`mmseg_sia.apis.scene.SceneWriter`, its threads included)."""
    import rasterio
    from rasterio.windows import Window

    from mmseg_sia import SIADataset
    from mmseg_sia.apis.raster import RasterReader
    from mmseg_sia.apis.scene import SceneWriter
    from mmseg_sia.apis.segment import window_grid
    from mmseg_sia.georef import lonlat_transform, read_raster_georef

    c0 = time.process_time()
    with RasterReader(scene) as reader, \
            reader.gdal_env():
        height = reader.height
        strips = [(y, min(y + window, height))
                  for y in window_grid(height, window, stride)]
        for _ in reader.read_strips(strips):  # as infer.py reads them
            pass
    read = time.process_time() - c0
    kinds = [f for f in formats.split(',') if f != 'summary']
    georef = read_raster_georef(scene)
    with tempfile.TemporaryDirectory() as tmp, \
            rasterio.open(mask_path) as mask:
        paths = {f: osp.join(tmp, f'out.{f}') for f in kinds}
        c0 = time.process_time()
        with SceneWriter(paths, mask.height, mask.width,
                         SIADataset.METAINFO['classes'],
                         SIADataset.METAINFO['palette'], scene,
                         georef=georef, transform=lonlat_transform(georef),
                         summary='summary' in formats) as writer:
            for y in range(0, mask.height, stride):
                rows = min(stride, mask.height - y)
                writer.add(y, mask.read(1, window=Window(0, y, mask.width,
                                                         rows)))
        write = time.process_time() - c0
    return read, write


def polygons_written(out: str) -> int:
    """Building and road polygons of a run, from its summary.csv (the
    post-processing cost is per polygon: read it with the ratio)."""
    import pandas as pd
    path = osp.join(out, 'summary.csv')
    if not osp.exists(path):
        return 0
    row = pd.read_csv(path).iloc[-1]
    return int(sum(row.get(f'{c}_count', 0) for c in ('building', 'road')))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='2048,4096')
    parser.add_argument('--window', type=int, default=512)
    parser.add_argument('--stride', type=int, default=384)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--formats', default='mask,json,geojson,gpkg,summary',
                        help='infer.py --formats (default: all a scene '
                        'gets)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='runs per size (median times, largest RSS)')
    parser.add_argument('--keep', default=None,
                        help='folder to keep the scenes and outputs in')
    parser.add_argument('--content', choices=('noise', 'blocks'),
                        default='blocks',
                        help="scene content: 'blocks' (default): flat "
                        "ground, rectangles (buildings) and bands (roads), "
                        "segmented by a model trained on another blocks "
                        "scene (see --train); or 'noise': random values, "
                        "whose mask from the random model is speckle "
                        "(over a thousand polygons per MP, one region "
                        "across the scene: the writer's worst case)")
    parser.add_argument('--model', choices=tuple(WIDTHS), default='sample',
                        help="'sample' (default): FPN R18, the sample "
                        "model's size (11.7 M parameters); 'quarter': at a "
                        "quarter of its width (0.7 M)")
    parser.add_argument('--train', type=int, default=200, metavar='STEPS',
                        help='blocks content: train the model this many '
                        'steps (batches of 4 crops of 256^2) on a blocks '
                        'scene of another seed first (kept with --keep); '
                        '0: random weights with the batch norm calibrated '
                        'on the scene (default 200)')
    parser.add_argument('--start-runs', type=int, default=3,
                        help='runs on a one-window scene whose median is '
                        'the fixed cost of a run (default 3)')
    parser.add_argument('--forward-sample', type=int, default=64,
                        metavar='BATCHES',
                        help='batches the forward is timed on before and '
                        'after each run, evenly spread over the run\'s '
                        'batches and scaled to all (0: every batch; '
                        'default 64)')
    parser.add_argument('--stages', action='store_true',
                        help='after each size, time reading the scene and '
                        'writing the outputs from the run\'s mask, each '
                        'alone in this process (CPU s/MP), to show what the '
                        'ratio is made of')
    parser.add_argument('--contention', type=float, default=0,
                        metavar='SHARE',
                        help='first time the forward alone and beside a '
                        'thread that keeps SHARE of one core busy without '
                        'the GIL (e.g. 0.1), and print the slowdown against '
                        'the share taken: what the reading and writing '
                        'threads cost the model on this machine')
    parser.add_argument('--device', default='cpu',
                        help='where the model runs, in infer.py and for the '
                        'forward timed here (cpu, cuda, cuda:N; default '
                        'cpu)')
    parser.add_argument('--writers', type=int, default=None, metavar='N',
                        help="infer.py --writers (default: infer.py's)")
    parser.add_argument('--thread-cpu', action='store_true',
                        help='run infer.py through thread_cpu.py and print '
                        'the CPU time of its threads per megapixel: the '
                        'model\'s and that of each thread beside it')
    parser.add_argument('--folder', type=int, default=0, metavar='N',
                        help='then run infer.py once on a folder of N '
                        'links to the first size\'s scene and print its '
                        'peak RSS beside that of one scene: whether the '
                        'peak grows with the work of a run or reaches a '
                        'level and stays there')
    parser.add_argument('--network-regularize', action='store_true',
                        help='also run each size with the road network '
                        '(network,network_gpkg) and --regularize, runs '
                        'interleaved, and print what they add to the run '
                        '(issue 13)')
    args = parser.parse_args()
    if args.start_runs < 1:
        parser.error('--start-runs must be at least 1')
    common = ('--device', args.device) + (
        () if args.writers is None else ('--writers', str(args.writers)))
    # The forward passes timed here run under the allocator settings
    # infer.py runs them under (glibc's defaults map and unmap a model's
    # large tensors, which costs the kernel a zeroed page per 4 KB each
    # time: 0.1-0.2 s/MP more for the sample model on the test machine).
    from mmseg_sia.apis.malloc import tune_malloc
    tune_malloc()
    sizes = [int(s) for s in args.sizes.split(',')]
    root = args.keep or tempfile.mkdtemp(prefix='bench_geotiff_')
    os.makedirs(root, exist_ok=True)
    # The fixed cost of a run (start-up, imports, model loading): a run on
    # a scene of one window.
    tag = '' if args.content == 'noise' else f'_{args.content}'
    small = osp.join(root, f'scene{tag}_{args.window}.tif')
    if not osp.exists(small):
        write_scene(small, args.window, content=args.content)
    big = osp.join(root, f'scene{tag}_{max(sizes)}.tif')
    if args.content == 'blocks' and not osp.exists(big):
        write_scene(big, max(sizes), content=args.content)
    trained = args.content == 'blocks' and args.train > 0
    train_scene = osp.join(root, 'train_blocks_2048.tif')
    if trained and not osp.exists(train_scene):
        write_scene(train_scene, 2048, seed=1, content='blocks')
    cfg, ckpt, model = make_model(
        root, args.window, args.stride,
        big if args.content == 'blocks' else None, args.model,
        train_scene if trained else None, args.train, args.device)
    if args.contention > 0:
        for _ in range(2):
            alone, beside, took = contention(model, args.window,
                                             args.batch_size, args.contention)
            print(f'forward alone {alone:.3f} s/batch; beside a thread '
                  f'taking {took:.0%} of one core (GIL released) '
                  f'{beside:.3f} s/batch: {beside / alone - 1:+.0%}',
                  flush=True)
    # The median of several runs: a run's start-up moves by seconds from
    # run to run (4.4-7.5 s in five runs in a row on the 2-core test
    # machine), up to a sixth of the forward passes of a 5,000^2 scene.
    starts = [run_infer(cfg, ckpt, small, osp.join(root, 'out_fixed'),
                        args.batch_size, args.formats, common)
              for _ in range(args.start_runs)]
    fixed, fixed_cpu = median([r[0] for r in starts]), \
        median([r[2] for r in starts])
    rss0 = max(r[1] for r in starts)
    print(f'{args.window}^2 windows at stride {args.stride}, batch '
          f'{args.batch_size}, {args.repeats} run(s) per size, formats '
          f'{args.formats}, content {args.content}, {args.model} model '
          f'({"trained %d steps" % args.train if trained else "random"}) '
          f'on {args.device}'
          f'{", infer.py " + " ".join(common[2:]) if common[2:] else ""}; '
          f'a run on one window (median of {len(starts)}, '
          f'{min(r[0] for r in starts):.1f}-{max(r[0] for r in starts):.1f} '
          f's): {fixed:.1f} s, peak RSS {rss0:.0f} MiB (start-up, imports, '
          'model)')
    print(f'{"size":>7} {"MP":>6} {"windows":>8} {"load":>5} '
          f'{"peak RSS MiB":>13} {"wall s/MP":>10} {"CPU s/MP":>9} '
          f'{"less start s/MP":>16} {"forward s/MP":>13} {"ratio":>6} '
          f'{"CPU ratio":>9} {"polygons/MP":>12}')
    first = None  # the first size's scene and peak RSS
    for size in sizes:
        scene = osp.join(root, f'scene{tag}_{size}.tif')
        if not osp.exists(scene):
            write_scene(scene, size, content=args.content)
        out = osp.join(root, f'out_{size}')
        batches = batches_run(size, args.window, args.stride,
                              args.batch_size)
        load = os.getloadavg()[0]
        walls, rsss, cpus, fwds, fwd_cpus = [], [], [], [], []
        added, threads = [], []
        for _ in range(args.repeats):
            # The forward is timed just before and just after the run, and
            # the two averaged: on a shared machine its speed drifts by
            # 10 % and more over the minutes a large scene takes.
            before = forward_seconds(model, args.window, batches,
                                     args.forward_sample)
            threads.append({} if args.thread_cpu else None)
            wall, rss, cpu = run_infer(cfg, ckpt, scene, out,
                                       args.batch_size, args.formats, common,
                                       threads[-1])
            after = forward_seconds(model, args.window, batches,
                                    args.forward_sample)
            fwds.append((before[0] + after[0]) / 2)
            fwd_cpus.append((before[1] + after[1]) / 2)
            walls.append(wall)
            rsss.append(rss)
            cpus.append(cpu)
            if args.network_regularize:
                more = run_infer(cfg, ckpt, scene, out + '_net',
                                 args.batch_size,
                                 args.formats + ',network,network_gpkg',
                                 common + ('--regularize', ))
                added.append(more)
        wall, cpu, fwd, rss = median(walls), median(cpus), median(fwds), \
            max(rsss)
        fwd_cpu = median(fwd_cpus)
        mp = size * size / 1e6
        net = wall - fixed
        print(f'{size:>7} {mp:>6.1f} {sum(batches):>8} {load:>5.2f} '
              f'{rss:>13.0f} {wall / mp:>10.3f} {cpu / mp:>9.3f} '
              f'{net / mp:>16.3f} {fwd / mp:>13.3f} {net / fwd:>6.2f} '
              f'{(cpu - fixed_cpu) / fwd_cpu:>9.2f} '
              f'{polygons_written(out) / mp:>12.0f}', flush=True)
        mask = osp.join(out, osp.splitext(osp.basename(scene))[0] +
                        '_mask.tif')
        if args.content == 'blocks':
            print(f'{"":>7} mask IoU against the scene\'s truth: '
                  f'{mask_iou(mask, scene)}', flush=True)
        if args.stages:
            read, write = stage_seconds(scene, mask, args.formats,
                                        args.window, args.stride)
            print(f'{"":>7} alone in this process: reading '
                  f'{read / mp:.3f} CPU s/MP, writing {write / mp:.3f} CPU '
                  f's/MP ({(read + write) / fwd:.2f} of the forward\'s wall '
                  'time)', flush=True)
        if args.thread_cpu:
            print_threads(threads, mp, fixed_cpu)
        if added:
            more_wall = median([a[0] for a in added])
            more_cpu = median([a[2] for a in added])
            print(f'{"":>7} with the road network and --regularize: wall '
                  f'{more_wall / mp:.3f} s/MP, CPU {more_cpu / mp:.3f} s/MP, '
                  f'peak RSS {max(a[1] for a in added):.0f} MiB; added '
                  f'to the run: wall x{(more_wall - fixed) / net:.3f}, CPU '
                  f'x{(more_cpu - fixed_cpu) / (cpu - fixed_cpu):.3f} '
                  '(goal <= 1.20)', flush=True)
        first = first or (scene, rss)
    if args.folder > 1:
        folder_run(root, first[0], sizes[0], args, cfg, ckpt, common,
                   first[1])


if __name__ == '__main__':
    main()
    import resource
    print('this process\' own peak RSS (in no figure above): '
          f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} '
          'MiB')
