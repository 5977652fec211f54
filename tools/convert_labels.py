"""Convert the AIHub JSON polygon labels into PNG class-id masks.

Writes ``OUT_DIR/<stem>.png`` for every image of DATA_ROOT: 0 background,
1 building, 2 road; the map ``LoadPolygonAnnotations`` makes for that tile.
With ``--color`` also RGB masks in the dataset palette (the seed's colours).
Existing files are kept unless ``--overwrite``; every file is written
atomically. Exit status: 0 on success, 1 when some tile failed, 2 on bad
arguments.

Example::

    python tools/convert_labels.py data/sia --out-dir data/sia/masks \\
        --workers 8
"""
import argparse
import sys
from typing import List, Optional

import mmseg_sia  # noqa: F401  (registers the plugin)
from mmseg_sia.dataset_tools import convert_labels
from mmseg_sia.dataset_tools.common import add_layout_arguments, layout_options


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Convert JSON polygon labels into PNG class-id masks.')
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the <stem>.png class-id masks')
    parser.add_argument('--color', action='store_true',
                        help='also write RGB masks in the dataset palette')
    parser.add_argument('--color-dir',
                        help='folder for the colour masks (implies --color; '
                        'default: OUT_DIR_color)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing masks')
    parser.add_argument('--split', dest='split_file',
                        help='convert only the stems of this split file')
    parser.add_argument('--strict', action='store_true',
                        help='fail a tile on its first malformed feature '
                        'instead of skipping the feature')
    add_layout_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    try:
        summary = convert_labels(
            args.data_root,
            args.out_dir,
            color=args.color,
            color_dir=args.color_dir,
            overwrite=args.overwrite,
            split_file=args.split_file,
            strict=args.strict,
            **layout_options(args))
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(summary.format())
    return 0 if summary.ok else 1


if __name__ == '__main__':
    sys.exit(main())
