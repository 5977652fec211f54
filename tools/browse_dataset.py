"""Draw tiles with their rasterized labels into a folder.

From a data root (tiles as released), or from a config's pipeline to look at
the augmentations the model is trained with. Colours are the dataset
palette. Existing pictures are refused up front unless ``--overwrite``; a
tile that cannot be drawn is listed and the others are drawn.

Examples::

    python tools/browse_dataset.py data/sia_sample \\
        --output-dir work_dirs/sample_browse -n 4
    python tools/browse_dataset.py --config configs/sia/my_config.py \\
        --output-dir vis_aug -n 4 --repeats 3 --mode blend
"""
import argparse
import sys
from typing import List, Optional

from _cli import DEFAULT_MAX_PIXELS, LazyDictAction

EXIT_STATUS = '''exit status:
  0  every picture drawn
  1  the data has errors: some tiles or folder entries could not be drawn
     (listed)
  2  bad usage, or the tool could not run (neither DATA_ROOT nor --config,
     existing pictures without --overwrite, ...)

--data-root DIR and --out-dir DIR, the spellings of earlier versions, are
still accepted.'''


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (standard library only: --help is quick)."""
    parser = argparse.ArgumentParser(
        description='Draw tiles with their labels, from a data root or a '
        "config's data pipeline.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', nargs='?',
                        help='data root to draw from (with --config: '
                        "replaces the config's data_root)")
    parser.add_argument('--config', help='config file whose pipeline to use')
    parser.add_argument('--output-dir', '--out-dir', dest='output_dir',
                        metavar='DIR', required=True,
                        help='folder for the pictures')
    parser.add_argument('--data-root', dest='data_root_option',
                        help=argparse.SUPPRESS)
    parser.add_argument('-n', '--num', type=int, default=8,
                        help='tiles to draw, chosen at random (0: all; '
                        'default 8)')
    parser.add_argument('--mode', choices=['side', 'blend'], default='side',
                        help='labels beside the image or blended over it')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='label opacity for --mode blend, in [0, 1] '
                        '(default 0.5)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the choice of tiles (default 0)')
    parser.add_argument('--stems', nargs='*',
                        help='draw these tiles (data root mode)')
    parser.add_argument('--split', dest='split_file', metavar='FILE',
                        help='choose among the stems of this split file '
                        '(data root mode)')
    parser.add_argument('--phase', choices=['train', 'val', 'test'],
                        default='train',
                        help='which dataloader of the config (default train)')
    parser.add_argument('--repeats', type=int, default=1,
                        help='pictures per tile, each with new random '
                        'augmentations (with --config)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        action=LazyDictAction,
                        help='override config settings, as in mmseg tools')
    parser.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help='do not draw (but list) tiles whose image has '
                        "more pixels (default: Pillow's decompression-bomb "
                        'limit 178956970; 0: no limit)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing pictures')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    args = parser.parse_args(argv)
    if args.data_root_option is not None:
        if args.data_root is not None:
            parser.error('give the data root once (positional; --data-root '
                         'is its old spelling)')
        args.data_root = args.data_root_option
    if args.data_root is None and args.config is None:
        parser.error('give a DATA_ROOT or --config')
    if not 0.0 <= args.alpha <= 1.0:
        parser.error(f'--alpha must be in [0, 1], got {args.alpha}')
    if args.repeats < 1:
        parser.error(f'--repeats must be at least 1, got {args.repeats}')
    if args.config is None and args.repeats != 1:
        parser.error('--repeats needs --config (a tile read as released '
                     'looks the same every time)')
    if args.config is not None and (args.stems or args.split_file):
        parser.error('--stems and --split apply without --config; with a '
                     'config, change its ann_file with --cfg-options')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    from mmseg_sia.dataset_tools.cli import EXIT_DATA_ERRORS, run_tool

    def body() -> int:
        from mmseg_sia.dataset_tools import browse_dataset

        errors: list = []
        written = browse_dataset(
            args.output_dir,
            data_root=args.data_root,
            config=args.config,
            num=args.num,
            mode=args.mode,
            alpha=args.alpha,
            seed=args.seed,
            stems=args.stems,
            split_file=args.split_file,
            phase=args.phase,
            repeats=args.repeats,
            cfg_options=args.cfg_options,
            overwrite=args.overwrite,
            max_pixels=args.max_pixels or None,
            progress=not args.no_progress,
            errors=errors)
        print(f'wrote {len(written)} pictures to {args.output_dir}')
        if errors:
            print(f'{len(errors)} tile(s) or entries not drawn:')
            for _, message in errors[:20]:
                print(f'  {message}')
            if len(errors) > 20:
                print(f'  ... {len(errors) - 20} more')
            return EXIT_DATA_ERRORS
        return 0

    return run_tool(body)


if __name__ == '__main__':
    sys.exit(main())
