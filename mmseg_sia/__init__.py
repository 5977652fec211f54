"""mmseg-sia: MMSegmentation plugin for the AIHub KOMPSAT-3A building and
road data.

Importing the package applies the runtime fixes of :mod:`mmseg_sia.compat`
and registers the plugin's datasets, transforms, models and metrics with
mmseg's registries, so ``custom_imports=dict(imports=['mmseg_sia'])`` in a
config is all a user needs.
"""
from .compat import apply_patches

apply_patches()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .datasets import LoadPolygonAnnotations, SIADataset  # noqa: E402
from .labels import (LabelFileError, SIALabelWarning,  # noqa: E402
                     read_label_file, rasterize_label_files)
from .version import __version__  # noqa: E402

__all__ = [
    '__version__', 'SIADataset', 'LoadPolygonAnnotations', 'LabelFileError',
    'SIALabelWarning', 'read_label_file', 'rasterize_label_files'
]
