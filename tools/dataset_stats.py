"""Statistics of an AIHub satellite data root, per split.

Tile counts by content (building only / road only / both / none), polygon
counts by ``type_name``, pixel frequency per class and the class weights
that follow, polygon area histogram; CSV tables and PNG plots in OUT_DIR
(kept unless ``--overwrite``). Splits: ``all`` plus one per split file.

Example::

    python tools/dataset_stats.py data/sia --out-dir work_dirs/stats
"""
import argparse
import sys
from typing import List, Optional

import mmseg_sia  # noqa: F401  (registers the plugin)
from mmseg_sia.dataset_tools import dataset_stats
from mmseg_sia.dataset_tools.common import add_layout_arguments, layout_options


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Count tiles, polygons and pixels per class and split.')
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the CSV tables and PNG plots')
    parser.add_argument('--splits', nargs='*', metavar='FILE',
                        help='split files (default: DATA_ROOT/splits/*.txt)')
    parser.add_argument('--no-plots', action='store_true',
                        help='write the CSV tables only')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    add_layout_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    try:
        stats = dataset_stats(
            args.data_root,
            args.out_dir,
            split_files=args.splits,
            overwrite=args.overwrite,
            plots=not args.no_plots,
            **layout_options(args))
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(stats.format())
    return 0 if stats.errors.empty else 1


if __name__ == '__main__':
    sys.exit(main())
