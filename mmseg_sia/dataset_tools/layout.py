"""The label layouts the dataset tools read, as the datasets read them.

* ``'aihub'``: the first release, ``*_imcoords`` pixel polygons
  (:class:`SIADataset`);
* ``'landcover'``: AIHub's land-cover release, GeoJSON polygons in map
  coordinates placed by META files (:class:`SIALandCoverDataset`,
  ``meta_dir``);
* ``'vector'``: georeferenced rasters plus one vector file with a class field
  (:class:`SIAVectorDataset`, ``vector_file`` and ``attribute``).

For the two map-coordinate layouts a tile's labels are the ``map_labels``
of the dataset's data info, and they are drawn by
:func:`mmseg_sia.maplabels.draw_map_labels`, the function
:class:`LoadPolygonAnnotations` draws them with.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..georef import GeorefError
from ..labels import DEFAULT_CLASS_MAP
from .common import TileIndex, class_names

__all__ = ['Layout', 'resolve_layout', 'draw_tile_spec',
           'VECTOR_CLASS_MAP', 'landcover_names']

#: Default class map of the vector layout: the field's values 'building'
#: and 'road' (the classes and palette of :class:`SIADataset`).
VECTOR_CLASS_MAP: Dict[str, int] = {'building': 1, 'road': 2}


def landcover_names(class_map: Mapping) -> Dict[int, str]:
    """Class id -> name for an ``ANN_CD`` class map."""
    from ..maplabels import LANDCOVER_CODES

    names = {0: 'background'}
    for code, class_id in class_map.items():
        if class_id and code in LANDCOVER_CODES:
            names.setdefault(class_id, LANDCOVER_CODES[code][1])
        elif class_id:
            names.setdefault(class_id, str(code))
    return dict(sorted(names.items()))


def value_names(class_map: Mapping) -> Dict[int, str]:
    """Class id -> name for a vector class map (the first value of each id;
    0 is background)."""
    names = {0: 'background'}
    for value, class_id in class_map.items():
        if class_id:
            names.setdefault(class_id, str(value))
    return dict(sorted(names.items()))


@dataclass
class Layout:
    """One tool run's layout: its class map and how each tile's labels are
    found.

    Attributes:
        kind (str): ``'aihub'``, ``'landcover'`` or ``'vector'``.
        class_map (dict): ``*_imcoords`` key, ``ANN_CD`` code or field
            value -> class id.
        names (dict[int, str]): Class id -> name.
        metas (dict[str, str]): Land cover: image stem -> META file.
        vector (VectorLabels | None): Vector: the file, read once.
        attribute (str): Map layouts: the class property or field.
    """
    kind: str
    class_map: Dict[object, int]
    names: Dict[int, str]
    metas: Dict[str, str] = field(default_factory=dict)
    vector: object = None
    attribute: str = 'ANN_CD'

    @property
    def map_coordinates(self) -> bool:
        """Whether labels are in map coordinates (drawn from a spec)."""
        return self.kind != 'aihub'

    def spec(self, stem: str, img_path: Optional[str],
             label_paths: Sequence[str] = ()) -> dict:
        """The ``map_labels`` of a tile, as the dataset gives it.

        Raises:
            GeorefError: When the tile cannot be placed: a land-cover image
                without META file, a vector image without georeference or
                whose outline cannot be taken to the vector file's CRS (the
                message names the image).
        """
        if self.kind == 'landcover':
            meta = self.metas.get(stem)
            if meta is None:
                raise GeorefError(img_path, 'has no META file '
                                  '(<stem>_META.json)')
            return dict(paths=list(label_paths), meta_path=meta,
                        attribute=self.attribute, class_map=self.class_map,
                        crs=None)
        if self.kind == 'vector':
            return self.vector.map_labels(img_path)
        raise ValueError('the first-release layout has no map_labels')

    def safe_spec(self, stem: str, img_path: Optional[str],
                  label_paths: Sequence[str] = ()) -> object:
        """:meth:`spec`, or the :class:`GeorefError` it raises (for the
        tools' tasks, which report it with the tile)."""
        try:
            return self.spec(stem, img_path, label_paths)
        except GeorefError as e:
            return e


def resolve_layout(data_root: str,
                   class_map: Optional[Mapping] = None,
                   meta_dir: Optional[str] = None,
                   vector_file: Optional[str] = None,
                   attribute: Optional[str] = None,
                   layer: Optional[str] = None,
                   vector_crs=None,
                   tool: str = 'dataset tool') -> Layout:
    """The layout of a tool's run from its options.

    Args:
        data_root (str): The data root.
        class_map (Mapping, optional): The caller's class map; None for the
            layout's default (``*_imcoords`` keys; ``ANN_CD`` 10 building,
            30 road, the other codes background; field values 'building'
            and 'road').
        meta_dir (str, optional): The land-cover META folder under
            ``data_root``.
        vector_file (str, optional): The vector file, under ``data_root``
            unless absolute (as ``SIAVectorDataset``'s ``vector_file``).
        attribute (str, optional): Its class field (required with
            ``vector_file``); for land cover the class property (default
            ``'ANN_CD'``).
        layer (str, optional): The vector file's layer (default: the first).
        vector_crs: The vector file's CRS when it names none.
        tool (str): The tool's name, for messages.

    Returns:
        Layout: The layout.

    Raises:
        ValueError: For options that do not go together, a class map with
            ids outside [0, 254] (or, for AIHub label files, keyed by
            anything but ``*_imcoords`` properties), a vector file without
            ``attribute``.
        FileNotFoundError: When the vector file does not exist.
        VectorFileError: When it cannot be read or lacks the field.
    """
    from ..datasets.landcover import check_class_map, index_meta_files

    if meta_dir is not None and vector_file is not None:
        raise ValueError(f'{tool}: give either a META folder (land-cover '
                         'layout) or a vector file, not both')
    if vector_file is None and layer is not None:
        raise ValueError(f'{tool}: a layer applies to a vector file only')
    if vector_file is not None:
        from ..datasets.vector import VectorLabels

        if not attribute:
            raise ValueError(f'{tool}: a vector file needs the name of its '
                             'class field (--class-field)')
        path = vector_file if osp.isabs(vector_file) else osp.join(
            data_root, vector_file)
        cmap = check_class_map(
            VECTOR_CLASS_MAP if class_map is None else class_map, None, tool)
        vector = VectorLabels(path, attribute, cmap, layer, vector_crs,
                              warn=False)
        return Layout('vector', cmap, value_names(cmap), vector=vector,
                      attribute=attribute)
    if meta_dir is not None:
        from ..maplabels import LANDCOVER_BUILDING_ROAD

        cmap = check_class_map(
            LANDCOVER_BUILDING_ROAD if class_map is None else class_map,
            None, tool)
        return Layout('landcover', cmap, landcover_names(cmap),
                      metas=index_meta_files(osp.join(data_root, meta_dir)),
                      attribute=attribute or 'ANN_CD')
    if attribute is not None:
        raise ValueError(f'{tool}: a class field applies to a vector file '
                         'only (--vector)')
    cmap = dict(DEFAULT_CLASS_MAP if class_map is None else class_map)
    # A map keyed by anything but label-file properties would draw every
    # tile as background without a word (e.g. ANN_CD codes given without
    # --meta-dir): refuse it.
    wrong = [key for key in cmap
             if not (isinstance(key, str) and key.endswith('_imcoords'))]
    if wrong:
        raise ValueError(
            f'{tool}: the class map of AIHub label files is keyed by their '
            f'polygon properties (e.g. building_imcoords=1 '
            f'road_imcoords=2), not {wrong[0]!r}; ANN_CD codes need the '
            'land-cover layout (--meta-dir), field values a vector file '
            '(--vector)')
    cmap = check_class_map(cmap, None, tool)
    return Layout('aihub', cmap, class_names(cmap))


def draw_tile_spec(spec: object, img_path: str, shape: Tuple[int, int],
                   priority: Optional[Sequence[int]], strict: bool = False
                   ) -> tuple:
    """Draw a map-coordinate tile from its spec (see :meth:`Layout.spec`),
    as ``LoadPolygonAnnotations`` draws it, without warnings (the tools
    report what was skipped themselves).

    Returns:
        tuple: ``(seg, files, georef)`` of
        :func:`~mmseg_sia.maplabels.draw_map_labels`.

    Raises:
        GeorefError: The error the spec holds, or one from drawing.
        LabelFileError: When a label file cannot be read.
    """
    from ..maplabels import draw_map_labels

    if isinstance(spec, BaseException):
        raise spec
    return draw_map_labels(spec, img_path, shape, priority=priority,
                           strict=strict, warn=False)


def pixel_areas(files: Sequence, georef, keep=None) -> list:
    """``(file, polygon, area)`` of the polygons of map-coordinate label
    files (those ``keep(polygon)`` accepts), the area in square pixels
    (holes taken out) after mapping the rings to the image's pixel plane."""
    from .stats import polygon_area

    out = []
    for f in files:
        polys = [p for p in f.polygons if keep is None or keep(p)]
        rings = [r for p in polys for r in p.rings]
        if not rings:
            continue
        pixel = georef.rings_to_pixel(rings, f.crs)
        at = 0
        for p in polys:
            n = len(p.rings)
            area = polygon_area(pixel[at]) - sum(
                polygon_area(r) for r in pixel[at + 1:at + n])
            out.append((f, p, float(np.abs(area))))
            at += n
    return out


def tile_index_for(layout: Layout, index: TileIndex) -> TileIndex:
    """Adjust a tile index to the layout: a vector layout has no label
    files; land-cover META files in the labels folder are not labels."""
    if layout.kind == 'vector':
        index.labels = {}
    elif layout.kind == 'landcover':
        for path in layout.metas.values():
            index.labels.pop(osp.splitext(osp.basename(path))[0], None)
    return index
