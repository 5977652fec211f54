#!/usr/bin/env python
"""Segment tiles or whole scenes and write masks, overlays and polygons.

Example::

    python tools/infer.py configs/sia/fpn_r18_sia-sample.py model.pth \\
        scenes/ --out-dir out/

For every image: ``<stem>_mask.png`` (class ids, palette PNG),
``<stem>_overlay.png``, ``<stem>.json`` (the dataset's label schema) and
``<stem>.geojson`` (lon/lat when the footprint is known); one ``summary.csv``
for the run. An image that fails is reported and the others go on; the exit
status is 1 when any failed (2 for a usage error before any image is read).
"""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import sys
import traceback
from typing import Dict, List, Optional, Sequence

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    from mmseg_sia.apis.writers import ALL_FORMATS

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
        '--formats', default=','.join(ALL_FORMATS),
        help='comma-separated subset of ' + ','.join(ALL_FORMATS) +
        ' (default: all)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
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
    parser.add_argument('--batch-size', type=int, default=4,
                        help='windows per forward pass (default: 4)')
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
                        help='no progress bars')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
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
                 overwrite: bool) -> Dict[str, Dict[str, str]]:
    """Output paths per image; refuses clashes and (without overwrite)
    existing files before any work is done."""
    from mmseg_sia.apis.writers import RUN_FORMATS, output_paths

    plans: Dict[str, Dict[str, str]] = {}
    owner: Dict[str, str] = {}
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        paths = output_paths(out_dir, stem, formats)
        for path in paths.values():
            if path in owner:
                raise UsageError(
                    f'{owner[path]} and {image} would both write {path} '
                    '(same file stem); run them into different --out-dir')
            owner[path] = image
        plans[image] = paths
    if not overwrite:
        targets = list(owner)
        targets += [osp.join(out_dir, RUN_FORMATS[f]) for f in formats
                    if f in RUN_FORMATS]
        existing = [p for p in targets if osp.exists(p)]
        if existing:
            shown = ', '.join(existing[:3])
            more = '' if len(existing) <= 3 else \
                f' and {len(existing) - 3} more'
            raise UsageError(f'output files exist: {shown}{more}; pass '
                             '--overwrite to replace them')
    return plans


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    import mmseg_sia  # noqa: F401  (registers the plugin)
    from mmseg_sia.apis import (find_footprint, footprint_transform,
                                init_segmentor, predict)
    from mmseg_sia.apis.writers import ALL_FORMATS, write_summary_csv
    from mmseg_sia.georef import GeorefError, image_georef, lonlat_transform

    def fail(message: str) -> int:
        print(f'error: {message}', file=sys.stderr)
        return 2

    formats = [f.strip() for f in args.formats.split(',') if f.strip()]
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown or not formats:
        return fail(f'unknown --formats {", ".join(unknown) or "(none)"}; '
                    f'choose from {", ".join(ALL_FORMATS)}')
    if args.footprints is not None and not osp.isdir(args.footprints):
        return fail(f'--footprints folder {args.footprints} does not exist')
    for name in ('batch_size', 'window'):
        value = getattr(args, name)
        if value is not None and value < 1:
            return fail(f'--{name.replace("_", "-")} must be >= 1')
    try:
        images = collect_images(args.inputs)
        plans = plan_outputs(images, args.out_dir, formats, args.overwrite)
    except UsageError as e:
        return fail(str(e))

    device = args.device
    if device is None:
        import torch
        device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
    try:
        model = init_segmentor(args.config, args.checkpoint, device=device,
                               cfg_options=args.cfg_options)
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        return fail(str(e))

    cache: dict = {}
    rows = []
    failures = []
    bar = tqdm(images, desc='images', unit='img', disable=args.no_progress)
    for image in bar:
        bar.set_postfix_str(osp.basename(image))
        try:
            # The georeference first: a bad file fails before inference.
            # The image itself or its land-cover META file, else the label
            # footprint (mmseg_sia.georef's order).
            georef = image_georef(image, args.footprints)
            points, source = (None, georef.path) if georef else \
                find_footprint(image, args.footprints, cache)
            result = predict(
                model, image,
                window=args.window, overlap=args.overlap,
                batch_size=args.batch_size,
                tolerance=args.simplify, min_area=args.min_area,
                hole_area=args.fill_holes, opening=args.opening,
                vectorize=any(f in formats
                              for f in ('json', 'geojson', 'summary')),
                progress=not args.no_progress)
            if georef is not None:
                if georef.shape != result.mask.shape:
                    raise GeorefError(
                        georef.path, f'gives {georef.width} x '
                        f'{georef.height} pixels; the image has '
                        f'{result.mask.shape[1]} x {result.mask.shape[0]}')
                result.transform = lonlat_transform(georef)
            elif points is not None:
                h, w = result.mask.shape
                result.transform = footprint_transform(points, w, h, source)
            result.save(args.out_dir, formats=plans[image],
                        overwrite=args.overwrite, opacity=args.opacity)
            row = dict(image=image, status='ok', error='',
                       footprint=source or '')
            if 'summary' in formats:
                measures = result.measures()
                measures.pop('image')
                row.update(measures)
            rows.append(row)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # report and go on with the next image
            message = f'{type(e).__name__}: {e}'
            failures.append((image, message))
            tqdm.write(f'FAILED {image}: {message}', file=sys.stderr)
            if os.environ.get('MMSEG_SIA_DEBUG'):
                traceback.print_exc()
            rows.append(dict(image=image, status='failed', error=message,
                             footprint=''))
    bar.close()

    if 'summary' in formats:
        path = osp.join(args.out_dir, 'summary.csv')
        try:
            write_summary_csv(path, rows, overwrite=args.overwrite)
        except OSError as e:
            print(f'error: cannot write {path}: {e}', file=sys.stderr)
            return 1
    done = len(images) - len(failures)
    print(f'{done} of {len(images)} image(s) done, written to '
          f'{args.out_dir}' + (f'; {len(failures)} failed:' if failures
                               else ''))
    for image, message in failures:
        print(f'  {image}: {message}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
