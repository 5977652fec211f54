"""From a checkpoint and an image to a mask, polygons and georeferenced files.

The calls mirror :mod:`mmseg.apis`, one module per job:

* :mod:`.model`: :func:`init_segmentor`, ``mmseg.apis.init_model`` plus the
  checks a user needs (missing files, a checkpoint trained for other
  classes); it returns the same model, so ``inference_model`` /
  ``show_result_pyplot`` work on it;
* :mod:`.segment`: :func:`load_image` and :func:`segment_image`, the
  sliding-window inference of mmseg's ``test_cfg=dict(mode='slide')``,
  streamed over the rows of the image;
* :mod:`.footprints`: where a tile's footprint comes from;
* :mod:`.prediction`: :func:`predict` and :class:`SIAPrediction` (mask,
  polygons, measures, output documents);
* :mod:`.writers`: the output files, each streamed and written atomically.

This module keeps the names it always had; import from
:mod:`mmseg_sia.apis`.
"""
from .footprints import find_footprint, find_label_files
from .model import CheckpointMismatchError, init_segmentor
from .prediction import SIAPrediction, predict
from .segment import (DEFAULT_WINDOW, ImageReadError, load_image,
                      segment_image, window_grid)

__all__ = [
    'ImageReadError', 'CheckpointMismatchError', 'DEFAULT_WINDOW',
    'load_image', 'init_segmentor', 'window_grid', 'segment_image',
    'SIAPrediction', 'predict', 'find_label_files', 'find_footprint'
]
