#!/usr/bin/env python
"""Peak memory of ``tools/infer.py`` on a whole scene, per ``--formats`` set.

A scene of ``--size`` x ``--size`` pixels is tiled from the bundled sample's
images (real building and road content) and given a footprint (a
``<stem>.json`` beside it), so that every output, GeoJSON included, is
written. ``tools/infer.py`` is then run once per formats set, each in its own
process, and its peak resident memory (``ru_maxrss`` from ``os.wait4``,
through :mod:`peak_rss`'s launcher) and
wall time are printed, with the growth over the ``mask`` run (which holds
the inference alone: image, mask, one band of logits) as the cost of each
output. With ``--baseline REF`` the same runs are made, side by side, with
the package and tool of a git revision (extracted with ``git archive``).

    python benchmarks/bench_infer_memory.py --size 2048 4096 \\
        --checkpoint work_dirs/sample/iter_80.pth
    python benchmarks/bench_infer_memory.py --size 4096 --baseline ae27aea
    python benchmarks/bench_infer_memory.py --outputs-only --size 8192

``--outputs-only`` leaves the model out: the mask is a mosaic of the
sample's ground-truth label maps, and the peak memory that numpy and OpenCV
allocate (``tracemalloc``) while each output is produced from it is
printed in bytes per scene pixel (the image and mask themselves excluded).

Without ``--checkpoint`` the sample config's model keeps random weights
(masks are then noisier, with more polygons, than a trained model's).
``--model tiny`` uses a ResNet-18 V1c FCN at 1/8 of the width with random
weights instead, whose inference is fast enough for large scenes on a CPU:
the cost of the outputs does not depend on the model.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from peak_rss import run_measured  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'sia', 'fpn_r18_sia-sample.py')
SAMPLE_IMAGES = osp.join(REPO, 'data', 'sia_sample', 'images')
SETS = ('mask', 'overlay', 'json', 'geojson', 'summary',
        'mask,overlay,json,geojson,summary')


def write_scene(folder: str, size: int, seed: int = 0) -> str:
    """A mosaic of the sample's tiles, with a footprint label file."""
    names = sorted(n for n in os.listdir(SAMPLE_IMAGES) if n.endswith('.png'))
    tiles = [cv2.imread(osp.join(SAMPLE_IMAGES, n)) for n in names]
    th, tw = tiles[0].shape[:2]
    rng = np.random.default_rng(seed)
    scene = np.empty((size, size, 3), np.uint8)
    for y in range(0, size, th):
        for x in range(0, size, tw):
            tile = tiles[int(rng.integers(len(tiles)))]
            scene[y:y + th, x:x + tw] = tile[:size - y, :size - x]
    stem = f'scene{size}'
    path = osp.join(folder, f'{stem}.png')
    cv2.imwrite(path, scene)
    # About 0.55 m pixels (KOMPSAT-3A) near Seoul.
    lat0, lon0 = 37.5, 127.0
    dlat = size * 0.55 / 111_000
    dlon = size * 0.55 / (111_000 * math.cos(math.radians(lat0)))
    corners = [[lon0, lat0 - dlat, 0.0], [lon0 + dlon, lat0 - dlat, 0.0],
               [lon0 + dlon, lat0, 0.0], [lon0, lat0, 0.0]]
    feature = dict(type='Feature',
                   geometry=dict(type='Polygon', coordinates=[corners]),
                   properties=dict(building_imcoords='EMPTY'))
    with open(osp.join(folder, f'{stem}.json'), 'w') as f:
        json.dump(dict(type='FeatureCollection', features=[feature]), f)
    return path


def extract(ref: str, folder: str) -> str:
    """The package and tools of git revision ``ref`` in ``folder``."""
    archive = subprocess.run(
        ['git', '-C', REPO, 'archive', ref, 'mmseg_sia', 'tools', 'configs'],
        check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', folder], input=archive, check=True)
    return folder


def run_tool(root: str, config: str, scene: str, checkpoint: str,
             formats: str, out_dir: str, batch_size: int) -> tuple:
    """Run ``root``'s tools/infer.py; return (peak RSS MiB, seconds)."""
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS=os.environ.get(
        'OMP_NUM_THREADS', str(os.cpu_count())))
    cmd = [sys.executable, osp.join(root, 'tools', 'infer.py'), config,
           checkpoint, scene, '--out-dir', out_dir, '--formats', formats,
           '--no-progress', '--batch-size', str(batch_size)]
    with tempfile.TemporaryFile() as err:
        # Through peak_rss's launcher: this process' own peak is not the
        # tool's.
        code, seconds, rss, _ = run_measured(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        if code != 0:
            sys.exit(f'{formats} failed ({code}):\n'
                     f'{err.read().decode(errors="replace")[-3000:]}')
    return rss, seconds


def random_checkpoint(folder: str, config: str, calibrate: bool) -> str:
    """Random weights; with ``calibrate``, batch-norm statistics taken from
    a sample tile and a wide random classifier, so that the masks of a
    random model hold every class in regions of many sizes."""
    code = ('import warnings; warnings.simplefilter("ignore")\n'
            'import cv2, torch, mmseg_sia\n'
            'from mmseg_sia.apis import init_segmentor\n'
            'torch.manual_seed(0)\n'
            f'm = init_segmentor({config!r}, None)\n')
    if calibrate:
        tile = osp.join(SAMPLE_IMAGES, sorted(os.listdir(SAMPLE_IMAGES))[0])
        code += (
            'for mod in m.modules():\n'
            '    if isinstance(mod, torch.nn.BatchNorm2d):\n'
            '        mod.reset_running_stats(); mod.momentum = None\n'
            f'x = torch.from_numpy(cv2.imread({tile!r})).permute(2, 0, 1)\n'
            'x = (x[None].float() - m.data_preprocessor.mean) / '
            'm.data_preprocessor.std\n'
            'm.train()\n'
            'with torch.no_grad():\n'
            '    m.decode_head(m.extract_feat(x))\n'
            'torch.nn.init.normal_(m.decode_head.conv_seg.weight, std=1.0)\n'
            'torch.nn.init.zeros_(m.decode_head.conv_seg.bias)\n')
    code += ('torch.save(dict(state_dict=m.state_dict()), '
             f'{osp.join(folder, "random.pth")!r})\n')
    subprocess.run([sys.executable, '-c', code], check=True,
                   env=dict(os.environ, PYTHONPATH=REPO),
                   stderr=subprocess.DEVNULL)
    return osp.join(folder, 'random.pth')


def outputs_only(size: int) -> None:
    """Peak allocation of each output, from a ground-truth mask mosaic."""
    import tracemalloc
    import warnings
    warnings.simplefilter('ignore')
    sys.path.insert(0, REPO)
    from mmseg_sia import SIADataset
    from mmseg_sia.apis import SIAPrediction, footprint_transform
    from mmseg_sia.datasets.sia import index_label_files
    from mmseg_sia.labels import rasterize_label_files

    labels = index_label_files(osp.join(osp.dirname(SAMPLE_IMAGES),
                                        'labels'))
    names = sorted(n for n in os.listdir(SAMPLE_IMAGES) if n.endswith('.png'))
    tiles = []
    for n in names:
        files = labels.get(osp.splitext(n)[0], [])
        tiles.append((cv2.imread(osp.join(SAMPLE_IMAGES, n)),
                      rasterize_label_files(files, (256, 256),
                                            warn=False)[0]))
    rng = np.random.default_rng(0)
    image = np.empty((size, size, 3), np.uint8)
    mask = np.empty((size, size), np.uint8)
    for y in range(0, size, 256):
        for x in range(0, size, 256):
            img, lab = tiles[int(rng.integers(len(tiles)))]
            image[y:y + 256, x:x + 256] = img[:size - y, :size - x]
            mask[y:y + 256, x:x + 256] = lab[:size - y, :size - x]
    with tempfile.TemporaryDirectory(prefix='bench_outputs_') as tmp:
        folder = osp.join(tmp, 'in')
        os.makedirs(folder)
        with open(write_scene(folder, 256).replace('.png', '.json')) as f:
            corners = json.load(f)['features'][0]['geometry']['coordinates']
        transform = footprint_transform(corners[0], size, size)
        print('| scene | output | peak allocation MiB | bytes/pixel |')
        print('| --- | --- | --- | --- |')
        for formats in ('mask', 'overlay', 'json', 'geojson', 'summary'):
            res = SIAPrediction(
                mask=mask, polygons={}, transform=transform,
                classes=SIADataset.METAINFO['classes'],
                palette=SIADataset.METAINFO['palette'], image=image)
            tracemalloc.start()
            if formats == 'summary':
                res.measures()
            else:
                res.save(osp.join(tmp, formats), formats=[formats])
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f'| {size} x {size} | {formats} | {peak / 2**20:.0f} | '
                  f'{peak / size**2:.2f} |', flush=True)
        # A raster scene: every output written from bands of 384 rows
        # (mmseg_sia.apis.scene.SceneWriter), as infer.py streams them.
        from affine import Affine
        from pyproj import CRS

        from mmseg_sia.apis.scene import SceneWriter
        from mmseg_sia.georef import Georef, lonlat_transform
        georef = Georef(CRS.from_epsg(32652),
                        Affine(0.55, 0, 320000, 0, -0.55, 4160000), size,
                        size, 'raster')
        names = dict(mask='s_mask.tif', gpkg='s.gpkg', geojson='s.geojson',
                     json='s.json')
        for label, summary in (('scene, all but summary', False),
                               ('scene, all + summary', True)):
            out = osp.join(tmp, 'scene' + str(summary))
            tracemalloc.start()
            with SceneWriter({k: osp.join(out, v) for k, v in names.items()},
                             size, size, SIADataset.METAINFO['classes'],
                             SIADataset.METAINFO['palette'],
                             'scene.tif', georef=georef,
                             transform=lonlat_transform(georef),
                             summary=summary) as writer:
                for y in range(0, size, 384):
                    writer.add(y, mask[y:y + 384])
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f'| {size} x {size} | {label} | {peak / 2**20:.0f} | '
                  f'{peak / size**2:.2f} |', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs='+', default=[2048, 4096])
    parser.add_argument('--checkpoint', default=None,
                        help='weights of the sample config (default: random)')
    parser.add_argument('--baseline', default=None, metavar='REF',
                        help='also run the tool of this git revision')
    parser.add_argument('--sets', nargs='+', default=list(SETS))
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--model', choices=('sample', 'tiny'),
                        default='sample')
    parser.add_argument('--outputs-only', action='store_true',
                        help='no model: measure the outputs alone')
    args = parser.parse_args()
    if args.outputs_only:
        for size in args.size:
            outputs_only(size)
        return

    with tempfile.TemporaryDirectory(prefix='bench_infer_memory_') as tmp:
        config = CONFIG
        if args.model == 'tiny':
            from mmseg_sia.testing import tiny_segmentor_config
            config = osp.join(tmp, 'tiny.py')
            with open(config, 'w') as f:
                f.write(tiny_segmentor_config(3, crop=512, stride=384))
        checkpoint = args.checkpoint or random_checkpoint(
            tmp, config, args.model == 'tiny')
        roots = {'this tree': REPO}
        if args.baseline:
            os.makedirs(osp.join(tmp, 'baseline'))
            roots[args.baseline] = extract(args.baseline,
                                           osp.join(tmp, 'baseline'))
        print(f'model: {args.model}, checkpoint: '
              f'{args.checkpoint or "random weights"}; {os.cpu_count()} CPUs')
        print('| scene | code | formats | peak RSS MiB | over mask-only MiB '
              '| bytes/pixel over mask-only | time s |')
        print('| --- | --- | --- | --- | --- | --- | --- |')
        for size in args.size:
            folder = osp.join(tmp, f'in{size}')
            os.makedirs(folder)
            scene = write_scene(folder, size)
            for label, root in roots.items():
                base = None
                for i, formats in enumerate(args.sets):
                    out = osp.join(tmp, f'out_{size}_{label}_{i}'.replace(
                        ' ', '_'))
                    peak, secs = run_tool(root, config, scene, checkpoint,
                                          formats, out, args.batch_size)
                    if formats == 'mask':
                        base = peak
                    extra = '' if base is None else f'{peak - base:.0f}'
                    per_px = '' if base is None else \
                        f'{(peak - base) * 2**20 / size**2:.1f}'
                    name = 'all (default)' if formats == SETS[-1] else \
                        formats
                    print(f'| {size} x {size} | {label} | {name} | '
                          f'{peak:.0f} | {extra} | {per_px} | {secs:.1f} |',
                          flush=True)


if __name__ == '__main__':
    main()
