"""The polygons of a regular GeoJSON FeatureCollection, without a Python
object per number.

The general reader (:func:`mmseg_sia.maplabels.read_map_label_file`) parses
a file with orjson into lists of Python floats and walks them: for a
land-cover tile of 300 features (11,500 positions) that walk and the floats'
allocation cost twice the parse. Here the work is split between two
libraries and one compiled loop:

* msgspec decodes the document into typed records, keeping each geometry's
  ``coordinates`` as the raw JSON text it was written as;
* :func:`_scan` (compiled with numba) checks that text's nesting (a list of
  rings, each a non-empty list of positions of 2 or more numbers, as many
  in every position; one level more for a MultiPolygon), counts parts,
  rings and positions, and converts the numbers of the features drawn where
  that is exact in one step (:func:`_number`);
* where some number is not (more than 2**53 in its digits, or a power of
  ten beyond 1e22), simdjson converts them all, exactly as orjson would.
  simdjson alone would flatten any nesting, ``[3, [4]]`` as readily as
  ``[3, 4]``: the scan is what makes its flat numbers trustworthy.

Hand-written is only the scan: no JSON library reports the shape of nested
number arrays without building them as Python lists, which is what costs.
A file this path does not take (a feature that is not an object, a
coordinate that is not a plain number, an empty ring, positions of mixed
sizes, a byte that is not UTF-8, ...) gives None, and the general reader
reads it and names what is wrong; both give the same polygons for every
file this path takes (tested on generated files and on mutated ones).
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Container, Dict, List, NamedTuple, Optional

import msgspec
import numpy as np
import simdjson

from ._rasterize import _compiled


class _Geometry(msgspec.Struct):
    type: str
    coordinates: msgspec.Raw


class _Feature(msgspec.Struct):
    geometry: Optional[_Geometry] = None
    properties: Optional[Dict[str, Any]] = None


class _Collection(msgspec.Struct):
    features: List[_Feature]
    crs: Any = None


_DECODER = msgspec.json.Decoder(_Collection)
_PARSERS = threading.local()  # a simdjson parser holds one document

_BRACKET_OPEN, _BRACKET_CLOSE, _COMMA, _MINUS = 91, 93, 44, 45
_PLUS, _DOT, _E, _E_UPPER, _ZERO = 43, 46, 101, 69, 48
# Powers of ten that float64 holds exactly (5**22 < 2**53).
_POWERS = np.array([10.0**k for k in range(23)])
_EXACT_INT = 2**53


@_compiled
def _number(text, i, end, powers):
    """The JSON number starting at ``text[i]``: ``(value, next i, exact)``.

    Its digits as an integer ``m`` and a power of ten ``e``; where ``m <=
    2**53`` and ``|e| <= 22`` both are exact doubles and one multiplication
    or division rounds correctly (Clinger's fast path, the first case of
    every exact decimal reader). Otherwise ``exact`` is False and the
    caller has simdjson convert the text instead.
    """
    negative = text[i] == _MINUS
    if negative:
        i += 1
    m = 0
    e = 0
    digits = 0  # at most 18 fit m; beyond, 2**53 is passed anyway
    while i < end:
        d = np.int64(text[i]) - _ZERO
        if d < 0 or d > 9:
            break
        m = m * 10 + d
        digits += 1
        i += 1
    if i < end and text[i] == _DOT:
        i += 1
        while i < end:
            d = np.int64(text[i]) - _ZERO
            if d < 0 or d > 9:
                break
            m = m * 10 + d
            digits += 1
            e -= 1
            i += 1
    exact = digits <= 18
    if i < end and (text[i] == _E or text[i] == _E_UPPER):
        i += 1
        sign = 1
        if text[i] == _MINUS:
            sign = -1
            i += 1
        elif text[i] == _PLUS:
            i += 1
        power = 0
        while i < end and _ZERO <= text[i] <= _ZERO + 9:
            if power < 100000:
                power = power * 10 + (text[i] - _ZERO)
            i += 1
        e += sign * power
    value = 0.0
    if m == 0:
        pass
    elif exact and m <= _EXACT_INT and -22 <= e <= 22:
        value = float(m) * powers[e] if e >= 0 else float(m) / powers[-e]
    else:
        exact = False
    return (-value if negative else value), i, exact


@_compiled
def _scan(text, starts, ends, depths, wanted, part_counts, ring_counts,
          ring_sizes, values, powers):
    """Check, count and convert the coordinates of features ``f``, each the
    JSON text ``text[starts[f]:ends[f]]`` with positions at nesting depth
    ``depths[f]`` (3 for a Polygon, 4 for a MultiPolygon).

    Writes each feature's polygon count to ``part_counts``, each polygon's
    ring count to ``ring_counts``, each ring's position count to
    ``ring_sizes`` (in order), and the numbers of the features ``wanted``
    to ``values``. Returns ``(polygons, rings, dims, numbers, exact)``:
    dims the numbers per position, ``exact`` False when some number was not
    converted (see :func:`_number`); ``polygons`` is -1 when a text is not
    such a nesting of numbers. ``text`` is valid JSON (msgspec checked it),
    so commas need no check.
    """
    count = np.zeros(8, np.int64)
    parts = 0
    rings = 0
    dims = 0
    numbers = 0
    exact = True
    for f in range(len(starts)):
        top = depths[f]
        convert = wanted[f]
        depth = 0
        first = parts
        i = starts[f]
        end = ends[f]
        while i < end:
            ch = text[i]
            if ch == _BRACKET_OPEN:
                if depth == top:  # an array inside a position (this
                    return -1, 0, 0, 0, False  # also keeps depth < 8)
                depth += 1
                count[depth] = 0
                i += 1
            elif ch == _BRACKET_CLOSE:
                n = count[depth]
                if depth == top:
                    if n != dims:
                        if dims == 0 and n >= 2:
                            dims = n
                        else:
                            return -1, 0, 0, 0, False
                elif n == 0:  # no ring, no position or (Multi) no polygon
                    return -1, 0, 0, 0, False
                elif depth == top - 1:
                    ring_sizes[rings] = n
                    rings += 1
                elif depth == top - 2:
                    ring_counts[parts] = n
                    parts += 1
                depth -= 1
                count[depth] += 1
                i += 1
            elif ch == _MINUS or _ZERO <= ch <= _ZERO + 9:
                if depth != top:  # a number where a list belongs
                    return -1, 0, 0, 0, False
                count[depth] += 1
                if convert and exact:  # (once inexact, simdjson converts)
                    value, i, exact = _number(text, i, end, powers)
                    values[numbers] = value
                    numbers += 1
                else:
                    i += 1
                    while i < end:
                        ch = text[i]
                        if _ZERO <= ch <= _ZERO + 9 or ch == _DOT or \
                                ch == _E or ch == _E_UPPER or ch == _MINUS \
                                or ch == _PLUS:
                            i += 1
                        else:
                            break
            elif ch == _COMMA or ch == 32 or ch == 10 or ch == 13 or ch == 9:
                i += 1
            else:  # a string, object, true, false or null
                return -1, 0, 0, 0, False
        part_counts[f] = parts - first
    return parts, rings, dims, numbers, exact


_POLYGON_DEPTHS = {'Polygon': 3, 'MultiPolygon': 4}


def _sort_features(features: List[_Feature], attribute: str, normalise,
                   problems: Dict[int, str]) -> tuple:
    """Feature by feature: the index, class value, coordinates text and
    depth of those with a class and a polygon; the others' reasons (as the
    general reader words them) into ``problems``."""
    normalised: Dict[object, object] = {}
    chosen: List[int] = []
    values: List[object] = []
    texts: List[msgspec.Raw] = []
    depths: List[int] = []
    for index, feature in enumerate(features):
        props = feature.properties
        if props is None or attribute not in props:
            problems[index] = f'has no property {attribute!r}'
            continue
        geometry = feature.geometry
        if geometry is None:
            problems[index] = 'has no geometry (null)'
            continue
        depth = _POLYGON_DEPTHS.get(geometry.type)
        if depth is None:
            problems[index] = (f'geometry type {geometry.type!r} is not '
                               'Polygon or MultiPolygon')
            continue
        chosen.append(index)
        values.append(normalise(normalised, props[attribute]))
        texts.append(geometry.coordinates)
        depths.append(depth)
    return chosen, values, texts, depths


class FastFeatures(NamedTuple):
    """What :func:`read_regular` read.

    Attributes:
        crs: The document's ``crs`` member (None when absent).
        num_features (int): Features in the file.
        problems (dict[int, str]): Features skipped before their
            coordinates (no class property, no geometry, another type), with
            the general reader's reasons.
        unread (dict): Class value -> polygons of the features not drawn
            (their value not in ``only``).
        num_unread (int): Number of those features.
        points (np.ndarray): ``(N, 2)`` float64 ``(x, y)``, every position
            of the drawn features, closing ones included.
        ring_sizes (np.ndarray): ``(R,)`` positions per ring.
        ring_counts (np.ndarray): ``(P,)`` rings per polygon.
        values (list): Class value of each polygon.
        features (np.ndarray): ``(P,)`` feature index of each polygon.
        parts (np.ndarray): ``(P,)`` part index of each polygon.
        converted (bool): Whether the scan converted the numbers (else
            simdjson did).
    """
    crs: Any
    num_features: int
    problems: Dict[int, str]
    unread: Dict[object, int]
    num_unread: int
    points: np.ndarray
    ring_sizes: np.ndarray
    ring_counts: np.ndarray
    values: list
    features: np.ndarray
    parts: np.ndarray
    converted: bool


def read_regular(raw: bytes, attribute: str, only: Optional[Container],
                 normalise) -> Optional[FastFeatures]:
    """Read the polygons of a FeatureCollection whose coordinates are all
    regular, or None (then the general reader takes the file).

    Args:
        raw (bytes): The file's content, without a byte-order mark.
        attribute (str): The class property.
        only (Container, optional): Class values whose coordinates are
            read (the others' polygons only counted); None for all.
        normalise: ``normalise(cache, value)``, the class value normalised
            (:func:`mmseg_sia.maplabels._cached_class_value`).

    Returns:
        FastFeatures | None: None when msgspec, the scan or simdjson find
        anything irregular, or no feature could be drawn.
    """
    try:
        # msgspec checks the UTF-8 of the strings it decodes, not of those
        # it skips (members nothing reads): the general reader refuses a
        # file with any byte that is not UTF-8, and so must this one.
        if not raw.isascii():
            raw.decode('utf-8')
        doc = _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None
    features = doc.features
    problems: Dict[int, str] = {}
    normalised: Dict[object, object] = {}  # normalise, once per value
    try:  # every feature a polygon with its class: no loop in Python
        geometries = [f.geometry for f in features]
        texts = [g.coordinates for g in geometries]
        kinds = [g.type for g in geometries]
        given = [f.properties[attribute] for f in features]
        values = [normalised[v] if v in normalised else
                  normalise(normalised, v) for v in given]
        depths = list(map(_POLYGON_DEPTHS.__getitem__, kinds))
        chosen = list(range(len(features)))
    except (AttributeError, KeyError, TypeError):
        chosen, values, texts, depths = _sort_features(
            features, attribute, normalise, problems)
    if not chosen:
        return None
    sizes = np.fromiter(map(len, texts), np.int64, len(texts))
    ends = np.cumsum(sizes + 1)  # joined by commas
    starts = ends - sizes - 1
    ends -= 1
    joined = b','.join(texts)
    drawn = None if only is None else [v in only for v in values]
    room = len(joined) // 2 + 1
    part_counts = np.empty(len(texts), np.int64)
    ring_counts = np.empty(room, np.int64)
    ring_sizes = np.empty(room, np.int64)
    numbers = np.empty(room, np.float64)
    parts, rings, dims, total, exact = _scan(
        np.frombuffer(joined, np.uint8), starts, ends,
        np.array(depths, np.int64),
        np.ones(len(texts), bool) if drawn is None else np.array(drawn),
        part_counts, ring_counts, ring_sizes, numbers, _POWERS)
    if parts < 0:
        return None
    ring_counts = ring_counts[:parts]
    ring_sizes = ring_sizes[:rings]
    unread: Dict[object, int] = {}
    num_unread = 0
    if drawn is not None and not all(drawn):
        for value, n, d in zip(values, part_counts.tolist(), drawn):
            if not d:
                unread[value] = unread.get(value, 0) + n
                num_unread += 1
        keep = np.repeat(np.array(drawn), part_counts)
        ring_sizes = ring_sizes[np.repeat(keep, ring_counts)]
        ring_counts = ring_counts[keep]
        part_counts = part_counts[drawn]
        chosen = list(itertools.compress(chosen, drawn))
        values = list(itertools.compress(values, drawn))
        texts = list(itertools.compress(texts, drawn))
    part_values = list(itertools.chain.from_iterable(
        itertools.repeat(v, n) for v, n in zip(values, part_counts.tolist())))
    owner = np.repeat(np.asarray(chosen, np.int64), part_counts)
    part_index = np.arange(len(owner)) - np.repeat(
        np.cumsum(part_counts) - part_counts, part_counts)
    numbers = numbers[:total]
    if not exact:  # some number needs simdjson's exact conversion
        total = int(ring_sizes.sum()) * dims
        parser = getattr(_PARSERS, 'parser', None)
        if parser is None:
            parser = _PARSERS.parser = simdjson.Parser()
        try:
            numbers = np.frombuffer(parser.parse(
                b'[' + b','.join(texts) + b']').as_buffer(of_type='d'),
                np.float64)
        except (ValueError, TypeError, RuntimeError):  # NUMBER_ERROR, ...
            return None
        if len(numbers) != total:
            return None
    points = numbers.reshape(-1, dims)[:, :2] if dims else \
        np.zeros((0, 2))
    return FastFeatures(doc.crs, len(features), problems, unread, num_unread,
                        points, ring_sizes, ring_counts, part_values, owner,
                        part_index, exact)
