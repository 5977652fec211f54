"""Draw tiles with their rasterized labels into a folder.

From a data root (tiles as released), or from a config's pipeline to look at
the augmentations the model is trained with. Colours are the dataset
palette. Existing pictures are kept unless ``--overwrite``.

Examples::

    python tools/browse_dataset.py --data-root data/sia --out-dir vis -n 16
    python tools/browse_dataset.py --config configs/sia/my_config.py \\
        --out-dir vis_aug -n 4 --repeats 3 --mode blend
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import DictAction

import mmseg_sia  # noqa: F401  (registers the plugin)
from mmseg_sia.dataset_tools import browse_dataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Draw tiles with their labels, from a data root or a '
        "config's data pipeline.")
    parser.add_argument('--out-dir', required=True,
                        help='folder for the pictures')
    parser.add_argument('--data-root',
                        help='data root (with --config: replaces the '
                        "config's data_root)")
    parser.add_argument('--config', help='config file whose pipeline to use')
    parser.add_argument('-n', '--num', type=int, default=8,
                        help='tiles to draw, chosen at random (0: all; '
                        'default 8)')
    parser.add_argument('--mode', choices=['side', 'blend'], default='side',
                        help='labels beside the image or blended over it')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='label opacity for --mode blend (default 0.5)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the choice of tiles (default 0)')
    parser.add_argument('--stems', nargs='*',
                        help='draw these tiles (data root mode)')
    parser.add_argument('--split', dest='split_file',
                        help='choose among the stems of this split file '
                        '(data root mode)')
    parser.add_argument('--phase', choices=['train', 'val', 'test'],
                        default='train',
                        help='which dataloader of the config (default train)')
    parser.add_argument('--repeats', type=int, default=1,
                        help='pictures per tile, each with new random '
                        'augmentations (config mode)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing pictures')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    if args.data_root is None and args.config is None:
        print('error: give --data-root or --config', file=sys.stderr)
        return 2
    try:
        written = browse_dataset(
            args.out_dir,
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
            progress=not args.no_progress)
    except (OSError, ValueError, KeyError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {len(written)} pictures to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
