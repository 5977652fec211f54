"""Convert the AIHub JSON polygon labels into PNG class-id masks.

Writes ``OUTPUT_DIR/<stem>.png`` for every image of DATA_ROOT: 0 background,
1 building, 2 road; the map ``LoadPolygonAnnotations`` makes for that tile.
With ``--color`` also RGB masks in the dataset palette (the seed's colours).
Existing files are kept unless ``--overwrite``; every file is written
atomically. A tile that cannot be converted (unreadable label file or
image, an image over --max-pixels) is listed and the others are converted.

Example::

    python tools/convert_labels.py data/sia_sample \\
        --output-dir work_dirs/sample_masks --color
    python tools/convert_labels.py data/city --img-suffix .tif \\
        --vector footprints.gpkg --class-field kind --output-dir masks
"""
import argparse
import sys
from typing import List, Optional

from _cli import DEFAULT_MAX_PIXELS, add_layout_arguments, layout_options

EXIT_STATUS = '''exit status:
  0  every tile converted (or kept, as it existed)
  1  the data has errors: some tiles or folder entries failed (listed)
  2  bad usage, or the tool could not run (missing data root, output
     folder that is the image folder, ...)'''


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (standard library only: --help is quick)."""
    parser = argparse.ArgumentParser(
        description='Convert JSON polygon labels into PNG class-id masks.',
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--output-dir', '--out-dir', dest='output_dir',
                        required=True, metavar='DIR',
                        help='folder for the <stem>.png class-id masks')
    parser.add_argument('--color', action='store_true',
                        help='also write RGB masks in the dataset palette')
    parser.add_argument('--color-dir', metavar='DIR',
                        help='folder for the colour masks (implies --color; '
                        'default: OUTPUT_DIR_color; not OUTPUT_DIR itself)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing masks')
    parser.add_argument('--split', dest='split_file', metavar='FILE',
                        help='convert only the stems of this split file')
    parser.add_argument('--strict', action='store_true',
                        help='fail a tile on its first malformed feature '
                        'instead of skipping the feature')
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
        from mmseg_sia.dataset_tools import convert_labels

        summary = convert_labels(
            args.data_root,
            args.output_dir,
            color=args.color,
            color_dir=args.color_dir,
            overwrite=args.overwrite,
            split_file=args.split_file,
            strict=args.strict,
            max_pixels=args.max_pixels or None,
            **layout_options(args))
        print(summary.format())
        return 0 if summary.ok else EXIT_DATA_ERRORS

    return run_tool(body)


if __name__ == '__main__':
    sys.exit(main())
