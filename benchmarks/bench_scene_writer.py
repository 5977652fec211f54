#!/usr/bin/env python
"""A scene's writer with and without worker processes: its pace per
megapixel, thread by thread.

On a GPU the seed's model segments a megapixel in about 0.01 s, and a
scene's time is set by the slowest of the threads beside it. This
benchmark runs :class:`mmseg_sia.apis.scene.SceneWriter` alone (mask COG,
GeoPackage, GeoJSON, label JSON and the summary) on the bands of a class-id
mask, once per ``--writers`` value (processes of a
:class:`~mmseg_sia.apis.workers.WriterPool`; 0: none), and prints side by
side:

* the wall time per megapixel (on this machine's cores);
* the CPU time per megapixel of each part that runs on its own: the
  writer's thread (what it keeps: stitching regions across bands, writing
  the files), the road length (its band thread plus the threads thinning
  chunks of columns beside a pool) and the worker processes (all of them);
  read from ``/proc`` every 50 ms while the scene is written (Linux);
* the pace they allow on a machine with a core for each: the largest of
  the writer's thread, the road length (its band thread plus its chunks'
  CPU shared among its threads) and the workers' CPU shared among them;
  and its ratio to ``--forward`` (the seed's FPN R101 forward per megapixel
  measured on an H200 by ``bench_scene_gpu.py``) and to the run without
  workers;
* the largest proportional set size (PSS) of the pool's processes
  together (the workers and the server they are forked from, which
  share the pages of the modules it imported), sampled with the CPU;
* whether every file is the same, byte for byte, as without workers.

The mask is made here: the street grid and buildings of
``bench_geotiff_scene.py``'s town (its ``blocks`` scene) as class ids, with
a nodata border (255) an eighth of the side wide; ``--mask`` takes a mask
GeoTIFF instead (e.g. one written by ``tools/infer.py``).

    python benchmarks/bench_scene_writer.py --sizes 5000,10000 --writers 0,2,4
"""
from __future__ import annotations

import argparse
import hashlib
import os
import os.path as osp
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_geotiff_scene import blocks_block, blocks_truth, road_lines  # noqa

import mmseg_sia  # noqa: E402,F401
from mmseg_sia.apis import scene  # noqa: E402
from mmseg_sia.apis.scene import SceneWriter  # noqa: E402
from mmseg_sia.apis.workers import WriterPool  # noqa: E402
from mmseg_sia.datasets import SIADataset  # noqa: E402
from mmseg_sia.georef import lonlat_transform, read_raster_georef  # noqa

TICK = os.sysconf('SC_CLK_TCK')


def town_mask(path: str, size: int, seed: int = 0) -> None:
    """A class-id mask GeoTIFF of the town (EPSG:32652, 0.55 m pixels)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    roads = road_lines(rng, size)
    border = size // 8
    with rasterio.open(path, 'w', driver='GTiff', width=size, height=size,
                       count=1, dtype='uint8', tiled=True, blockxsize=512,
                       blockysize=512, compress='deflate', crs='EPSG:32652',
                       transform=Affine(0.55, 0, 320000, 0, -0.55,
                                        4160000)) as ds:
        for y in range(0, size, 512):
            for x in range(0, size, 512):
                h, w = min(512, size - y), min(512, size - x)
                ids = blocks_truth(blocks_block(rng, y, x, h, w, roads))
                yy = np.arange(y, y + h)[:, None]
                xx = np.arange(x, x + w)[None, :]
                ids[(yy < border) | (xx < border)] = 255
                ds.write(ids[None], window=Window(x, y, w, h))


def pss_mib(pid: int) -> float:
    """Proportional set size of a process (its own pages, and its share of
    those it shares with others), from ``smaps_rollup``."""
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(stat_path: str) -> float:
    """User + system time of a thread or process from its ``stat`` file."""
    try:
        with open(stat_path) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return float('nan')
    return (int(fields[11]) + int(fields[12])) / TICK


class Sampler:
    """CPU seconds of named threads of this process and of the pool's
    worker processes, read every ``every`` seconds (a thread's or worker's
    last reading before it ends is kept)."""

    def __init__(self, pool, every: float = 0.05) -> None:
        self.pool, self.every = pool, every
        self.seen: dict = {}  # (kind, id) -> seconds
        self.pss = 0.0  # the pool's largest PSS (workers and their server)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def read(self) -> None:
        me = threading.current_thread()
        for t in threading.enumerate():
            if t is not me and t.native_id is not None:
                s = cpu_seconds(f'/proc/self/task/{t.native_id}/stat')
                if s == s:
                    self.seen[('thread', t.name, t.native_id)] = s
        executor = self.pool._executor if self.pool is not None else None
        pids = list(getattr(executor, '_processes', None) or {})
        for pid in pids:
            s = cpu_seconds(f'/proc/{pid}/stat')
            if s == s:
                self.seen[('worker', pid)] = s
        if pids:
            from multiprocessing import forkserver
            server = getattr(forkserver._forkserver, '_forkserver_pid', None)
            self.pss = max(self.pss, sum(map(pss_mib, pids + (
                [server] if server else []))))

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.read()

    def __enter__(self) -> 'Sampler':
        self.read()
        self.start = dict(self.seen)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.read()
        self.stop.set()
        self.thread.join()

    def used(self, kind: str, prefix: str = '') -> tuple:
        """CPU seconds used during the run by the threads whose name starts
        with ``prefix`` (or by the workers), and how many there were."""
        keys = [k for k in self.seen if k[0] == kind and (
            kind == 'worker' or k[1].startswith(prefix))]
        return sum(self.seen[k] - self.start.get(k, 0.0)
                   for k in keys), len(keys)


def write(mask_path: str, band: int, pool, out: str) -> dict:
    import rasterio
    from rasterio.windows import Window

    georef = read_raster_georef(mask_path)
    kinds = dict(mask='_mask.tif', gpkg='.gpkg', geojson='.geojson',
                 json='.json')
    paths = {k: osp.join(out, 's' + v) for k, v in kinds.items()}
    meta = SIADataset.METAINFO
    with rasterio.open(mask_path) as src, Sampler(pool) as sampler:
        mp = src.width * src.height / 1e6
        t0, c0 = time.perf_counter(), time.thread_time()
        with SceneWriter(paths, src.height, src.width, meta['classes'],
                         meta['palette'], mask_path, georef=georef,
                         transform=lonlat_transform(georef),
                         pool=pool) as writer:
            for y in range(0, src.height, band):
                rows = src.read(1, window=Window(
                    0, y, src.width, min(band, src.height - y)))
                writer.add(y, rows)
        wall, own = time.perf_counter() - t0, time.thread_time() - c0
    beside, _ = sampler.used('thread', 'sia-beside')
    chunks, threads = sampler.used('thread', 'sia-road-length')
    workers, count = sampler.used('worker')
    digest = {k: hashlib.md5(open(p, 'rb').read()).hexdigest()
              for k, p in paths.items()}
    road = beside + chunks / max(threads, 1)
    return dict(pss=sampler.pss, wall=wall / mp, writer=own / mp,
                road=(beside + chunks) / mp,
                threads=threads, workers=workers / mp, count=count,
                pace=max(own, road, workers / max(count, 1)) / mp,
                digest=digest, polygons=writer.row['building_count'] +
                writer.row['road_count'], mp=mp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='5000,10000')
    parser.add_argument('--mask', default=None,
                        help='a mask GeoTIFF to write instead of the town')
    parser.add_argument('--writers', default='0,2,4')
    parser.add_argument('--band', type=int, default=384,
                        help='rows per band (infer.py: the window stride)')
    parser.add_argument('--forward', type=float, default=0.0105,
                        help='forward s/MP to compare the pace with')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    writers = [int(n) for n in args.writers.split(',')]
    if any(n < 0 for n in writers):
        parser.error('--writers takes counts >= 0')
    # The label JSON carries the time it was made: fixed, to compare bytes.
    scene.now_stamp = lambda: '2026-01-01T00:00:00.000000Z'
    pools = {n: WriterPool(n) for n in writers if n}
    for n, pool in pools.items():
        # Every process started before the clock (a pool starts one for a
        # job when none is idle).
        for job in [pool.submit(time.sleep, 0.5) for _ in range(n)]:
            job.result()
    print(f'{os.cpu_count()} CPUs; bands of {args.band} rows; pace: the '
          'slowest part on a core of its own; forward: '
          f'{args.forward} s/MP')
    print('| mask | writers | polygons | wall s/MP | writer thread | road '
          'length (threads) | workers | pace s/MP | pace / forward | '
          'pace / no workers | pool PSS MiB | same bytes |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | '
          '--- | --- |')
    with tempfile.TemporaryDirectory() as tmp:
        masks = [args.mask] if args.mask else []
        for size in ([] if args.mask else
                     [int(s) for s in args.sizes.split(',')]):
            masks.append(osp.join(tmp, f'town_{size}.tif'))
            town_mask(masks[-1], size, args.seed)
        for mask in masks:
            first = None
            for n in writers:
                out = tempfile.mkdtemp(dir=tmp)
                r = write(mask, args.band, pools.get(n), out)
                first = first or r
                same = 'yes' if r['digest'] == first['digest'] else 'NO'
                name = osp.basename(mask)
                print(f'| {name} ({r["mp"]:.0f} MP) | {n} | '
                      f'{r["polygons"]} | {r["wall"]:.4f} | '
                      f'{r["writer"]:.4f} | {r["road"]:.4f} '
                      f'({r["threads"] or 1}) | {r["workers"]:.4f} | '
                      f'{r["pace"]:.4f} | '
                      f'{r["pace"] / args.forward:.2f} | '
                      f'{r["pace"] / first["pace"]:.2f} | '
                      f'{r["pss"]:.0f} | {same} |',
                      flush=True)
    for pool in pools.values():
        pool.close()


if __name__ == '__main__':
    main()
