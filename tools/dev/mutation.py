#!/usr/bin/env python
"""Mutation testing of the modules whose numbers users read, with mutmut.

mutmut (3.x) changes the code one small edit at a time ("mutants": ``<``
for ``<=``, ``0.5`` for ``1.5``, a dropped argument, ...) and runs the tests
on each; a mutant the tests do not notice "survives". A surviving mutant
that changes a value a user reads (a metric, an area, a mask) is a missing
test; one that cannot change any result is "equivalent" and is listed, with
the reason, in the README ("For contributors: mutation testing").

Each target is run in its own scratch folder (``--work-dir``, default
``$TMPDIR/mmseg_sia_mutation/<target>``): the package, the tests and the
data they read are copied there with a ``setup.cfg`` holding mutmut's
settings for that target, so the repository itself gets no mutmut files
and targets can run side by side. Printed at the end: the counts per
status and the diff of every surviving mutant. The mutmut state stays in
the scratch folder (``cd`` there and run ``mutmut show NAME`` or
``mutmut browse``).

Examples::

    python tools/dev/mutation.py --list
    python tools/dev/mutation.py metrics --max-children 2
    python tools/dev/mutation.py geo vectorize        # one after the other
    python tools/dev/mutation.py metrics --only 'mmseg_sia/instances.py'

A full target takes from minutes (metrics) to hours (labels, inference) on
a few cores; mutmut runs only the tests that execute a mutated function.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import os.path as osp
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: target -> (files to mutate, test files that pin them)
TARGETS: Dict[str, Tuple[List[str], List[str]]] = {
    'metrics': (['mmseg_sia/evaluation/metrics/*', 'mmseg_sia/instances.py'],
                ['tests/test_metrics.py', 'tests/test_boundary.py']),
    'losses': (['mmseg_sia/models/losses/*'],
               ['tests/test_losses.py',
                'tests/test_mutation_kills_losses.py']),
    'labels': (['mmseg_sia/labels.py'],
               ['tests/test_labels.py', 'tests/test_pinned_references.py',
                'tests/test_dataset.py',
                'tests/test_mutation_kills_labels.py']),
    'geo': (['mmseg_sia/geo.py'],
            ['tests/test_geo.py', 'tests/test_pinned_measures.py',
             'tests/test_mutation_kills_geo.py']),
    'vectorize': (['mmseg_sia/vectorize.py'],
                  ['tests/test_vectorize.py',
                   'tests/test_pinned_measures.py',
                   'tests/test_mutation_kills_vectorize.py']),
    'georef': (['mmseg_sia/georef.py'],
               ['tests/test_georef.py', 'tests/test_geo.py',
                'tests/test_pinned_measures.py',
                'tests/test_mutation_kills_georef.py']),
    'inference': (['mmseg_sia/apis/segment.py'],
                  ['tests/test_inference.py',
                   'tests/test_streamed_averaging.py',
                   'tests/test_mutation_kills_segment.py']),
    'prediction': (['mmseg_sia/apis/prediction.py',
                    'mmseg_sia/apis/scene.py', 'mmseg_sia/apis/road_rows.py',
                    'mmseg_sia/apis/writers.py', 'mmseg_sia/labels.py'],
                   ['tests/test_pinned_measures.py',
                    'tests/test_scene_stream.py',
                    'tests/test_mutation_kills_prediction.py']),
}

#: target -> mutant name patterns (fnmatch) run of its files, for targets
#: whose files hold much besides the values users read: here the measures
#: (areas, perimeters, road lengths), the GeoJSON and GeoPackage features
#: and the summary row, not the writing of files or the model calls.
FUNCTIONS: Dict[str, List[str]] = {
    'prediction': [
        *(f'mmseg_sia.apis.prediction.x_{f}__mutmut_*' for f in (
            '_skeleton_length', '_close', '_oriented', 'polygon_measures',
            'footprint_geometry', 'geojson_feature', 'network_pixel_size',
            'gpkg_wkb', 'summary_head', '_imcoords_pieces',
            '_rings_pieces', 'label_feature', '_skeleton_steps',
            '_steps_length', '_geojson_ring')),
        *(f'mmseg_sia.apis.prediction.xǁSIAPredictionǁ{f}__mutmut_*'
          for f in ('_ensure_polygons', 'polygon_measures', '_area_m2',
                    'iter_geojson_features', 'gpkg_layers', 'measures')),
        'mmseg_sia.apis.road_rows.xǁ_RoadLengthǁ*',
        *(f'mmseg_sia.apis.scene.xǁSceneWriterǁ{f}__mutmut_*'
          for f in ('_polygons', '_measures')),
        # The lazy writing of GeoJSON and label JSON features (the bytes
        # users read) and the coordinate strings of the label JSON (the
        # rest of labels.py is the `labels` target's).
        *(f'mmseg_sia.apis.writers.x_{f}__mutmut_*'
          for f in ('_lazy_values', 'dumps_pieces')),
        'mmseg_sia.apis.writers.xǁLazyJSONǁ*',
        'mmseg_sia.apis.writers.xǁFeatureStreamǁfeature_pieces__mutmut_*',
        'mmseg_sia.labels.x_format_imcoords__mutmut_*',
    ],
}


#: folders the tests read besides the package and tests/
DATA = ['configs', 'data', 'tools']

#: file -> (function, decorator) pairs unwrapped in the scratch copy. mutmut
#: 3 does not mutate decorated functions; the copy defines the function
#: plain and applies the decorator after the definition instead (to
#: mutmut's trampoline), which behaves the same.
UNDECORATE: Dict[str, List[Tuple[str, str]]] = {
    'mmseg_sia/apis/segment.py': [('iter_segment_rows', 'torch.no_grad()')],
}


def _write_setup_cfg(folder: str, only: List[str], tests: List[str],
                     timeout_multiplier: float) -> None:
    lines = ['[mutmut]', 'source_paths = mmseg_sia/',
             f'timeout_multiplier = {timeout_multiplier}',
             'timeout_constant = 20',
             'only_mutate =', *[f'    {p}' for p in only],
             'pytest_add_cli_args_test_selection =',
             *[f'    {t}' for t in tests],
             'pytest_add_cli_args =', '    -p', '    no:cacheprovider',
             '    -p', '    no:warnings',
             'also_copy =', *[f'    {d}/' for d in DATA], '']
    with open(osp.join(folder, 'setup.cfg'), 'w') as f:
        f.write('\n'.join(lines))


def _prepare(folder: str, only: List[str], tests: List[str], fresh: bool,
             timeout_multiplier: float) -> None:
    if fresh and osp.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder, exist_ok=True)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', 'work_dirs')
    for name in ['mmseg_sia', 'tests'] + DATA:
        src = osp.join(REPO, name)
        if osp.isdir(src):
            shutil.copytree(src, osp.join(folder, name), ignore=ignore,
                            dirs_exist_ok=True)
    _write_setup_cfg(folder, only, tests, timeout_multiplier)
    for rel, pairs in UNDECORATE.items():
        # Only files this target mutates (a stale entry for another
        # target's module must not stop this one).
        if any(fnmatch.fnmatch(rel, pattern) for pattern in only):
            _undecorate(osp.join(folder, rel), pairs)


def _undecorate(path: str, pairs: List[Tuple[str, str]]) -> None:
    """Move ``@decorator`` of each function to after its definition."""
    if not osp.isfile(path):
        return
    with open(path, encoding='utf-8') as f:
        text = f.read()
    tail = []
    for func, decorator in pairs:
        line = f'@{decorator}\ndef {func}('
        if line not in text:
            raise SystemExit(f'{path}: no "@{decorator}" on {func}(); '
                             'update UNDECORATE in tools/dev/mutation.py')
        text = text.replace(line, f'def {func}(')
        tail.append(f'{func} = {decorator}({func})')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text.rstrip('\n') + '\n\n\n' + '\n'.join(tail) + '\n')


def _limit_memory(limit_gib: float):
    """A ``preexec_fn`` capping the address space of mutmut and its
    children: a mutant that makes a buffer grow without bound (a chunk size
    or a loop bound changed) then fails with MemoryError, which counts as
    killed, instead of taking the memory of a shared machine."""
    if not limit_gib:
        return None
    size = int(limit_gib * 2**30)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return apply


def _mutmut(folder: str, *args: str, capture: bool = False,
            memory_gib: float = 0):
    env = dict(os.environ)
    # The tests must import the mutated copy, never the checkout.
    env.pop('PYTHONPATH', None)
    # mutmut forks a child per mutant; a child forked from a process whose
    # OpenMP / torch thread pool has started can hang on its first parallel
    # op (every such mutant would "time out"). One thread avoids that.
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                'OPENBLAS_NUM_THREADS'):
        env[var] = '1'
    cmd = [sys.executable, '-m', 'mutmut', *args]
    return subprocess.run(cmd, cwd=folder, env=env, text=True,
                          capture_output=capture,
                          preexec_fn=_limit_memory(memory_gib))


def run_target(name: str, args: argparse.Namespace) -> Dict[str, int]:
    """Run mutmut on one target and print its survivors."""
    only, tests = TARGETS[name]
    if args.only:
        only = args.only
    if args.tests:
        tests = args.tests
    folder = osp.join(args.work_dir, name)
    print(f'== {name}: mutating {", ".join(only)}; tests '
          f'{", ".join(tests)}; in {folder}', flush=True)
    _prepare(folder, only, tests, not args.resume, args.timeout_multiplier)
    run_args = ['run']
    if args.max_children:
        run_args += ['--max-children', str(args.max_children)]
    patterns = args.mutants or FUNCTIONS.get(name, [])
    run_args += patterns
    _mutmut(folder, *run_args, memory_gib=args.memory_limit)
    res = _mutmut(folder, 'results', '--all', 'true', capture=True)
    counts: Dict[str, int] = {}
    survivors = []
    for line in res.stdout.splitlines():
        m = re.match(r'\s+(\S+): (.+)$', line)
        if not m or (name in FUNCTIONS and not any(
                fnmatch.fnmatch(m.group(1), p) for p in FUNCTIONS[name])):
            continue
        counts[m.group(2)] = counts.get(m.group(2), 0) + 1
        if m.group(2) in ('survived', 'no tests', 'timeout', 'suspicious'):
            survivors.append((m.group(1), m.group(2)))
    print(f'\n== {name}: ' + ', '.join(
        f'{v} {k}' for k, v in sorted(counts.items())), flush=True)
    if survivors:
        # One process for all the diffs (``mutmut show`` per mutant starts
        # Python each time: minutes for a few hundred survivors).
        script = ('import sys\n'
                  'from mutmut.__main__ import find_mutant, '
                  'get_diff_for_mutant\n'
                  'for name, status in zip(sys.argv[1::2], sys.argv[2::2]):\n'
                  '    diff = get_diff_for_mutant(name, '
                  'path=find_mutant(name).path)\n'
                  '    print(f"\\n--- {name} ({status})\\n{diff.strip()}")\n')
        env = dict(os.environ)
        env.pop('PYTHONPATH', None)
        flat = [item for pair in survivors for item in pair]
        subprocess.run([sys.executable, '-c', script, *flat], cwd=folder,
                       env=env)
    return counts


def main(argv: List[str] = None) -> int:
    """Command line: targets to run; exit status 1 when a mutant survived."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('targets', nargs='*', help=f'of {sorted(TARGETS)}')
    parser.add_argument('--list', action='store_true',
                        help='list the targets and exit')
    parser.add_argument('--only', nargs='+', help='glob patterns of files '
                        'to mutate instead of the target\'s')
    parser.add_argument('--tests', nargs='+',
                        help='test files instead of the target\'s')
    parser.add_argument('--max-children', type=int, default=0,
                        help='parallel mutants (default: mutmut\'s, the '
                        'number of cores)')
    parser.add_argument('--work-dir', default=osp.join(
        tempfile.gettempdir(), 'mmseg_sia_mutation'))
    parser.add_argument('--resume', action='store_true',
                        help='keep the mutmut state of an earlier run (the '
                        'package and tests are copied again)')
    parser.add_argument('--mutants', nargs='+', help='with --resume: run '
                        'only these mutants (names as mutmut prints them, '
                        'e.g. to re-check survivors after adding tests)')
    parser.add_argument('--timeout-multiplier', type=float, default=50.0,
                        help='a mutant times out after this many times the '
                        'tests\' normal duration (mutmut\'s default 15 '
                        'gives false timeouts on a loaded machine; '
                        'default 50)')
    parser.add_argument('--memory-limit', type=float, default=6.0,
                        help='address-space limit in GiB for mutmut and the '
                        'mutants (a mutant past it fails with MemoryError: '
                        'killed); 0 for none (default 6)')
    args = parser.parse_args(argv)
    if args.list or not args.targets:
        for name, (only, tests) in TARGETS.items():
            print(f'{name:<10} {" ".join(only)}\n{"":<10} tests: '
                  f'{" ".join(tests)}')
            if name in FUNCTIONS:
                print(f'{"":<10} only the mutants '
                      f'{" ".join(FUNCTIONS[name])}')
        return 0
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f'unknown target(s) {unknown}; choose from '
                     f'{sorted(TARGETS)}')
    survived = 0
    for name in args.targets:
        counts = run_target(name, args)
        survived += counts.get('survived', 0)
    return 1 if survived else 0


if __name__ == '__main__':
    sys.exit(main())
