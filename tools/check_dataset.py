"""Validate an AIHub satellite data root with the project's label reader.

Reports, by file and feature: label files that cannot be read, features
that cannot be drawn, images without labels, labels without images, images
that cannot be read or have an unexpected size, ``image_id`` values that
disagree with the file name, vertices outside the image, and duplicated,
shared or dangling stems in the split files. Prints a table; ``--csv FILE``
writes every row. Exit status: 1 when anything is an error (with
``--strict``, a warning too), 2 on bad arguments, else 0.

Example::

    python tools/check_dataset.py data/sia --csv check.csv --workers 8
"""
import argparse
import sys
from typing import List, Optional

import mmseg_sia  # noqa: F401  (registers the plugin)
from mmseg_sia.dataset_tools import CHECKS, check_dataset
from mmseg_sia.dataset_tools.common import add_layout_arguments, layout_options


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    checks = '\n'.join(f'  {name} ({sev}): {what}'
                       for name, (sev, what) in CHECKS.items())
    parser = argparse.ArgumentParser(
        description='Validate the images, label files and split files of a '
        'data root.',
        epilog=f'checks:\n{checks}',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--csv', help='write every row to this CSV file')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing CSV file')
    parser.add_argument('--splits', nargs='*', metavar='FILE',
                        help='split files to check (default: '
                        'DATA_ROOT/splits/*.txt)')
    parser.add_argument('--image-size', type=int, nargs=2,
                        default=[1024, 1024],
                        metavar=('HEIGHT', 'WIDTH'),
                        help='expected image size (default 1024 1024)')
    parser.add_argument('--any-size', action='store_true',
                        help='do not check image sizes')
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
    try:
        report = check_dataset(
            args.data_root,
            split_files=args.splits,
            image_size=None if args.any_size else tuple(args.image_size),
            verify_images=args.verify_images,
            **layout_options(args))
        if args.csv:
            report.to_csv(args.csv, overwrite=args.overwrite)
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(report.format(max_rows=args.max_rows))
    if args.csv:
        print(f'wrote {len(report.rows)} rows to {args.csv}')
    if report.num_errors or (args.strict and report.num_warnings):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
