"""Functions behind the dataset tools in ``tools/``.

Each tool is a thin command line over one function here:

* :func:`convert_labels` (``tools/convert_labels.py``): PNG class-id masks
  (and colour masks) from the JSON labels;
* :func:`check_dataset` (``tools/check_dataset.py``): validation report;
* :func:`dataset_stats` (``tools/dataset_stats.py``): tables and plots;
* :func:`make_splits` (``tools/make_splits.py``): train/val split files,
  grouped by scene and stratified by content;
* :func:`browse_dataset` (``tools/browse_dataset.py``): pictures of tiles and
  their labels, from a data root or a config's pipeline.

All of them read labels with :mod:`mmseg_sia.labels`, the reader
``LoadPolygonAnnotations`` uses, and report a bad entry (file, folder,
symbolic link, image) by name while the others go on. :mod:`.cli` holds what
their command lines share (exit statuses 0 / 1 data errors / 2 failure).
"""
from .browse import browse_dataset, draw_sample
from .check import CHECKS, CheckReport, check_dataset
from .common import (DEFAULT_MAX_PIXELS, TileIndex, atomic_write_bytes,
                     atomic_write_text, check_pixels, decode_image,
                     image_size, index_tiles, read_split_file)
from .convert import ConvertSummary, colorize, convert_labels
from .splits import (DEFAULT_SCENE_PATTERN, SplitResult, make_splits,
                     scene_of, tile_content)
from .stats import (DatasetStats, area_bin, class_weights, dataset_stats,
                    polygon_area)

__all__ = [
    'convert_labels', 'ConvertSummary', 'colorize', 'check_dataset',
    'CheckReport', 'CHECKS', 'dataset_stats', 'DatasetStats',
    'class_weights', 'polygon_area', 'make_splits', 'SplitResult',
    'tile_content', 'scene_of', 'DEFAULT_SCENE_PATTERN', 'browse_dataset',
    'draw_sample', 'TileIndex', 'index_tiles', 'read_split_file',
    'image_size', 'check_pixels', 'decode_image', 'DEFAULT_MAX_PIXELS',
    'area_bin', 'atomic_write_bytes', 'atomic_write_text'
]
