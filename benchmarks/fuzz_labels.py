#!/usr/bin/env python
"""Long fuzz run of the label reader and rasterizer (issue 9).

Runs the trials of ``tests/test_labels_fuzz.py`` (random and adversarial
coordinate strings: huge, tiny and denormal values, -0, exponents, many
vertices, duplicate points, vertices on pixel centres, spikes, self-crossing
rings, malformed tokens) against the exact integer reference, for as many
trials as asked, and prints a summary. Trial ``t`` of seed ``s`` always
draws the same file, so a failure is replayed with
``--seed s --start t --trials 1``; ``--keep DIR`` keeps the failing files.

    python benchmarks/fuzz_labels.py [--trials 5000] [--seed 0] [--max-size 24]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'tests'))

from test_labels_fuzz import run_isolation_trial, run_trial  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trials', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--start', type=int, default=0,
                        help='index of the first trial (to replay one)')
    parser.add_argument('--max-size', type=int, default=24,
                        help='largest tile height and width')
    parser.add_argument('--keep', help='folder to copy failing files to')
    args = parser.parse_args()

    totals = dict(pixels=0, checked=0, features=0, skipped=0, polygons=0,
                  lattice=0, isolation_polygons=0)
    failures = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for trial in range(args.start, args.start + args.trials):
            name = f'S{args.seed}_T{trial}'
            try:
                stats = run_trial(np.random.default_rng([args.seed, trial]),
                                  folder, name, args.max_size)
                for key in ('pixels', 'checked', 'features', 'skipped',
                            'polygons', 'lattice'):
                    totals[key] += stats[key]
                stats = run_isolation_trial(
                    np.random.default_rng([args.seed, trial, 1]),
                    args.max_size)
                totals['isolation_polygons'] += stats['polygons']
            except Exception as e:  # noqa: BLE001 - report every failure
                failures.append(trial)
                print(f'FAIL seed {args.seed} trial {trial}: '
                      f'{type(e).__name__}: {str(e)[:600]}')
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    src = osp.join(folder, name + '.json')
                    if osp.exists(src):
                        shutil.copy(src, args.keep)
    elapsed = time.perf_counter() - start
    print(f'{args.trials} trials (seed {args.seed}, from {args.start}, tiles '
          f'up to {args.max_size} px) in {elapsed:.1f} s: '
          f'{totals["features"]} features, {totals["skipped"]} skipped as '
          f'undrawable, {totals["polygons"]} polygons drawn, '
          f'{totals["lattice"]} exact-grid trials, '
          f'{totals["isolation_polygons"]} polygons in isolation trials')
    share = totals['checked'] / max(totals['pixels'], 1)
    print(f'pixels checked against the exact reference: {totals["checked"]} '
          f'of {totals["pixels"]} ({100 * share:.3f}%; the rest lie within '
          'float precision of an edge)')
    print(f'failures: {len(failures)}' +
          (f' (trials {failures[:20]})' if failures else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
