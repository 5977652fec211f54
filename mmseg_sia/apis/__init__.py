"""Python API for inference with mmseg-sia models.

Segment tiles or whole scenes (streamed sliding windows), turn the masks into
polygons, georeference them from the tile footprint, and write masks,
overlays, label JSON, GeoJSON and a run summary. See :func:`predict`, and
:func:`predict_scene` for georeferenced rasters of any size (streamed).

Arrays are in mmseg's channel order, BGR (``cv2.imread``), unless a function
is told ``channel_order='rgb'``.
"""
from ..geo import (FootprintError, GeoTransform, footprint_transform,
                   order_footprint_corners, read_footprint)
from ..vectorize import (MaskPolygon, binary_to_polygons, clean_mask,
                         keyhole_ring, mask_to_polygons, polygons_to_mask)
from .footprints import find_footprint, find_label_files
from .model import CheckpointMismatchError, init_segmentor
from .prediction import SIAPrediction, predict
from .raster import (MaskCogWriter, RasterError, RasterReader, is_scene,
                     parse_bands, parse_stretch, save_mask_cog)
from .scene import SceneWriter, predict_scene
from .stitching import BandPolygonizer
from .segment import (DEFAULT_WINDOW, ImageReadError, iter_segment_rows,
                      load_image, segment_image, window_grid)
from .workers import WriterPool
from .writers import (ALL_FORMATS, IMAGE_FORMATS, RUN_FORMATS, blend_overlay,
                      json_chunks, output_paths, overlay_bands, png_stream,
                      save_json, save_mask_png, save_overlay_png,
                      save_gpkg, save_rgb_png, summary_frame,
                      write_summary_csv)

__all__ = [
    'init_segmentor', 'predict', 'segment_image', 'SIAPrediction',
    'load_image', 'window_grid', 'find_footprint', 'find_label_files',
    'ImageReadError', 'CheckpointMismatchError', 'DEFAULT_WINDOW',
    'FootprintError', 'GeoTransform', 'footprint_transform',
    'order_footprint_corners', 'read_footprint', 'MaskPolygon',
    'binary_to_polygons', 'clean_mask', 'keyhole_ring', 'mask_to_polygons',
    'polygons_to_mask', 'ALL_FORMATS', 'IMAGE_FORMATS', 'RUN_FORMATS',
    'blend_overlay', 'output_paths', 'save_json', 'save_mask_png',
    'save_rgb_png', 'write_summary_csv', 'save_overlay_png', 'overlay_bands',
    'png_stream', 'json_chunks', 'summary_frame', 'RasterError',
    'RasterReader', 'is_scene', 'parse_bands', 'parse_stretch',
    'save_mask_cog', 'save_gpkg', 'MaskCogWriter', 'BandPolygonizer',
    'SceneWriter', 'predict_scene', 'iter_segment_rows', 'WriterPool'
]
