"""Validate an AIHub satellite data root with the project's label reader.

Reports, by file and feature: label files that cannot be read, features
that cannot be drawn, images without labels, labels without images, images
that cannot be read or differ in size from the others, ``image_id`` values
that disagree with the file name, vertices outside the image, duplicated,
shared or dangling stems in the split files, scenes shared between split
files, and folder entries that cannot be used (symbolic link loops,
unreadable sub-folders, FIFOs or devices named like a tile). Prints a table;
``--csv FILE`` writes every row.

Example::

    python tools/check_dataset.py data/sia_sample
    python tools/check_dataset.py data/sia --csv check.csv --workers 8
    python tools/check_dataset.py data/city --img-suffix .tif \\
        --vector footprints.gpkg --class-field kind
"""
import argparse
import sys
from typing import List, Optional

from _cli import DEFAULT_MAX_PIXELS, add_layout_arguments, layout_options

CHECKS_HELP = '''checks (severity):
  entry (error), label-file (error), feature (error),
  label-without-image (error), image (error), split-missing (error),
  split-duplicate (error), split-overlap (error), split-file (error),
  image-without-label (warning), image-size (warning),
  image-pixels (warning), image-id (warning), outside (warning),
  empty (warning), no-polygon (warning), split-scene (warning);
  with --meta-dir: meta-file (error), image-without-meta (error),
  class-value (warning);
  with --vector: feature (error), class-value (warning),
  image-georef (error), vector-crs (error), image-without-label (warning)'''

EXIT_STATUS = '''exit status:
  0  no error found (warnings allowed unless --strict)
  1  the data has errors (or warnings, with --strict): see the table
  2  bad usage, or the check could not run (missing data root, existing
     --csv without --overwrite, ...)'''


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (standard library only: --help is quick)."""
    parser = argparse.ArgumentParser(
        description='Validate the images, label files and split files of a '
        'data root.',
        epilog=f'{CHECKS_HELP}\n\n{EXIT_STATUS}',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--csv', help='also write every row to this CSV file '
                        '(refused up front if it exists)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing CSV file')
    parser.add_argument('--splits', nargs='*', metavar='FILE',
                        help='split files to check (default: '
                        'DATA_ROOT/splits/*.txt)')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--image-size', type=int, nargs=2,
                      metavar=('HEIGHT', 'WIDTH'),
                      help='expected image size (default: the size most '
                      'images share, e.g. 1024 1024 for the release, 256 256 '
                      'for data/sia_sample)')
    size.add_argument('--any-size', action='store_true',
                      help='do not compare image sizes')
    parser.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help='report images with more pixels, which the '
                        "other tools leave out (default: Pillow's "
                        'decompression-bomb limit 178956970; 0: no limit)')
    parser.add_argument('--scene-pattern', default=None, metavar='REGEX',
                        help='regular expression naming a tile\'s scene for '
                        "the split-scene check (default: the release's: what "
                        "follows the tile number, '^[^_]+_(?P<scene>.+)$'; "
                        "'': no scene check)")
    parser.add_argument('--verify-images', action='store_true',
                        help='decode every image completely (slow)')
    parser.add_argument('--strict', action='store_true',
                        help='exit with status 1 on warnings too')
    parser.add_argument('--max-rows', type=int, default=40,
                        help='rows shown on screen (default 40)')
    add_layout_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    from mmseg_sia.dataset_tools.cli import EXIT_DATA_ERRORS, run_tool

    def body() -> int:
        from mmseg_sia.dataset_tools import DEFAULT_SCENE_PATTERN
        from mmseg_sia.dataset_tools import check_dataset

        pattern = args.scene_pattern
        if pattern is None:
            pattern = DEFAULT_SCENE_PATTERN
        report = check_dataset(
            args.data_root,
            split_files=args.splits,
            image_size=args.image_size,
            same_size=not args.any_size,
            verify_images=args.verify_images,
            max_pixels=args.max_pixels or None,
            scene_pattern=pattern or None,
            csv=args.csv,
            overwrite=args.overwrite,
            **layout_options(args))
        print(report.format(max_rows=args.max_rows))
        if args.csv:
            print(f'wrote {len(report.rows)} rows to {args.csv}')
        if report.num_errors or (args.strict and report.num_warnings):
            return EXIT_DATA_ERRORS
        return 0

    return run_tool(body)


if __name__ == '__main__':
    sys.exit(main())
