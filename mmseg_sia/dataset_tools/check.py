"""Validate a data root with the project's label reader.

Every label file is read with :func:`mmseg_sia.labels.read_label_file`, the
reader the pipeline uses, so a file this check passes is a file training can
read, and every problem is reported with its file (and feature).
"""
from __future__ import annotations

import functools
import os
import os.path as osp
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..labels import DEFAULT_CLASS_MAP, LabelFileError, read_label_file
from .common import (DEFAULT_MAX_PIXELS, atomic_write_text, check_pixels,
                     decode_image, find_split_files, image_size, index_tiles,
                     match_stem, parallel_map, progress_bar, read_split_file,
                     refuse_existing)
from .layout import resolve_layout, tile_index_for
from .splits import DEFAULT_SCENE_PATTERN, scene_of

__all__ = ['CHECKS', 'CheckReport', 'check_dataset']

ERROR = 'error'
WARNING = 'warning'

#: Every check: name -> (severity, what it means).
CHECKS: Dict[str, Tuple[str, str]] = {
    'entry': (ERROR, 'a folder entry cannot be used (a sub-folder that '
              'cannot be listed, a symbolic link loop or broken link, a FIFO, '
              'device or folder named like an image or label file)'),
    'label-file': (ERROR, 'a label file cannot be read as a FeatureCollection '
                   '(unreadable, not UTF-8, not JSON, no "features" list)'),
    'feature': (ERROR, 'a feature cannot be drawn (odd number of values, a '
                'token that is not a number, NaN or infinity, fewer than 3 '
                'points, not an object, no properties)'),
    'label-without-image': (ERROR, 'a label file has no image'),
    'image': (ERROR, 'an image cannot be read'),
    'split-missing': (ERROR, 'a stem of a split file has no image'),
    'split-duplicate': (ERROR, 'a stem appears more than once in a split '
                        'file'),
    'split-overlap': (ERROR, 'a stem appears in more than one split file'),
    'split-file': (ERROR, 'a split file cannot be read'),
    'image-without-label': (WARNING, 'an image has no label file (it trains '
                            'as all background)'),
    'image-size': (WARNING, 'an image does not have the expected size '
                   '(--image-size, else the size most images share)'),
    'image-pixels': (WARNING, 'an image has more pixels than --max-pixels '
                     '(the other tools leave it out)'),
    'split-scene': (WARNING, 'tiles of one scene are in more than one split '
                    'file (validation scores come out too high)'),
    'image-id': (WARNING, 'the image_id inside a label file disagrees with '
                 'the file name'),
    'outside': (WARNING, 'a polygon has vertices more than 1 pixel outside '
                'its image (they are clipped)'),
    'empty': (WARNING, 'a label file has no feature'),
    'no-polygon': (WARNING, 'a label file has features but no polygon the '
                   'reader can use (only object_imcoords boxes, or polygons '
                   'in map coordinates such as a land-cover file): it trains '
                   'as all background'),
    # The land-cover layout (check_dataset(..., meta_dir=...)).
    'meta-file': (ERROR, 'a land-cover META file cannot be used (not JSON in '
                  'UTF-8, cp949 or UTF-16, a field missing or wrong, an '
                  'unknown EPSG, a size other than the image\'s)'),
    'image-without-meta': (ERROR, 'a land-cover image has no META file (it '
                           'cannot be placed)'),
    'class-value': (WARNING, 'a land-cover feature has an ANN_CD that is '
                    'not one of the documented codes, or a vector feature a '
                    'class value not in the class map (it is not drawn)'),
    # The vector layout (check_dataset(..., vector_file=..., attribute=...)).
    'image-georef': (ERROR, 'an image has no georeference (no GeoTIFF tags, '
                     'no world file): a vector file cannot label it'),
    'vector-crs': (ERROR, "the vector file's polygons cannot be brought into "
                   "an image's CRS (no transformation, coordinates outside "
                   'the CRS, or an image without CRS)'),
}

_COLUMNS = ['severity', 'check', 'file', 'feature', 'problem']
_OUTSIDE_TOLERANCE = 1.0


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`.

    Attributes:
        rows (pandas.DataFrame): One row per problem, with the columns
            ``severity`` ('error' or 'warning'), ``check`` (a key of
            :data:`CHECKS`), ``file``, ``feature`` (feature index or <NA>)
            and ``problem`` (what is wrong); errors first.
        images (int): Images found.
        label_files (int): Label files found.
        features (int): Features read.
        polygons (int): Drawable polygons read.
        split_files (list[str]): The split files checked.
    """
    rows: 'object'
    images: int = 0
    label_files: int = 0
    features: int = 0
    polygons: int = 0
    split_files: List[str] = field(default_factory=list)

    @property
    def num_errors(self) -> int:
        """Number of rows with severity 'error'."""
        return int((self.rows['severity'] == ERROR).sum())

    @property
    def num_warnings(self) -> int:
        """Number of rows with severity 'warning'."""
        return int((self.rows['severity'] == WARNING).sum())

    @property
    def ok(self) -> bool:
        """Whether nothing is an error."""
        return self.num_errors == 0

    def counts(self) -> 'object':
        """Rows per severity and check, as a DataFrame."""
        import pandas as pd

        if self.rows.empty:
            return pd.DataFrame(columns=['severity', 'check', 'count'])
        return (self.rows.groupby(['severity', 'check'], sort=True).size()
                .rename('count').reset_index())

    def format(self, max_rows: int = 40, width: int = 160) -> str:
        """The report as text: totals, counts per check, the first rows.

        Args:
            max_rows (int): How many rows to show. Defaults to 40.
            width (int): Longest line shown before it is shortened.
                Defaults to 160.

        Returns:
            str: Several lines of text.
        """
        lines = [
            f'images: {self.images}, label files: {self.label_files}, '
            f'features: {self.features}, polygons: {self.polygons}, '
            f'split files: {len(self.split_files)}',
            f'errors: {self.num_errors}, warnings: {self.num_warnings}'
        ]
        if self.rows.empty:
            lines.append('no problems found')
            return '\n'.join(lines)
        lines += ['', self.counts().to_string(index=False), '']
        shown = self.rows.head(max_rows)
        where = [
            f if _isna(n) else f'{f}, feature {n}'
            for f, n in zip(shown['file'], shown['feature'])
        ]
        table = [('SEVERITY', 'CHECK', 'WHERE', 'PROBLEM')] + list(
            zip(shown['severity'], shown['check'], where, shown['problem']))
        widths = [max(len(str(r[k])) for r in table) for k in range(3)]
        for row in table:
            line = '  '.join(
                str(v).ljust(w) for v, w in zip(row[:3], widths)) + \
                '  ' + str(row[3])
            lines.append(line if len(line) <= width else
                         line[:width - 3] + '...')
        if len(self.rows) > max_rows:
            lines.append(f'... {len(self.rows) - max_rows} more rows '
                         '(--csv FILE writes them all)')
        return '\n'.join(lines)

    def to_csv(self, path: str, overwrite: bool = False) -> None:
        """Write every row to a CSV file, atomically.

        Args:
            path (str): The CSV file.
            overwrite (bool): Replace an existing file. Defaults to False.

        Raises:
            FileExistsError: When the file exists and ``overwrite`` is False.
        """
        atomic_write_text(path, self.rows.to_csv(index=False),
                          overwrite=overwrite)


def _isna(value: object) -> bool:
    """Whether a table cell is missing (None, NaN or pandas' NA)."""
    import pandas as pd

    return bool(pd.isna(value))


def _row(check: str, file: str, problem: str,
         feature: Optional[int] = None) -> tuple:
    return (CHECKS[check][0], check, file, feature, problem)


@dataclass(frozen=True)
class _Options:
    keys: Tuple[str, ...]
    img_suffix: str
    verify_images: bool
    max_pixels: Optional[int]
    layout: str = 'aihub'
    attribute: str = 'ANN_CD'
    vector_file: str = ''


def _check_tile(task: Tuple[str, Optional[str], List[str]],
                options: _Options
                ) -> Tuple[list, int, int, Optional[Tuple[int, int]]]:
    """Check one tile's image and label files (runs in a worker).

    Returns the rows, the features and polygons read and the image size
    (None when unknown); the size check against the other images is made
    once all sizes are known.
    """
    stem, img_path, label_paths = task[:3]
    rows = []
    shape = None
    if img_path is not None:
        try:
            shape = image_size(img_path)
        except OSError as e:
            rows.append(_row('image', img_path, _strip(str(e), img_path)))
        if shape is not None:
            try:
                check_pixels(img_path, shape, options.max_pixels)
            except OSError as e:
                rows.append(_row('image-pixels', img_path,
                                 _strip(str(e), img_path)))
            else:
                if options.verify_images:
                    try:
                        decode_image(img_path, options.max_pixels)
                    except (OSError, MemoryError) as e:
                        rows.append(_row('image', img_path,
                                         _strip(str(e), img_path)))
        if not label_paths and options.layout != 'vector':
            rows.append(_row('image-without-label', img_path,
                             'no label file'))
    if options.layout == 'landcover':
        return _check_landcover_tile(task, options, rows, shape)
    if options.layout == 'vector':
        return _check_vector_tile(task, options, rows, shape)
    features = polygons = 0
    for path in label_paths:
        if img_path is None:
            rows.append(_row('label-without-image', path,
                             f'no image {stem}{options.img_suffix}'))
        try:
            label = read_label_file(path, keys=options.keys, warn=False)
        except LabelFileError as e:
            rows.append(_row('label-file', e.path, e.reason))
            continue
        except (OSError, MemoryError, RecursionError) as e:
            rows.append(_row('label-file', path, 'cannot be read '
                             f'({type(e).__name__}: {e})'))
            continue
        features += label.num_features
        polygons += len(label.polygons)
        if label.num_features == 0:
            rows.append(_row('empty', path, 'no feature'))
        elif label.unusable is not None:
            rows.append(_row('no-polygon', path, label.unusable))
        for index, reason in label.skipped:
            rows.append(_row('feature', path, reason, index))
        expected = stem + options.img_suffix
        wrong = [i for i in label.image_ids
                 if osp.splitext(osp.basename(i))[0] != stem]
        if wrong:
            shown = ', '.join(repr(i) for i in wrong[:3])
            more = '' if len(wrong) <= 3 else f' and {len(wrong) - 3} more'
            rows.append(_row(
                'image-id', path,
                f'image_id {shown}{more} disagrees with the file name '
                f'(expected {expected!r})'))
        if shape is not None:
            height, width = shape
            t = _OUTSIDE_TOLERANCE
            for poly in label.polygons:
                pts = poly.points
                bad = ((pts[:, 0] < -t) | (pts[:, 0] > width + t) |
                       (pts[:, 1] < -t) | (pts[:, 1] > height + t))
                if bad.any():
                    x, y = pts[np.argmax(bad)]
                    rows.append(_row(
                        'outside', path,
                        f'{poly.key} has {int(bad.sum())} vertex(es) outside '
                        f'the {width}x'
                        f'{height} image, e.g. ({x:g}, {y:g})',
                        poly.feature))
    return rows, features, polygons, shape


def _check_landcover_tile(
        task: tuple, options: _Options, rows: list,
        shape: Optional[Tuple[int, int]]
) -> Tuple[list, int, int, Optional[Tuple[int, int]]]:
    """The land-cover checks of one tile: its META file and its labels in
    map coordinates (read as :class:`SIALandCoverDataset` reads them)."""
    from ..georef import GeorefError, read_meta_georef
    from ..maplabels import LANDCOVER_CODES, read_map_label_file

    stem, img_path, label_paths, meta_path = task
    if img_path is not None and meta_path is None:
        rows.append(_row('image-without-meta', img_path,
                         f'no META file {stem}_META.json'))
    elif meta_path is not None:
        try:
            ref = read_meta_georef(meta_path)
            if shape is not None and ref.shape != tuple(shape):
                rows.append(_row(
                    'meta-file', meta_path,
                    f"field 'img_width': gives {ref.width} x {ref.height} "
                    f'pixels; the image has {shape[1]} x {shape[0]}'))
        except GeorefError as e:
            where = f'field {e.field!r}: ' if e.field else ''
            rows.append(_row('meta-file', meta_path, where + e.reason))
    features = polygons = 0
    for path in label_paths:
        if img_path is None:
            rows.append(_row('label-without-image', path,
                             f'no image {stem}{options.img_suffix}'))
        try:
            label = read_map_label_file(path, options.attribute, warn=False)
        except LabelFileError as e:
            rows.append(_row('label-file', e.path, e.reason))
            continue
        except GeorefError as e:
            rows.append(_row('label-file', path,
                             f'field {e.field!r}: {e.reason}'))
            continue
        except (OSError, MemoryError, RecursionError) as e:
            rows.append(_row('label-file', path, 'cannot be read '
                             f'({type(e).__name__}: {e})'))
            continue
        features += label.num_features
        polygons += len(label.polygons)
        if label.num_features == 0:
            rows.append(_row('empty', path, 'no feature'))
        elif not label.polygons and not label.skipped:
            rows.append(_row('no-polygon', path, label.unusable or
                             'has features but no polygon the reader can '
                             'use'))
        for index, reason in label.skipped:
            rows.append(_row('feature', path, reason, index))
        for poly in label.polygons:
            if poly.value not in LANDCOVER_CODES and poly.part == 0:
                rows.append(_row('class-value', path,
                                 f'{options.attribute} {poly.value!r} is not '
                                 'a documented land-cover code',
                                 poly.feature))
    return rows, features, polygons, shape


def _check_vector_tile(
        task: tuple, options: _Options, rows: list,
        shape: Optional[Tuple[int, int]]
) -> Tuple[list, int, int, Optional[Tuple[int, int]]]:
    """The vector-layout checks of one image: its georeference and the
    mapping of the vector file's polygons on it to its pixels (as
    :class:`SIAVectorDataset` and ``LoadPolygonAnnotations`` do)."""
    from ..georef import GeorefError
    from ..maplabels import MapPolygon, map_polygons_by_class

    _, img_path, _, spec = task
    if isinstance(spec, GeorefError):
        check = 'vector-crs' if spec.field == 'crs' else 'image-georef'
        rows.append(_row(check, img_path, spec.reason))
        return rows, 0, 0, shape
    if not spec['polygons']:
        rows.append(_row('image-without-label', img_path,
                         f'no polygon of {options.vector_file} of a class '
                         'in the class map on it (it trains as all '
                         'background)'))
        return rows, 0, 0, shape
    try:
        map_polygons_by_class(
            [MapPolygon(list(r), v, i)
             for i, (v, r) in enumerate(spec['polygons'])],
            spec['georef'], spec['class_map'], spec['polygons_crs'],
            warn=False)
    except GeorefError as e:
        rows.append(_row('vector-crs', img_path, e.reason))
    return rows, 0, 0, shape


def _vector_rows(vector) -> List[tuple]:
    """``feature`` and ``class-value`` rows of a vector file, by feature."""
    rows = [_row('feature', vector.path, why, i) for i, why in vector.skipped]
    rows += [_row('class-value', vector.path,
                  f'{vector.attribute} {value!r} is not in the class map '
                  f'{sorted(vector.class_map, key=str)} (not drawn)', i)
             for i, value in vector.unknown]
    return rows


def _strip(message: str, path: str) -> str:
    """Drop a leading ``path: `` from a message (the file has its column)."""
    return message[len(path) + 2:] if message.startswith(path + ': ') else \
        message


def _size_rows(sizes: Dict[str, Tuple[int, int]],
               expected: Optional[Tuple[int, int]]) -> List[tuple]:
    """``image-size`` rows: images not of ``expected``, or when it is None,
    not of the size most images share."""
    if not sizes:
        return []
    how = 'expected'
    if expected is None:
        counts = Counter(sizes.values())
        expected, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        how = f'the size of {n} of the {len(sizes)} images is'
    rows = []
    for path, shape in sorted(sizes.items()):
        if tuple(shape) != tuple(expected):
            rows.append(_row(
                'image-size', path,
                f'image is {shape[1]}x{shape[0]} (width x height), {how} '
                f'{expected[1]}x{expected[0]}'))
    return rows


def _check_splits(split_files: Sequence[str], images: Dict[str, str],
                  img_dir: str, img_suffix: str,
                  scene_pattern: Optional[str]) -> List[tuple]:
    rows = []
    seen: Dict[str, str] = {}
    scenes: Dict[str, Dict[str, set]] = {}
    for split in split_files:
        try:
            stems = read_split_file(split)
        except (OSError, ValueError) as e:
            rows.append(_row('split-file', split, _strip(str(e), split)))
            continue
        counts = Counter(match_stem(s, images) or s for s in stems)
        if scene_pattern is not None:
            by_scene: Dict[str, set] = {}
            for s in counts:
                by_scene.setdefault(scene_of(s, scene_pattern), set()).add(s)
            scenes[split] = by_scene
        for stem, n in counts.items():
            if n > 1:
                rows.append(_row(
                    'split-duplicate', split,
                    f'stem {stem!r} is listed {n} times'))
            if stem not in images:
                rows.append(_row(
                    'split-missing', split,
                    f'stem {stem!r} has no image '
                    f'{osp.join(img_dir, stem + img_suffix)}'))
            if stem in seen:
                rows.append(_row(
                    'split-overlap', split,
                    f'stem {stem!r} is also in {seen[stem]}'))
            else:
                seen[stem] = split
    first: Dict[str, str] = {}
    for split, by_scene in scenes.items():
        for scene, here in sorted(by_scene.items()):
            if scene not in first:
                first[scene] = split
                continue
            other = first[scene]
            there = scenes[other][scene]
            if len(here | there) > 1:  # one shared stem is split-overlap
                rows.append(_row(
                    'split-scene', split,
                    f'scene {scene!r}: {len(here)} tile(s) here and '
                    f'{len(there)} in {other}'))
    return rows


def check_dataset(data_root: str,
                  split_files: Optional[Sequence[str]] = None,
                  image_size: Optional[Tuple[int, int]] = None,
                  same_size: bool = True,
                  verify_images: bool = False,
                  max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                  scene_pattern: Optional[str] = DEFAULT_SCENE_PATTERN,
                  csv: Optional[str] = None,
                  overwrite: bool = False,
                  keys: Sequence[str] = tuple(DEFAULT_CLASS_MAP),
                  workers: int = 1,
                  img_dir: str = 'images',
                  label_dir: str = 'labels',
                  img_suffix: str = '.png',
                  label_suffix: str = '.json',
                  progress: bool = True,
                  meta_dir: Optional[str] = None,
                  class_map: Optional[Mapping] = None,
                  vector_file: Optional[str] = None,
                  attribute: Optional[str] = None,
                  layer: Optional[str] = None,
                  vector_crs=None) -> CheckReport:
    """Validate every image, label file and split file of a data root.

    Problems found (see :data:`CHECKS` for the full list and severities):
    label files that cannot be read, features that cannot be drawn (with
    the feature index), images without labels, labels without images,
    images that cannot be read or have an unexpected size, ``image_id``
    values that disagree with the file name, vertices outside the image,
    stems of split files that are repeated, shared between split files or
    have no image, scenes shared between split files, and folder entries
    that cannot be used (each reported by name while the others are
    checked; a FIFO or device named like a label file is never opened).

    Args:
        data_root (str): Root holding ``images/``, ``labels/`` and optionally
            ``splits/*.txt``.
        split_files (Sequence[str], optional): Split files to check. Defaults
            to every ``*.txt`` in ``data_root/splits``.
        image_size (tuple[int, int], optional): Expected ``(height, width)``
            of every image. Defaults to None: see ``same_size``.
        same_size (bool): Without ``image_size``, expect every image to have
            the size most of them share (the release's 1024 x 1024, the
            bundled sample's 256 x 256) and report the others. False accepts
            any size. Defaults to True.
        verify_images (bool): Decode every image completely (slow) instead of
            reading its header only. Defaults to False.
        max_pixels (int, optional): Report images with more pixels (the
            other tools leave them out); None: no limit. Defaults to
            Pillow's decompression-bomb limit, 178,956,970.
        scene_pattern (str, optional): Regular expression naming a tile's
            scene (see :func:`~mmseg_sia.dataset_tools.scene_of`) for the
            ``split-scene`` check; None skips it. Defaults to
            :data:`~mmseg_sia.dataset_tools.DEFAULT_SCENE_PATTERN`.
        csv (str, optional): Also write every row to this CSV file; an
            existing file is refused before any work unless ``overwrite``.
        overwrite (bool): Replace an existing ``csv``. Defaults to False.
        keys (Sequence[str]): Polygon properties to read. Defaults to
            ``('building_imcoords', 'road_imcoords')``.
        workers (int): Worker processes (less than 1: one per CPU core).
            Defaults to 1.
        img_dir (str): Image folder under ``data_root``. Defaults to 'images'.
        label_dir (str): Labels folder under ``data_root``. Defaults to
            'labels'.
        img_suffix (str): Image suffix. Defaults to '.png'.
        label_suffix (str): Label file suffix. Defaults to '.json'.
        progress (bool): Show a progress bar. Defaults to True.
        meta_dir (str, optional): The META folder under ``data_root``: the
            land-cover layout (labels in map coordinates, class in
            ``ANN_CD``), checked as :class:`SIALandCoverDataset` reads it,
            with the ``meta-file``, ``image-without-meta`` and
            ``class-value`` checks. Defaults to None (the first release).
        class_map (Mapping, optional): Vector layout: field value -> class
            id. Defaults to ``{'building': 1, 'road': 2}``.
        vector_file (str, optional): The vector layout: georeferenced images
            plus this vector file (under ``data_root`` unless absolute),
            checked as :class:`SIAVectorDataset` reads it: ``feature`` rows
            for features without a usable polygon, ``class-value`` rows for
            values not in ``class_map`` (by feature number),
            ``image-georef`` for images without georeference, ``vector-crs``
            for images the polygons cannot be mapped onto, and
            ``image-without-label`` for images no polygon covers.
        attribute (str, optional): The vector file's class field.
        layer (str, optional): Its layer. Defaults to the first.
        vector_crs: Its CRS when it names none. Defaults to None.

    Returns:
        CheckReport: Every problem found, errors first.

    Raises:
        FileNotFoundError: When the data root holds neither an image folder
            nor a labels folder, or the vector file does not exist.
        VectorFileError: When the vector file cannot be read or lacks the
            class field (the message lists its fields).
        FileExistsError: When ``csv`` exists and ``overwrite`` is False
            (before any work).
        ValueError: When ``scene_pattern`` is not a regular expression.
    """
    import pandas as pd

    if scene_pattern is not None:
        try:
            re.compile(scene_pattern)
        except re.error as e:
            raise ValueError(f'scene pattern {scene_pattern!r} is not a '
                             f'regular expression ({e})') from e
    if csv is not None:
        refuse_existing([os.fspath(csv)], overwrite)
    layout = resolve_layout(data_root, class_map, meta_dir, vector_file,
                            attribute, layer, vector_crs, 'check_dataset')
    index = tile_index_for(layout, index_tiles(
        data_root, img_dir, label_dir, img_suffix, label_suffix))
    if split_files is None:
        split_files = find_split_files(data_root)
    split_files = [os.fspath(p) for p in split_files]
    options = _Options(
        keys=tuple(keys),
        img_suffix=img_suffix,
        verify_images=verify_images,
        max_pixels=max_pixels,
        layout=layout.kind,
        attribute=layout.attribute,
        vector_file=layout.vector.path if layout.vector else '')
    tasks = [(stem, index.images.get(stem), index.label_paths(stem))
             for stem in index.stems]
    if layout.kind == 'landcover':
        tasks = [t + (layout.metas.get(t[0]), ) for t in tasks]
    elif layout.kind == 'vector':
        tasks = [t + (layout.safe_spec(t[0], t[1]), ) for t in tasks]
    report = CheckReport(
        rows=None,
        images=len(index.images),
        label_files=sum(len(v) for v in index.labels.values()),
        split_files=list(split_files))
    rows: List[tuple] = [_row('entry', path, why)
                         for path, why in index.problems]
    if layout.kind == 'vector':
        report.label_files = 1
        report.features = layout.vector.num_features
        report.polygons = len(layout.vector)
        rows.extend(_vector_rows(layout.vector))
    sizes: Dict[str, Tuple[int, int]] = {}
    results = parallel_map(
        functools.partial(_check_tile, options=options), tasks, workers,
        ordered=True)
    for task, (tile_rows, features, polygons, shape) in zip(
            tasks, progress_bar(results, len(tasks), 'check', progress)):
        rows.extend(tile_rows)
        report.features += features
        report.polygons += polygons
        if shape is not None:
            sizes[task[1]] = shape
    if image_size is not None:
        rows.extend(_size_rows(sizes, (int(image_size[0]),
                                       int(image_size[1]))))
    elif same_size:
        rows.extend(_size_rows(sizes, None))
    rows.extend(
        _check_splits(split_files, index.images, index.img_dir, img_suffix,
                      scene_pattern))

    table = pd.DataFrame(rows, columns=_COLUMNS)
    table['feature'] = table['feature'].astype('Int64')
    table['_rank'] = (table['severity'] != ERROR).astype(int)
    table = table.sort_values(
        ['_rank', 'check', 'file', 'feature'],
        na_position='first', kind='stable').drop(columns='_rank')
    report.rows = table.reset_index(drop=True)
    if csv is not None:
        report.to_csv(csv, overwrite=overwrite)
    return report
