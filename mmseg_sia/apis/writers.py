"""Output files of inference: masks, overlays, label JSON, GeoJSON, summary.

Every writer goes through :func:`mmseg_sia.fileio.atomic_write_bytes`: a
temporary file beside the target, renamed into place, so a reader never sees
a half-written file; an existing file is replaced only with ``overwrite=True``.
"""
from __future__ import annotations

import io
import json
import os.path as osp
from typing import Dict, Iterable, List, Mapping, Sequence

import cv2
import numpy as np

from ..fileio import atomic_write_bytes

__all__ = [
    'IMAGE_FORMATS', 'RUN_FORMATS', 'ALL_FORMATS', 'output_paths',
    'save_mask_png', 'save_rgb_png', 'save_json',
    'write_summary_csv', 'blend_overlay'
]

#: Files written for each image, by format name.
IMAGE_FORMATS: Dict[str, str] = {
    'mask': '{stem}_mask.png',
    'overlay': '{stem}_overlay.png',
    'json': '{stem}.json',
    'geojson': '{stem}.geojson',
}
#: Files written once per run.
RUN_FORMATS: Dict[str, str] = {'summary': 'summary.csv'}
ALL_FORMATS = tuple(IMAGE_FORMATS) + tuple(RUN_FORMATS)


def output_paths(out_dir: str, stem: str,
                 formats: Iterable[str] = tuple(IMAGE_FORMATS)
                 ) -> Dict[str, str]:
    """Paths of the per-image files of ``formats`` (run files excluded).

    Args:
        out_dir (str): Output folder.
        stem (str): Image stem.
        formats (Iterable[str]): Format names (see :data:`ALL_FORMATS`).

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
        paths[fmt] = osp.join(out_dir, IMAGE_FORMATS[fmt].format(stem=stem))
    return paths


def save_mask_png(path: str, mask: np.ndarray,
                  palette: Sequence[Sequence[int]],
                  overwrite: bool = False) -> str:
    """Save class ids as a palette ("P" mode) PNG.

    The pixel values are the class ids, so the file reads back as the mask
    (``PIL.Image.open(path)`` / ``np.array(...)``), and image viewers show the
    dataset colours.

    Args:
        path (str): Target ``.png``.
        mask (np.ndarray): ``(H, W)`` class ids below 256.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        overwrite (bool): Replace an existing file. Defaults to False.

    Returns:
        str: ``path``.
    """
    from PIL import Image

    mask = np.asarray(mask)
    if mask.ndim != 2 or (mask.size and int(mask.max()) > 255):
        raise ValueError(f'{path}: a palette PNG holds a 2-D mask of ids '
                         '0..255')
    flat: List[int] = []
    for colour in palette:
        flat.extend(int(v) for v in colour[:3])
    flat.extend([0] * (768 - len(flat)))

    img = Image.fromarray(mask.astype(np.uint8), mode='P')
    img.putpalette(flat[:768])
    buffer = io.BytesIO()
    img.save(buffer, format='PNG')
    atomic_write_bytes(path, buffer.getvalue(), overwrite)
    return path


def save_rgb_png(path: str, rgb: np.ndarray, overwrite: bool = False) -> str:
    """Save an RGB image as PNG.

    Args:
        path (str): Target ``.png``.
        rgb (np.ndarray): ``(H, W, 3)`` uint8, RGB order.
        overwrite (bool): Replace an existing file. Defaults to False.

    Returns:
        str: ``path``.
    """

    ok, data = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f'{path}: PNG encoding failed')
    atomic_write_bytes(path, data.tobytes(), overwrite)
    return path


def save_json(path: str, obj: Mapping, overwrite: bool = False,
              indent: int = None) -> str:
    """Save a JSON document (UTF-8, no byte-order mark).

    Args:
        path (str): Target file.
        obj (Mapping): The document.
        overwrite (bool): Replace an existing file. Defaults to False.
        indent (int, optional): ``json.dump`` indentation. Defaults to None.

    Returns:
        str: ``path``.
    """

    text = json.dumps(obj, ensure_ascii=False, indent=indent,
                      allow_nan=False) + '\n'
    atomic_write_bytes(path, text.encode('utf-8'), overwrite)
    return path


def write_summary_csv(path: str, rows: Sequence[Mapping],
                      overwrite: bool = False) -> str:
    """Write the per-image summary of a run with pandas.

    Args:
        path (str): Target ``.csv``.
        rows (Sequence[Mapping]): One mapping per image; columns are the
            union of their keys in first-seen order.
        overwrite (bool): Replace an existing file. Defaults to False.

    Returns:
        str: ``path``.
    """
    import pandas as pd

    columns: Dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    frame = pd.DataFrame(list(rows), columns=list(columns))

    atomic_write_bytes(path, frame.to_csv(index=False).encode('utf-8'),
                       overwrite)
    return path


def blend_overlay(image_bgr: np.ndarray, mask: np.ndarray,
                  palette: Sequence[Sequence[int]],
                  opacity: float = 0.5,
                  skip: Iterable[int] = (0, ),
                  outline: bool = True,
                  band: int = 1024) -> np.ndarray:
    """The image with the classes painted over it, as RGB.

    Pixels of the classes in ``skip`` (background) keep the image; the
    others are blended with their palette colour, and their region borders
    drawn in full colour. Works in bands of rows, so the extra memory does
    not grow with the image height.

    Args:
        image_bgr (np.ndarray): ``(H, W, 3)`` uint8 image, BGR order.
        mask (np.ndarray): ``(H, W)`` class ids.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        opacity (float): Weight of the colour, in ``[0, 1]``. Defaults to 0.5.
        skip (Iterable[int]): Classes left unpainted. Defaults to ``(0,)``.
        outline (bool): Draw region borders. Defaults to True.
        band (int): Rows processed at a time. Defaults to 1024.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.

    Raises:
        ValueError: When the image and mask sizes differ or ``opacity`` is
            outside ``[0, 1]``.
    """
    if image_bgr.shape[:2] != mask.shape:
        raise ValueError(f'overlay: image {image_bgr.shape[:2]} and mask '
                         f'{mask.shape} differ in size')
    if not 0 <= opacity <= 1:
        raise ValueError(f'overlay: opacity must be in [0, 1], got {opacity}')
    lut = np.zeros((256, 3), dtype=np.uint8)
    for i, colour in enumerate(palette[:256]):
        lut[i] = [int(v) for v in colour[:3]]
    paint = np.ones(256, dtype=bool)
    for c in skip:
        paint[int(c)] = False
    h = mask.shape[0]
    out = np.empty(image_bgr.shape[:2] + (3, ), dtype=np.uint8)
    for y0 in range(0, h, band):
        # One row of context above and below for the outlines.
        a, b = max(y0 - 1, 0), min(y0 + band + 1, h)
        m = mask[a:b]
        rgb = image_bgr[a:b, :, ::-1].astype(np.float32)
        colour = lut[m].astype(np.float32)
        painted = paint[m]
        blended = rgb * (1 - opacity) + colour * opacity
        res = np.where(painted[..., None], blended, rgb)
        if outline:
            edge = np.zeros_like(painted)
            edge[:-1] |= m[:-1] != m[1:]
            edge[1:] |= m[1:] != m[:-1]
            edge[:, :-1] |= m[:, :-1] != m[:, 1:]
            edge[:, 1:] |= m[:, 1:] != m[:, :-1]
            edge &= painted
            res[edge] = colour[edge]
        out[y0:min(y0 + band, h)] = np.clip(res + 0.5, 0, 255).astype(
            np.uint8)[y0 - a:y0 - a + min(band, h - y0)]
    return out
