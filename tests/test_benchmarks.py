"""Smoke runs of the benchmark scripts (issue 14).

Each script runs on a few small tiles, once, and must finish and print its
ratio line(s). The figures themselves mean nothing at this size and are
not checked: this only keeps the scripts from rotting unnoticed.
"""
import os
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RATIO = r'(\d+\.\d+)'


def run_benchmark(script, *args, timeout=600, codes=(0, )):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'benchmarks', script), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert proc.returncode in codes, \
        proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def ratios(pattern, text):
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert found, f'no line matching {pattern!r} in:\n{text}'
    return found


def test_bench_convert_smoke():
    out = run_benchmark('bench_convert.py', '--tiles', '2', '--repeat', '1',
                        '--size', '256', '--workers', '2')
    assert '1. label maps' in out and '2. colour masks' in out
    ratios(rf'^ratio label maps, convert_labels 1 worker / seed: {RATIO}x '
           rf'\(wall\), {RATIO}x \(CPU\)$', out)
    ratios(rf'^ratio label maps, convert_labels 2 workers / seed: {RATIO}x '
           r'\(wall\)$', out)
    ratios(rf'^ratio colour masks, convert_labels --color 1 worker / seed: '
           rf'{RATIO}x \(wall\), {RATIO}x \(CPU\)$', out)
    # The two sides draw the same polygons: most pixels agree (the seed
    # truncates vertices, which moves edges by up to a pixel).
    ids, colour = (float(v) for v in ratios(
        rf'^pixels where the seed and ours agree: label maps {RATIO}%, '
        rf'colour masks {RATIO}%', out)[0])
    assert ids == colour and ids > 80


def test_bench_load_annotations_smoke():
    out = run_benchmark('bench_load_annotations.py', '--tiles', '2',
                        '--repeat', '1', '--size', '256', '--index-tiles',
                        '100')
    ratios(rf'^ratio LoadPolygonAnnotations / LoadAnnotations: {RATIO} ',
           out)
    ratios(rf'^ratio seed masking / LoadPolygonAnnotations: +{RATIO}$', out)
    assert 'SIADataset index of 100 tiles' in out


def test_bench_scene_inference_smoke():
    out = run_benchmark('bench_scene_inference.py', '--size', '128',
                        '--window', '64', '--stride', '48', '--repeat', '1',
                        '--model', 'quarter', '--threads', '1')
    ratios(rf'^ratio streamed / mmseg: time {RATIO} \(wall\), {RATIO} '
           rf'\(CPU\); peak memory {RATIO}, growth', out)
    # Same windows, same weights: the masks are identical.
    assert re.search(r'^masks agree on 100\.0000% of pixels \(identical',
                     out, flags=re.MULTILINE), out


def test_bench_scene_gpu_cpu_smoke():
    """The GPU scene benchmark runs on a CPU too, with the small sample
    model: a mask of the scene's size and the ratio line."""
    out = run_benchmark('bench_scene_gpu.py', '--config',
                        osp.join('configs', 'sia', 'fpn_r18_sia-sample.py'),
                        '--size', '160', '--window', '64', '--batch-size',
                        '3', '--repeat', '1')
    assert re.search(r'\(64, 64\) at stride \(48, 48\): 9 windows, batch 3',
                     out), out
    assert 'mask (160, 160) uint8' in out, out
    ratios(rf'^ratio streamed / forward: {RATIO}$', out)


def test_bench_train_throughput_cpu_smoke():
    """On a CPU, with the small sample model: fp32, then bfloat16
    autocast in place of AMP."""
    out = run_benchmark(
        'bench_train_throughput.py', '--config',
        osp.join(REPO, 'configs', 'sia', 'fpn_r18_sia-sample.py'),
        '--scale', '0.25', '--batch-size', '1', '--iters', '1', '--warmup',
        '0', '--num-workers', '0', '--tiles', '2', '--amp', 'both')
    ratios(rf'^fp32: {RATIO} images/s', out)
    ratios(rf'^AMP .*: {RATIO} images/s', out)
    ratios(rf'^AMP speed-up: {RATIO}x$', out)


def test_bench_label_worst_case_smoke():
    out = run_benchmark('bench_label_worst_case.py', '--vertices', '200',
                        '--size', '64')
    ratios(r'^ +200 vertices: +\d+\.\d+ s CPU, peak RSS \+ +\d+\.\d+ MiB, '
           r'numpy peak +\d+\.\d+ MiB, \d+ pixels covered$', out)


def test_fuzz_labels_smoke():
    out = run_benchmark('fuzz_labels.py', '--trials', '30', '--seed', '3')
    assert re.search(r'^failures: 0$', out, flags=re.MULTILINE), out
    ratios(rf'^pixels checked against the exact reference: \d+ of \d+ '
           rf'\({RATIO}%', out)


def test_bench_map_labels_smoke():
    out = run_benchmark('bench_map_labels.py', '--tiles', '1', '--repeat',
                        '1')
    ratios(rf'^ratio map labels / LoadAnnotations: {RATIO} ', out)
    agree = ratios(rf'^pixel agreement with shapely .*: {RATIO} %', out)
    assert float(agree[0]) >= 99.95


def test_bench_sample_generalization_smoke():
    """Two iterations of training on one small drawn folder: far from the
    goals (exit status 1 says so), but the whole loop runs and reports."""
    out = run_benchmark(
        'bench_sample_generalization.py', '--folders', 'default',
        '--num-train', '4', '--num-val', '4', '--threads', '1',
        '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        codes=(0, 1))
    ratios(rf'^\| default \| `--seed \d+ defaults` \| {RATIO} \| {RATIO} '
           rf'\| {RATIO} \| {RATIO} \|', out)
    assert re.search(r'^(PASS|FAIL): mIoU >= 75 on every folder', out,
                     flags=re.MULTILINE), out


def test_bench_geotiff_scene_smoke():
    """One tiny tiled uint16 GeoTIFF through tools/infer.py: the table row
    with its ratios is printed (they mean nothing at this size)."""
    out = run_benchmark('bench_geotiff_scene.py', '--sizes', '256',
                        '--window', '128', '--stride', '96', '--repeats', '1',
                        '--content', 'blocks', '--model', 'quarter',
                        '--train', '3', '--stages', '--contention', '0.5',
                        '--start-runs', '2', '--folder', '2',
                        '--thread-cpu')
    assert 'trained the quarter model for 3 steps' in out, out
    beside = re.findall(r'^forward alone (\d+\.\d+) s/batch; beside a thread '
                        r'taking (\d+)% of one core \(GIL released\) '
                        r'(\d+\.\d+) s/batch: [+-]\d+%$', out, re.MULTILINE)
    assert len(beside) == 2 and all(0 < int(b[1]) <= 100 for b in beside), out
    # The fixed cost of a run is the median of the one-window runs.
    start = re.search(r'a run on one window \(median of 2, (\d+\.\d)-'
                      r'(\d+\.\d) s\): (\d+\.\d) s', out)
    assert start, out
    low, high, mid = map(float, start.groups())
    assert 0 < low <= mid <= high, out
    row = ratios(r'^ +256 +0\.1 +9 +\d+\.\d+ +\d+ +\d+\.\d+ +\d+\.\d+ '
                 r'+-?\d+\.\d+ +\d+\.\d+ +-?\d+\.\d+ +-?\d+\.\d+ +(\d+)$',
                 out)
    # The model's regions: polygons were written and counted, and the mask
    # was compared with the scene's truth.
    assert int(row[0]) > 0
    iou = re.search(r"mask IoU against the scene's truth: building "
                    r'(\d\.\d{3}), road (\d\.\d{3})$', out, re.MULTILINE)
    assert iou and all(0 <= float(v) <= 1 for v in iou.groups()), out
    stages = re.search(r'alone in this process: reading (\d+\.\d+) CPU '
                       r's/MP, writing (\d+\.\d+) CPU s/MP', out)
    assert stages and float(stages.group(2)) > 0, out
    # The run's threads, counted from inside infer.py: the model's CPU
    # time and that of the threads beside it (the writer's at least).
    threads = re.search(r'CPU s/MP by thread: model \(main and OpenMP, '
                        r'less the fixed cost\) (-?\d+\.\d+); beside it: '
                        r'(.*); the threads beside the model took '
                        r'(\d+\.\d%|n/a) of the run', out)
    assert threads, out
    assert 'sia-write ' in threads.group(2), out
    # One run over a folder of two copies of the scene, beside the scene's
    # own run.
    folder = re.search(r'^a folder of 2 copies of the 256\^2 scene in one '
                       r'run \(0\.1 MP, \d+\.\d+ s/MP\): peak RSS (\d+) MiB, '
                       r'against (\d+) MiB for the scene alone$', out,
                       re.MULTILINE)
    assert folder and all(int(v) > 100 for v in folder.groups()), out


def test_bench_scene_writer_smoke():
    """A small town mask written without and with one worker process: a
    row each, the same bytes, and the workers did the polygons' work."""
    out = run_benchmark('bench_scene_writer.py', '--sizes', '900',
                        '--writers', '0,1')
    rows = re.findall(r'^\| town_900\.tif \(1 MP\) \| (\d) \| (\d+) \| '
                      r'([\d.]+) \| ([\d.]+) \| ([\d.]+) \(\d\) \| '
                      r'([\d.]+) \| ([\d.]+) \| [\d.]+ \| [\d.]+ \| '
                      r'(\d+) \| (yes|NO) \|$', out, re.MULTILINE)
    assert [r[0] for r in rows] == ['0', '1'], out
    (_, n0, *_, pss0, same0), (_, n1, *_, workers, pace, pss1, same1) = rows
    assert int(n0) == int(n1) > 10 and same0 == same1 == 'yes', out
    assert float(workers) > 0 and float(pace) > 0, out
    assert int(pss0) == 0 and int(pss1) > 0, out


def test_bench_infer_memory_outputs_smoke():
    out = run_benchmark('bench_infer_memory.py', '--size', '256',
                        '--outputs-only')
    for output in ('mask', 'overlay', 'json', 'geojson', 'summary',
                   'scene, all but summary', 'scene, all \\+ summary'):
        ratios(rf'^\| 256 x 256 \| {output} \| \d+ \| {RATIO} \|$', out)


def test_bench_raster_read_smoke():
    out = run_benchmark('bench_raster_read.py', '--size', '700', '--chunks',
                        '512')
    for fmt in ('gtiff', 'jp2', 'vrt'):
        line = ratios(rf'^ratio {fmt} before / now: {RATIO} \(CPU\), '
                      rf'{RATIO} \(wall\); strips identical: (\w+)$', out)
        assert line[0][2] == 'yes'


def test_peak_rss_is_the_commands_not_the_benchmarks():
    """The launcher of the scene benchmarks reads the command's own peak
    RSS; ``wait4`` on a plain subprocess also reads this process' peak."""
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from peak_rss import run_measured
    import numpy as np

    block = np.ones(300 << 20, np.uint8)  # this process' peak: 300 MiB more
    del block
    plain = subprocess.Popen([sys.executable, '-c', 'pass'])
    _, _, usage = os.wait4(plain.pid, 0)
    assert usage.ru_maxrss / 1024 > 300
    code, wall, rss, cpu = run_measured([sys.executable, '-c', 'pass'])
    assert code == 0 and rss < 100 and wall > 0 and cpu >= 0
    big = 'import numpy as np, sys; a = np.ones(200 << 20, np.uint8); ' \
        'sys.exit(3)'
    code, _, rss, cpu = run_measured([sys.executable, '-c', big])
    assert code == 3 and 200 < rss < 300 and cpu > 0
