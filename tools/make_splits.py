"""Write train/val split files for an AIHub satellite data root.

The tiles are stratified by content (building only / road only / both /
none) and shuffled with ``--seed``; ``DATA_ROOT/splits/train.txt`` and
``val.txt`` get one stem a line. Existing split files are kept unless
``--overwrite``.

Example::

    python tools/make_splits.py data/sia --val-ratio 0.2 --seed 0
"""
import argparse
import sys
from typing import List, Optional

import mmseg_sia  # noqa: F401  (registers the plugin)
from mmseg_sia.dataset_tools import make_splits
from mmseg_sia.dataset_tools.common import add_layout_arguments, layout_options


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Write stratified train/val split files.')
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='share of tiles for val (default 0.2)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the shuffle (default 0)')
    parser.add_argument('--split-dir', default='splits',
                        help='folder for the split files, relative to '
                        'DATA_ROOT (default splits)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing split files')
    add_layout_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    try:
        result = make_splits(
            args.data_root,
            val_ratio=args.val_ratio,
            seed=args.seed,
            split_dir=args.split_dir,
            overwrite=args.overwrite,
            **layout_options(args))
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(result.format())
    return 0


if __name__ == '__main__':
    sys.exit(main())
