"""Georeferenced rasters plus one vector file of labels."""
from __future__ import annotations

import os.path as osp
import warnings
from collections import Counter
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..georef import read_raster_georef
from ..maplabels import SIAMapLabelWarning, class_value
from .landcover import check_class_map
from .sia import (IndexProblem, index_images, log_index_problems,
                  split_stems)

__all__ = ['SIAVectorDataset', 'VectorFileError', 'VectorLabels',
           'read_vector_polygons']


class VectorFileError(ValueError):
    """A vector file that cannot serve as labels; names the file (and field).
    """

    def __init__(self, path: str, reason: str,
                 field: Optional[str] = None) -> None:
        self.path, self.reason, self.field = str(path), reason, field
        where = self.path if field is None else f'{self.path}, field {field!r}'
        super().__init__(f'{where}: {reason}')


def _rings_of(geom) -> List[List[np.ndarray]]:
    """The polygons of a (Multi)Polygon as lists of open rings."""
    import shapely

    parts = shapely.get_parts(geom)
    out = []
    for part in parts:
        rings = [part.exterior] + list(part.interiors)
        out.append([
            np.asarray(r.coords, dtype=np.float64)[:-1, :2] for r in rings
        ])
    return out


def read_vector_polygons(path: str,
                         attribute: str,
                         layer: Optional[str] = None,
                         warn: bool = True):
    """Read the polygons of a vector file (GeoPackage, Shapefile, GeoJSON).

    Args:
        path (str): The vector file.
        attribute (str): The field holding the class.
        layer (str, optional): The layer; None reads the first.
        warn (bool): Warn once about features that are not polygons.

    Returns:
        tuple: ``(geometries, values, crs, skipped)``: shapely
        (Multi)Polygons, their normalised class values, the layer's
        :class:`pyproj.CRS` (or None) and ``(feature, reason)`` of the
        features left out.

    Raises:
        VectorFileError: When the file cannot be read, or has no such field
            (the message lists the fields it has).
    """
    return _read_vector(path, attribute, layer, warn)[:4]


def _read_vector(path: str, attribute: str, layer: Optional[str],
                 warn: bool):
    """:func:`read_vector_polygons`, plus the feature number of each
    polygon kept."""
    import pyogrio
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError

    from ..georef import parse_crs

    try:
        info = pyogrio.read_info(path, layer=layer)
    except (DataSourceError, DataLayerError, OSError) as e:
        raise VectorFileError(path, f'cannot be read as a vector file ({e})') \
            from None
    fields = [str(f) for f in info['fields']]
    if attribute not in fields:
        raise VectorFileError(
            path, f'no such field; the layer has {fields}', attribute)
    try:
        meta, _, wkb, data = pyogrio.raw.read(path, layer=layer,
                                              columns=[attribute])
    except (DataSourceError, DataLayerError, OSError) as e:
        raise VectorFileError(path, f'cannot be read ({e})') from None
    crs = None if not meta.get('crs') else parse_crs(meta['crs'], path, 'crs')
    geoms = shapely.from_wkb(wkb, on_invalid='ignore')
    values = data[0]
    keep: List[int] = []
    skipped: List[Tuple[int, str]] = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            skipped.append((i, 'has no geometry (or one that cannot be '
                            'read)'))
        elif geom.geom_type not in ('Polygon', 'MultiPolygon'):
            skipped.append((i, f'is a {geom.geom_type}, not a polygon'))
        elif not np.isfinite(shapely.get_coordinates(geom)).all():
            skipped.append((i, 'has a NaN or infinite coordinate'))
        else:
            keep.append(i)
    if skipped and warn:
        listed = '; '.join(f'{i}: {why}' for i, why in skipped[:10])
        more = '' if len(skipped) <= 10 else f'; ... {len(skipped) - 10} more'
        warnings.warn(
            f'{path}: skipped {len(skipped)} of {len(geoms)} features that '
            f'cannot be drawn (feature {listed}{more})', SIAMapLabelWarning,
            stacklevel=3)
    return (geoms[keep], [class_value(values[i]) for i in keep], crs,
            skipped, keep)


class VectorLabels:
    """A vector file of labels, read once and indexed for every image.

    The one reading of a vector file shared by :class:`SIAVectorDataset` and
    the dataset tools (``--vector``): pyogrio reads the polygons and the
    class field, a shapely ``STRtree`` finds the polygons on each image.

    Args:
        path (str): The vector file (GeoPackage, Shapefile, GeoJSON).
        attribute (str): The field holding the class.
        class_map (Mapping): Field value -> class id (keys normalised with
            :func:`~mmseg_sia.maplabels.class_value`).
        layer (str, optional): The layer; None reads the first.
        crs: The file's CRS when it names none (None: the image's).
        warn (bool): Warn once about features that cannot be drawn and
            about values not in ``class_map``. Defaults to True.

    Attributes:
        crs (pyproj.CRS | None): The polygons' CRS (the file's, else
            ``crs``).
        num_features (int): Features in the layer.
        features (list[int]): Feature number of each usable polygon
            feature.
        skipped (list[tuple[int, str]]): ``(feature, reason)`` of the
            features without a usable polygon.
        unknown (list[tuple[int, object]]): ``(feature, value)`` of the
            polygons whose class value is not in ``class_map`` (not drawn).

    Raises:
        FileNotFoundError: When the file does not exist.
        VectorFileError: When it cannot be read or lacks ``attribute``.
        GeorefError: When ``crs`` (or the file's CRS) is not a known CRS.
    """

    def __init__(self, path: str, attribute: str, class_map: Mapping,
                 layer: Optional[str] = None, crs=None,
                 warn: bool = True) -> None:
        import shapely

        from ..georef import parse_crs

        self.path = str(path)
        self.attribute = attribute
        self.layer = layer
        self.class_map = {class_value(k): v for k, v in class_map.items()}
        if not osp.isfile(self.path):
            raise FileNotFoundError(
                f'vector file {self.path!r} does not exist')
        geoms, values, vcrs, self.skipped, self.features = \
            _read_vector(self.path, attribute, layer, warn)
        if vcrs is None and crs is not None:
            vcrs = parse_crs(crs, None, 'crs (config)')
        self.crs = vcrs
        self.geoms, self.values = geoms, values
        self.num_features = len(self.skipped) + len(values)
        self.unknown = [(int(i), v) for i, v in zip(self.features, values)
                        if v not in self.class_map]
        if self.unknown and warn:
            counts = Counter(v for _, v in self.unknown)
            found = ', '.join(f'{v!r} ({n})' for v, n in sorted(
                counts.items(), key=str))
            warnings.warn(
                f'{self.path}: values of {attribute!r} not in the class map, '
                f'not drawn: {found}', SIAMapLabelWarning, stacklevel=2)
        self.tree = shapely.STRtree(geoms)
        self._rings: Dict[int, list] = {}

    def __len__(self) -> int:
        """Number of usable polygon features."""
        return len(self.geoms)

    def map_labels(self, img_path: str, georef=None) -> dict:
        """The ``map_labels`` of one image's data info: the polygons that
        intersect it, as ``(value, rings)`` pairs, with their CRS, the class
        map and the image's georeference.

        Args:
            img_path (str): The image.
            georef (Georef, optional): Its georeference; None reads it from
                the image (GeoTIFF tags, world file).

        Raises:
            GeorefError: When the image has no georeference, no CRS while
                the vector file has one, or its outline cannot be brought
                into the vector file's CRS (the message names the image).
        """
        import shapely

        from ..georef import GeorefError, read_raster_georef

        if georef is None:
            georef = read_raster_georef(img_path)
        if georef is None:
            raise GeorefError(
                img_path, 'has no georeference (no GeoTIFF tags, no world '
                'file): a vector file cannot label it')
        if self.crs is not None and georef.crs is None:
            raise GeorefError(
                img_path, f'the image has no CRS ({georef.source} '
                f'georeference) and the polygons of {self.path} are in '
                f'{self.crs.to_string()}: name the image CRS (a .prj file)',
                'crs')
        crs = self.crs if self.crs is not None else georef.crs
        bounds = georef.bounds(crs)
        polygons = []
        for i in sorted(self.tree.query(shapely.box(*bounds),
                                        predicate='intersects').tolist()):
            if self.values[i] not in self.class_map:
                continue
            if i not in self._rings:
                self._rings[i] = _rings_of(self.geoms[i])
            polygons += [(self.values[i], rings) for rings in self._rings[i]]
        return dict(polygons=polygons, polygons_crs=crs,
                    class_map=self.class_map, georef=georef,
                    source=f'{self.path} (for {img_path})')


@DATASETS.register_module()
class SIAVectorDataset(BaseSegDataset):
    """A folder of georeferenced rasters labelled by one vector file.

    The vector file (GeoPackage, Shapefile or GeoJSON, any CRS) is read once
    with pyogrio and indexed with a shapely ``STRtree``; every image gets
    the polygons that intersect its footprint, which
    :class:`LoadPolygonAnnotations` reprojects (pyproj) and draws with the
    pixel-centre rule. The images must carry their own georeference
    (GeoTIFF tags, or a world file with a ``.prj``)::

        data_root/
        ├── images/scene_0.tif, scene_1.tif, ...
        └── footprints.gpkg      (field 'kind': 'building' / 'road')

    Args:
        vector_file (str): The vector file; a relative path is taken under
            ``data_root``.
        attribute (str): The field holding the class.
        class_map (dict): Field value -> class id. Values not in it are
            listed in one warning and not drawn.
        layer (str, optional): Layer of the vector file. Defaults to the
            first.
        crs (str | int, optional): The vector file's CRS when it names none.
            Defaults to None (then the image's).
        data_root (str, optional): Root of the data.
        ann_file (str): A split file of stems; '' uses every image.
        data_prefix (dict): ``img_path``. Defaults to
            ``dict(img_path='images')``.
        img_suffix (str): Defaults to '.tif'.
        **kwargs: Further :class:`BaseSegDataset` arguments.
    """

    METAINFO = dict(
        classes=('background', 'building', 'road'),
        palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]])

    def __init__(self,
                 vector_file: str,
                 attribute: str,
                 class_map: Mapping,
                 layer: Optional[str] = None,
                 crs=None,
                 data_root: Optional[str] = None,
                 ann_file: str = '',
                 data_prefix: dict = dict(img_path='images'),
                 img_suffix: str = '.tif',
                 **kwargs) -> None:
        if data_root and not osp.isabs(vector_file):
            vector_file = osp.join(data_root, vector_file)
        self.vector_file = vector_file
        self.attribute = attribute
        self.layer = layer
        self.crs = crs
        self._class_map_given = dict(class_map)
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=dict(data_prefix),
            img_suffix=img_suffix,
            **kwargs)

    @classmethod
    def get_label_map(cls, new_classes: Optional[Sequence] = None) -> None:
        """No label map: ``class_map`` gives the final class ids."""
        return None

    def load_data_list(self) -> List[dict]:
        """Read the vector file once and give every image its polygons.

        Raises:
            FileNotFoundError: When the image folder, the vector file or the
                split file is missing, or a split stem has no image.
            VectorFileError: When the vector file cannot be read or lacks
                ``attribute``.
            GeorefError: When an image has no georeference (the message
                names the images).
        """
        from ..georef import GeorefError

        classes = self._metainfo.get('classes')
        self.class_map = check_class_map(
            self._class_map_given, len(classes) if classes else None,
            type(self).__name__)
        img_dir = self.data_prefix.get('img_path') or ''
        name = type(self).__name__
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'{name}: image folder {img_dir!r} does '
                                    'not exist')
        if not osp.isfile(self.vector_file):
            raise FileNotFoundError(
                f'{name}: vector file {self.vector_file!r} does not exist')
        labels = VectorLabels(self.vector_file, self.attribute,
                              self.class_map, self.layer, self.crs)

        problems: List[IndexProblem] = []
        images = index_images(img_dir, self.img_suffix, problems)
        log_index_problems(type(self).__name__, problems)
        stems = split_stems(name, self.ann_file, images, img_dir,
                            self.img_suffix)
        data_list, bare = [], []
        for stem in stems:
            path = images[stem]
            georef = read_raster_georef(path)
            if georef is None:
                bare.append(path)
                continue
            data_list.append(
                dict(
                    img_path=path,
                    label_paths=[],
                    map_labels=labels.map_labels(path, georef),
                    seg_map_path=None,
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[]))
        if bare:
            raise GeorefError(
                bare[0], f'{len(bare)} image(s) have no georeference (no '
                'GeoTIFF tags, no world file); a vector file cannot label '
                'them: ' + ', '.join(bare[:5]))
        return data_list
