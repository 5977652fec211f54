"""Statistics of an AIHub satellite data root, per split.

Tile counts by content (building only / road only / both / none), polygon
counts by ``type_name``, pixel frequency per class and the class weights
that follow, polygon area histogram; CSV tables and PNG plots in OUTPUT_DIR
(refused up front if they exist, unless ``--overwrite``). Splits: ``all``
plus one per split file. A tile that cannot be read is listed and left out.

Example::

    python tools/dataset_stats.py data/sia_sample \\
        --output-dir work_dirs/sample_stats
"""
import argparse
import sys
from typing import List, Optional

EXIT_STATUS = '''exit status:
  0  every tile counted
  1  the data has errors: some tiles or folder entries were left out
     (listed)
  2  bad usage, or the tool could not run (missing data root, existing
     output files without --overwrite, ...)'''


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """Folder layout, workers and progress options (as the other tools)."""
    group = parser.add_argument_group('layout and speed')
    group.add_argument('--img-dir', default='images',
                       help='image folder under DATA_ROOT (default images)')
    group.add_argument('--label-dir', default='labels',
                       help='labels folder under DATA_ROOT (default labels)')
    group.add_argument('--img-suffix', default='.png',
                       help='image suffix (default .png)')
    group.add_argument('--label-suffix', default='.json',
                       help='label file suffix (default .json)')
    group.add_argument('--workers', type=int, default=1,
                       help='worker processes (0: one per CPU core; '
                       'default 1)')
    group.add_argument('--no-progress', action='store_true',
                       help='hide the progress bar')


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
    parser.add_argument('--meta-dir', default=None, metavar='DIR',
                        help="AIHub's land-cover layout: its META folder "
                        '(under DATA_ROOT); ANN_CD 10 is building, 30 road')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--max-pixels', type=int, default=178_956_970,
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
            workers=args.workers,
            img_dir=args.img_dir,
            label_dir=args.label_dir,
            img_suffix=args.img_suffix,
            label_suffix=args.label_suffix,
            progress=not args.no_progress,
            meta_dir=args.meta_dir)
        print(stats.format())
        return 0 if stats.errors.empty else EXIT_DATA_ERRORS

    return run_tool(body)


if __name__ == '__main__':
    sys.exit(main())
