#!/usr/bin/env python
"""Time and memory of the rasterizer on one pathological polygon.

A single polygon of ``--vertices`` vertices zigzags across a 1024 x 1024 tile,
so every edge crosses nearly every pixel-centre column: ``vertices x 1024``
crossings (10^8 for 100,000 vertices). Each size is drawn with
``polygon_coverage`` in a fresh process, which prints the CPU time and the
peak memory the drawing added (``resource.getrusage`` peak RSS above the
process's RSS before the call, and tracemalloc's peak of the numpy buffers).

    python benchmarks/bench_label_worst_case.py [--vertices 10000 100000]

Run it with ``PYTHONPATH`` pointing at another checkout to compare versions.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import sys

CHILD = r'''
import json, resource, sys, time, tracemalloc
import numpy as np
from mmseg_sia.labels import polygon_coverage

n, size = int(sys.argv[1]), int(sys.argv[2])
ys = np.linspace(0.1, size - 0.1, n)
xs = np.where(np.arange(n) % 2 == 0, 0.3, size - 0.3)
points = np.stack([xs, ys], axis=1)
polygon_coverage([points[:8]], size, size)  # warm up numpy
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
start = time.process_time()
mask = polygon_coverage([points], size, size)
elapsed = time.process_time() - start
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(vertices=n, seconds=elapsed,
                      rss_mib=(rss1 - rss0) / 1024, traced_mib=traced / 2**20,
                      covered=int(mask.sum()))))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--vertices', type=int, nargs='+',
                        default=[1000, 10000, 100000])
    parser.add_argument('--size', type=int, default=1024)
    args = parser.parse_args()
    where = subprocess.run(
        [sys.executable, '-c',
         'import mmseg_sia.labels as m; print(m.__file__)'],
        capture_output=True, text=True, cwd=tempfile.gettempdir()).stdout
    print(f'one zigzag polygon across a {args.size} x {args.size} tile '
          f'({where.strip()})')
    for n in args.vertices:
        out = subprocess.run([sys.executable, '-c', CHILD, str(n),
                              str(args.size)],
                             capture_output=True, text=True,
                             cwd=tempfile.gettempdir())
        if out.returncode:
            tail = out.stderr.strip().splitlines()[-1:]
            print(f'  {n:>7} vertices: failed ({"".join(tail)})')
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f'  {n:>7} vertices: {r["seconds"]:7.2f} s CPU, '
              f'peak RSS +{r["rss_mib"]:7.1f} MiB, '
              f'numpy peak {r["traced_mib"]:7.1f} MiB, '
              f'{r["covered"]} pixels covered')


if __name__ == '__main__':
    main()
