"""Label loading for the AIHub polygon labels."""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ...labels import (DEFAULT_CLASS_MAP, DEFAULT_PRIORITY, polygon_coverage,
                       rasterize_label_files)


def boundary_band(polygons: Iterable[np.ndarray], shape: Tuple[int, int],
                  width: int) -> np.ndarray:
    """Pixels within ``width`` pixels of each polygon's outline, inside it.

    Each polygon is rasterized on its own (pixel-centre rule) and its pixels
    that have a pixel outside that polygon within ``width`` rows and columns
    (a ``(2 * width + 1)`` square) form its band. Because every polygon is
    treated separately, two buildings that touch or overlap get a band on
    both sides of their common edge, and their interiors come out apart even
    under 8-connectivity. The tile's own border is not an outline: a
    building cut by the tile edge has no band along that edge.

    Args:
        polygons (Iterable[np.ndarray]): ``(N, 2)`` float vertices ``(x, y)``.
        shape (tuple[int, int]): ``(height, width)`` of the tile.
        width (int): Band width in pixels; 0 gives an empty band.

    Returns:
        np.ndarray: ``(height, width)`` bool mask, the union of the bands.
    """
    height, tile_w = int(shape[0]), int(shape[1])
    band = np.zeros((height, tile_w), dtype=bool)
    if width <= 0:
        return band
    kernel = np.ones((2 * width + 1, 2 * width + 1), dtype=np.uint8)
    for points in polygons:
        points = np.asarray(points, dtype=np.float64)
        if len(points) < 3:
            continue
        # The polygon's box plus one pixel: every pixel outside the polygon
        # that matters for the erosion lies in it or in the padding below.
        r0 = max(int(np.floor(points[:, 1].min())) - 1, 0)
        r1 = min(int(np.ceil(points[:, 1].max())) + 1, height)
        c0 = max(int(np.floor(points[:, 0].min())) - 1, 0)
        c1 = min(int(np.ceil(points[:, 0].max())) + 1, tile_w)
        if r0 >= r1 or c0 >= c1:
            continue
        cover = polygon_coverage([points - (c0, r0)], r1 - r0, c1 - c0)
        if not cover.any():
            continue
        padded = np.pad(cover.astype(np.uint8), width)
        # Beyond the tile counts as inside, so the tile edge makes no band.
        if r0 == 0:
            padded[:width] = 1
        if r1 == height:
            padded[-width:] = 1
        if c0 == 0:
            padded[:, :width] = 1
        if c1 == tile_w:
            padded[:, -width:] = 1
        core = cv2.erode(padded, kernel, borderType=cv2.BORDER_CONSTANT,
                         borderValue=1)[width:-width, width:-width]
        band[r0:r1, c0:c1] |= cover & (core == 0)
    return band


@TRANSFORMS.register_module()
class LoadPolygonAnnotations(BaseTransform):
    """Rasterize a tile's JSON polygon labels into ``gt_seg_map``.

    Takes the place of mmseg's ``LoadAnnotations`` for :class:`SIADataset`:
    the label map is drawn from the polygons at load time, so every later
    transform (``RandomResize``, ``RandomCrop``, ``RandomFlip``,
    ``PackSegInputs``, ...) works unchanged.

    A pixel takes a polygon's class when its centre lies inside the polygon;
    vertices keep their float values; parts outside the image are clipped.
    Where polygons of different classes overlap, ``priority`` decides.
    Malformed features are skipped with one :class:`SIALabelWarning` per file
    (or raise :class:`LabelFileError` with ``strict=True``); a file that is
    not a FeatureCollection always raises :class:`LabelFileError`.

    Required Keys:

    - label_paths (list[str]): the tile's label files (may be empty). A
      sample without this key or ``map_labels`` (bare images, as mmseg's
      inference APIs build them) passes through unchanged.
    - map_labels (dict, optional): polygons in map coordinates, as
      :class:`SIALandCoverDataset` and :class:`SIAVectorDataset` give them:
      ``class_map`` (class value -> id), ``paths`` (GeoJSON label files,
      class in property ``attribute``) and/or ``polygons`` (``(value,
      rings)`` pairs in ``polygons_crs``), ``meta_path`` and ``crs`` (the
      labels' CRS when the files name none), ``georef`` (optional, a
      :class:`~mmseg_sia.georef.Georef`). The image's georeference comes
      from ``georef``, else the image itself, else the META file. When this
      key is present, ``class_map`` and the boundary options of this
      transform do not apply; ``priority``, ``strict``, ``reduce_zero_label``
      and the dataset's ``label_map`` do.
    - ori_shape (tuple[int, int]): shape of the image as loaded; the map has
      this size, the frame the polygon coordinates are given in (so, as with
      mmseg's ``LoadAnnotations``, it may come after ``Resize`` in a test
      pipeline; ``img_shape`` is used when ``ori_shape`` is absent)
    - seg_fields (list[str], optional)
    - label_map (dict, optional)
    - reduce_zero_label (bool, optional)

    Added Keys:

    - gt_seg_map (np.uint8): ``(H, W)`` class ids (with ``boundary_width``
      > 0, ``boundary_label`` marks the band along the outlines of the
      ``boundary_keys`` polygons)

    Modified Keys:

    - seg_fields: ``'gt_seg_map'`` is appended

    Args:
        class_map (dict[str, int]): Polygon property -> class id. Defaults to
            ``{'building_imcoords': 1, 'road_imcoords': 2}``.
        priority (Sequence[int]): Class ids from highest to lowest priority
            where polygons overlap. Defaults to ``(2, 1)`` (road over
            building, as the seed drew roads last).
        strict (bool): Raise on the first feature that cannot be drawn.
            Defaults to False.
        reduce_zero_label (bool, optional): As in mmseg's ``LoadAnnotations``;
            None takes the dataset's value. Defaults to None.
        boundary_width (int): Width in pixels of a band painted along the
            inside of every outline of the ``boundary_keys`` polygons (see
            :func:`boundary_band`), so that touching buildings come out
            separated; 0 turns it off. The band is painted only where the
            map holds that polygon's class (a road drawn over a building
            keeps its pixels). Defaults to 0.
        boundary_label (int, optional): Class id of the band, in [0, 255]
            (255 makes the band ignored in training). None means one more
            than the largest class id of ``class_map`` (3 by default, 2 for
            a building-only ``class_map``). Defaults to None.
        boundary_keys (Sequence[str]): Polygon properties whose outlines get
            a band. Defaults to ``('building_imcoords',)``.
    """

    def __init__(self,
                 class_map: Optional[Mapping[str, int]] = None,
                 priority: Optional[Sequence[int]] = DEFAULT_PRIORITY,
                 strict: bool = False,
                 reduce_zero_label: Optional[bool] = None,
                 boundary_width: int = 0,
                 boundary_label: Optional[int] = None,
                 boundary_keys: Sequence[str] = ('building_imcoords', )
                 ) -> None:
        self.class_map: Dict[str, int] = dict(
            DEFAULT_CLASS_MAP if class_map is None else class_map)
        for key, value in self.class_map.items():
            if not isinstance(value, (int, np.integer)) or not 0 <= value < 255:
                raise ValueError(
                    f'LoadPolygonAnnotations: class id of {key!r} must be an '
                    f'integer in [0, 254], got {value!r}')
        self.priority = tuple(priority) if priority is not None else None
        self.strict = strict
        self.reduce_zero_label = reduce_zero_label
        if isinstance(boundary_width, bool) or \
                not isinstance(boundary_width, (int, np.integer)) or \
                boundary_width < 0:
            raise ValueError(
                'LoadPolygonAnnotations: boundary_width must be an integer '
                f'>= 0, got {boundary_width!r}')
        self.boundary_width = int(boundary_width)
        if boundary_label is None:
            boundary_label = max(self.class_map.values(), default=0) + 1
        if isinstance(boundary_label, bool) or \
                not isinstance(boundary_label, (int, np.integer)) or \
                not 0 <= boundary_label <= 255:
            raise ValueError(
                'LoadPolygonAnnotations: boundary_label must be an integer in '
                f'[0, 255], got {boundary_label!r}')
        self.boundary_label = int(boundary_label)
        if isinstance(boundary_keys, str):
            boundary_keys = (boundary_keys, )
        self.boundary_keys = tuple(boundary_keys)
        if self.boundary_width > 0:
            unknown = [
                k for k in self.boundary_keys if k not in self.class_map
            ]
            if unknown:
                raise ValueError(
                    f'LoadPolygonAnnotations: boundary_keys {unknown} are not '
                    f'in class_map {sorted(self.class_map)}')

    def transform(self, results: dict) -> dict:
        """Draw ``gt_seg_map`` from ``results['label_paths']``.

        Args:
            results (dict): The sample from :class:`SIADataset`.

        Returns:
            dict: ``results`` with ``gt_seg_map`` added.
        """
        shape = results.get('ori_shape') or results.get('img_shape')
        if shape is None:
            raise KeyError(
                'LoadPolygonAnnotations needs the image size: put '
                'LoadImageFromFile before it in the pipeline '
                f'(sample {results.get("img_path")!r})')
        if 'map_labels' in results:
            seg = self._draw_map_labels(results, shape[:2])
        elif 'label_paths' not in results:
            # Inference: mmseg's init_model/inference_model and
            # MMSegInferencer run the test pipeline on bare images, removing
            # only their own LoadAnnotations. Nothing to load then.
            return results
        else:
            paths = results['label_paths']
            if isinstance(paths, str):
                paths = [paths]
            seg, files = rasterize_label_files(
                paths, shape[:2], class_map=self.class_map,
                priority=self.priority, strict=self.strict)
            if self.boundary_width > 0:
                self._paint_boundary(seg, files)

        reduce_zero = self.reduce_zero_label
        if reduce_zero is None:
            reduce_zero = results.get('reduce_zero_label', False)
        if reduce_zero:
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        label_map = results.get('label_map')
        if label_map:
            original = seg.copy()
            for old_id, new_id in label_map.items():
                seg[original == old_id] = new_id
        results['gt_seg_map'] = seg
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def _draw_map_labels(self, results: dict,
                         shape: Tuple[int, int]) -> np.ndarray:
        """Draw polygons given in map coordinates (``results['map_labels']``).

        The image's georeference comes from the image itself (GeoTIFF tags,
        world file), else from ``map_labels['meta_path']``; the polygons'
        CRS from the label file's ``crs`` member, else the META file's EPSG,
        else ``map_labels['crs']``, else the image's. ``map_labels`` holds
        ``class_map`` (class value -> id) and either ``paths`` (label files,
        class in property ``attribute``) or ``polygons`` (``(class value,
        rings)`` pairs already read, e.g. from a vector file).
        """
        from ...maplabels import draw_map_labels

        seg, _, _ = draw_map_labels(results['map_labels'],
                                    results.get('img_path'), shape,
                                    priority=self.priority,
                                    strict=self.strict)
        return seg

    def _paint_boundary(self, seg: np.ndarray, files: list) -> None:
        """Paint ``boundary_label`` on the band of the boundary polygons."""
        polygons = [
            poly.points for label in files for poly in label.polygons
            if poly.key in self.boundary_keys
        ]
        if not polygons:
            return
        band = boundary_band(polygons, seg.shape, self.boundary_width)
        classes = [self.class_map[k] for k in self.boundary_keys]
        seg[band & np.isin(seg, classes)] = self.boundary_label

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(class_map={self.class_map}, '
                f'priority={self.priority}, strict={self.strict}, '
                f'reduce_zero_label={self.reduce_zero_label}, '
                f'boundary_width={self.boundary_width}, '
                f'boundary_label={self.boundary_label}, '
                f'boundary_keys={self.boundary_keys})')
