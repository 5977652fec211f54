"""A small, seeded dataset in the AIHub release layout.

:func:`make_sample` draws synthetic KOMPSAT-3A-like tiles (textured ground
with trees, roofs with shadows, roads of several widths) and writes them the
way the real data is released::

    out_dir/
    ├── images/BLD00596_PS3_K3A_NIA0277.png
    ├── labels/building/BLD00596_PS3_K3A_NIA0277.json   (tiles with buildings)
    ├── labels/road/BLD00596_PS3_K3A_NIA0277.json       (tiles with roads)
    ├── splits/train.txt, splits/val.txt
    └── README.md

Every label file follows the released schema: a ``FeatureCollection``
whose polygons are ``building_imcoords`` / ``road_imcoords`` strings of
floats, with the values floating-point noise leaves where a polygon is cut
by the tile border (``4.440892098500626e-15``, ``-2.8421709430404014e-14``,
``256.00000000000006``, bare ``0`` and ``256``), the tile footprint in
``geometry`` as four lon/lat corners, ``image_id``, ``ingest_time`` and the
real ``type_id`` / ``type_name`` values. By default (label style
``'release'``) the bytes are those of the genuine files: compact one-line
JSON with ``\\uXXXX`` escapes, no byte-order mark, no final newline,
``features`` before ``type``, ``"EMPTY"`` for unused keys, the footprint as
four open corners (bottom-left, bottom-right, top-right, top-left) and the
type names ``소형 시설`` and ``중형 단독 시설`` spelt with spaces. The
``'mixed'`` style writes the variants of other redistributions instead
(indented UTF-8, byte-order marks, ``""``, trailing commas, footprints as
ring lists, type names without spaces).

:class:`SampleSettings` varies what is drawn (road widths, surface and
contrast, building density and size, the mix of tile kinds, the ground):
the benchmark ``benchmarks/bench_sample_generalization.py`` trains the
sample config on such folders.

The image is painted from the very polygons written to the label files,
rasterized with :func:`mmseg_sia.labels.polygon_coverage`, with roads painted
over roofs where they overlap. Reading the files back with
:func:`mmseg_sia.labels.rasterize_label_files` (default priority: road over
building) therefore gives exactly the classes the image shows.

Tiles come in four kinds: buildings and roads, buildings only, roads only,
and none (no label file at all). Both splits hold every kind.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .fileio import atomic_write_bytes
from .labels import parse_imcoords, polygon_coverage

__all__ = [
    'SAMPLE_SEED', 'SAMPLE_NUM_TRAIN', 'SAMPLE_NUM_VAL', 'SAMPLE_TILE_SIZE',
    'BUILDING_TYPES', 'ROAD_TYPES', 'TILE_KINDS', 'LABEL_STYLES',
    'SampleSettings', 'SampleInfo', 'make_sample', 'settings_options'
]

#: Arguments of the sample bundled at ``data/sia_sample``.
SAMPLE_SEED = 0
SAMPLE_NUM_TRAIN = 40
SAMPLE_NUM_VAL = 10
SAMPLE_TILE_SIZE = 256

#: ``(type_id, type_name)`` of building features, spelt as in the released
#: files (two names with spaces). The ``'mixed'`` label style writes the
#: names without spaces, as other redistributions and documents do.
BUILDING_TYPES: Tuple[Tuple[str, str], ...] = (
    ('1', '소형 시설'), ('2', '아파트'), ('3', '공장'), ('4', '컨테이너'),
    ('5', '중형 단독 시설'), ('6', '대형시설'))
#: ``(type_id, type_name)`` of road features (``Mortorway`` is the data's
#: own spelling).
ROAD_TYPES: Tuple[Tuple[str, str], ...] = (
    ('1', 'Mortorway'), ('2', 'Primary'), ('3', 'Secondary'),
    ('4', 'Tertiary'), ('5', 'Residential'), ('6', 'Unclassified'))

#: The content kinds of a tile: which label files it has.
TILE_KINDS: Tuple[str, ...] = ('both', 'building', 'road', 'none')

#: How label files are written. ``'release'``: as the genuine files of the
#: first release (compact one-line JSON, ASCII with ``\uXXXX`` escapes, no
#: byte-order mark, ``features`` before ``type``, no final newline, unused
#: keys ``"EMPTY"``, the footprint as a bare list of four ``[lon, lat, 0.0]``
#: corners, coordinates such as ``4.440892098500626e-15`` and
#: ``256.00000000000006`` at the tile border). ``'mixed'``: the variants of
#: other redistributions (indented UTF-8, some files with a byte-order mark,
#: ``""`` for unused keys, trailing commas, footprints as ring lists, type
#: names without spaces).
LABEL_STYLES: Tuple[str, ...] = ('release', 'mixed')

# The tiny negative zero the 'mixed' style writes where a polygon touches
# the left or top border, and the values floating-point noise leaves there
# in the released files.
_NEAR_ZERO = -2.8421709430404014e-14
_TINY = (-2.8421709430404014e-14, 2.8421709430404014e-14,
         4.440892098500626e-15, -1.4210854715202004e-14)
_REF_SIZE = 256.0  # sizes below are in pixels of a 256 x 256 tile
_SHADOW_DIR = np.array([0.8, 0.6])  # sun from the upper left

_README = """\
# Bundled sample of the AIHub satellite object reading layout

Synthetic KOMPSAT-3A-like tiles (buildings, roads, ground) in the released
folder layout and JSON label schema, made by `mmseg_sia.sample.make_sample`
so that the sample configs run anywhere without downloads. Not real imagery.

- tiles: {num_train} train + {num_val} val, {size} x {size} RGB PNG
- seed: {seed}
- tile kinds (train / val): {kinds}
- label files: {style}

Made with:

    python tools/make_sample.py OUT_DIR --seed {seed} \\
        --num-train {num_train} --num-val {num_val} --tile-size {size}{options}
"""
_STYLE_TEXT = {
    'release': 'as the first release writes them (compact one-line JSON, '
               'ASCII with \\uXXXX escapes, no byte-order mark)',
    'mixed': 'in the variants of other redistributions (indented UTF-8, '
             'byte-order marks, "" for unused keys, trailing commas)',
}


def settings_options(settings: 'SampleSettings') -> List[str]:
    """The ``tools/make_sample.py`` options that give ``settings``.

    Args:
        settings (SampleSettings): The settings.

    Returns:
        list[str]: Options and values (only settings that differ from the
        defaults), e.g. ``['--road-contrast', '0.5']``.
    """
    out = []
    for name, value in settings.changed().items():
        out.append('--' + name.replace('_', '-'))
        values = value if isinstance(value, tuple) else (value, )
        out += [f'{v:g}' if isinstance(v, float) else str(v) for v in values]
    return out


@dataclass
class SampleInfo:
    """What :func:`make_sample` wrote.

    Attributes:
        out_dir (str): The dataset root.
        seed (int): The seed it was drawn with.
        tile_size (int): Tile width and height in pixels.
        train (list[str]): Stems of the train split, as in ``train.txt``.
        val (list[str]): Stems of the val split, as in ``val.txt``.
        kinds (dict[str, str]): Stem -> tile kind (one of
            :data:`TILE_KINDS`).
        settings (SampleSettings): What the tiles were drawn with.
    """
    out_dir: str
    seed: int
    tile_size: int
    train: List[str] = field(default_factory=list)
    val: List[str] = field(default_factory=list)
    kinds: Dict[str, str] = field(default_factory=dict)
    settings: 'SampleSettings' = None


def _pair(name: str, value, low: float, high: float,
          integer: bool = False) -> Tuple:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f'SampleSettings: {name} must be a (min, max) pair, '
                         f'got {value!r}') from None
    for v in (a, b):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if integer:
            ok = ok and float(v).is_integer()
        if not ok or not low <= v <= high:
            kind = 'integers' if integer else 'numbers'
            raise ValueError(f'SampleSettings: {name} must hold {kind} in '
                             f'[{low}, {high}], got {value!r}')
    if a > b:
        raise ValueError(f'SampleSettings: {name} must be (min, max) with '
                         f'min <= max, got {value!r}')
    return (int(a), int(b)) if integer else (float(a), float(b))


def _scalar(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not low <= value <= high:
        raise ValueError(f'SampleSettings: {name} must be a number in '
                         f'[{low}, {high}], got {value!r}')
    return float(value)


@dataclass(frozen=True)
class SampleSettings:
    """What the drawn tiles look like; the defaults draw the bundled sample.

    Lengths are in pixels of a 256 x 256 tile and grow with the tile size.
    Changing a setting changes only what it names: the same seed still
    gives the same tile names and (unless ``kind_share`` changes) the same
    tile kinds.

    Attributes:
        road_width (tuple[float, float]): Range of road widths. Defaults to
            ``(7, 22)``.
        road_grey (tuple[float, float]): Range of the road surface's grey
            level (0-255). Defaults to ``(88, 122)``, dark asphalt; concrete
            is about ``(150, 200)``.
        road_contrast (float): How far a road stands out from the ground it
            crosses, in [0, 1]: 1 paints the road surface as is, 0.5 half
            way between surface and ground, 0 leaves the ground colour (only
            the texture, markings and shadows remain). Defaults to 1.
        roads_per_tile (tuple[int, ...]): Road counts, one drawn per tile
            with roads. Defaults to ``(1, 1, 2, 2, 3)``.
        buildings_per_tile (tuple[int, int]): Range (inclusive) of the
            buildings wanted per tile with buildings; fewer are placed where
            the tile is full. Defaults to ``(5, 12)``.
        building_scale (float): Factor on building footprints (13-40 by
            10-28 pixels at 1). Defaults to 1.
        kind_share (tuple[float, float, float, float]): Share of the tile
            kinds ``both, building, road, none`` (:data:`TILE_KINDS`) in a
            split; every kind still gets at least one tile. Defaults to
            ``(0.5, 0.2, 0.2, 0.1)``.
        ground_brightness (float): Factor on the ground's colours (fields,
            soil, sand). Defaults to 1.
        trees (float): Factor on the number of trees on the ground. Defaults
            to 1.
        label_style (str): How the label files are written, one of
            :data:`LABEL_STYLES`. Defaults to ``'release'``.

    Raises:
        ValueError: When a setting is out of range (the message names it).
    """
    road_width: Tuple[float, float] = (7.0, 22.0)
    road_grey: Tuple[float, float] = (88.0, 122.0)
    road_contrast: float = 1.0
    roads_per_tile: Tuple[int, ...] = (1, 1, 2, 2, 3)
    buildings_per_tile: Tuple[int, int] = (5, 12)
    building_scale: float = 1.0
    kind_share: Tuple[float, float, float, float] = (0.5, 0.2, 0.2, 0.1)
    ground_brightness: float = 1.0
    trees: float = 1.0
    label_style: str = 'release'

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, 'road_width', _pair('road_width', self.road_width, 2, 64))
        set_(self, 'road_grey', _pair('road_grey', self.road_grey, 0, 255))
        set_(self, 'road_contrast',
             _scalar('road_contrast', self.road_contrast, 0, 1))
        counts = self.roads_per_tile
        if isinstance(counts, (int, str)) or not counts or any(
                isinstance(c, bool) or not isinstance(c, int) or not 1 <= c
                <= 8 for c in counts):
            raise ValueError('SampleSettings: roads_per_tile must be a '
                             'non-empty list of integers in [1, 8], got '
                             f'{counts!r}')
        set_(self, 'roads_per_tile', tuple(int(c) for c in counts))
        set_(self, 'buildings_per_tile',
             _pair('buildings_per_tile', self.buildings_per_tile, 1, 60,
                   integer=True))
        set_(self, 'building_scale',
             _scalar('building_scale', self.building_scale, 0.25, 4))
        share = self.kind_share
        try:
            share = tuple(float(v) for v in share)
        except (TypeError, ValueError):
            share = ()
        if len(share) != len(TILE_KINDS) or min(share) < 0 or \
                sum(share) <= 0:
            raise ValueError('SampleSettings: kind_share must be 4 '
                             'non-negative shares (both, building, road, '
                             'none) with a positive sum, got '
                             f'{self.kind_share!r}')
        set_(self, 'kind_share', share)
        set_(self, 'ground_brightness',
             _scalar('ground_brightness', self.ground_brightness, 0.3, 2))
        set_(self, 'trees', _scalar('trees', self.trees, 0, 5))
        if self.label_style not in LABEL_STYLES:
            raise ValueError(f'SampleSettings: label_style must be one of '
                             f'{LABEL_STYLES}, got {self.label_style!r}')

    def changed(self) -> Dict[str, object]:
        """The settings that differ from the defaults, by name."""
        default = SampleSettings()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------
def _clip_to_tile(points: np.ndarray, size: float) -> np.ndarray:
    """Clip a polygon to the square [0, size]^2 (Sutherland-Hodgman).

    Vertices created on the border get exactly 0 or ``size``.
    """
    pts = [tuple(p) for p in np.asarray(points, dtype=np.float64)]
    # (axis, bound, keep the side where coordinate >= bound)
    for axis, bound, keep_above in ((0, 0.0, True), (0, size, False),
                                    (1, 0.0, True), (1, size, False)):
        if not pts:
            break

        def inside(p, axis=axis, bound=bound, keep_above=keep_above):
            return p[axis] >= bound if keep_above else p[axis] <= bound

        out = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(_cross(prev, cur, axis, bound))
                out.append(cur)
            elif inside(prev):
                out.append(_cross(prev, cur, axis, bound))
        pts = out
    # Drop repeated vertices.
    clean = [p for i, p in enumerate(pts) if p != pts[i - 1]] if pts else []
    return np.array(clean, dtype=np.float64).reshape(-1, 2)


def _cross(a, b, axis: int, bound: float) -> Tuple[float, float]:
    t = (bound - a[axis]) / (b[axis] - a[axis])
    other = 1 - axis
    value = a[other] + t * (b[other] - a[other])
    return (bound, value) if axis == 0 else (value, bound)


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) -
                           np.dot(y, np.roll(x, -1))))


def _road_geometry(rng: np.random.Generator, size: float,
                   width: float) -> Tuple[np.ndarray, np.ndarray]:
    """Draw a road across the tile.

    Returns:
        tuple: The road outline (a strip around a quadratic Bezier curve that
        runs from one side of the tile to another, reaching past the border)
        and its dense centre line.
    """
    margin = width + 4.0
    lo, hi = -margin, size + margin

    def side_point(side: int) -> np.ndarray:
        s = rng.uniform(0.12, 0.88) * size
        return np.array([(lo, s), (hi, s), (s, lo), (s, hi)][side])

    first = int(rng.integers(4))
    # Mostly through roads (opposite sides), some turning ones.
    opposite = {0: 1, 1: 0, 2: 3, 3: 2}[first]
    second = opposite if rng.random() < 0.7 else int(
        rng.choice([s for s in range(4) if s not in (first, opposite)]))
    p0, p2 = side_point(first), side_point(second)
    chord = p2 - p0
    length = float(np.hypot(*chord))
    normal = np.array([-chord[1], chord[0]]) / length
    p1 = (p0 + p2) / 2 + normal * rng.uniform(-0.18, 0.18) * length

    def bezier(t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        t = t[:, None]
        pos = (1 - t)**2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        tangent = 2 * (1 - t) * (p1 - p0) + 2 * t * (p2 - p1)
        return pos, tangent

    # Few vertices, like hand-drawn annotations; straight roads need two.
    curved = abs(float(np.dot(p1 - (p0 + p2) / 2, normal))) > 0.03 * length
    count = int(rng.integers(5, 10)) if curved else 2
    pos, tangent = bezier(np.linspace(0.0, 1.0, count))
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    offset = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) * width / 2
    outline = np.concatenate([pos + offset, (pos - offset)[::-1]])
    centre, _ = bezier(np.linspace(0.0, 1.0, 200))
    return outline, centre


def _building_outline(rng: np.random.Generator, centre: np.ndarray,
                      angle: float, length: float,
                      breadth: float) -> Tuple[np.ndarray, bool]:
    """A rotated rectangle, or now and then an L-shaped footprint.

    Returns:
        tuple: ``(N, 2)`` vertices and whether the footprint is a plain
        rectangle.
    """
    hl, hb = length / 2, breadth / 2
    if rng.random() < 0.2 and min(length, breadth) > 12:
        cut_l = rng.uniform(0.35, 0.6) * length
        cut_b = rng.uniform(0.35, 0.6) * breadth
        local = np.array([[-hl, -hb], [hl, -hb], [hl, hb - cut_b],
                          [hl - cut_l, hb - cut_b], [hl - cut_l, hb],
                          [-hl, hb]])
        rectangle = False
    else:
        local = np.array([[-hl, -hb], [hl, -hb], [hl, hb], [-hl, hb]])
        rectangle = True
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + centre, rectangle


# --------------------------------------------------------------------------
# Label files
# --------------------------------------------------------------------------
def _number(value: float) -> str:
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _imcoords(rng: np.random.Generator, points: np.ndarray,
              style_rng: Optional[np.random.Generator] = None,
              size: float = 0.0) -> str:
    """Write vertices the way the label files do.

    ``rng`` makes the same draws in both styles (so the tiles painted from
    later draws stay the same); ``style_rng`` is given for the
    ``'release'`` style and draws its float noise at the tile border.
    """
    tokens = []
    for value in np.asarray(points, dtype=np.float64).reshape(-1):
        if value == 0.0:
            draw = rng.random()
            if draw >= 0.4:
                tokens.append('0')
            elif style_rng is None:
                tokens.append(repr(_NEAR_ZERO))
            else:
                tokens.append(repr(_TINY[int(draw / 0.4 * len(_TINY))]))
        elif value == size and style_rng is not None and \
                style_rng.random() < 0.4:
            tokens.append(repr(float(np.nextafter(size, np.inf))))
        else:
            tokens.append(_number(value))
    text = ','.join(tokens)
    if rng.random() < 0.12 and style_rng is None:
        text += ','
    return text


def _footprint(rng: np.random.Generator, size: int) -> List[List[float]]:
    """Four lon/lat corners (height 0) of a tile somewhere in Korea.

    The tile covers ``size`` pixels of 0.55 m (KOMPSAT-3A's pan-sharpened
    resolution) on a side, turned by a fraction of a degree: a
    parallelogram, as the affine pixel-to-lon/lat model of the footprint
    assumes.
    """
    lon = rng.uniform(126.6, 129.3)
    lat = rng.uniform(34.8, 37.9)
    # Four draws, as the generator has always made here, so the images that
    # later draws paint stay the same; the first sets the rotation.
    turn = rng.uniform(-6e-5, 6e-5, size=4)[0] * 100  # radians, < 0.35 deg
    side_m = size * 0.55
    metres_per_deg_lat = 111_320.0
    metres_per_deg_lon = metres_per_deg_lat * np.cos(np.radians(lat))
    east = np.array([np.cos(turn), np.sin(turn)]) * side_m   # along a row
    north = np.array([-np.sin(turn), np.cos(turn)]) * side_m  # up a column
    corners_m = [np.zeros(2), east, east + north, north]
    corners = [(lon + x / metres_per_deg_lon, lat + y / metres_per_deg_lat)
               for x, y in corners_m]
    return [[round(x, 10), round(y, 10), 0.0] for x, y in corners]


def _label_document(rng: np.random.Generator, stem: str, key: str,
                    polygons: Sequence[Tuple[str, Tuple[str, str]]],
                    footprint: List[List[float]], ingest: datetime,
                    style: str) -> dict:
    """A FeatureCollection with one feature per polygon string."""
    release = style == 'release'
    empty = '' if rng.random() < 0.25 and not release else 'EMPTY'
    ring = rng.random() < 0.5 and not release
    if release:
        coords = [list(p) for p in footprint]
    else:
        # The height as an integer, the rest as released.
        points = [[x, y, int(z)] for x, y, z in footprint]
        coords = [points] if ring else points
    features = []
    for index, (text, (type_id, type_name)) in enumerate(polygons):
        if not release:
            type_name = type_name.replace(' ', '')
        props = {
            'object_imcoords': 'EMPTY',
            'building_imcoords': empty,
            'road_imcoords': empty,
            'image_id': f'{stem}.png',
            'ingest_time': (ingest + timedelta(
                seconds=index * 7, microseconds=int(rng.integers(10**6)))
                            ).strftime('%Y-%m-%dT%H:%M:%S.%fZ'),
            'type_id': type_id,
            'type_name': type_name,
        }
        props[key] = text
        features.append({
            'geometry': {'coordinates': coords, 'type': 'Polygon'},
            'properties': props,
            'type': 'Feature'
        })
    if release:
        return {'features': features, 'type': 'FeatureCollection'}
    return {'type': 'FeatureCollection', 'features': features}


def _json_bytes(rng: np.random.Generator, doc: dict, style: str) -> bytes:
    if style == 'release':
        # One line as json.dumps writes it: ASCII, Korean as \uXXXX.
        return json.dumps(doc).encode('ascii')
    data = json.dumps(doc, ensure_ascii=False, indent=2).encode('utf-8')
    if rng.random() < 0.2:
        data = b'\xef\xbb\xbf' + data
    return data


def _road_type(width: float) -> Tuple[str, str]:
    if width >= 17:
        return ROAD_TYPES[0] if width >= 20 else ROAD_TYPES[1]
    if width >= 12:
        return ROAD_TYPES[2]
    if width >= 9:
        return ROAD_TYPES[3]
    return ROAD_TYPES[4] if width >= 7 else ROAD_TYPES[5]


def _building_type(rng: np.random.Generator, length: float,
                   breadth: float) -> Tuple[str, str]:
    area = length * breadth
    aspect = max(length, breadth) / min(length, breadth)
    if area < 260:
        return BUILDING_TYPES[3] if aspect > 2.2 else BUILDING_TYPES[0]
    if area < 650:
        return BUILDING_TYPES[4]
    if aspect > 2.0:
        return BUILDING_TYPES[1]
    return BUILDING_TYPES[2] if rng.random() < 0.5 else BUILDING_TYPES[5]


# --------------------------------------------------------------------------
# Painting
# --------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, size: int,
                  cells: int) -> np.ndarray:
    """Noise in [-1, 1] that varies over about ``size / cells`` pixels."""
    grid = rng.uniform(-1.0, 1.0, size=(cells + 3, cells + 3)).astype(
        np.float32)
    big = cv2.resize(grid, (size * (cells + 3) // cells,) * 2,
                     interpolation=cv2.INTER_CUBIC)
    start = size * 3 // (2 * cells)
    return np.clip(big[start:start + size, start:start + size], -1.0, 1.0)


_GROUND = (
    ((72, 98, 52), (118, 112, 78)),     # fields and grass
    ((104, 118, 66), (146, 128, 96)),   # dry grass, bare soil
    ((58, 84, 50), (92, 104, 64)),      # dense vegetation
    ((150, 136, 104), (118, 120, 84)),  # sand and scrub
)
_ROOFS = (
    (176, 70, 58), (150, 56, 48), (70, 108, 160), (58, 130, 128),
    (214, 208, 196), (226, 222, 214), (196, 184, 160), (176, 120, 70),
    (110, 150, 190), (205, 160, 90))


def _paint_ground(rng: np.random.Generator, size: int,
                  brightness: float) -> np.ndarray:
    pair = _GROUND[int(rng.integers(len(_GROUND)))]
    colour_a = np.array(pair[0], np.float32)
    colour_b = np.array(pair[1], np.float32)
    mix = 0.5 + 0.5 * _smooth_noise(rng, size, 3)
    img = colour_a + (colour_b - colour_a) * mix[..., None]
    img *= (1.0 + 0.06 * _smooth_noise(rng, size, 16))[..., None]
    if brightness != 1.0:
        img *= np.float32(brightness)
    return img


def _paint_trees(rng: np.random.Generator, img: np.ndarray, free: np.ndarray,
                 scale: float, amount: float) -> None:
    size = img.shape[0]
    layer = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(0, 45) * scale * scale * amount)):
        x, y = rng.uniform(0, size, size=2)
        r = rng.uniform(1.5, 4.5) * scale
        cv2.circle(layer, (int(x * 16), int(y * 16)), int(r * 16), 255, -1,
                   lineType=cv2.LINE_AA, shift=4)
    alpha = (layer.astype(np.float32) / 255.0) * free
    tree = np.array([42, 72, 38], np.float32)
    img += (tree - img) * alpha[..., None] * 0.85


def _paint_tile(rng: np.random.Generator, size: int,
                roads: Sequence[Tuple[np.ndarray, np.ndarray, float]],
                buildings: Sequence[Tuple[np.ndarray, np.ndarray, bool,
                                          float]],
                settings: SampleSettings) -> np.ndarray:
    """Paint an RGB uint8 tile.

    Args:
        roads: ``(mask, centre line, width)`` per road.
        buildings: ``(mask, outline, is_rectangle, height)`` per building.
        settings: The look of the tile.
    """
    scale = size / _REF_SIZE
    road_mask = np.zeros((size, size), bool)
    for mask, _, _ in roads:
        road_mask |= mask
    building_mask = np.zeros((size, size), bool)
    for mask, _, _, _ in buildings:
        building_mask |= mask

    img = _paint_ground(rng, size, settings.ground_brightness)
    _paint_trees(rng, img, (~road_mask & ~building_mask).astype(np.float32),
                 scale, settings.trees)

    # Roads: asphalt with a little texture, dashed centre lines on wide roads.
    road_tex = 1.0 + 0.05 * _smooth_noise(rng, size, 24)
    contrast = np.float32(settings.road_contrast)
    for mask, centre, width in roads:
        grey = rng.uniform(*settings.road_grey)
        colour = np.array([grey, grey + 2, grey + 6], np.float32)
        surface = colour * road_tex[mask][:, None]
        if contrast != 1:
            surface = img[mask] + (surface - img[mask]) * contrast
        img[mask] = surface
        if width >= 11 * scale:
            lines = np.zeros((size, size), np.uint8)
            pts = np.round(centre * 16).astype(np.int32)
            dash = max(4, int(len(pts) / 24))
            for i in range(0, len(pts) - dash, 2 * dash):
                cv2.polylines(lines, [pts[i:i + dash + 1]], False, 255,
                              max(1, int(round(scale))), cv2.LINE_AA, 4)
            alpha = (lines.astype(np.float32) / 255.0) * mask
            img += (np.float32(225) - img) * alpha[..., None] * 0.8

    # Shadows fall to the lower right of each building, on ground and road.
    shadow = np.zeros((size, size), bool)
    for _, outline, _, height in buildings:
        for t in (0.35, 0.7, 1.0):
            shifted = outline + _SHADOW_DIR * height * t
            shadow |= polygon_coverage([shifted], size, size)
    shadow &= ~building_mask
    img[shadow] *= 0.5

    # Roofs, on building pixels that no road covers.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    roof_tex = 1.0 + 0.04 * _smooth_noise(rng, size, 32)
    for mask, outline, rectangle, _ in buildings:
        visible = mask & ~road_mask
        if not visible.any():
            continue
        colour = np.array(_ROOFS[int(rng.integers(len(_ROOFS)))], np.float32)
        colour *= rng.uniform(0.9, 1.08)
        shade = roof_tex.copy()
        if rectangle and rng.random() < 0.6:
            # Gabled roof: the half away from the sun is darker.
            edge_a = outline[1] - outline[0]
            edge_b = outline[3] - outline[0]
            axis = edge_a if np.hypot(*edge_a) >= np.hypot(*edge_b) \
                else edge_b
            normal = np.array([-axis[1], axis[0]]) / np.hypot(*axis)
            if np.dot(normal, _SHADOW_DIR) < 0:
                normal = -normal
            mid = outline.mean(axis=0)
            side = (xx - mid[0]) * normal[0] + (yy - mid[1]) * normal[1]
            shade = np.where(side > 0, shade * 0.78, shade)
        img[visible] = colour * shade[visible][:, None]

    img = cv2.GaussianBlur(img, (0, 0), 0.6 * max(scale, 1.0))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Tiles
# --------------------------------------------------------------------------
def _make_tile(seed: int, index: int, stem: str, kind: str, size: int,
               settings: SampleSettings
               ) -> Tuple[np.ndarray, Dict[str, bytes]]:
    """Draw one tile.

    Returns:
        tuple: The RGB image and ``{'building' | 'road': file bytes}``.
    """
    rng = np.random.default_rng([seed, index])
    # Draws of the file format only, apart from those that paint the tile.
    style_rng = np.random.default_rng([seed, index, 1]) \
        if settings.label_style == 'release' else None
    scale = size / _REF_SIZE
    footprint = _footprint(rng, size)
    ingest = datetime(2020, 9, 1, tzinfo=timezone.utc) + timedelta(
        seconds=int(rng.integers(0, 90 * 86400)))

    road_shapes: List[Tuple[np.ndarray, np.ndarray, float]] = []
    road_features: List[Tuple[str, Tuple[str, str]]] = []
    if kind in ('both', 'road'):
        wanted = int(rng.choice(list(settings.roads_per_tile)))
        tries = 0
        while len(road_shapes) < wanted and tries < 20:
            tries += 1
            width = float(rng.uniform(*settings.road_width)) * scale
            outline, centre = _road_geometry(rng, float(size), width)
            clipped = _clip_to_tile(outline, float(size))
            if len(clipped) < 3 or _area(clipped) < 0.4 * width * size:
                continue
            text = _imcoords(rng, clipped, style_rng, float(size))
            points = parse_imcoords(text)
            mask = polygon_coverage([points], size, size)
            road_shapes.append((mask, centre, width))
            road_features.append((text, _road_type(width / scale)))

    road_mask = np.zeros((size, size), bool)
    for mask, _, _ in road_shapes:
        road_mask |= mask
    # Keep buildings a few pixels off the roads, except where a tile lets
    # one building run under a road (the label then says road there).
    pad = max(1, int(round(3 * scale)))
    near_road = cv2.dilate(road_mask.astype(np.uint8),
                           np.ones((2 * pad + 1, ) * 2, np.uint8)) > 0
    allow_overlap = kind == 'both' and rng.random() < 0.35

    building_shapes: List[Tuple[np.ndarray, np.ndarray, bool, float]] = []
    building_features: List[Tuple[str, Tuple[str, str]]] = []
    if kind in ('both', 'building'):
        low, high = settings.buildings_per_tile
        wanted = int(rng.integers(low, high + 1))
        size_factor = settings.building_scale
        taken = np.zeros((size, size), bool)
        if road_features:
            # Buildings line up with a road.
            first = road_shapes[0][1]
            direction = first[-1] - first[0]
            base_angle = math.atan2(direction[1], direction[0])
        else:
            base_angle = float(rng.uniform(0, math.pi))
        tries = 0
        while len(building_shapes) < wanted and tries < max(80, 8 * wanted):
            tries += 1
            length = float(rng.uniform(13.0, 40.0))
            breadth = float(rng.uniform(10.0, min(28.0, length)))
            length *= scale * size_factor
            breadth *= scale * size_factor
            angle = base_angle + float(rng.normal(0, 0.06)) + \
                (math.pi / 2 if rng.random() < 0.3 else 0.0)
            centre = rng.uniform(-0.05, 1.05, size=2) * size
            outline, rectangle = _building_outline(rng, centre, angle,
                                                   length, breadth)
            clipped = _clip_to_tile(outline, float(size))
            if len(clipped) < 3 or _area(clipped) < 0.5 * length * breadth:
                continue
            text = _imcoords(rng, clipped, style_rng, float(size))
            points = parse_imcoords(text)
            mask = polygon_coverage([points], size, size)
            if (mask & taken).any():
                continue
            hits_road = (mask & near_road).any()
            if hits_road:
                share = (mask & road_mask).sum() / max(1, mask.sum())
                if not (allow_overlap and 0.1 < share < 0.6):
                    continue
                allow_overlap = False  # one such building per tile
            grow = cv2.dilate(mask.astype(np.uint8),
                              np.ones((2 * pad + 1, ) * 2, np.uint8)) > 0
            taken |= grow
            height = float(rng.uniform(3.0, 9.0)) * scale
            building_shapes.append((mask, outline, rectangle, height))
            building_features.append(
                (text, _building_type(rng, length / scale, breadth / scale)))

    image = _paint_tile(rng, size, road_shapes, building_shapes, settings)
    files: Dict[str, bytes] = {}
    for name, key, feats in (('building', 'building_imcoords',
                              building_features),
                             ('road', 'road_imcoords', road_features)):
        if feats:
            doc = _label_document(rng, stem, key, feats, footprint, ingest,
                                  settings.label_style)
            files[name] = _json_bytes(rng, doc, settings.label_style)
    return image, files


def _split_kinds(rng: np.random.Generator, count: int,
                 share: Sequence[float]) -> List[str]:
    """Tile kinds of one split: every kind once, the rest by share."""
    kinds = list(TILE_KINDS)
    extra = count - len(kinds)
    share = np.asarray(share, dtype=np.float64)
    if abs(share.sum() - 1) > 1e-9:
        share = share / share.sum()
    shares = share * count - 1
    shares = np.clip(shares, 0, None)
    if shares.sum() <= 0:  # too few tiles for the shares to matter
        shares = share
    quota = np.floor(shares / shares.sum() * extra).astype(int)
    quota[0] += extra - int(quota.sum())
    for kind, n in zip(TILE_KINDS, quota):
        kinds += [kind] * int(n)
    rng.shuffle(kinds)
    return kinds


def _stems(rng: np.random.Generator, count: int) -> List[str]:
    numbers = rng.choice(np.arange(1, 5000), size=count, replace=False)
    stems = []
    for number in numbers:
        scene = int(rng.integers(1, 700))
        stems.append(f'BLD{int(number):05d}_PS3_K3A_NIA{scene:04d}')
    return stems


_OUTPUTS = ('images', 'labels', 'splits', 'README.md')


def make_sample(out_dir: str,
                seed: int = SAMPLE_SEED,
                num_train: int = SAMPLE_NUM_TRAIN,
                num_val: int = SAMPLE_NUM_VAL,
                tile_size: int = SAMPLE_TILE_SIZE,
                overwrite: bool = False,
                settings: Optional[SampleSettings] = None) -> SampleInfo:
    """Write a small synthetic dataset in the AIHub release layout.

    The same arguments always give the same files. Everything is first
    written to a temporary folder next to ``out_dir`` and then moved into
    place, so an interrupted run leaves no half-written sample.

    Args:
        out_dir (str): Dataset root to create.
        seed (int): Seed of the drawing. Defaults to :data:`SAMPLE_SEED`.
        num_train (int): Tiles in ``splits/train.txt`` (at least 4).
            Defaults to :data:`SAMPLE_NUM_TRAIN`.
        num_val (int): Tiles in ``splits/val.txt`` (at least 4). Defaults to
            :data:`SAMPLE_NUM_VAL`.
        tile_size (int): Tile width and height in pixels (64 to 2048).
            Defaults to :data:`SAMPLE_TILE_SIZE`.
        overwrite (bool): Replace the ``images``, ``labels``, ``splits`` and
            ``README.md`` entries of an existing non-empty ``out_dir`` (other
            entries there are left alone). Defaults to False.
        settings (SampleSettings, optional): What the tiles look like (road
            widths and contrast, building density and size, tile content,
            ground, label file style). None: the defaults, which draw the
            bundled sample.

    Returns:
        SampleInfo: The stems of each split and the kind of every tile.

    Raises:
        FileExistsError: When ``out_dir`` is a non-empty folder and
            ``overwrite`` is False.
        NotADirectoryError: When ``out_dir`` exists and is not a folder.
        ValueError: When a count or the tile size is out of range.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < len(TILE_KINDS):
            raise ValueError(
                f'make_sample: {name} must be an integer >= '
                f'{len(TILE_KINDS)} (one tile of each kind), got {value!r}')
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) \
            or not 64 <= tile_size <= 2048:
        raise ValueError('make_sample: tile_size must be an integer in '
                         f'[64, 2048], got {tile_size!r}')
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f'make_sample: seed must be a non-negative integer, got {seed!r}')
    if settings is None:
        settings = SampleSettings()
    elif not isinstance(settings, SampleSettings):
        raise ValueError('make_sample: settings must be a SampleSettings, '
                         f'got {type(settings).__name__}')
    out_dir = osp.abspath(os.fspath(out_dir))
    if osp.exists(out_dir):
        if not osp.isdir(out_dir):
            raise NotADirectoryError(
                f'make_sample: {out_dir} exists and is not a folder')
        if os.listdir(out_dir) and not overwrite:
            raise FileExistsError(
                f'make_sample: {out_dir} is not empty; pass overwrite=True '
                '(--overwrite) to replace the sample in it')

    rng = np.random.default_rng(seed)
    stems = _stems(rng, num_train + num_val)
    kinds = (_split_kinds(rng, num_train, settings.kind_share) +
             _split_kinds(rng, num_val, settings.kind_share))
    info = SampleInfo(
        out_dir=out_dir,
        seed=seed,
        tile_size=tile_size,
        train=sorted(stems[:num_train]),
        val=sorted(stems[num_train:]),
        kinds=dict(zip(stems, kinds)),
        settings=settings)

    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        dir=parent, prefix=f'.{osp.basename(out_dir)}.tmp-')
    try:
        for sub in ('images', 'labels/building', 'labels/road', 'splits'):
            os.makedirs(osp.join(staging, sub))
        for index, stem in enumerate(stems):
            image, files = _make_tile(seed, index, stem, info.kinds[stem],
                                      tile_size, settings)
            ok, png = cv2.imencode('.png', image[..., ::-1].copy(),
                                   [cv2.IMWRITE_PNG_COMPRESSION, 6])
            if not ok:
                raise RuntimeError(f'make_sample: cannot encode {stem}.png')
            atomic_write_bytes(osp.join(staging, 'images', f'{stem}.png'),
                               png.tobytes())
            for name, data in files.items():
                atomic_write_bytes(
                    osp.join(staging, 'labels', name, f'{stem}.json'), data)
        for split, names in (('train', info.train), ('val', info.val)):
            atomic_write_bytes(
                osp.join(staging, 'splits', f'{split}.txt'),
                ''.join(f'{s}\n' for s in names).encode('utf-8'))
        counts = []
        for names in (info.train, info.val):
            tally = [sum(info.kinds[s] == k for s in names)
                     for k in TILE_KINDS]
            counts.append(tally)
        kinds_text = ', '.join(f'{k} {a} / {b}'
                               for k, a, b in zip(TILE_KINDS, *counts))
        options = ' '.join(settings_options(settings))
        readme = _README.format(
            num_train=num_train, num_val=num_val, size=tile_size, seed=seed,
            kinds=kinds_text, style=_STYLE_TEXT[settings.label_style],
            options=f' \\\n        {options}' if options else '')
        atomic_write_bytes(osp.join(staging, 'README.md'),
                           readme.encode('utf-8'))

        if not osp.exists(out_dir):
            os.replace(staging, out_dir)
            staging = None
        else:
            # Swap each entry in turn; the old ones go to the staging folder
            # and are deleted with it.
            trash = osp.join(staging, '.old')
            os.makedirs(trash)
            for entry in _OUTPUTS:
                old = osp.join(out_dir, entry)
                if osp.lexists(old):
                    os.replace(old, osp.join(trash, entry))
                os.replace(osp.join(staging, entry), old)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return info
