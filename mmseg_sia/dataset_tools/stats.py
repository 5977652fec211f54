"""Statistics of a data root: tile content, polygon types, pixel frequency
and class weights, polygon areas; as pandas tables, CSV files and PNG plots.
"""
from __future__ import annotations

import functools
import io
import os
import os.path as osp
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..georef import GeorefError
from ..labels import DEFAULT_PRIORITY, LabelFileError, rasterize_label_files
from ..maplabels import LANDCOVER_CODES
from .common import (DEFAULT_MAX_PIXELS, atomic_write_bytes,
                     atomic_write_text, capture_warnings, check_pixels,
                     content_label, content_labels,
                     find_split_files, image_size, index_tiles, match_stem,
                     palette_lut, parallel_map, progress_bar,
                     read_split_file, refuse_existing)
from .layout import (draw_tile_spec, pixel_areas, resolve_layout,
                     tile_index_for)

__all__ = ['AREA_BINS', 'DatasetStats', 'dataset_stats', 'polygon_area',
           'class_weights']

#: Edges of the polygon area histogram in square pixels: [0, 1), [1, 2),
#: [2, 4), ..., [2**19, 2**20), [2**20, inf).
AREA_BINS = np.concatenate([[0.0], 2.0**np.arange(0, 21), [np.inf]])

#: CSV tables written by :func:`dataset_stats`, by table name.
CSV_FILES = {
    'content': 'tile_content.csv',
    'polygon_types': 'polygon_types.csv',
    'pixels': 'pixel_frequency.csv',
    'areas': 'polygon_areas.csv',
    'tiles': 'tiles.csv',
    'errors': 'errors.csv',
}
#: PNG plots written by :func:`dataset_stats`.
PLOT_FILES = {
    'content': 'tile_content.png',
    'polygon_types': 'polygon_types.png',
    'pixels': 'pixel_frequency.png',
    'areas': 'polygon_areas.png',
}


def _shoelace(x: np.ndarray, y: np.ndarray) -> float:
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
                 / 2)


def polygon_area(points: np.ndarray) -> float:
    """Area of a polygon in square pixels (shoelace formula).

    Computed relative to the first vertex, and for coordinates so large that
    their products overflow, on coordinates scaled down by the largest one:
    the result is finite where the area is, ``inf`` where it is not a
    float, never NaN, and no numpy warning is raised.

    Args:
        points (np.ndarray): ``(N, 2)`` finite vertices.

    Returns:
        float: The absolute area.
    """
    pts = np.asarray(points, dtype=np.float64)
    with np.errstate(all='ignore'):
        rel = pts - pts[0]
        area = _shoelace(rel[:, 0], rel[:, 1])
        if np.isfinite(area):
            return area
        scale = float(np.abs(pts).max())
        unit = pts / scale
        # Python floats: an overflow gives inf, without a warning.
        return _shoelace(unit[:, 0], unit[:, 1]) * scale * scale


def area_bin(area: float) -> int:
    """Index of the :data:`AREA_BINS` bin holding ``area`` (0 for negative
    or NaN areas, the last bin for ``inf``)."""
    if not area >= 0:  # NaN too
        return 0
    index = int(np.searchsorted(AREA_BINS, area, side='right')) - 1
    return min(max(index, 0), len(AREA_BINS) - 2)


def class_weights(pixels: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Class weights that follow from pixel counts.

    Args:
        pixels (Sequence[float]): Pixels of each class.

    Returns:
        tuple[np.ndarray, np.ndarray]: Median-frequency balancing weights
        (``median(freq) / freq``) and inverse-log weights
        (``1 / ln(1.02 + freq)``); a class without pixels gets 0.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    total = pixels.sum()
    freq = pixels / total if total > 0 else np.zeros_like(pixels)
    present = freq > 0
    median = np.median(freq[present]) if present.any() else 0.0
    with np.errstate(divide='ignore', invalid='ignore'):
        w_median = np.where(present, median / freq, 0.0)
    w_log = np.where(present, 1.0 / np.log(1.02 + freq), 0.0)
    return w_median, w_log


@dataclass(frozen=True)
class _Options:
    class_map: Tuple[Tuple[str, int], ...]
    priority: Optional[Tuple[int, ...]]
    num_ids: int
    max_pixels: Optional[int]
    layout: str = 'aihub'


def _stats_tile(task: Tuple[str, str, List[str]],
                options: _Options) -> dict:
    """Read and rasterize one tile (runs in a worker)."""
    stem, img_path, label_paths = task[:3]
    class_map = dict(options.class_map)
    caught: List[str] = []
    try:
        shape = image_size(img_path)
        check_pixels(img_path, shape, options.max_pixels)
        with capture_warnings(caught):
            if options.layout != 'aihub':
                seg, files, georef = draw_tile_spec(
                    task[3], img_path, shape, options.priority)
                # Areas in square pixels of the image, holes taken out.
                measured = [(class_map[p.value], p.value, area)
                            for _, p, area in pixel_areas(
                                files, georef,
                                lambda p: bool(class_map.get(p.value)))]
            else:
                seg, files = rasterize_label_files(
                    label_paths, shape, class_map=class_map,
                    priority=options.priority, warn=False)
    except (OSError, LabelFileError, GeorefError) as e:
        return dict(stem=stem, error=str(e))
    except (ValueError, MemoryError) as e:
        where = ', '.join(label_paths) or img_path
        return dict(stem=stem, error=f'{where}: cannot be drawn '
                    f'({type(e).__name__}: {e})')
    types: Counter = Counter()
    areas: Dict[int, np.ndarray] = {}
    polygons: Counter = Counter()
    if options.layout == 'aihub':
        measured = [(class_map[p.key], p.type_name or '(none)',
                     polygon_area(p.points))
                    for f in files for p in f.polygons]
    for class_id, type_name, area in measured:
        # Map coordinates: the type is the class value (the land-cover code
        # with its name).
        if options.layout == 'landcover':
            name = LANDCOVER_CODES.get(type_name, ('', ''))[1]
            type_name = f'{type_name} {name}'.strip()
        elif options.layout == 'vector':
            type_name = str(type_name)
        polygons[class_id] += 1
        types[(class_id, type_name)] += 1
        hist = areas.setdefault(class_id,
                                np.zeros(len(AREA_BINS) - 1, np.int64))
        hist[area_bin(area)] += 1
    pixels = np.bincount(seg.ravel(), minlength=options.num_ids)
    return dict(stem=stem, error=None, polygons=dict(polygons),
                types=dict(types), areas=areas,
                pixels=pixels[:options.num_ids],
                skipped=sum(len(f.skipped) for f in files),
                warnings=[(', '.join(label_paths), w) for w in caught] +
                [(f.path, f.unusable) for f in files
                 if f.unusable is not None])


@dataclass
class DatasetStats:
    """The tables of :func:`dataset_stats` (pandas DataFrames).

    Attributes:
        content (DataFrame): Tiles per content (``building only``, ``road
            only``, ``both``, ``none``) per split.
        polygon_types (DataFrame): Polygons per class and ``type_name`` per
            split.
        pixels (DataFrame): Pixels per class per split, their frequency and
            the class weights that follow (``weight_median_freq``,
            ``weight_inverse_log``).
        areas (DataFrame): Polygon area histogram per class per split
            (``area_min`` <= area < ``area_max``, square pixels).
        tiles (DataFrame): One row per tile: content, polygons and pixels
            per class.
        errors (DataFrame): Tiles left out (``stem``, ``message``) because a
            label file or the image cannot be read, and folder entries that
            cannot be used (``stem`` is then the entry's path).
        warnings (DataFrame): Warnings raised while drawing a tile
            (``files``: its label files, ``warning``).
        files (list[str]): Files written.
    """
    content: 'object' = None
    polygon_types: 'object' = None
    pixels: 'object' = None
    areas: 'object' = None
    tiles: 'object' = None
    errors: 'object' = None
    warnings: 'object' = None
    files: List[str] = field(default_factory=list)

    def class_weight_snippet(self, split: str = 'train') -> str:
        """A loss config line with median-frequency class weights.

        Args:
            split (str): The split to take them from ('all' when it is
                missing). Defaults to 'train'.

        Returns:
            str: E.g. ``loss_decode=dict(type='CrossEntropyLoss',
            class_weight=[...])``.
        """
        table = self.pixels
        if split not in set(table['split']):
            split = 'all'
        weights = table.loc[table['split'] == split, 'weight_median_freq']
        values = ', '.join(f'{w:.4f}' for w in weights)
        return (f"# class weights from the {split!r} split (median frequency"
                f")\nloss_decode=dict(type='CrossEntropyLoss', "
                f'class_weight=[{values}])')

    def format(self) -> str:
        """The main tables as text."""
        parts = ['Tiles by content:', self.content.to_string(index=False),
                 '', 'Pixels per class:',
                 self.pixels.to_string(index=False, float_format='%.4f'),
                 '', 'Polygons by type:',
                 self.polygon_types.to_string(index=False), '',
                 self.class_weight_snippet()]
        if self.warnings is not None and len(self.warnings):
            parts += ['', 'warnings while drawing (files: warning):']
            parts += [f'  {f}: {w}' for f, w in self.warnings.head(20)
                      .itertuples(index=False)]
        if len(self.errors):
            parts += ['', f'{len(self.errors)} tile(s) or entries left out:']
            parts += [f'  {m}' for m in self.errors['message'].head(20)]
        if self.files:
            parts += ['', f'wrote {len(self.files)} files to '
                      f'{osp.dirname(self.files[0])}']
        return '\n'.join(parts)


#: English names of the building types (``type_name`` in the release is
#: Korean), shown in the plots when no Korean font is installed. The
#: released files spell two of them with spaces; both spellings are known.
TYPE_NAMES_EN = {
    '소형시설': 'small facility',
    '소형 시설': 'small facility',
    '아파트': 'apartment',
    '공장': 'factory',
    '컨테이너': 'container',
    '중형단독시설': 'medium detached',
    '중형 단독 시설': 'medium detached',
    '대형시설': 'large facility',
}
_KOREAN_FONT_HINTS = ('CJK', 'Nanum', 'Malgun', 'Gulim', 'Dotum', 'Batang',
                      'Gothic', 'UnDotum', 'Baekmuk')


def _korean_font() -> Optional[str]:
    """Name of an installed font that has Hangul, if matplotlib knows one."""
    from matplotlib import font_manager

    for font in font_manager.fontManager.ttflist:
        if any(hint.lower() in font.name.lower()
               for hint in _KOREAN_FONT_HINTS):
            return font.name
    return None


def _type_label(type_name: str, korean_font: Optional[str]) -> str:
    """How a ``type_name`` is written in a plot."""
    english = TYPE_NAMES_EN.get(type_name)
    if english is None or type_name.isascii():
        return type_name
    return f'{type_name} ({english})' if korean_font else english


def _figure_png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Names without a glyph in the font are drawn as boxes; say nothing.
        warnings.filterwarnings('ignore', message='Glyph .* missing')
        fig.savefig(buf, format='png', dpi=100, bbox_inches='tight')
    return buf.getvalue()


def _plots(result: DatasetStats, names: Dict[int, str]) -> Dict[str, bytes]:
    """Draw the four PNG plots with matplotlib's Agg canvas."""
    import matplotlib

    korean = _korean_font()
    fonts = [korean, 'DejaVu Sans'] if korean else ['DejaVu Sans']
    with matplotlib.rc_context({'font.family': fonts}):
        return _draw_plots(result, names, korean)


def _draw_plots(result: DatasetStats, names: Dict[int, str],
                korean_font: Optional[str]) -> Dict[str, bytes]:
    from matplotlib.figure import Figure

    lut = palette_lut() / 255.0
    colours = {name: lut[i] if i < 255 else lut[0]
               for i, name in names.items()}
    plots = {}

    # Tiles by content: grouped bars, one group per split.
    content = result.content.set_index('split').drop(columns='total')
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    splits = list(content.index)
    width = 0.8 / max(1, len(content.columns))
    x = np.arange(len(splits))
    for k, column in enumerate(content.columns):
        ax.bar(x + k * width, content[column].to_numpy(), width, label=column)
    ax.set_xticks(x + width * (len(content.columns) - 1) / 2, splits)
    ax.set_ylabel('tiles')
    ax.set_title('Tiles by content')
    ax.legend()
    plots['content'] = _figure_png(fig)

    # Polygons per type_name over all tiles.
    types = result.polygon_types[result.polygon_types['split'] == 'all']
    fig = Figure(figsize=(7, 0.8 + 0.35 * max(1, len(types))))
    ax = fig.add_subplot()
    labels = [f'{c}: {_type_label(t, korean_font)}'
              for c, t in zip(types['class'], types['type_name'])]
    ax.barh(np.arange(len(types)), types['polygons'].to_numpy(),
            color=[colours.get(c, 'grey') for c in types['class']])
    ax.set_yticks(np.arange(len(types)), labels)
    ax.invert_yaxis()
    ax.set_xlabel('polygons')
    ax.set_title('Polygons by type (all tiles)')
    plots['polygon_types'] = _figure_png(fig)

    # Pixel frequency per class and split.
    pixels = result.pixels.pivot(index='split', columns='class',
                                 values='frequency')
    pixels = pixels[[n for n in names.values() if n in pixels.columns]]
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    x = np.arange(len(pixels.index))
    width = 0.8 / max(1, len(pixels.columns))
    for k, name in enumerate(pixels.columns):
        ax.bar(x + k * width, pixels[name].to_numpy(), width, label=name,
               color=colours.get(name), edgecolor='grey')
    ax.set_xticks(x + width * (len(pixels.columns) - 1) / 2,
                  list(pixels.index))
    ax.set_ylabel('share of pixels')
    ax.set_title('Pixel frequency per class')
    ax.legend()
    plots['pixels'] = _figure_png(fig)

    # Polygon area histogram over all tiles.
    areas = result.areas[result.areas['split'] == 'all']
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for name, group in areas.groupby('class', sort=False):
        lo = group['area_min'].to_numpy()
        ax.step(np.maximum(lo, 0.5), group['polygons'].to_numpy(),
                where='post', label=name, color=colours.get(name))
    ax.set_xscale('log')
    ax.set_xlabel('polygon area (square pixels, bins of powers of 2)')
    ax.set_ylabel('polygons')
    ax.set_title('Polygon areas (all tiles)')
    ax.legend()
    plots['areas'] = _figure_png(fig)
    return plots


def dataset_stats(data_root: str,
                  out_dir: Optional[str] = None,
                  split_files: Optional[Sequence[str]] = None,
                  overwrite: bool = False,
                  class_map: Optional[Mapping[str, int]] = None,
                  priority: Optional[Sequence[int]] = DEFAULT_PRIORITY,
                  workers: int = 1,
                  plots: bool = True,
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
                  vector_crs=None) -> DatasetStats:
    """Count what a data root holds, per split.

    The splits are ``all`` (every image) and one per split file (named after
    the file, e.g. ``train`` and ``val``). Pixels are counted on the maps
    :class:`LoadPolygonAnnotations` would draw (same reader, rasterizer and
    overlap priority). Tiles whose image or label files cannot be read are
    left out and listed in ``errors``.

    Args:
        data_root (str): Root holding ``images/`` and ``labels/``.
        out_dir (str, optional): Folder for the CSV tables and PNG plots;
            None writes nothing. Defaults to None.
        split_files (Sequence[str], optional): Split files. Defaults to every
            ``*.txt`` in ``data_root/splits``.
        overwrite (bool): Replace existing output files. Defaults to False.
        class_map (Mapping[str, int], optional): Polygon property -> class id.
            Defaults to :data:`~mmseg_sia.labels.DEFAULT_CLASS_MAP`.
        priority (Sequence[int], optional): Overlap priority. Defaults to
            (2, 1): road over building.
        workers (int): Worker processes. Defaults to 1.
        plots (bool): Write the PNG plots too. Defaults to True.
        max_pixels (int, optional): Tiles whose image has more pixels are
            left out (listed in ``errors``); None: no limit. Defaults to
            Pillow's decompression-bomb limit, 178,956,970.
        img_dir (str): Image folder under ``data_root``. Defaults to 'images'.
        label_dir (str): Labels folder under ``data_root``. Defaults to
            'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.
        progress (bool): Show a progress bar. Defaults to True.
        meta_dir (str, optional): AIHub's land-cover layout: its META folder
            under ``data_root`` (``class_map``: ``ANN_CD`` -> id).
        vector_file (str, optional): Georeferenced images plus this vector
            file (under ``data_root`` unless absolute), counted as
            :class:`SIAVectorDataset` draws them (``class_map``: field value
            -> id, default building 1, road 2).
        attribute (str, optional): The vector file's class field.
        layer (str, optional): Its layer. Defaults to the first.
        vector_crs: Its CRS when it names none. Defaults to None.

    Returns:
        DatasetStats: The tables (and the files written).

    Raises:
        FileExistsError: When an output file exists and ``overwrite`` is
            False (checked before any work).
        FileNotFoundError: When the data root or a split file is missing.
    """
    import pandas as pd

    targets = []
    if out_dir is not None:
        out_dir = os.fspath(out_dir)
        targets = [osp.join(out_dir, f) for f in CSV_FILES.values()]
        if plots:
            targets += [osp.join(out_dir, f) for f in PLOT_FILES.values()]
        refuse_existing(targets, overwrite)
    layout = resolve_layout(data_root, class_map, meta_dir, vector_file,
                            attribute, layer, vector_crs, 'dataset_stats')
    index = tile_index_for(layout, index_tiles(
        data_root, img_dir, label_dir, img_suffix, label_suffix))
    if split_files is None:
        split_files = find_split_files(data_root)
    splits: Dict[str, set] = {'all': set(index.images)}
    for path in split_files:
        name = osp.splitext(osp.basename(path))[0]
        if name in splits:
            name = path
        splits[name] = {match_stem(s, index.images)
                        for s in read_split_file(path)} - {None}

    class_map, names = layout.class_map, layout.names
    ids = list(names)
    foreground = [names[i] for i in ids if i != 0]
    options = _Options(
        class_map=tuple(class_map.items()),
        priority=tuple(priority) if priority is not None else None,
        num_ids=max(ids) + 1,
        max_pixels=max_pixels,
        layout=layout.kind)
    tasks = [(stem, index.images[stem], index.label_paths(stem))
             for stem in index.image_stems]
    if layout.map_coordinates:
        tasks = [t + (layout.safe_spec(*t), ) for t in tasks]
    tiles: Dict[str, dict] = {}
    errors = [(path, f'{path}: {why}') for path, why in index.problems]
    drawing_warnings = []
    results = parallel_map(
        functools.partial(_stats_tile, options=options), tasks, workers)
    for res in progress_bar(results, len(tasks), 'stats', progress):
        if res['error'] is not None:
            errors.append((res['stem'], res['error']))
        else:
            drawing_warnings.extend(res['warnings'])
            present = [names[c] for c, n in res['polygons'].items() if n]
            res['content'] = content_label(present, foreground)
            tiles[res['stem']] = res

    content_rows, type_rows, pixel_rows, area_rows = [], [], [], []
    order = content_labels(foreground) if len(foreground) <= 2 else None
    for split, members in splits.items():
        members = [s for s in sorted(members) if s in tiles]
        counts = Counter(tiles[s]['content'] for s in members)
        columns = order or sorted(counts)
        row = {'split': split}
        row.update({c: counts.get(c, 0) for c in columns})
        row['total'] = len(members)
        content_rows.append(row)

        types: Counter = Counter()
        pixels = np.zeros(options.num_ids, np.int64)
        areas: Dict[int, np.ndarray] = {
            i: np.zeros(len(AREA_BINS) - 1, np.int64) for i in ids if i}
        for s in members:
            types.update(tiles[s]['types'])
            pixels += tiles[s]['pixels']
            for c, hist in tiles[s]['areas'].items():
                areas[c] += hist
        for (c, type_name), n in sorted(types.items()):
            type_rows.append(dict(split=split, **{'class': names[c]},
                                  type_name=type_name, polygons=n))
        counted = pixels[ids]
        total = counted.sum()
        w_median, w_log = class_weights(counted)
        for k, c in enumerate(ids):
            pixel_rows.append({
                'split': split, 'class': names[c], 'pixels': int(counted[k]),
                'frequency': counted[k] / total if total else 0.0,
                'weight_median_freq': w_median[k],
                'weight_inverse_log': w_log[k]})
        for c, hist in areas.items():
            for b, n in enumerate(hist):
                area_rows.append({
                    'split': split, 'class': names[c],
                    'area_min': AREA_BINS[b], 'area_max': AREA_BINS[b + 1],
                    'polygons': int(n)})

    tile_rows = []
    for stem in sorted(tiles):
        t = tiles[stem]
        row = {'stem': stem, 'content': t['content']}
        row.update({f'polygons_{names[c]}': t['polygons'].get(c, 0)
                    for c in ids if c})
        row.update({f'pixels_{names[c]}': int(t['pixels'][c]) for c in ids})
        row['skipped_features'] = t['skipped']
        tile_rows.append(row)

    result = DatasetStats(
        content=pd.DataFrame(content_rows),
        polygon_types=pd.DataFrame(
            type_rows, columns=['split', 'class', 'type_name', 'polygons']),
        pixels=pd.DataFrame(pixel_rows),
        areas=pd.DataFrame(area_rows),
        tiles=pd.DataFrame(tile_rows),
        errors=pd.DataFrame(sorted(errors), columns=['stem', 'message']),
        warnings=pd.DataFrame(sorted(drawing_warnings),
                              columns=['files', 'warning']))

    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        for key, name in CSV_FILES.items():
            path = osp.join(out_dir, name)
            atomic_write_text(path, getattr(result, key).to_csv(index=False),
                              overwrite=overwrite)
            result.files.append(path)
        if plots:
            for key, data in _plots(result, names).items():
                path = osp.join(out_dir, PLOT_FILES[key])
                atomic_write_bytes(path, data, overwrite=overwrite)
                result.files.append(path)
    return result
