"""What the command-line tools share, cheap to import.

``--help`` must answer at once, so nothing here imports torch, mmseg or the
plugin; they are imported when a command really runs.
"""
import argparse
import sys
from typing import Callable, NoReturn

#: ``--max-pixels`` default: Pillow's decompression-bomb limit (the same
#: number as ``mmseg_sia.dataset_tools.DEFAULT_MAX_PIXELS``, spelt out here
#: so that ``--help`` imports nothing).
DEFAULT_MAX_PIXELS = 178_956_970


class LazyDictAction(argparse.Action):
    """mmengine's ``DictAction``, imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        DictAction(self.option_strings, self.dest)(parser, namespace, values,
                                                   option_string)


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    print(f'error: {message}', file=sys.stderr)
    sys.exit(code)


def run_main(main: Callable[[], None]) -> None:
    """Run ``main``; a user's mistake is one line on stderr, not a traceback.

    Exit code 2 for a command that cannot start (a missing file, an option
    this machine cannot honour), 1 for a checkpoint that cannot be used.
    Anything else is a bug and keeps its traceback.
    """
    try:
        main()
    except FileNotFoundError as e:
        fail(str(e), 2)
    except Exception as e:
        from mmseg_sia.checkpoint import (CheckpointMismatchError,
                                          UnsafeCheckpointError)
        from mmseg_sia.runner import UsageError
        if isinstance(e, UsageError):
            fail(str(e), 2)
        if isinstance(e, (CheckpointMismatchError, UnsafeCheckpointError)):
            fail(str(e), 1)
        raise


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """The folder layout, workers and progress options of the dataset tools."""
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
    group.add_argument('--meta-dir', default=None, metavar='DIR',
                       help="AIHub's land-cover layout: its META folder under "
                       'DATA_ROOT (e.g. --meta-dir TL_AP25_512픽셀_Meta '
                       '--img-suffix .tif); ANN_CD 10 is building, 30 road')
    group.add_argument('--vector', default=None, metavar='FILE',
                       help='georeferenced images (GeoTIFF, or a world file '
                       'with .prj) labelled by one vector file (GeoPackage, '
                       'Shapefile, GeoJSON) under DATA_ROOT, as '
                       'SIAVectorDataset reads them; needs --class-field')
    group.add_argument('--class-field', default=None, metavar='NAME',
                       help="the vector file's field holding the class")
    group.add_argument('--layer', default=None, metavar='NAME',
                       help='layer of the vector file (default: the first)')
    group.add_argument('--vector-crs', default=None, metavar='CRS',
                       help="the vector file's CRS when it names none "
                       '(e.g. EPSG:5186)')
    group.add_argument('--class-map', nargs='+', action=LazyDictAction,
                       default=None, metavar='VALUE=ID',
                       help='class value -> class id: label-file '
                       'properties for AIHub labels (default '
                       'building_imcoords=1 road_imcoords=2), field values '
                       'for --vector (default building=1 road=2), ANN_CD '
                       'codes for --meta-dir (default 10=1 30=2, other '
                       'codes 0)')


def layout_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of the dataset-tool functions from those options."""
    return dict(workers=args.workers, img_dir=args.img_dir,
                label_dir=args.label_dir, img_suffix=args.img_suffix,
                label_suffix=args.label_suffix,
                progress=not args.no_progress, meta_dir=args.meta_dir,
                vector_file=args.vector, attribute=args.class_field,
                layer=args.layer, vector_crs=args.vector_crs,
                class_map=args.class_map)
