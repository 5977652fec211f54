"""Output files of inference: masks, overlays, label JSON, GeoJSON, summary.

Every writer goes through :func:`mmseg_sia.fileio.atomic_write_bytes`: a
temporary file beside the target, renamed into place, so a reader never sees
a half-written file; an existing file is replaced only with ``overwrite=True``.
"""
from __future__ import annotations

import json
import os.path as osp
import struct
import zlib
from typing import (Dict, Iterable, Iterator, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np

from ..fileio import atomic_write_bytes

__all__ = [
    'IMAGE_FORMATS', 'RUN_FORMATS', 'ALL_FORMATS', 'DEFAULT_IMAGE_FORMATS',
    'output_paths',
    'save_mask_png', 'save_rgb_png', 'save_overlay_png', 'save_json',
    'json_chunks', 'FeatureStream', 'LazyJSON', 'dumps_pieces',
    'png_stream', 'write_summary_csv', 'summary_frame',
    'blend_overlay', 'overlay_bands', 'SCENE_MASK', 'save_gpkg'
]

#: Files written for each image, by format name.
IMAGE_FORMATS: Dict[str, str] = {
    'mask': '{stem}_mask.png',
    'overlay': '{stem}_overlay.png',
    'json': '{stem}.json',
    'geojson': '{stem}.geojson',
    'gpkg': '{stem}.gpkg',
    # Road centre-line network (mmseg_sia.roads): GeoJSON LineStrings in
    # lon/lat, and a GeoPackage layer 'road_network'.
    'network': '{stem}_network.geojson',
    'network_gpkg': '{stem}_network.gpkg',
}
#: Mask file of a scene read with rasterio (a Cloud-Optimized GeoTIFF).
SCENE_MASK = '{stem}_mask.tif'
#: Files written once per run.
RUN_FORMATS: Dict[str, str] = {'summary': 'summary.csv'}
ALL_FORMATS = tuple(IMAGE_FORMATS) + tuple(RUN_FORMATS)
#: Per-image files written when no formats are named (no road network).
DEFAULT_IMAGE_FORMATS = ('mask', 'overlay', 'json', 'geojson', 'gpkg')


def output_paths(out_dir: str, stem: str,
                 formats: Iterable[str] = DEFAULT_IMAGE_FORMATS,
                 scene: bool = False) -> Dict[str, str]:
    """Paths of the per-image files of ``formats`` (run files excluded).

    Args:
        out_dir (str): Output folder.
        stem (str): Image stem.
        formats (Iterable[str]): Format names (see :data:`ALL_FORMATS`).
        scene (bool): The image is a raster read with rasterio: its mask is
            :data:`SCENE_MASK` (a Cloud-Optimized GeoTIFF), not a PNG.

    Returns:
        dict[str, str]: Format -> path.

    Raises:
        ValueError: On an unknown format name.
    """
    paths = {}
    for fmt in formats:
        if fmt in RUN_FORMATS:
            continue
        if fmt not in IMAGE_FORMATS:
            raise ValueError(f'unknown output format {fmt!r}; choose from '
                             f'{", ".join(ALL_FORMATS)}')
        name = SCENE_MASK if scene and fmt == 'mask' else IMAGE_FORMATS[fmt]
        paths[fmt] = osp.join(out_dir, name.format(stem=stem))
    return paths


#: Date written into GeoPackages (GDAL's OGR_CURRENT_DATE), so that the same
#: polygons give the same bytes (a multi-process run equals a single one).
GPKG_DATE = '2000-01-01T00:00:00.000Z'


def save_gpkg(path: str, layers: Mapping[str, Tuple[Sequence, Mapping]],
              crs_wkt: str, overwrite: bool = False) -> str:
    """Write polygon layers to a GeoPackage with pyogrio, atomically.

    Args:
        path (str): Target ``.gpkg``.
        layers (Mapping[str, tuple]): Layer name -> (polygons as shapely
            geometries or as WKB ``bytes``, mapping of field name ->
            sequence of values, one per polygon). Every layer is written,
            empty ones too.
        crs_wkt (str): The CRS of the coordinates, as WKT.
        overwrite (bool): Replace an existing file. Defaults to False.

    Returns:
        str: ``path``.

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
    """
    import os
    import shapely
    from pyogrio.raw import write

    from ..fileio import atomic_output

    old = os.environ.get('OGR_CURRENT_DATE')
    os.environ['OGR_CURRENT_DATE'] = old or GPKG_DATE
    try:
        with atomic_output(path, overwrite) as tmp:
            for i, (name, (geoms, fields)) in enumerate(layers.items()):
                geoms = list(geoms)
                wkb = np.empty(len(geoms), dtype=object)
                if all(isinstance(g, bytes) for g in geoms):
                    wkb[:] = geoms
                elif geoms:
                    wkb[:] = shapely.to_wkb(np.asarray(geoms, object))
                names = list(fields)
                data = [np.asarray(fields[n], dtype=np.float64)
                        for n in names]
                write(tmp, wkb, data, names, layer=name, driver='GPKG',
                      geometry_type='Polygon', crs=crs_wkt, append=i > 0)
    finally:
        if old is None:
            os.environ.pop('OGR_CURRENT_DATE', None)
    return path


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return (struct.pack('>I', len(data)) + tag + data +
            struct.pack('>I', zlib.crc32(tag + data) & 0xFFFFFFFF))


def png_stream(bands: Iterable[np.ndarray], height: int, width: int,
               channels: int, level: int = 6) -> Iterator[bytes]:
    """Encode an 8-bit image given as bands of rows into PNG, piece by piece.

    Neither Pillow nor OpenCV can encode a PNG from parts of an image, so
    for a whole scene they need the full array plus its encoded copy in
    memory. This writes the PNG format (signature, ``IHDR``, ``IDAT``,
    ``IEND``) with the standard library's ``zlib`` as the bands come: each
    row gets PNG's "Up" filter (the difference to the row above, computed
    with numpy), so memory is one band, not the image.

    Args:
        bands (Iterable[np.ndarray]): ``(rows, width)`` (grey) or ``(rows,
            width, 3)`` (RGB) uint8 arrays, top to bottom, ``height`` rows in
            all.
        height (int): Image height.
        width (int): Image width.
        channels (int): 1 (grey, PNG colour type 0) or 3 (RGB, type 2).
        level (int): zlib compression level. Defaults to 6.

    Yields:
        bytes: Consecutive pieces of the PNG file.

    Raises:
        ValueError: When the bands do not add up to ``height`` rows of
            ``width`` pixels with ``channels`` channels.
    """
    if channels not in (1, 3):
        raise ValueError(f'PNG: channels must be 1 or 3, got {channels}')
    if height <= 0 or width <= 0:
        raise ValueError(f'PNG: cannot encode a {width} x {height} image')
    colour_type = 0 if channels == 1 else 2
    yield b'\x89PNG\r\n\x1a\n' + _png_chunk(
        b'IHDR', struct.pack('>IIBBBBB', width, height, 8, colour_type, 0, 0,
                             0))
    stride = width * channels
    z = zlib.compressobj(level)
    previous = np.zeros(stride, np.uint8)
    rows = 0
    for band in bands:
        band = np.asarray(band)
        if band.dtype != np.uint8 or band.shape[1:] != (
                (width, ) if channels == 1 else (width, 3)):
            raise ValueError(f'PNG: a band of shape {band.shape} and type '
                             f'{band.dtype} does not fit a {width}-pixel '
                             f'wide, {channels}-channel uint8 image')
        if not len(band):
            continue
        flat = band.reshape(len(band), stride)
        filtered = np.empty((len(band), stride + 1), np.uint8)
        filtered[:, 0] = 2  # "Up": byte minus the byte above, modulo 256
        np.subtract(flat[0], previous, out=filtered[0, 1:])
        np.subtract(flat[1:], flat[:-1], out=filtered[1:, 1:])
        previous = flat[-1].copy()
        rows += len(band)
        data = z.compress(filtered.data)
        if data:
            yield _png_chunk(b'IDAT', data)
    if rows != height:
        raise ValueError(f'PNG: the bands hold {rows} rows, the image '
                         f'{height}')
    yield _png_chunk(b'IDAT', z.flush()) + _png_chunk(b'IEND', b'')


#: Bytes of image data handled at a time when no band height is given.
BAND_BYTES = 1 << 22


def _band_rows(band: Optional[int], width: int, channels: int) -> int:
    """Rows per band: ``band``, or as many as fit in :data:`BAND_BYTES`."""
    if band is None:
        return max(1, BAND_BYTES // max(1, width * channels))
    if band < 1:
        raise ValueError(f'band must be >= 1 row, got {band}')
    return int(band)


def _row_bands(array: np.ndarray, band: Optional[int]
               ) -> Iterator[np.ndarray]:
    channels = array.shape[2] if array.ndim == 3 else 1
    band = _band_rows(band, array.shape[1], channels)
    for y in range(0, array.shape[0], band):
        yield np.ascontiguousarray(array[y:y + band])


def save_mask_png(path: str, mask: np.ndarray, *, overwrite: bool = False,
                  band: Optional[int] = None) -> str:
    """Save class ids as a single-channel 8-bit grey PNG.

    The pixel values are the class ids, as ``tools/test.py --out`` (mmseg)
    writes them and as mmseg's ``LoadAnnotations`` reads segmentation maps:
    ``np.array(PIL.Image.open(path))``, ``cv2.imread(path,
    cv2.IMREAD_UNCHANGED)`` and ``PIL.Image.open(path).convert('L')`` all
    give the mask back. (It looks almost black in an image viewer; the
    overlay is the picture to look at.) Encoded in bands of rows
    (:func:`png_stream`), so memory does not grow with the image.

    Args:
        path (str): Target ``.png``.
        mask (np.ndarray): ``(H, W)`` class ids 0..255.
        overwrite (bool): Replace an existing file. Defaults to False.
        band (int, optional): Rows encoded at a time. Defaults to about
            4 MB of rows.

    Returns:
        str: ``path``.

    Raises:
        ValueError: When the mask is not 2-D or holds ids above 255.
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or (mask.dtype != np.uint8 and mask.size and
                          (int(mask.max()) > 255 or int(mask.min()) < 0)):
        raise ValueError(f'{path}: a grey PNG mask holds a 2-D mask of ids '
                         '0..255')
    bands = (b.astype(np.uint8, copy=False) for b in _row_bands(mask, band))
    atomic_write_bytes(path, png_stream(bands, *mask.shape, channels=1),
                       overwrite)
    return path


def save_rgb_png(path: str, rgb: np.ndarray, overwrite: bool = False,
                 band: Optional[int] = None) -> str:
    """Save an RGB image as PNG (encoded in bands of rows).

    Args:
        path (str): Target ``.png``.
        rgb (np.ndarray): ``(H, W, 3)`` uint8, RGB order.
        overwrite (bool): Replace an existing file. Defaults to False.
        band (int, optional): Rows encoded at a time. Defaults to about
            4 MB of rows.

    Returns:
        str: ``path``.
    """
    rgb = np.asarray(rgb)
    atomic_write_bytes(
        path, png_stream(_row_bands(rgb, band), rgb.shape[0], rgb.shape[1],
                         channels=3), overwrite)
    return path


def save_overlay_png(path: str,
                     image: np.ndarray,
                     mask: np.ndarray,
                     palette: Sequence[Sequence[int]],
                     opacity: float = 0.5,
                     skip: Iterable[int] = (0, ),
                     overwrite: bool = False,
                     channel_order: str = 'bgr',
                     band: Optional[int] = None) -> str:
    """Save :func:`blend_overlay` of an image as an RGB PNG, band by band.

    The overlay is computed and encoded ``band`` rows at a time, so no
    full-size overlay (or encoded copy) is ever held in memory.

    Args:
        path (str): Target ``.png``.
        image (np.ndarray): ``(H, W, 3)`` uint8 image.
        mask (np.ndarray): ``(H, W)`` class ids.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        opacity (float): Weight of the colour. Defaults to 0.5.
        skip (Iterable[int]): Classes left unpainted. Defaults to ``(0,)``.
        overwrite (bool): Replace an existing file. Defaults to False.
        channel_order (str): Order of ``image``'s channels, 'bgr' (mmseg's
            and OpenCV's, the default) or 'rgb'.
        band (int, optional): Rows processed at a time. Defaults to about
            4 MB of image rows.

    Returns:
        str: ``path``.
    """
    bands = (part for _, part in overlay_bands(
        image, mask, palette, opacity, skip, band=band,
        channel_order=channel_order))
    atomic_write_bytes(path, png_stream(bands, mask.shape[0], mask.shape[1],
                                        channels=3), overwrite)
    return path


def _dumps(value, indent: Optional[int] = None, default=None) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=indent,
                      allow_nan=False, default=default).encode('utf-8')


def dumps_numbers(array: np.ndarray) -> bytes:
    """``_dumps(array.tolist())`` of a numeric array, the same bytes about
    ten times faster (a scene's GeoJSON is mostly coordinates).

    orjson writes the numbers: integers in decimal, floats with the
    shortest digits that read back to the same value, as Python's ``repr``
    does; a space after each comma then gives ``json.dumps``' separators
    (the array holds no strings). The two write exponents differently only
    below 1e-4 (Python ``1e-05``, orjson ``0.00001``), so an array with
    such a value, or a value that is not finite (an error), goes through
    ``json.dumps``.

    Args:
        array (np.ndarray): Integers or floats, any shape.

    Returns:
        bytes: The JSON text.
    """
    import orjson

    a = np.ascontiguousarray(array)
    if a.dtype.kind == 'f':
        size = np.abs(a)
        if not np.isfinite(a).all() or ((size < 1e-4) & (size > 0)).any():
            return _dumps(a.tolist())
    elif a.dtype.kind not in 'iu':
        return _dumps(a.tolist())
    return orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY).replace(
        b',', b', ')


class LazyJSON:
    """A value of a JSON document given as the pieces of its text, made
    only while the document is written (:func:`dumps_pieces`).

    A polygon of a whole scene (a road network is one region with
    thousands of holes) would otherwise be held as Python lists of floats
    and as one text before it is written: about 130 bytes per vertex
    against 16 in its numpy array.

    Args:
        pieces (Callable[[], Iterable[bytes]]): Returns the JSON text of
            the value, in pieces, each time it is called.
    """

    def __init__(self, pieces) -> None:
        self.pieces = pieces

    def dumps(self) -> bytes:
        return b''.join(self.pieces())


def dumps_pieces(value, indent: Optional[int] = None) -> Iterator[bytes]:
    """The bytes of :func:`_dumps` of ``value``, in pieces, each
    :class:`LazyJSON` in it written from its own pieces (compact JSON;
    with ``indent``, a lazy value is written whole, not indented)."""
    tag = ''
    while True:
        found: list = []

        def mark(obj, found=found, tag=tag) -> str:
            # json calls this for what it cannot write: each LazyJSON, in
            # document order, becomes a marker string.
            if not isinstance(obj, LazyJSON):
                raise TypeError(f'Object of type {type(obj).__name__} is '
                                'not JSON serializable')
            found.append(obj)
            return f'\ue000{tag}{len(found) - 1}\ue001'

        text = _dumps(value, indent, default=mark)
        if not found:
            yield text
            return
        markers = [f'"\ue000{tag}{i}\ue001"'.encode('utf-8')
                   for i in range(len(found))]
        # A string or key of the document itself may read like a marker:
        # then mark again, with a longer tag.
        if all(text.count(m) <= 1 for m in markers):
            break
        tag += '#'
    start = 0
    for marker, lazy in zip(markers, found):
        at = text.index(marker, start)
        yield text[start:at]
        yield from lazy.pieces()
        start = at + len(marker)
    yield text[start:]


def json_chunks(obj: Mapping, features: Optional[Iterable] = None,
                indent: Optional[int] = None) -> Iterator[bytes]:
    """A JSON document as UTF-8 pieces, its features one at a time.

    Args:
        obj (Mapping): The document; with ``features`` given, its members
            other than the features (``features`` is written last).
        features (Iterable, optional): The ``features`` array's items, e.g.
            a generator, so that a FeatureCollection of a whole scene is
            written without being held in memory as one text.
        indent (int, optional): ``json.dumps`` indentation. Defaults to
            None (compact).

    Yields:
        bytes: Consecutive pieces of the file (ending with a newline).
    """
    if features is None:
        yield _dumps(obj, indent) + b'\n'
        return
    stream = FeatureStream(obj, indent)
    yield stream.head
    for feature in features:
        yield from stream.feature_pieces(feature)
    yield stream.tail


class FeatureStream:
    """The pieces of a FeatureCollection written as features come (the
    push counterpart of :func:`json_chunks`, same bytes).

    Attributes:
        head (bytes): The members other than ``features``, then
            ``"features": [``.
        tail (bytes): What closes the document.
    """

    tail = b']}\n'

    def __init__(self, obj: Mapping, indent: Optional[int] = None) -> None:
        head = {k: v for k, v in obj.items() if k != 'features'}
        text = _dumps(head, indent)
        self.head = text[:-1] + (b', ' if head else b'') + b'"features": ['
        self.indent = indent
        self.count = 0

    def feature(self, feature) -> bytes:
        """The bytes of the next feature."""
        return b''.join(self.feature_pieces(feature))

    def feature_pieces(self, feature) -> Iterator[bytes]:
        """The bytes of the next feature, in pieces (see
        :class:`LazyJSON`)."""
        yield self._separator(1)
        yield from dumps_pieces(feature, self.indent)

    def texts(self, count: int, text: bytes) -> bytes:
        """The bytes of the next ``count`` features (at least one) given
        their JSON texts (:func:`dumps_pieces` of each) joined by ``', '``.
        """
        return self._separator(count) + text

    def _separator(self, count: int) -> bytes:
        # What comes before the next ``count`` features: a comma after any
        # written before.
        start = b', ' if self.count else b''
        self.count += count
        return start


def save_json(path: str, obj: Mapping, overwrite: bool = False,
              indent: Optional[int] = None,
              features: Optional[Iterable] = None) -> str:
    """Save a JSON document (UTF-8, no byte-order mark), streamed.

    Args:
        path (str): Target file.
        obj (Mapping): The document (see :func:`json_chunks`).
        overwrite (bool): Replace an existing file. Defaults to False.
        indent (int, optional): ``json.dump`` indentation. Defaults to None.
        features (Iterable, optional): The ``features`` array, written one
            feature at a time after the other members of ``obj``.

    Returns:
        str: ``path``.
    """
    atomic_write_bytes(path, json_chunks(obj, features, indent), overwrite)
    return path


def _column_dtype(values: Sequence) -> Optional[str]:
    """pandas dtype of a summary column from its Python values.

    Integers stay integers and booleans booleans when some rows have no
    value (a failed image), through pandas' nullable types.
    """
    present = [v for v in values if v is not None and not (
        isinstance(v, float) and v != v)]
    if not present:
        return None
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return 'boolean'
    if all(isinstance(v, (int, np.integer)) and
           not isinstance(v, (bool, np.bool_)) for v in present):
        return 'Int64'
    if all(isinstance(v, (int, float, np.integer, np.floating)) and
           not isinstance(v, (bool, np.bool_)) for v in present):
        return 'Float64'
    return None


def summary_frame(rows: Sequence[Mapping]):
    """The run summary as a pandas DataFrame with stable column types.

    Columns are the union of the rows' keys in first-seen order. A column
    whose values are all integers is ``Int64`` (pandas' nullable integer), all
    booleans ``boolean``, all numbers ``Float64``: a missing value (a failed
    image, a measure that needs a georeference) is ``<NA>`` and written as an
    empty field, and the other values keep their type (``256``, not
    ``256.0``).

    Args:
        rows (Sequence[Mapping]): One mapping per image.

    Returns:
        pandas.DataFrame: The table.
    """
    import pandas as pd

    columns: Dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    data = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        dtype = _column_dtype(values)
        values = [None if v is None or (isinstance(v, float) and v != v)
                  else v for v in values]
        data[name] = pd.array(values, dtype=dtype) if dtype else \
            pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=list(columns))


def write_summary_csv(path: str, rows: Sequence[Mapping],
                      overwrite: bool = False) -> str:
    """Write the per-image summary of a run (see :func:`summary_frame`).

    Args:
        path (str): Target ``.csv``.
        rows (Sequence[Mapping]): One mapping per image; columns are the
            union of their keys in first-seen order.
        overwrite (bool): Replace an existing file. Defaults to False.

    Returns:
        str: ``path``.
    """
    text = summary_frame(rows).to_csv(index=False)
    atomic_write_bytes(path, text.encode('utf-8'), overwrite)
    return path


def _overlay_tables(palette: Sequence[Sequence[int]],
                    skip: Iterable[int]) -> Tuple[np.ndarray, np.ndarray]:
    lut = np.zeros((256, 3), dtype=np.uint8)
    for i, colour in enumerate(palette[:256]):
        lut[i] = [int(v) for v in colour[:3]]
    paint = np.ones(256, dtype=bool)
    for c in skip:
        paint[int(c)] = False
    return lut, paint


def overlay_bands(image: np.ndarray,
                  mask: np.ndarray,
                  palette: Sequence[Sequence[int]],
                  opacity: float = 0.5,
                  skip: Iterable[int] = (0, ),
                  outline: bool = True,
                  band: Optional[int] = None,
                  channel_order: str = 'bgr'
                  ) -> Iterator[Tuple[int, np.ndarray]]:
    """:func:`blend_overlay` computed ``band`` rows at a time.

    Only the painted pixels of a band are blended (in float32), so the
    extra memory is a few times the band's uint8 size.

    Yields:
        tuple[int, np.ndarray]: The first row of the band and its ``(rows,
        W, 3)`` uint8 RGB overlay.
    """
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError("overlay: channel_order must be 'bgr' or 'rgb', "
                         f'got {channel_order!r}')
    if image.ndim != 3 or image.shape[2] != 3 or \
            image.shape[:2] != mask.shape:
        raise ValueError(f'overlay: image {image.shape} and mask '
                         f'{mask.shape} differ in size (or the image is not '
                         '3-channel)')
    if not 0 <= opacity <= 1:
        raise ValueError(f'overlay: opacity must be in [0, 1], got {opacity}')
    lut, paint = _overlay_tables(palette, skip)
    h = mask.shape[0]
    band = _band_rows(band, mask.shape[1], 3)
    for y0 in range(0, h, band):
        y1 = min(y0 + band, h)
        m = mask[y0:y1]
        part = image[y0:y1] if channel_order == 'rgb' else \
            image[y0:y1, :, ::-1]
        out = np.ascontiguousarray(part)
        painted = paint[m]
        if painted.any():
            # Blend only the painted pixels: little float memory.
            blended = out[painted].astype(np.float32) * (1 - opacity) + \
                lut[m[painted]].astype(np.float32) * opacity
            out[painted] = (blended + 0.5).astype(np.uint8)
            del blended
        if outline:
            # One row of context above and below for the outlines.
            a, b = max(y0 - 1, 0), min(y1 + 1, h)
            ctx = mask[a:b]
            vertical = np.zeros(ctx.shape, dtype=bool)
            vertical[:-1] |= ctx[:-1] != ctx[1:]
            vertical[1:] |= ctx[1:] != ctx[:-1]
            edge = vertical[y0 - a:y0 - a + len(m)]
            edge[:, :-1] |= m[:, :-1] != m[:, 1:]
            edge[:, 1:] |= m[:, 1:] != m[:, :-1]
            edge &= painted
            out[edge] = lut[m[edge]]
        yield y0, out


def blend_overlay(image_bgr: np.ndarray, mask: np.ndarray,
                  palette: Sequence[Sequence[int]],
                  opacity: float = 0.5,
                  skip: Iterable[int] = (0, ),
                  outline: bool = True,
                  band: Optional[int] = None,
                  channel_order: str = 'bgr') -> np.ndarray:
    """The image with the classes painted over it, as RGB.

    Pixels of the classes in ``skip`` (background) keep the image; the
    others are blended with their palette colour, and their region borders
    drawn in full colour. Works in bands of rows, so the extra memory does
    not grow with the image height (see :func:`save_overlay_png` to write
    it without holding the result).

    Args:
        image_bgr (np.ndarray): ``(H, W, 3)`` uint8 image, in the order
            ``channel_order`` says (BGR by default, mmseg's and OpenCV's).
        mask (np.ndarray): ``(H, W)`` class ids.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        opacity (float): Weight of the colour, in ``[0, 1]``. Defaults to 0.5.
        skip (Iterable[int]): Classes left unpainted. Defaults to ``(0,)``.
        outline (bool): Draw region borders. Defaults to True.
        band (int, optional): Rows processed at a time. Defaults to about
            4 MB of image rows.
        channel_order (str): 'bgr' (the default) or 'rgb' (PIL, matplotlib).

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.

    Raises:
        ValueError: When the image and mask sizes differ or ``opacity`` is
            outside ``[0, 1]``.
    """
    out = np.empty(mask.shape + (3, ), dtype=np.uint8)
    for y0, part in overlay_bands(image_bgr, mask, palette, opacity, skip,
                                  outline, band, channel_order):
        out[y0:y0 + len(part)] = part
    return out
