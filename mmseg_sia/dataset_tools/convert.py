"""Convert the JSON polygon labels into PNG class-id masks.

The masks are drawn with the project's one reader and rasterizer
(:func:`mmseg_sia.labels.rasterize_label_files`) with the same defaults as
:class:`~mmseg_sia.datasets.transforms.LoadPolygonAnnotations`, at the size
of each tile's image, so a written mask equals the ``gt_seg_map`` the
pipeline makes for that tile.
"""
from __future__ import annotations

import functools
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..georef import GeorefError
from ..labels import DEFAULT_PRIORITY, LabelFileError, rasterize_label_files
from .common import (DEFAULT_MAX_PIXELS, atomic_write_bytes,
                     capture_warnings, check_pixels, encode_png,
                     image_size, index_tiles, palette_lut, parallel_map,
                     match_stem, progress_bar, read_split_file)
from .layout import draw_tile_spec, resolve_layout, tile_index_for

__all__ = ['ConvertSummary', 'convert_labels', 'colorize']


def colorize(seg: np.ndarray,
             palette: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """Turn a class-id map into an RGB picture with the dataset palette.

    Args:
        seg (np.ndarray): ``(H, W)`` ``uint8`` class ids.
        palette (Sequence[Sequence[int]], optional): RGB per class id.
            Defaults to :attr:`SIADataset.METAINFO` ``['palette']``
            (background black, building olive, road purple; the seed's
            colours). The ignore index 255 is white.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``uint8`` RGB.
    """
    return palette_lut(palette)[np.asarray(seg, dtype=np.uint8)]


@dataclass
class ConvertSummary:
    """What :func:`convert_labels` did.

    Attributes:
        tiles (int): Tiles (images) considered.
        written (int): Tiles whose mask was written.
        kept (int): Tiles whose output existed and was left untouched.
        polygons (dict[str, int]): Polygons drawn, by class name.
        skipped_features (list[tuple[str, int, str]]): ``(label file,
            feature index, reason)`` of every feature that could not be drawn.
        errors (list[tuple[str, str]]): ``(file, message)`` of the tiles that
            could not be converted (unreadable label file or image).
        labels_without_image (list[str]): Label files that have no image
            (they cannot be converted: the mask size is the image's).
        problems (list[tuple[str, str]]): ``(path, what is wrong)`` of the
            folder entries that could not be indexed.
        warnings (list[tuple[str, str]]): ``(files, warning)`` raised while
            drawing a tile (numpy overflow on huge coordinates, ...), with
            the tile's label files.
        out_dir (str): The mask folder.
        color_dir (str | None): The colour mask folder, if any.
        seconds (float): Wall time.
    """
    tiles: int = 0
    written: int = 0
    kept: int = 0
    polygons: Dict[str, int] = field(default_factory=dict)
    skipped_features: List[Tuple[str, int, str]] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)
    labels_without_image: List[str] = field(default_factory=list)
    problems: List[Tuple[str, str]] = field(default_factory=list)
    warnings: List[Tuple[str, str]] = field(default_factory=list)
    out_dir: str = ''
    color_dir: Optional[str] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every tile was converted or kept and every folder entry
        could be used."""
        return not self.errors and not self.problems

    def format(self, max_items: int = 20) -> str:
        """A human-readable closing summary.

        Args:
            max_items (int): How many skipped features and errors to list.
                Defaults to 20.

        Returns:
            str: Several lines of text.
        """
        rate = self.tiles / self.seconds if self.seconds > 0 else 0.0
        total_polys = sum(self.polygons.values())
        by_class = ', '.join(f'{k} {v}' for k, v in self.polygons.items())
        lines = [
            f'tiles: {self.tiles} ({self.written} written, {self.kept} kept '
            f'as they exist, {len(self.errors)} failed) in '
            f'{self.seconds:.1f} s ({rate:.1f} tiles/s)',
            f'polygons drawn: {total_polys}' +
            (f' ({by_class})' if by_class else ''),
            f'skipped features: {len(self.skipped_features)}',
            f'errors: {len(self.errors)}',
            f'masks: {self.out_dir}' +
            (f'; colour masks: {self.color_dir}' if self.color_dir else ''),
        ]
        if self.kept:
            lines.append('existing masks were kept; pass --overwrite to '
                         'redraw them')
        if self.labels_without_image:
            lines.append(
                f'label files without an image (not converted): '
                f'{len(self.labels_without_image)}')
            lines += [f'  {p}' for p in self.labels_without_image[:max_items]]
        if self.skipped_features:
            lines.append('skipped features (file, feature: problem):')
            lines += [
                f'  {path}, feature {index}: {reason}'
                for path, index, reason in self.skipped_features[:max_items]
            ]
            if len(self.skipped_features) > max_items:
                lines.append(f'  ... {len(self.skipped_features) - max_items}'
                             ' more (tools/check_dataset.py lists them all)')
        if self.problems:
            lines.append('folder entries left out:')
            lines += [f'  {p}: {why}' for p, why in self.problems[:max_items]]
            if len(self.problems) > max_items:
                lines.append(f'  ... {len(self.problems) - max_items} more')
        if self.warnings:
            lines.append('warnings while drawing (files: warning):')
            lines += [f'  {where}: {what}'
                      for where, what in self.warnings[:max_items]]
            if len(self.warnings) > max_items:
                lines.append(f'  ... {len(self.warnings) - max_items} more')
        if self.errors:
            lines.append('errors:')
            lines += [f'  {msg}' for _, msg in self.errors[:max_items]]
            if len(self.errors) > max_items:
                lines.append(f'  ... {len(self.errors) - max_items} more')
        return '\n'.join(lines)


@dataclass(frozen=True)
class _Options:
    class_map: Tuple[Tuple[str, int], ...]
    priority: Optional[Tuple[int, ...]]
    strict: bool
    overwrite: bool
    palette: Optional[Tuple[Tuple[int, int, int], ...]]
    max_pixels: Optional[int]
    layout: str = 'aihub'


@dataclass
class _TileResult:
    status: str  # 'written', 'kept' or 'error'
    polygons: Dict[int, int] = field(default_factory=dict)
    skipped: List[Tuple[str, int, str]] = field(default_factory=list)
    error: Optional[Tuple[str, str]] = None
    warnings: List[Tuple[str, str]] = field(default_factory=list)


def _convert_tile(task: Tuple[str, str, List[str], str, Optional[str]],
                  options: _Options) -> _TileResult:
    """Draw and write the mask(s) of one tile (runs in a worker)."""
    stem, img_path, label_paths, out_path, color_path = task[:5]
    targets = [out_path] + ([color_path] if color_path else [])
    if not options.overwrite:
        targets = [p for p in targets if not osp.lexists(p)]
        if not targets:
            return _TileResult('kept')
    try:
        shape = image_size(img_path)
        check_pixels(img_path, shape, options.max_pixels)
    except OSError as e:
        return _TileResult('error', error=(img_path, str(e)))
    class_map = dict(options.class_map)
    caught: List[str] = []
    try:
        with capture_warnings(caught):
            if options.layout != 'aihub':
                seg, files, _ = draw_tile_spec(task[5], img_path, shape,
                                               options.priority,
                                               options.strict)
            else:
                seg, files = rasterize_label_files(
                    label_paths, shape, class_map=class_map,
                    priority=options.priority, strict=options.strict,
                    warn=False)
    except LabelFileError as e:
        return _TileResult('error', error=(e.path, str(e)))
    except GeorefError as e:
        return _TileResult('error', error=(e.path or img_path, str(e)))
    except (OSError, ValueError, MemoryError) as e:
        where = ', '.join(label_paths) or img_path
        return _TileResult('error', error=(
            where, f'{where}: cannot be drawn ({type(e).__name__}: {e})'))
    result = _TileResult('written')
    where = ', '.join(f.path for f in files) or img_path
    result.warnings = [(where, w) for w in caught]
    for label in files:
        for poly in label.polygons:
            class_id = class_map.get(poly.value) if \
                options.layout != 'aihub' else class_map[poly.key]
            if class_id is None:
                continue
            result.polygons[class_id] = result.polygons.get(class_id, 0) + 1
        result.skipped.extend(
            (label.path, index, reason) for index, reason in label.skipped)
        if label.unusable is not None:
            result.warnings.append((label.path, label.unusable))
    wrote = False
    for target in targets:
        if target == out_path:
            data = encode_png(seg)
        else:
            data = encode_png(colorize(seg, options.palette), rgb=True)
        try:
            atomic_write_bytes(target, data, overwrite=options.overwrite)
            wrote = True
        except FileExistsError:
            pass  # appeared meanwhile: keep it
        except OSError as e:
            return _TileResult('error', error=(target, f'{target}: cannot be '
                                               f'written ({e})'))
    if not wrote:
        result.status = 'kept'
    return result


def convert_labels(data_root: str,
                   out_dir: str,
                   color: bool = False,
                   color_dir: Optional[str] = None,
                   workers: int = 1,
                   overwrite: bool = False,
                   split_file: Optional[str] = None,
                   class_map: Optional[Mapping[str, int]] = None,
                   priority: Optional[Sequence[int]] = DEFAULT_PRIORITY,
                   strict: bool = False,
                   palette: Optional[Sequence[Sequence[int]]] = None,
                   max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                   img_dir: str = 'images',
                   label_dir: str = 'labels',
                   img_suffix: str = '.png',
                   label_suffix: str = '.json',
                   progress: bool = True,
                   meta_dir: Optional[str] = None,
                   vector_file: Optional[str] = None,
                   attribute: Optional[str] = None,
                   layer: Optional[str] = None,
                   vector_crs=None) -> ConvertSummary:
    """Write a ``<stem>.png`` class-id mask for every image of a data root.

    Each mask is a single-channel 8-bit PNG of the image's size holding 0
    (background), 1 (building) and 2 (road) with the default class map, the
    map :class:`LoadPolygonAnnotations` draws for that tile. An image without
    label files gets an all-background mask. Malformed features are skipped
    and listed (``strict`` fails the tile instead); a label file that cannot
    be read fails its tile, which is listed in ``errors`` while the other
    tiles are converted.

    Existing masks are kept unless ``overwrite``; every file is written to a
    temporary file in the same folder and renamed into place.

    Args:
        data_root (str): Root holding ``images/`` and ``labels/``.
        out_dir (str): Folder for the class-id masks.
        color (bool): Also write RGB masks in the dataset palette (the seed's
            colours). Defaults to False.
        color_dir (str, optional): Folder for the colour masks. Defaults to
            ``out_dir + '_color'``. Giving it implies ``color``.
        workers (int): Worker processes (less than 1: one per CPU core).
            Defaults to 1.
        overwrite (bool): Replace existing masks. Defaults to False.
        split_file (str, optional): Convert only the stems of this split file
            (one stem a line). Defaults to None (every image).
        class_map (Mapping[str, int], optional): Polygon property -> class id.
            Defaults to :data:`~mmseg_sia.labels.DEFAULT_CLASS_MAP`.
        priority (Sequence[int], optional): Class ids from highest to lowest
            overlap priority. Defaults to (2, 1): road over building.
        strict (bool): Fail a tile on its first malformed feature. Defaults
            to False.
        palette (Sequence[Sequence[int]], optional): Colours of the colour
            masks. Defaults to :attr:`SIADataset.METAINFO` ``['palette']``.
        max_pixels (int, optional): Tiles whose image has more pixels fail
            (listed in ``errors``) instead of drawing a mask that size; None:
            no limit. Defaults to Pillow's decompression-bomb limit,
            178,956,970.
        img_dir (str): Image folder under ``data_root``. Defaults to 'images'.
        label_dir (str): Labels folder under ``data_root``. Defaults to
            'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.
        progress (bool): Show a progress bar. Defaults to True.
        meta_dir (str, optional): The META folder under ``data_root``:
            AIHub's land-cover layout, drawn as :class:`SIALandCoverDataset`
            draws it (``class_map`` is then ``ANN_CD`` -> id, by default
            building 1, road 2, other codes background). Defaults to None.
        vector_file (str, optional): Georeferenced images labelled by one
            vector file (under ``data_root`` unless absolute), drawn as
            :class:`SIAVectorDataset` draws them; ``class_map`` is then
            field value -> id (default ``{'building': 1, 'road': 2}``). An
            image without georeference, or whose CRS the vector file's
            cannot be transformed to, fails (listed in ``errors``).
        attribute (str, optional): The vector file's class field.
        layer (str, optional): Its layer. Defaults to the first.
        vector_crs: Its CRS when it names none. Defaults to None.

    Returns:
        ConvertSummary: Counts, skipped features and errors.

    Raises:
        FileNotFoundError: When the data root, its image folder or the split
            file does not exist.
        ValueError: When an output folder is the image or labels folder,
            or the colour folder is the mask folder.
    """
    start = time.perf_counter()
    layout = resolve_layout(data_root, class_map, meta_dir, vector_file,
                            attribute, layer, vector_crs, 'convert_labels')
    index = tile_index_for(layout, index_tiles(
        data_root, img_dir, label_dir, img_suffix, label_suffix))
    if not osp.isdir(index.img_dir):
        raise FileNotFoundError(
            f'image folder {index.img_dir!r} does not exist: the masks take '
            'the size of the images')
    if color_dir is not None:
        color = True
    if color and color_dir is None:
        color_dir = osp.normpath(os.fspath(out_dir)) + '_color'
    out_dir = os.fspath(out_dir)
    for folder in [out_dir] + ([color_dir] if color else []):
        real = osp.realpath(folder)
        if real in (osp.realpath(index.img_dir),
                    osp.realpath(index.label_dir)):
            raise ValueError(
                f'output folder {folder!r} is the image or labels folder of '
                f'{data_root!r}; choose another folder')
    if color and osp.realpath(color_dir) == osp.realpath(out_dir):
        raise ValueError(
            f'colour folder {color_dir!r} is the mask folder {out_dir!r}: '
            'both are named <stem>.png; choose another colour folder')

    summary = ConvertSummary(out_dir=out_dir,
                             color_dir=color_dir if color else None,
                             problems=list(index.problems))
    if split_file is not None:
        stems = list(dict.fromkeys(
            match_stem(s, index.images) or s
            for s in read_split_file(split_file)))
        for stem in stems:
            if stem not in index.images:
                summary.errors.append(
                    (split_file, f'{split_file}: stem {stem!r} has no image '
                     f'{osp.join(index.img_dir, stem + img_suffix)}'))
        stems = [s for s in stems if s in index.images]
    else:
        stems = index.image_stems
        for stem in index.labels_without_image:
            summary.labels_without_image.extend(index.labels[stem])

    os.makedirs(out_dir, exist_ok=True)
    if color:
        os.makedirs(color_dir, exist_ok=True)
    class_map, names = layout.class_map, layout.names
    options = _Options(
        class_map=tuple(class_map.items()),
        priority=tuple(priority) if priority is not None else None,
        strict=strict,
        overwrite=overwrite,
        palette=None if palette is None else tuple(
            tuple(int(v) for v in c) for c in palette),
        max_pixels=max_pixels,
        layout=layout.kind)
    tasks = [(stem, index.images[stem], index.label_paths(stem),
              osp.join(out_dir, stem + '.png'),
              osp.join(color_dir, stem + '.png') if color else None)
             for stem in stems]
    if layout.map_coordinates:
        tasks = [t + (layout.safe_spec(t[0], t[1], t[2]), ) for t in tasks]
    summary.tiles = len(tasks)
    counts: Dict[int, int] = {}
    results = parallel_map(
        functools.partial(_convert_tile, options=options), tasks, workers)
    for result in progress_bar(results, len(tasks), 'convert', progress):
        if result.status == 'written':
            summary.written += 1
        elif result.status == 'kept':
            summary.kept += 1
        else:
            summary.errors.append(result.error)
        for class_id, n in result.polygons.items():
            counts[class_id] = counts.get(class_id, 0) + n
        summary.skipped_features.extend(result.skipped)
        summary.warnings.extend(result.warnings)
    summary.polygons = {
        names.get(c, str(c)): counts.get(c, 0)
        for c in sorted(set(class_map.values()))
        if c or not layout.map_coordinates
    }
    summary.skipped_features.sort()
    summary.errors.sort()
    summary.warnings.sort()
    summary.seconds = time.perf_counter() - start
    return summary
