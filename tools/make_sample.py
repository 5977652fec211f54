"""Write a small synthetic dataset in the AIHub release layout.

The bundled sample at ``data/sia_sample`` was made with the defaults::

    python tools/make_sample.py data/sia_sample

A different seed or size gives another dataset of the same kind::

    python tools/make_sample.py /tmp/sia_big --seed 3 --num-train 200 \
        --num-val 40 --tile-size 512
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import List, Optional

from mmseg_sia.sample import (SAMPLE_NUM_TRAIN, SAMPLE_NUM_VAL, SAMPLE_SEED,
                              SAMPLE_TILE_SIZE, TILE_KINDS, make_sample)


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
        info = make_sample(
            args.out_dir,
            seed=args.seed,
            num_train=args.num_train,
            num_val=args.num_val,
            tile_size=args.tile_size,
            overwrite=args.overwrite)
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
