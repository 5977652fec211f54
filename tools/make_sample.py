"""Write a small synthetic dataset in the AIHub release layout.

The bundled sample at ``data/sia_sample`` was made with the defaults::

    python tools/make_sample.py data/sia_sample

A different seed or size gives another dataset of the same kind::

    python tools/make_sample.py /tmp/sia_big --seed 3 --num-train 200 \
        --num-val 40 --tile-size 512

and the drawing options give other content, e.g. thin low-contrast roads
among many small buildings::

    python tools/make_sample.py /tmp/sia_dense --seed 7 --road-width 4 9 \
        --road-contrast 0.5 --buildings-per-tile 15 30 --building-scale 0.6
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import List, Optional

from mmseg_sia.sample import (LABEL_STYLES, SAMPLE_NUM_TRAIN, SAMPLE_NUM_VAL,
                              SAMPLE_SEED, SAMPLE_TILE_SIZE, TILE_KINDS,
                              SampleSettings, make_sample)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Write a seeded synthetic building/road dataset in the '
        'AIHub layout (images/, labels/building/, labels/road/, splits/).')
    parser.add_argument('out_dir', help='dataset root to create')
    parser.add_argument(
        '--seed', type=int, default=SAMPLE_SEED,
        help=f'seed of the drawing (default {SAMPLE_SEED})')
    parser.add_argument(
        '--num-train', type=int, default=SAMPLE_NUM_TRAIN,
        help=f'tiles in the train split (default {SAMPLE_NUM_TRAIN})')
    parser.add_argument(
        '--num-val', type=int, default=SAMPLE_NUM_VAL,
        help=f'tiles in the val split (default {SAMPLE_NUM_VAL})')
    parser.add_argument(
        '--tile-size', type=int, default=SAMPLE_TILE_SIZE,
        help=f'tile width and height in pixels (default {SAMPLE_TILE_SIZE})')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='replace the sample in a non-empty OUT_DIR')
    d = SampleSettings()
    look = parser.add_argument_group(
        'drawing', 'what the tiles show (lengths in pixels of a 256-pixel '
        'tile; the defaults draw the bundled sample)')
    look.add_argument(
        '--road-width', type=float, nargs=2, metavar=('MIN', 'MAX'),
        default=d.road_width,
        help='range of road widths (default %(default)s)')
    look.add_argument(
        '--road-grey', type=float, nargs=2, metavar=('MIN', 'MAX'),
        default=d.road_grey,
        help='range of the road surface grey level, 0-255 '
        '(default %(default)s: asphalt)')
    look.add_argument(
        '--road-contrast', type=float, default=d.road_contrast,
        help='how far roads stand out from the ground, 0-1 '
        '(default %(default)s)')
    look.add_argument(
        '--roads-per-tile', type=int, nargs='+', metavar='N',
        default=d.roads_per_tile,
        help='road counts, one drawn per tile (default %(default)s)')
    look.add_argument(
        '--buildings-per-tile', type=int, nargs=2, metavar=('MIN', 'MAX'),
        default=d.buildings_per_tile,
        help='range of buildings per tile (default %(default)s)')
    look.add_argument(
        '--building-scale', type=float, default=d.building_scale,
        help='factor on building sizes (default %(default)s)')
    look.add_argument(
        '--kind-share', type=float, nargs=4,
        metavar=('BOTH', 'BUILDING', 'ROAD', 'NONE'), default=d.kind_share,
        help='share of tiles with buildings and roads, buildings only, '
        'roads only, nothing (default %(default)s)')
    look.add_argument(
        '--ground-brightness', type=float, default=d.ground_brightness,
        help='factor on the ground colours (default %(default)s)')
    look.add_argument(
        '--trees', type=float, default=d.trees,
        help='factor on the number of trees (default %(default)s)')
    look.add_argument(
        '--label-style', choices=LABEL_STYLES, default=d.label_style,
        help='"release": files as the first release writes them; "mixed": '
        'the variants of other redistributions (default %(default)s)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        int: The exit status.
    """
    args = parse_args(argv)
    try:
        settings = SampleSettings(
            road_width=tuple(args.road_width),
            road_grey=tuple(args.road_grey),
            road_contrast=args.road_contrast,
            roads_per_tile=tuple(args.roads_per_tile),
            buildings_per_tile=tuple(args.buildings_per_tile),
            building_scale=args.building_scale,
            kind_share=tuple(args.kind_share),
            ground_brightness=args.ground_brightness,
            trees=args.trees,
            label_style=args.label_style)
        info = make_sample(
            args.out_dir,
            seed=args.seed,
            num_train=args.num_train,
            num_val=args.num_val,
            tile_size=args.tile_size,
            overwrite=args.overwrite,
            settings=settings)
    except (FileExistsError, NotADirectoryError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    kinds = Counter(info.kinds.values())
    print(f'wrote {len(info.train)} train + {len(info.val)} val tiles of '
          f'{info.tile_size} x {info.tile_size} to {info.out_dir} (' +
          ', '.join(f'{k}: {kinds[k]}' for k in TILE_KINDS) + ')')
    return 0


if __name__ == '__main__':
    sys.exit(main())
