#!/usr/bin/env python
"""LoadPolygonAnnotations against loading pre-converted PNG label maps.

Measured side by side in one process, on the same dense tiles (1024 x 1024
by default, ``--size``; 150-400 buildings plus roads each), per sample, in
CPU time of the measuring thread (``time.thread_time``, the median over
tiles and rounds; the methods run in turns on each tile):

* ``LoadPolygonAnnotations``: read the tile's JSON files and rasterize them
  with the pixel-centre rule (this project);
* mmseg's ``LoadAnnotations`` decoding the same label map pre-converted to a
  PNG (the seed's workflow after its conversion step);
* the seed's own masking code: ``pandas.read_json`` and one int32
  ``cv2.fillPoly`` per polygon (what it did once per tile to convert).

Goal: LoadPolygonAnnotations / LoadAnnotations <= 1.0. It also times building
the SIADataset index for many tiles (``--index-tiles``; empty files).
``--baseline REF`` also times the reading and drawing of another version of
the plugin in the same turns (its ``labels`` and ``_rasterize`` modules
taken from git revision ``REF`` of this repository) and checks that both
draw the same maps.

    python benchmarks/bench_load_annotations.py [--tiles 8] [--repeat 5]
    python benchmarks/bench_load_annotations.py --baseline main
    python benchmarks/bench_load_annotations.py --tiles 2 --repeat 1 \\
        --size 256 --index-tiles 100                    # smoke run
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import cv2
cv2.setNumThreads(0)  # as mmengine sets it in data workers (opencv_num_threads=0)
import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import mmseg_sia  # noqa: E402,F401
from dense_tiles import write_dense_tiles  # noqa: E402
from mmseg.datasets.transforms import LoadAnnotations  # noqa: E402
from mmseg_sia.datasets import LoadPolygonAnnotations  # noqa: E402
from mmseg_sia.datasets.sia import index_label_files  # noqa: E402


def seed_masking(paths, shape):
    """The seed's conversion of one tile, as its blog post writes it."""
    import pandas as pd

    def list_chunk(lst, n):
        return [lst[i:i + n] for i in range(0, len(lst), n)]

    mask = np.zeros(shape, np.uint8)
    for path, key, value in ((paths[0], 'building_imcoords', 1),
                             (paths[1], 'road_imcoords', 2)):
        frame = pd.read_json(path)
        for feature in frame['features']:
            coords = feature['properties'][key]
            if len(coords) == 0 or coords == 'EMPTY':
                continue
            polygon = np.array(list_chunk(coords.split(','), 2))
            polygon = np.array(np.array(polygon, np.float32), np.int32)
            cv2.fillPoly(mask, np.int32([polygon]), value)
    return mask


def time_once(fn) -> float:
    """CPU time of this thread: other processes on a shared machine do not
    inflate it the way they inflate wall-clock time."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def bench_index(count: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(osp.join(root, 'images'))
        for kind in ('building', 'road'):
            os.makedirs(osp.join(root, 'labels', kind))
        for i in range(count):
            stem = f'BLD{i:05d}_PS3_K3A_NIA{i % 1000:04d}'
            open(osp.join(root, 'images', stem + '.png'), 'w').close()
            open(osp.join(root, 'labels', 'building', stem + '.json'),
                 'w').close()
            if i % 2:
                open(osp.join(root, 'labels', 'road', stem + '.json'),
                     'w').close()
        from mmseg_sia.datasets import SIADataset
        start = time.perf_counter()
        ds = SIADataset(data_root=root, pipeline=[], lazy_init=False,
                        serialize_data=False)
        elapsed = time.perf_counter() - start
        if len(ds) != count:
            raise RuntimeError(f'indexed {len(ds)} of {count} tiles')
        index_label_files(osp.join(root, 'labels'))
        return elapsed


def main(argv=None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tiles', type=int, default=8)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--size', type=int, default=1024,
                        help='tile side in pixels (default 1024)')
    parser.add_argument('--index-tiles', type=int, default=50000)
    parser.add_argument('--baseline', metavar='REF',
                        help='also time the drawing of git revision REF')
    args = parser.parse_args(argv)
    if args.tiles < 1 or args.repeat < 1:
        parser.error('--tiles and --repeat must be >= 1')
    shape = (args.size, args.size)

    with tempfile.TemporaryDirectory() as root:
        base = None
        if args.baseline:
            from revision import import_revision
            base = import_revision(args.baseline, ('labels', '_rasterize'),
                                   osp.join(root, 'baseline'))['labels']
        stems = write_dense_tiles(root, args.tiles, size=args.size)
        polygon_loader = LoadPolygonAnnotations()
        png_loader = LoadAnnotations()  # mmseg default: pillow decoding
        samples = []
        n_polys = 0
        for stem in stems:
            paths = [osp.join(root, 'labels', k, stem + '.json')
                     for k in ('building', 'road')]
            seg = polygon_loader(dict(label_paths=paths,
                                      ori_shape=shape,
                                      seg_fields=[]))['gt_seg_map']
            if base is not None and not np.array_equal(
                    base.rasterize_label_files(paths, shape)[0], seg):
                raise SystemExit(f'{args.baseline} draws another map')
            png = osp.join(root, stem + '_label.png')
            cv2.imwrite(png, seg)
            samples.append((paths, png))
            n_polys += len(mmseg_sia.read_label_file(paths[0]).polygons)

        def run_polygons(paths):
            return polygon_loader(dict(label_paths=paths,
                                       ori_shape=shape,
                                       seg_fields=[]))

        def run_png(png):
            return png_loader(dict(seg_map_path=png, reduce_zero_label=False,
                                   seg_fields=[]))

        times = {'polygons': [], 'png': [], 'seed': [], 'base': []}
        for _ in range(args.repeat):  # interleaved, so load drifts evenly
            for paths, png in samples:
                times['polygons'].append(time_once(lambda: run_polygons(paths)))
                times['png'].append(time_once(lambda: run_png(png)))
                times['seed'].append(
                    time_once(lambda: seed_masking(paths, shape)))
                if base is not None:
                    times['base'].append(time_once(
                        lambda: base.rasterize_label_files(paths, shape)))

        med = {k: statistics.median(v) * 1e3 for k, v in times.items()
               if v}
        print(f'{args.tiles} dense {args.size}x{args.size} tiles, '
              f'{n_polys / args.tiles:.0f} buildings per tile on average, '
              f'{args.repeat} rounds; median CPU ms per sample')
        print(f'  LoadPolygonAnnotations (JSON, centre rule): '
              f'{med["polygons"]:8.2f} ms')
        print(f'  LoadAnnotations (pre-converted PNG):        '
              f'{med["png"]:8.2f} ms')
        print(f'  seed masking (pandas + int32 fillPoly):     '
              f'{med["seed"]:8.2f} ms')
        print(f'ratio LoadPolygonAnnotations / LoadAnnotations: '
              f'{med["polygons"] / med["png"]:.2f} (goal <= 1.0)')
        print(f'ratio seed masking / LoadPolygonAnnotations:   '
              f'{med["seed"] / med["polygons"]:.2f}')
        if 'base' in med:
            print(f'  {args.baseline} (rasterize_label_files): '
                  f'{med["base"]:8.2f} ms, ratio '
                  f'{med["base"] / med["png"]:.2f}; this version / '
                  f'{args.baseline}: {med["polygons"] / med["base"]:.2f}')

    if args.index_tiles:
        elapsed = bench_index(args.index_tiles)
        print(f'SIADataset index of {args.index_tiles} tiles '
              f'(1.5 label files per tile): {elapsed:.2f} s')


if __name__ == '__main__':
    main()
