"""Class masks to polygons (with holes) and back, exactly.

The project's pixel convention (``mmseg_sia.labels``) puts pixel ``(r, c)``
inside a polygon when its centre ``(c + 0.5, r + 0.5)`` is. A polygon drawn
through the centres of a region's border pixels (what ``cv2.findContours``
returns) therefore loses half of every border pixel when it is rasterized
again. Here the outline follows the *edges* of the pixel squares instead
("crack" boundary), as GDAL's polygonizer (``rasterio.features.shapes``)
traces it: every vertex sits on an integer lattice point, no pixel centre
ever lies on an edge, and rasterizing the polygons with
:func:`mmseg_sia.labels.rasterize_polygons` gives back exactly the mask they
came from.

Connectivity: regions are 4-connected. Two pixels of a class that touch only
at a corner belong to different polygons, which touch at that one vertex. A
hole is a 4-connected background region enclosed by the region; holes may
touch each other or the exterior at one vertex (OGC validity allows it), so
every ring is simple. Rings are put in one canonical form
(:func:`canonical_ring`) whoever traced them, so that polygons merged from
pieces (:mod:`mmseg_sia.apis.stitching`) equal those of the whole mask.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import (Dict, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import cv2
import numpy as np

from .labels import DEFAULT_PRIORITY, rasterize_polygons

__all__ = [
    'MaskPolygon', 'clean_mask', 'binary_to_polygons', 'mask_to_polygons',
    'polygons_to_mask', 'keyhole_ring', 'keyhole_parts', 'ring_signed_area', 'canonical_ring',
    'polygon_from_rings', 'polygons_from_rings', 'label_shapes',
    'simplify_polygons'
]

@dataclass
class MaskPolygon:
    """One polygon of a class mask, in pixel coordinates.

    Coordinates are ``(x, y)`` positions on the continuous image plane (the
    tile spans ``[0, W] x [0, H]``); without simplification every vertex is a
    pixel corner. Rings are open (the first vertex is not repeated).

    Attributes:
        exterior (np.ndarray): ``(N, 2)`` float64 vertices of the outline,
            clockwise on screen (y pointing down).
        holes (list[np.ndarray]): ``(M_i, 2)`` vertices of each hole,
            counter-clockwise on screen.
        class_id (int): The class of the region.
    """
    exterior: np.ndarray
    holes: List[np.ndarray] = field(default_factory=list)
    class_id: int = 1

    @property
    def area(self) -> float:
        """Area in square pixels (the exterior less the holes)."""
        return abs(ring_signed_area(self.exterior)) - sum(
            abs(ring_signed_area(h)) for h in self.holes)

    @property
    def perimeter(self) -> float:
        """Length in pixels of the exterior and of every hole."""
        return sum(_ring_length(r) for r in self.rings())

    def rings(self) -> List[np.ndarray]:
        """Return the exterior followed by the holes."""
        return [self.exterior, *self.holes]

    def bounds(self) -> Tuple[float, float, float, float]:
        """Return ``(xmin, ymin, xmax, ymax)`` of the exterior."""
        lo = self.exterior.min(axis=0)
        hi = self.exterior.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def ring_signed_area(ring: np.ndarray) -> float:
    """Shoelace area of an open ring; positive when clockwise on screen.

    Args:
        ring (np.ndarray): ``(N, 2)`` vertices ``(x, y)``, y pointing down.

    Returns:
        float: The signed area (positive for an exterior of this module).
    """
    ring = np.asarray(ring, dtype=np.float64)
    if len(ring) < 3:
        return 0.0
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(x[:-1] @ y[1:] - x[1:] @ y[:-1] + x[-1] * y[0] -
                       x[0] * y[-1])


def _ring_length(ring: np.ndarray) -> float:
    diff = np.concatenate((ring[1:], ring[:1])) - ring
    return float(np.hypot(diff[:, 0], diff[:, 1]).sum())


# --------------------------------------------------------------------------
# Mask cleaning
# --------------------------------------------------------------------------
def _remove_small_components(binary: np.ndarray, min_area: int,
                             connectivity: int) -> np.ndarray:
    """Pixels of the components of ``binary`` smaller than ``min_area``."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        binary.astype(np.uint8), connectivity=connectivity)
    small = stats[:, cv2.CC_STAT_AREA] < min_area
    small[0] = False  # label 0 is everything outside ``binary``
    return small[labels]


def _small_holes(binary: np.ndarray, max_area: int,
                 connectivity: int = 8) -> np.ndarray:
    """Pixels of holes of ``binary`` with fewer than ``max_area`` pixels.

    A hole is a region of ``~binary``, 8-connected by default (the
    counterpart of 4-connected regions), that does not reach the image
    border.
    """
    inverse = (~binary).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        inverse, connectivity=connectivity)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False
    border = np.unique(np.concatenate(
        [labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small[border] = False
    return small[labels]


def clean_mask(mask: np.ndarray,
               class_ids: Optional[Iterable[int]] = None,
               opening: int = 0,
               min_area: int = 0,
               hole_area: int = 0,
               background: int = 0) -> np.ndarray:
    """Remove speckle from a class mask.

    For each class, in the order given: a morphological opening with a
    ``opening x opening`` square (removes regions and spurs thinner than
    that), then regions of fewer than ``min_area`` pixels become
    ``background``, then holes of fewer than ``hole_area`` pixels (whatever
    class they hold) take the class. Pixels removed from a class become
    ``background``.

    Args:
        mask (np.ndarray): ``(H, W)`` integer class ids.
        class_ids (Iterable[int], optional): Classes to clean. Defaults to
            every class present except ``background``.
        opening (int): Side of the opening's square structuring element in
            pixels; 0 or 1 disables it. Defaults to 0.
        min_area (int): Smallest region kept, in pixels. Defaults to 0.
        hole_area (int): Holes smaller than this many pixels are filled.
            Defaults to 0.
        background (int): The class that removed pixels take. Defaults to 0.

    Returns:
        np.ndarray: The cleaned mask (a new array, same dtype).

    Raises:
        ValueError: When ``mask`` is not two-dimensional or a size is negative.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(
            f'clean_mask: mask must be 2-D, got shape {mask.shape}')
    for name, value in (('opening', opening), ('min_area', min_area),
                        ('hole_area', hole_area)):
        if value < 0:
            raise ValueError(f'clean_mask: {name} must be >= 0, got {value}')
    out = mask.copy()
    if opening <= 1 and min_area <= 0 and hole_area <= 0:
        return out
    if class_ids is None:
        class_ids = [int(c) for c in np.unique(mask) if c != background]
    kernel = None
    if opening > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT,
                                           (int(opening), int(opening)))
    for class_id in class_ids:
        binary = out == class_id
        if not binary.any():
            continue
        if kernel is not None:
            # Erosion, then dilation by the reflected square: the anchor
            # is mirrored (cv2.MORPH_OPEN keeps it, which for an even size
            # moves the result one pixel down and right).
            size = int(opening)
            eroded = cv2.erode(binary.astype(np.uint8), kernel,
                               borderType=cv2.BORDER_REPLICATE)
            back = size - 1 - size // 2
            opened = cv2.dilate(eroded, kernel, anchor=(back, back),
                                borderType=cv2.BORDER_REPLICATE).astype(bool)
            out[binary & ~opened] = background
            binary = opened
        if min_area > 0:
            small = _remove_small_components(binary, int(min_area), 4)
            out[small] = background
            binary &= ~small
        if hole_area > 0:
            out[_small_holes(binary, int(hole_area))] = class_id
    return out


# --------------------------------------------------------------------------
# Polygonizing (GDAL's, through rasterio)
# --------------------------------------------------------------------------
def canonical_ring(coords, exterior: bool) -> np.ndarray:
    """A ring of pixel-corner vertices in this module's canonical form.

    The closing vertex and vertices where the outline goes straight on are
    dropped, the ring is turned clockwise on screen for an exterior
    (counter-clockwise for a hole) and started at its top-left vertex
    (smallest y, then x), so that the same outline always gives the same
    array whoever traced it (GDAL, a shapely union).

    Args:
        coords: ``(N, 2)`` vertices ``(x, y)``, closed or open.
        exterior (bool): The ring is an exterior (else a hole).

    Returns:
        np.ndarray: ``(M, 2)`` float64 open ring.
    """
    ring = np.asarray(coords, dtype=np.float64)[:, :2]
    if len(ring) > 1 and (ring[0] == ring[-1]).all():
        ring = ring[:-1]
    if len(ring) < 3:
        return ring
    # Edges from each vertex to the next (repeated vertices dropped first).
    step = np.empty_like(ring)
    np.subtract(ring[1:], ring[:-1], out=step[:-1])
    step[-1] = ring[0] - ring[-1]
    moves = step.any(axis=1)
    if not moves.all():
        ring = ring[moves]
        return canonical_ring(ring, exterior) if len(ring) >= 3 else ring
    # A vertex stays where the outline turns (the edge before it and the
    # edge after it are not parallel).
    before = np.concatenate((step[-1:], step[:-1]))
    turn = before[:, 0] * step[:, 1] - before[:, 1] * step[:, 0]
    corner = turn != 0
    ring = ring[corner]
    if len(ring) < 3:
        return ring
    x, y = ring[:, 0], ring[:, 1]
    twice_area = float(x[:-1] @ y[1:] - x[1:] @ y[:-1] + x[-1] * y[0] -
                       x[0] * y[-1])
    if (twice_area > 0) != exterior:
        ring = ring[::-1]
        y = ring[:, 1]
    top = np.flatnonzero(y == y.min())
    first = int(top[np.argmin(ring[top, 0])])
    if first:
        ring = np.concatenate([ring[first:], ring[:first]])
    return np.ascontiguousarray(ring)


def polygon_from_rings(rings: Sequence, class_id: int = 1) -> MaskPolygon:
    """A :class:`MaskPolygon` in canonical form from an exterior and holes.

    Args:
        rings (Sequence): The exterior's vertices, then each hole's (GeoJSON
            ``coordinates`` of a Polygon, or shapely rings' ``coords``).
        class_id (int): Stored on the polygon. Defaults to 1.

    Returns:
        MaskPolygon: The polygon, holes ordered by their top-left vertex.
    """
    exterior = canonical_ring(rings[0], True)
    holes = [canonical_ring(r, False) for r in rings[1:]]
    holes.sort(key=lambda h: (h[0, 1], h[0, 0]))
    return MaskPolygon(exterior, holes, int(class_id))


def polygons_from_rings(many: Sequence[Sequence],
                        class_id: int = 1) -> List[MaskPolygon]:
    """:func:`polygon_from_rings` of each item, the same polygons, with
    the rings of all of them put in canonical form together (numpy over
    every vertex at once rather than a dozen calls per ring: a band of a
    scene has tens of thousands of rings).

    Args:
        many (Sequence): Items of rings (exterior, then holes), as
            :func:`polygon_from_rings` takes them.
        class_id (int): Stored on the polygons. Defaults to 1.

    Returns:
        list[MaskPolygon]: One polygon per item, in order.
    """
    rings, exterior = [], []
    for item in many:
        for j, ring in enumerate(item):
            rings.append(np.asarray(ring, dtype=np.float64)[:, :2])
            exterior.append(j == 0)
    canon = _canonical_rings(rings, np.asarray(exterior, bool))
    out, at = [], 0
    for item in many:
        holes = canon[at + 1:at + len(item)]
        holes.sort(key=lambda h: (h[0, 1], h[0, 0]))
        out.append(MaskPolygon(canon[at], holes, int(class_id)))
        at += len(item)
    return out


def _canonical_rings(rings: List[np.ndarray],
                     exterior: np.ndarray) -> List[np.ndarray]:
    # canonical_ring of each ring. Closed rings of whole-number vertices
    # (GDAL's pixel outlines) are done together: the shoelace sums are then
    # exact in any order, so orientations match the one-ring code's. Any
    # other ring, or one with repeated vertices or fewer than 3 corners,
    # goes through canonical_ring itself.
    n = len(rings)
    out: List[Optional[np.ndarray]] = [None] * n
    lens = np.fromiter(map(len, rings), dtype=np.int64, count=n)
    if not n or not lens.sum():
        return [canonical_ring(r, e) for r, e in zip(rings, exterior)]
    pts = np.concatenate(rings)
    starts = np.cumsum(lens) - lens
    batch = lens >= 4
    ends = starts + lens - 1
    batch[batch] = (pts[starts[batch]] == pts[ends[batch]]).all(axis=1)
    whole = np.isfinite(pts).all(axis=1) & (pts == np.round(pts)).all(
        axis=1) & (np.abs(pts) <= 2**24).all(axis=1)
    batch &= np.bincount(np.repeat(np.arange(n), lens), weights=~whole,
                         minlength=n) == 0
    ids = np.flatnonzero(batch)
    if len(ids):
        m = lens[ids] - 1  # open rings
        ps = np.cumsum(m) - m
        rid = np.repeat(np.arange(len(ids)), m)
        p = pts[np.arange(len(rid)) + (starts[ids] - ps)[rid]]
        pos = np.arange(len(p))
        last = pos == (ps + m - 1)[rid]
        nxt = np.where(last, ps[rid], pos + 1)
        step = p[nxt] - p
        moves = step.any(axis=1)
        prv = np.where(pos == ps[rid], (ps + m - 1)[rid], pos - 1)
        before = step[prv]
        corner = before[:, 0] * step[:, 1] - before[:, 1] * step[:, 0] != 0
        count = np.bincount(rid[corner], minlength=len(ids))
        good = (np.bincount(rid[~moves], minlength=len(ids)) == 0) & \
            (count >= 3)
        keep = corner & good[rid]
        q, qrid = p[keep], rid[keep]
        g = np.flatnonzero(good)
        qm = count[g]
        qs = np.cumsum(qm) - qm  # ring starts in q, good rings in order
        at = np.zeros(len(ids), np.int64)
        at[g] = qs
        size = np.zeros(len(ids), np.int64)
        size[g] = qm
        qpos = np.arange(len(q))
        local = qpos - at[qrid]
        qnxt = np.where(local == size[qrid] - 1, at[qrid], qpos + 1)
        x, y = q[:, 0], q[:, 1]
        area2 = np.bincount(qrid, weights=x * y[qnxt] - x[qnxt] * y,
                            minlength=len(ids))
        flip = (area2 > 0) != exterior[ids]
        # The top-left vertex (smallest y, then x); of repeated ones, the
        # first in the ring's final direction.
        if len(q):
            low = np.minimum.reduceat(y, qs)
            cand = y == np.repeat(low, qm)
            left = np.minimum.reduceat(np.where(cand, x, np.inf), qs)
            cand &= x == np.repeat(left, qm)
            first = np.minimum.reduceat(np.where(cand, qpos, len(q)), qs)
            final = np.maximum.reduceat(np.where(cand, qpos, -1), qs)
            t = np.where(flip[g], final, first) - qs  # local index
            tt, mm, ss = np.repeat(t, qm), size[qrid], at[qrid]
            src = np.where(np.repeat(flip[g], qm),
                           ss + mm - 1 - (mm - 1 - tt + local) % mm,
                           ss + (tt + local) % mm)
            done = np.split(q[src], np.cumsum(qm)[:-1])
            for k, ring in zip(ids[g].tolist(), done):
                out[k] = ring
    for k in range(n):
        if out[k] is None:
            out[k] = canonical_ring(rings[k], bool(exterior[k]))
    return out


def _top_left(poly: MaskPolygon) -> Tuple[float, float]:
    # The canonical exterior starts at the region's top-left pixel corner.
    return float(poly.exterior[0, 1]), float(poly.exterior[0, 0])


def label_shapes(labels: np.ndarray, binary: np.ndarray, row0: int = 0
                 ) -> Iterator[Tuple[int, dict]]:
    """GDAL's polygons (``rasterio.features.shapes``) of labelled regions.

    Args:
        labels (np.ndarray): ``(H, W)`` integer labels (uint8, int16, int32
            ...); each 4-connected run of one value inside ``binary`` is one
            polygon.
        binary (np.ndarray): ``(H, W)`` bool, the pixels to polygonize.
        row0 (int): Image row of ``labels[0]`` (the polygons are shifted
            down by it). Defaults to 0.

    Yields:
        tuple[int, dict]: The label and its GeoJSON-like Polygon geometry in
        pixel coordinates of the image (x right, y down).
    """
    from affine import Affine
    from rasterio.features import shapes

    transform = Affine.translation(0, row0)
    for geom, value in shapes(labels, mask=binary, connectivity=4,
                              transform=transform):
        yield int(value), geom


def _simplify(ring: np.ndarray, tolerance: float) -> np.ndarray:
    # Douglas-Peucker from OpenCV, on the closed ring.
    out = cv2.approxPolyDP(
        ring.astype(np.float32).reshape(-1, 1, 2), float(tolerance), True)
    return out.reshape(-1, 2).astype(np.float64)


def binary_to_polygons(binary: np.ndarray,
                       class_id: int = 1,
                       tolerance: float = 0.0) -> List[MaskPolygon]:
    """Polygons (with holes) of the 4-connected regions of a boolean mask.

    Args:
        binary (np.ndarray): ``(H, W)`` mask; non-zero is inside.
        class_id (int): Stored on every polygon. Defaults to 1.
        tolerance (float): Douglas-Peucker tolerance in pixels; 0 keeps the
            exact outline (only collinear vertices are dropped), so that
            rasterizing the polygons gives back ``binary``. Rings that
            simplify to fewer than 3 vertices are dropped. Defaults to 0.

    Returns:
        list[MaskPolygon]: One polygon per region, ordered by the region's
        top-left pixel (row first).

    Raises:
        ValueError: When ``binary`` is not two-dimensional or ``tolerance``
            is negative.
    """
    binary = np.asarray(binary)
    if binary.ndim != 2:
        raise ValueError(
            f'binary_to_polygons: mask must be 2-D, got shape {binary.shape}')
    if tolerance < 0:
        raise ValueError(
            f'binary_to_polygons: tolerance must be >= 0, got {tolerance}')
    binary = binary.astype(bool, copy=False)
    if not binary.any():
        return []
    polygons = polygons_from_rings(
        [geom['coordinates'] for _, geom in label_shapes(
            np.ascontiguousarray(binary, np.uint8), binary)], class_id)
    polygons.sort(key=_top_left)
    return simplify_polygons(polygons, tolerance)


def simplify_polygons(polygons: Iterable[MaskPolygon],
                      tolerance: float) -> List[MaskPolygon]:
    """Douglas-Peucker (OpenCV's) of every ring; 0 returns the polygons.

    Rings that simplify to fewer than 3 vertices are dropped (a polygon
    whose exterior does is dropped whole).
    """
    if tolerance <= 0:
        return list(polygons)
    simplified = []
    for poly in polygons:
        ext = _simplify(poly.exterior, tolerance)
        if len(ext) < 3:
            continue
        kept = [_simplify(h, tolerance) for h in poly.holes]
        simplified.append(
            MaskPolygon(ext, [h for h in kept if len(h) >= 3],
                        poly.class_id))
    return simplified


def mask_to_polygons(mask: np.ndarray,
                     class_ids: Optional[Iterable[int]] = None,
                     background: int = 0,
                     tolerance: float = 0.0,
                     min_area: int = 0,
                     hole_area: int = 0,
                     opening: int = 0) -> Dict[int, List[MaskPolygon]]:
    """Vectorize every class of a class-id mask.

    Cleaning options are applied first (see :func:`clean_mask`); call
    :func:`clean_mask` yourself to keep the cleaned mask, the one the polygons
    describe exactly when ``tolerance`` is 0.

    Args:
        mask (np.ndarray): ``(H, W)`` integer class ids.
        class_ids (Iterable[int], optional): Classes to vectorize. Defaults
            to every class present except ``background``.
        background (int): Class that is not vectorized. Defaults to 0.
        tolerance (float): Simplification tolerance in pixels. Defaults to 0.
        min_area (int): Smallest region kept, in pixels. Defaults to 0.
        hole_area (int): Holes smaller than this are filled. Defaults to 0.
        opening (int): Opening size in pixels. Defaults to 0.

    Returns:
        dict[int, list[MaskPolygon]]: Class id -> its polygons (every class
        asked for has an entry, possibly empty).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(
            f'mask_to_polygons: mask must be 2-D, got shape {mask.shape}')
    if class_ids is None:
        class_ids = [int(c) for c in np.unique(mask) if c != background]
    class_ids = [int(c) for c in class_ids]
    mask = clean_mask(mask, class_ids, opening=opening, min_area=min_area,
                      hole_area=hole_area, background=background)
    return {
        c: binary_to_polygons(mask == c, class_id=c, tolerance=tolerance)
        for c in class_ids
    }


def keyhole_ring(polygon: MaskPolygon) -> np.ndarray:
    """Write a polygon with holes as one ring, for single-ring formats.

    Each hole is joined to the exterior vertex nearest to it by a bridge that
    the ring walks in both directions::

        ..., p_k, h_0, h_1, ..., h_m, h_0, p_k, p_k+1, ...

    Filled with the even-odd rule (as :func:`mmseg_sia.labels.polygon_coverage`
    fills one polygon), the bridge counts twice and cancels, and the holes
    stay empty, so the ring rasterizes exactly like the polygon.

    Args:
        polygon (MaskPolygon): The polygon.

    Returns:
        np.ndarray: ``(N, 2)`` vertices of the single ring (open).
    """
    if not polygon.holes:
        return polygon.exterior
    return np.concatenate(list(keyhole_parts(polygon)))


def keyhole_parts(polygon: MaskPolygon) -> Iterator[np.ndarray]:
    """The ring of :func:`keyhole_ring` as consecutive pieces, made as they
    are taken: a writer can stream a polygon of millions of vertices
    without a copy of all of them (the ring, each hole turned to start at
    its bridge).

    Args:
        polygon (MaskPolygon): The polygon.

    Yields:
        np.ndarray: ``(N_i, 2)`` pieces whose concatenation is the ring.
    """
    ext = polygon.exterior
    if not polygon.holes:
        yield ext
        return
    ks, js = _bridges(ext, polygon.holes)
    start = 0
    # Holes bridged to the same exterior vertex are walked in their order.
    for i in np.argsort(ks, kind='stable').tolist():
        k, j, hole = int(ks[i]), int(js[i]), polygon.holes[i]
        if k + 1 > start:
            yield ext[start:k + 1]
            start = k + 1
        # The hole from its vertex nearest to the exterior, and back.
        yield np.roll(hole, -j, axis=0)
        yield hole[j:j + 1]
        yield ext[k:k + 1]
    yield ext[start:]


def _bridges(ext: np.ndarray, holes: Sequence[np.ndarray],
             vertices: int = 1 << 16) -> Tuple[np.ndarray, np.ndarray]:
    """For each hole, the exterior and hole vertex its bridge joins."""
    ks = np.zeros(len(holes), dtype=np.int64)
    js = np.zeros(len(holes), dtype=np.int64)
    large = []
    for i, hole in enumerate(holes):
        if len(ext) * len(hole) <= 1 << 10:
            d2 = ((ext[:, None, :] - hole[None, :, :])**2).sum(axis=2)
            ks[i], js[i] = np.unravel_index(int(np.argmin(d2)), d2.shape)
        else:
            large.append(i)
    if large:
        # The large holes searched together, a group of about ``vertices``
        # vertices at a time, in one k-d tree of the exterior: a polygon
        # from a scene can have hundreds of thousands of holes, and a
        # search per hole cost about a millisecond of Python around the
        # tree. The tree splits at the midpoint of each cell's box
        # (balanced_tree=False) and keeps the whole box (compact_nodes=
        # False): scipy's default median splits over data boxes make long
        # thin cells for vertices that lie along a ring, and a hole vertex
        # far from the exterior then visits most of them (10-20x slower on
        # road regions with thousands of holes, the same nearest distances;
        # astropy's KDTree defaults changed for this, astropy PR 7324).
        from scipy.spatial import cKDTree
        tree = cKDTree(ext, balanced_tree=False, compact_nodes=False)
        group: List[int] = []
        size = 0
        for n, i in enumerate(large):
            group.append(i)
            size += len(holes[i])
            if size >= vertices or n == len(large) - 1:
                ks[group], js[group] = _nearest_pairs(
                    tree, ext, [holes[g] for g in group])
                group, size = [], 0
    return ks, js


def _nearest_pairs(tree, ext: np.ndarray, holes: Sequence[np.ndarray]
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """For each hole, the (exterior, hole) vertex pair at the smallest
    distance, the smallest exterior index then hole index among equals
    (what the brute-force ``argmin`` over all pairs picks), with one k-d
    tree over the exterior.

    Returns:
        tuple: Exterior indices and hole indices, one of each per hole.
    """
    lens = np.fromiter(map(len, holes), dtype=np.int64, count=len(holes))
    starts = np.cumsum(lens) - lens
    pts = np.concatenate(holes)
    dist, _ = tree.query(pts)
    best = np.minimum.reduceat(dist, starts)
    # Every exterior vertex about as near as the nearest (ties on the pixel
    # grid are common), compared below on exact squared distances.
    reach = np.repeat(best * (1 + 1e-9) + 1e-12, lens)
    near = np.flatnonzero(dist <= reach)
    balls = tree.query_ball_point(pts[near], reach[near])
    sizes = np.fromiter(map(len, balls), dtype=np.int64, count=len(balls))
    ks = np.fromiter(itertools.chain.from_iterable(balls), dtype=np.int64,
                     count=int(sizes.sum()))
    js = np.repeat(near, sizes)
    owner = np.repeat(np.arange(len(holes)), lens)[js]
    d2 = ((ext[ks] - pts[js])**2).sum(axis=1)
    order = np.lexsort((js, ks, d2, owner))
    first = order[np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]]
    return ks[first], js[first] - starts[owner[first]]


def polygons_to_mask(polygons: Mapping[int, Sequence[MaskPolygon]],
                     shape: Tuple[int, int],
                     priority: Optional[Sequence[int]] = DEFAULT_PRIORITY,
                     background: int = 0) -> np.ndarray:
    """Rasterize polygons with the project's rasterizer (pixel-centre rule).

    Each polygon is drawn as its :func:`keyhole_ring`, the form written to
    label files, so this is the mask a dataset reading those files sees.

    Args:
        polygons (Mapping[int, Sequence[MaskPolygon]]): Class id -> polygons.
        shape (tuple[int, int]): ``(height, width)``.
        priority (Sequence[int], optional): Overlap priority, as in
            :func:`mmseg_sia.labels.rasterize_polygons`. Defaults to road over
            building.
        background (int): Value where no polygon is. Defaults to 0.

    Returns:
        np.ndarray: ``uint8`` class-id map.
    """
    rings = {c: [keyhole_ring(p) for p in polys]
             for c, polys in polygons.items()}
    return rasterize_polygons(rings, shape, priority=priority,
                              background=background)
