"""Statistics of an AIHub satellite data root, per split.

Tile counts by content (building only / road only / both / none), polygon
counts by ``type_name``, pixel frequency per class and the class weights
that follow, polygon area histogram; CSV tables and PNG plots in OUTPUT_DIR
(refused up front if they exist, unless ``--overwrite``). Splits: ``all``
plus one per split file. A tile that cannot be read is listed and left out.

Example::

    python tools/dataset_stats.py data/sia_sample \\
        --output-dir work_dirs/sample_stats
    python tools/dataset_stats.py data/city --img-suffix .tif \\
        --vector footprints.gpkg --class-field kind --output-dir stats
"""
import argparse
import sys
from typing import List, Optional

from _cli import DEFAULT_MAX_PIXELS, add_layout_arguments, layout_options

EXIT_STATUS = '''exit status:
  0  every tile counted
  1  the data has errors: some tiles or folder entries were left out
     (listed)
  2  bad usage, or the tool could not run (missing data root, existing
     output files without --overwrite, ...)'''


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (standard library only: --help is quick)."""
    parser = argparse.ArgumentParser(
        description='Count tiles, polygons and pixels per class and split.',
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--output-dir', '--out-dir', dest='output_dir',
                        required=True, metavar='DIR',
                        help='folder for the CSV tables and PNG plots')
    parser.add_argument('--splits', nargs='*', metavar='FILE',
                        help='split files (default: DATA_ROOT/splits/*.txt)')
    parser.add_argument('--no-plots', action='store_true',
                        help='write the CSV tables only')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help='leave out (and list) tiles whose image has more '
                        "pixels (default: Pillow's decompression-bomb limit "
                        '178956970; 0: no limit)')
    add_layout_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    from mmseg_sia.dataset_tools.cli import EXIT_DATA_ERRORS, run_tool

    def body() -> int:
        from mmseg_sia.dataset_tools import dataset_stats

        stats = dataset_stats(
            args.data_root,
            args.output_dir,
            split_files=args.splits,
            overwrite=args.overwrite,
            plots=not args.no_plots,
            max_pixels=args.max_pixels or None,
            **layout_options(args))
        print(stats.format())
        return 0 if stats.errors.empty else EXIT_DATA_ERRORS

    return run_tool(body)


if __name__ == '__main__':
    sys.exit(main())
