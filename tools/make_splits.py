"""Write train/val split files for an AIHub satellite data root.

Tiles are cut from scenes (``BLD00596_PS3_K3A_NIA0277`` is a tile of scene
``PS3_K3A_NIA0277``); by default every scene goes whole to one split, so that
no scene is seen in training and scored in validation. Scenes are chosen
with ``--seed`` so that each content stratum (building only / road only /
both / none) keeps about ``--val-ratio`` of its tiles in val. The summary
lists the scenes of each split. ``DATA_ROOT/splits/train.txt`` and
``val.txt`` get one stem a line; existing split files are refused up front
unless ``--overwrite``.

Example::

    python tools/make_splits.py data/sia_sample --split-dir work_splits \\
        --val-ratio 0.2 --seed 0
    python tools/make_splits.py data/city --img-suffix .tif \\
        --vector footprints.gpkg --class-field kind --no-group
"""
import argparse
import sys
from typing import List, Optional

from _cli import add_layout_arguments, layout_options

EXIT_STATUS = '''exit status:
  0  split files written; every tile used
  1  split files written, but the data has errors: some tiles or folder
     entries were left out (listed)
  2  bad usage, or the tool could not run (existing split files without
     --overwrite, every tile of one scene, ...)'''


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (standard library only: --help is quick)."""
    parser = argparse.ArgumentParser(
        description='Write train/val split files, grouped by scene and '
        'stratified by content.',
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='folder holding images/ and labels/')
    parser.add_argument('--val-ratio', type=float, default=0.2,
                        help='share of tiles for val, in (0, 1) '
                        '(default 0.2)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the shuffle (default 0)')
    parser.add_argument('--split-dir', default='splits',
                        help='folder for the split files, relative to '
                        'DATA_ROOT (default splits)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing split files')
    parser.add_argument('--no-group', action='store_true',
                        help='do not keep the tiles of a scene together '
                        '(validation scores then come out too high)')
    parser.add_argument('--scene-pattern', metavar='REGEX', default=None,
                        help='regular expression naming a tile\'s scene: '
                        'its group "scene", else its first group (default: '
                        "what follows the tile number, "
                        "'^[^_]+_(?P<scene>.+)$')")
    add_layout_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.val_ratio < 1:
        parser.error(f'--val-ratio must be in (0, 1), got {args.val_ratio}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status."""
    args = parse_args(argv)
    from mmseg_sia.dataset_tools.cli import EXIT_DATA_ERRORS, run_tool

    def body() -> int:
        from mmseg_sia.dataset_tools import DEFAULT_SCENE_PATTERN, make_splits

        result = make_splits(
            args.data_root,
            val_ratio=args.val_ratio,
            seed=args.seed,
            split_dir=args.split_dir,
            overwrite=args.overwrite,
            group_by_scene=not args.no_group,
            scene_pattern=args.scene_pattern or DEFAULT_SCENE_PATTERN,
            **layout_options(args))
        print(result.format())
        return 0 if result.ok else EXIT_DATA_ERRORS

    return run_tool(body)


if __name__ == '__main__':
    sys.exit(main())
