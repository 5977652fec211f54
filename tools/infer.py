#!/usr/bin/env python
"""Segment tiles or whole scenes and write masks, overlays and polygons.

Example::

    python tools/infer.py configs/sia/fpn_r18_sia-sample.py \\
        work_dirs/sample/iter_80.pth data/sia_sample/images/ --out-dir out/

For every image: ``<stem>_mask.png`` (class ids as a grey PNG),
``<stem>_overlay.png``, ``<stem>.json`` (the dataset's label schema, pixel
coordinates) and, when the image has a footprint, ``<stem>.geojson``
(lon/lat); one ``summary.csv`` for the run, written at the end of every run
(also one stopped by a full disk or Ctrl-C). An image that fails is reported
and the others go on; the exit status is 1 when any failed (2 for a usage
error before any image is read). ``--resume`` completes a run that stopped:
only missing files are written.
"""
from __future__ import annotations

import argparse
import errno
import glob
import os
import os.path as osp
import sys
import traceback
from typing import Dict, List, Optional, Sequence

from _cli import LazyDictAction

# Nothing heavy (torch, mmengine, mmseg, the plugin) is imported at module
# level, so that --help and usage errors answer at once.

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.jp2',
                  '.vrt', '.img')
#: The output formats (mmseg_sia.apis.writers.ALL_FORMATS, spelt out here so
#: that --help needs no import; a test keeps the two equal).
FORMATS = ('mask', 'overlay', 'json', 'geojson', 'gpkg', 'network',
           'network_gpkg', 'summary')
#: What is written when --formats is not given.
DEFAULT_FORMATS = ('mask', 'overlay', 'json', 'geojson', 'gpkg', 'summary')
#: Errors that mean no more file can be written, so the run stops.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment images with an mmseg-sia model and write '
        'masks, overlays, label JSON, GeoJSON and a summary.')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'inputs', nargs='+', metavar='INPUT',
        help='image files, folders (their images, not recursive) or glob '
        'patterns')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--device', default=None,
        help="'cpu', 'cuda' or 'cuda:N' (default: cuda:0 when available, "
        'else cpu)')
    parser.add_argument(
        '--formats', default=','.join(DEFAULT_FORMATS),
        help='comma-separated subset of ' + ','.join(FORMATS) +
        ' (default: ' + ','.join(DEFAULT_FORMATS) + '); network: road '
        'centre lines as GeoJSON LineStrings, network_gpkg: the same as a '
        'GeoPackage layer road_network')
    parser.add_argument(
        '--regularize', action='store_true',
        help='straighten building outlines (right angles, straight walls) '
        'before writing them; each GeoJSON polygon gets its IoU against '
        'the pixel outline as regularized_iou')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--overwrite', action='store_true',
                       help='replace existing output files')
    group.add_argument(
        '--resume', action='store_true',
        help='complete a run into --out-dir that stopped (full disk, '
        'interruption, failed images): write only the files that are '
        'missing, keep the others, and update summary.csv')
    parser.add_argument(
        '--footprints', metavar='DIR', default=None,
        help='labels folder holding <stem>.json files (directly or one '
        'level down) whose geometry is the tile footprint, or a folder of '
        'land-cover <stem>_META.json files; by default a georeferenced '
        'image (GeoTIFF, world file) is placed by itself, else its META '
        'file beside it or in the release\'s TL_<part>_Meta folder, else '
        'a <stem>.json beside the image or in ../labels')
    parser.add_argument(
        '--window', type=int, default=None,
        help='sliding window size in pixels (default: the config\'s '
        'slide crop_size, else 1024)')
    parser.add_argument(
        '--overlap', type=int, default=None,
        help='overlap between windows in pixels (default: the config\'s '
        'slide stride, else a quarter of the window)')
    parser.add_argument(
        '--bands', default=None, metavar='R,G,B',
        help='for raster scenes: the red, green and blue bands, 1-based '
        '(default: the bands the raster marks as red, green, blue, else '
        'the first three)')
    parser.add_argument(
        '--stretch', default=None,
        help='for raster scenes: how values map to 8 bit: none, minmax, '
        'percent[:LO,HI] or fixed:MIN,MAX[,MIN,MAX,MIN,MAX] (default: none '
        'for 8-bit data, percent:2,98 otherwise)')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='windows per forward pass (default: 4)')
    parser.add_argument(
        '--writers', type=int, default=None, metavar='N',
        help='for raster scenes: processes that polygonize, measure and '
        'encode the polygons beside the model (0: all in the writer thread; '
        'default: 0 on the CPU, else up to 4, leaving two CPUs of each '
        'process\' share); the outputs are the same either way')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='overlay colour weight (default: 0.5)')
    parser.add_argument(
        '--simplify', type=float, default=0.0, metavar='PX',
        help='polygon simplification tolerance in pixels (default: 0, '
        'exact outlines)')
    parser.add_argument('--min-area', type=int, default=0, metavar='PX',
                        help='drop regions smaller than this many pixels')
    parser.add_argument('--fill-holes', type=int, default=0, metavar='PX',
                        help='fill holes smaller than this many pixels')
    parser.add_argument('--opening', type=int, default=0, metavar='PX',
                        help='morphological opening size against speckle')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
        help='job launcher: several processes (tools/dist_infer.sh, '
        'tools/slurm_infer.sh) each take a fixed share of the images (every '
        'N-th) and rank 0 writes the one summary.csv')
    parser.add_argument(
        '--cfg-options', nargs='+', action=LazyDictAction,
        metavar='KEY=VALUE',
        help='override config settings, as in mmseg\'s tools')
    return parser.parse_args(argv)


class UsageError(Exception):
    """A problem with the command line, found before any image is read."""


def collect_images(inputs: Sequence[str]) -> List[str]:
    """Expand files, folders and globs into image paths (order kept)."""
    found: Dict[str, None] = {}
    for item in inputs:
        if osp.isdir(item):
            names = sorted(
                n for n in os.listdir(item)
                if n.lower().endswith(IMAGE_SUFFIXES) and
                osp.isfile(osp.join(item, n)))
            if not names:
                raise UsageError(f'folder {item} holds no images '
                                 f'({", ".join(IMAGE_SUFFIXES)})')
            found.update(dict.fromkeys(osp.join(item, n) for n in names))
        elif osp.isfile(item):
            found[item] = None
        elif glob.has_magic(item):
            matches = sorted(p for p in glob.glob(item) if osp.isfile(p))
            if not matches:
                raise UsageError(f'pattern {item} matches no file')
            found.update(dict.fromkeys(matches))
        else:
            raise UsageError(f'input {item} does not exist')
    return list(found)


def plan_outputs(images: Sequence[str], out_dir: str, formats: Sequence[str],
                 overwrite: bool,
                 resume: bool = False) -> Dict[str, Dict[str, str]]:
    """Output paths per image; refuses clashes and (without ``overwrite`` or
    ``resume``) existing files before any work is done."""
    from mmseg_sia.apis.raster import is_scene
    from mmseg_sia.apis.writers import RUN_FORMATS, output_paths

    plans: Dict[str, Dict[str, str]] = {}
    owner: Dict[str, str] = {}
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        scene = is_scene(image)
        paths = output_paths(out_dir, stem, formats, scene=scene)
        if scene:
            paths.pop('overlay', None)  # a scene is never held whole
        for path in paths.values():
            if path in owner:
                raise UsageError(
                    f'{owner[path]} and {image} would both write {path} '
                    '(same file stem); run them into different --out-dir')
            owner[path] = image
        plans[image] = paths
    if not overwrite and not resume:
        targets = list(owner)
        targets += [osp.join(out_dir, RUN_FORMATS[f]) for f in formats
                    if f in RUN_FORMATS]
        existing = [p for p in targets if osp.exists(p)]
        if existing:
            shown = ', '.join(existing[:3])
            more = '' if len(existing) <= 3 else \
                f' and {len(existing) - 3} more'
            raise UsageError(f'output files exist: {shown}{more}; pass '
                             '--resume to complete that run (only missing '
                             'files are written) or --overwrite to replace '
                             'them')
    return plans


def read_previous_summary(path: str) -> Dict[str, dict]:
    """Rows of an earlier ``summary.csv`` by image, as text (for --resume).

    Raises:
        UsageError: When the file cannot be read as a summary.
    """
    import pandas as pd

    if not osp.isfile(path):
        return {}
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as e:
        raise UsageError(f'{path} cannot be read as a run summary ({e}); '
                         'move it away to resume') from e
    if 'image' not in frame.columns or 'status' not in frame.columns:
        raise UsageError(f'{path} is not a run summary (no image/status '
                         'columns); move it away to resume')
    return {row['image']: row for row in frame.to_dict('records')}


def init_distributed(launcher: str):
    """Join the process group of a multi-process run.

    NCCL with one GPU per process where there is CUDA (mmengine's
    ``init_dist``), gloo on the CPU otherwise (the project's
    :func:`mmseg_sia.runner.prepare_distributed`).

    Returns:
        tuple[int, int, int]: rank, world size, local rank.
    """
    import torch
    import torch.distributed as dist
    from mmengine.config import Config

    if not (dist.is_available() and dist.is_initialized()):
        if torch.cuda.is_available():
            from mmengine.dist import init_dist
            init_dist(launcher, backend='nccl')
        else:
            from mmseg_sia.runner import prepare_distributed
            prepare_distributed(Config(dict(env_cfg=dict(dist_cfg=dict()))),
                                launcher)
    local = int(os.environ.get('LOCAL_RANK', 0))
    return dist.get_rank(), dist.get_world_size(), local


def gather(rows: Dict[str, dict], lists: Sequence[list], kept: int,
           world: int):
    """Every rank's summary rows, lists (failures, ...) and counts merged."""
    if world == 1:
        return rows, lists, kept
    import torch.distributed as dist
    parts: list = [None] * world
    dist.all_gather_object(parts, (rows, lists, kept))
    merged: Dict[str, dict] = {}
    joined: List[list] = [[] for _ in lists]
    total = 0
    for part_rows, part_lists, part_kept in parts:
        merged.update(part_rows)
        for out, part in zip(joined, part_lists):
            out += part
        total += part_kept
    return merged, joined, total


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)

    def fail(message: str) -> int:
        print(f'error: {message}', file=sys.stderr)
        return 2

    formats = [f.strip() for f in args.formats.split(',') if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        return fail(f'unknown --formats {", ".join(unknown) or "(none)"}; '
                    f'choose from {", ".join(FORMATS)}')
    if args.footprints is not None and not osp.isdir(args.footprints):
        return fail(f'--footprints folder {args.footprints} does not exist')
    for name in ('batch_size', 'window'):
        value = getattr(args, name)
        if value is not None and value < 1:
            return fail(f'--{name.replace("_", "-")} must be >= 1')
    if args.writers is not None and args.writers < 0:
        return fail('--writers must be >= 0')
    summary_path = osp.join(args.out_dir, 'summary.csv')
    from mmseg_sia.apis.malloc import tune_malloc
    tune_malloc()  # freed blocks are reused, not mapped anew
    try:
        from mmseg_sia.apis.raster import parse_bands, parse_stretch
        bands = parse_bands(args.bands)
        parse_stretch(args.stretch)
    except ValueError as e:
        return fail(str(e))
    try:
        images = collect_images(args.inputs)
        plans = plan_outputs(images, args.out_dir, formats, args.overwrite,
                             args.resume)
        previous = read_previous_summary(summary_path) if (
            args.resume and 'summary' in formats) else {}
    except UsageError as e:
        return fail(str(e))

    from tqdm import tqdm

    import mmseg_sia  # noqa: F401  (registers the plugin)
    from mmseg_sia.apis import (find_footprint, footprint_transform,
                                init_segmentor, predict)
    from mmseg_sia.apis.raster import is_scene
    from mmseg_sia.apis.scene import predict_scene
    from mmseg_sia.apis.writers import write_summary_csv
    from mmseg_sia.georef import GeorefError, image_georef, lonlat_transform

    rank, world, local = 0, 1, 0
    if args.launcher != 'none':
        try:
            rank, world, local = init_distributed(args.launcher)
        except Exception as e:  # noqa: BLE001  (a usage problem)
            return fail(f'--launcher {args.launcher}: {e}')
        if world > 1:
            import torch.distributed as dist
            dist.barrier()  # every rank planned before any file is written
    all_images = images
    images = images[rank::world]  # this process' fixed share
    device = args.device
    if device is None:
        import torch
        device = f'cuda:{local}' if torch.cuda.is_available() else 'cpu'
    try:
        model = init_segmentor(args.config, args.checkpoint, device=device,
                               cfg_options=args.cfg_options)
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        return fail(str(e))

    from mmseg_sia.apis.workers import WriterPool, default_writer_processes
    writers = args.writers
    if writers is None:
        # Ranks on this machine: torchrun's LOCAL_WORLD_SIZE, Slurm's tasks
        # per node ("4" or "4(x2)").
        share = os.environ.get('LOCAL_WORLD_SIZE') or os.environ.get(
            'SLURM_NTASKS_PER_NODE', '1').split('(')[0].split(',')[0]
        writers = default_writer_processes(
            device, int(share) if share.isdigit() else 1)
    # Started with the first scene, shared by all of them.
    pool = WriterPool(writers) if writers > 0 else None

    cache: dict = {}
    rows: Dict[str, dict] = {}
    failures = []
    kept = 0
    no_georeference = []
    stopped = None  # why the run stopped early, if it did
    bar = tqdm(images, desc='images', unit='img',
               disable=args.no_progress or rank > 0, dynamic_ncols=True)

    def show(name: str):
        def update(done: int, total: int) -> None:
            bar.set_postfix_str(f'{name}: window {done}/{total}')
        return update

    try:
        for image in bar:
            name = osp.basename(image)
            bar.set_postfix_str(name)
            try:
                # The georeference first: a bad file fails before
                # inference. The image itself or its land-cover META file,
                # else the label footprint (mmseg_sia.georef's order).
                georef = image_georef(image, args.footprints)
                points, source = (None, georef.path) if georef else \
                    find_footprint(image, args.footprints, cache)
                paths = dict(plans[image])
                if points is None and georef is None:
                    paths.pop('geojson', None)
                    paths.pop('network', None)
                if georef is None or georef.crs is None:
                    paths.pop('gpkg', None)
                if args.resume:
                    paths = {f: p for f, p in paths.items()
                             if not osp.exists(p)}
                    old = previous.get(image)
                    if not paths and ('summary' not in formats or (
                            old is not None and old.get('status') == 'ok')):
                        rows[image] = old or dict(image=image, status='ok')
                        kept += 1
                        continue
                streamed = is_scene(image) and not (
                    args.min_area or args.fill_holes or args.opening > 1)
                if streamed:
                    # A raster scene in one pass over bands of mask rows:
                    # memory does not grow with the scene.
                    measures = predict_scene(
                        model, image, paths, georef=georef,
                        footprint=(points, source), window=args.window,
                        overlap=args.overlap, batch_size=args.batch_size,
                        progress=False if args.no_progress else show(name),
                        bands=bands, stretch=args.stretch,
                        tolerance=args.simplify,
                        regularize={} if args.regularize else None,
                        summary='summary' in formats,
                        overwrite=args.overwrite, pool=pool)
                    row = dict(image=image, status='ok', error='',
                               footprint=source or '')
                    if measures is not None:
                        measures.pop('image')
                        row.update(measures)
                    rows[image] = row
                    if points is None and georef is None and (
                            'geojson' in formats or 'network' in formats):
                        no_georeference.append(image)
                    continue
                # Tiles, and the cleaning options, take the whole mask;
                # polygons are made after the image is let go (memory: the
                # image, then the vectorization, never both).
                result = predict(
                    model, image,
                    window=args.window, overlap=args.overlap,
                    batch_size=args.batch_size,
                    tolerance=args.simplify, min_area=args.min_area,
                    hole_area=args.fill_holes, opening=args.opening,
                    vectorize=False,
                    progress=False if args.no_progress else show(name),
                    keep_image='overlay' in paths,
                    bands=bands, stretch=args.stretch)
                if georef is not None:
                    if georef.shape != result.mask.shape:
                        raise GeorefError(
                            georef.path, f'gives {georef.width} x '
                            f'{georef.height} pixels; the image has '
                            f'{result.mask.shape[1]} x '
                            f'{result.mask.shape[0]}')
                    result.transform = lonlat_transform(georef)
                    result.georef = georef
                elif points is not None:
                    h, w = result.mask.shape
                    result.transform = footprint_transform(points, w, h,
                                                           source)
                elif 'geojson' in formats or 'network' in formats:
                    no_georeference.append(image)
                if args.regularize:
                    result.regularize_buildings()
                for group in (('mask', 'overlay'), ('json', 'geojson', 'gpkg'),
                              ('network', 'network_gpkg')):
                    result.save(args.out_dir,
                                formats=[f for f in group if f in paths],
                                overwrite=args.overwrite,
                                opacity=args.opacity)
                    result.image = None
                row = dict(image=image, status='ok', error='',
                           footprint=source or '')
                if 'summary' in formats:
                    measures = result.measures()
                    measures.pop('image')
                    row.update(measures)
                rows[image] = row
                del result
            except Exception as e:  # report and go on with the next image
                message = f'{type(e).__name__}: {e}'
                failures.append((image, message))
                tqdm.write(f'FAILED {image}: {message}', file=sys.stderr)
                if os.environ.get('MMSEG_SIA_DEBUG'):
                    traceback.print_exc()
                rows[image] = dict(image=image, status='failed',
                                   error=message, footprint='')
                if isinstance(e, OSError) and e.errno in DISK_FULL:
                    stopped = f'stopped: the disk is full ({e.strerror})'
                    break
    except KeyboardInterrupt:
        stopped = 'stopped: interrupted'
    finally:
        bar.close()
        if pool is not None:
            pool.close()

    not_run = [image for image in images if image not in rows]
    for image in not_run:
        rows[image] = dict(image=image, status='not run', error=stopped,
                           footprint='')
    rows, (failures, not_run, no_georeference), kept = gather(
        rows, [failures, not_run, no_georeference], kept, world)
    images = all_images
    code = 1 if failures or not_run else 0
    if rank > 0:  # rank 0 writes the summary and reports for all
        return 130 if stopped == 'stopped: interrupted' else code
    if 'summary' in formats:
        try:
            write_summary_csv(summary_path, [rows[i] for i in images],
                              overwrite=args.overwrite or args.resume)
        except OSError as e:
            print(f'error: cannot write {summary_path}: {e}',
                  file=sys.stderr)
            code = 1
    done = sum(1 for r in rows.values() if r.get('status') == 'ok')
    print(f'{done} of {len(images)} image(s) done, written to '
          f'{args.out_dir}' + (f' ({kept} complete from before)'
                               if kept else '') +
          (f'; {len(failures)} failed:' if failures else ''))
    for image, message in failures:
        print(f'  {image}: {message}')
    if no_georeference:
        print(f'no georeference, so no .geojson (pixel coordinates in the '
              f'.json only) for {len(no_georeference)} image(s): ' +
              ', '.join(no_georeference))
    if stopped:
        print(f'{stopped}; {len(not_run)} image(s) not run. Run the same '
              'command with --resume to complete the output.')
    if stopped == 'stopped: interrupted':
        return 130
    return code


if __name__ == '__main__':
    # OpenMP's own wait policy is left as it is (torch's threads spin a
    # short while, then sleep). Setting OMP_WAIT_POLICY=PASSIVE helped
    # while the batches were normalised with torch on the model's thread;
    # with them made in numpy beside the model it made a 10,000² scene
    # slower (README, "Whole scenes").
    sys.exit(main())
