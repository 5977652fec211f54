"""Class masks to polygons (with holes) and back, exactly.

The project's pixel convention (``mmseg_sia.labels``) puts pixel ``(r, c)``
inside a polygon when its centre ``(c + 0.5, r + 0.5)`` is. A polygon drawn
through the centres of a region's border pixels (what ``cv2.findContours``
returns) therefore loses half of every border pixel when it is rasterized
again. Here the outline follows the *edges* of the pixel squares instead
("crack" boundary): every vertex sits on an integer lattice point, no pixel
centre ever lies on an edge, and rasterizing the polygons with
:func:`mmseg_sia.labels.rasterize_polygons` gives back exactly the mask they
came from.

Neither OpenCV nor scikit-image traces crack boundaries (both trace pixel
centres), and rasterio (``features.shapes`` does) is not a dependency of the
project, so the tracing is written here, vectorised with numpy.

Connectivity: regions are 4-connected. Two pixels of a class that touch only
at a corner belong to different polygons, which touch at that one vertex;
background is 8-connected, so a hole is a background region enclosed by the
region. A ring that would pass twice through such a corner point is split
there, so every ring is simple (a hole may touch its exterior at one vertex,
which OGC validity rules allow).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from .labels import DEFAULT_PRIORITY, rasterize_polygons

__all__ = [
    'MaskPolygon', 'clean_mask', 'binary_to_polygons', 'mask_to_polygons',
    'polygons_to_mask', 'keyhole_ring', 'ring_signed_area'
]

# Lattice steps of the four edge directions: east, south, west, north, in
# image coordinates (x to the right, y down). Turning right is ``d + 1``.
_STEP_X = np.array([1, 0, -1, 0], dtype=np.int64)
_STEP_Y = np.array([0, 1, 0, -1], dtype=np.int64)


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
    diff = np.diff(np.vstack([ring, ring[:1]]), axis=0)
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
            opened = cv2.morphologyEx(
                binary.astype(np.uint8), cv2.MORPH_OPEN, kernel,
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
# Crack tracing
# --------------------------------------------------------------------------
def _crack_edges(binary: np.ndarray) -> Tuple[np.ndarray, np.ndarray,
                                              np.ndarray]:
    """Unit boundary edges of ``binary``, the region on their right.

    Returns:
        tuple: start x, start y (lattice points) and direction (0 east,
        1 south, 2 west, 3 north) of every edge.
    """
    h, w = binary.shape
    padded = np.zeros((h + 2, w + 2), dtype=bool)
    padded[1:-1, 1:-1] = binary
    # Horizontal edges on lattice row y, from x = c to c + 1.
    above = padded[0:h + 1, 1:w + 1]
    below = padded[1:h + 2, 1:w + 1]
    ey, ex = np.nonzero(below & ~above)         # east: region below
    wy, wx = np.nonzero(above & ~below)         # west: region above
    # Vertical edges on lattice column x, from y = r to r + 1.
    left = padded[1:h + 1, 0:w + 1]
    right = padded[1:h + 1, 1:w + 2]
    sy, sx = np.nonzero(left & ~right)          # south: region on the left
    ny, nx = np.nonzero(right & ~left)          # north: region on the right
    xs = np.concatenate([ex, wx + 1, sx, nx])
    ys = np.concatenate([ey, wy, sy, ny + 1])
    dirs = np.concatenate([
        np.zeros(len(ex), np.int64),
        np.full(len(wx), 2, np.int64),
        np.ones(len(sx), np.int64),
        np.full(len(nx), 3, np.int64)
    ])
    return xs.astype(np.int64), ys.astype(np.int64), dirs


def _pointer_min(nxt: np.ndarray) -> np.ndarray:
    """Smallest index on each cycle of the permutation ``nxt``."""
    label = np.arange(len(nxt))
    jump = nxt.copy()
    while True:
        new = np.minimum(label, label[jump])
        # Equal labels mean the windows of 2**k successors already covered
        # each whole cycle (a shorter window would still miss the minimum
        # for the element just before it).
        if np.array_equal(new, label):
            return label
        label = new
        jump = jump[jump]


def _rank_to_tail(nxt: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Steps from each element to the last element of its cycle.

    The cycle is cut before its head (``head[i]``), so the head is the
    farthest element; list ranking by pointer jumping.
    """
    n = len(nxt)
    idx = np.arange(n)
    succ = nxt.copy()
    tail = nxt == head  # the element whose successor is the head
    succ[tail] = idx[tail]
    dist = np.where(tail, 0, 1).astype(np.int64)
    while True:
        done = succ[succ] == succ
        dist = dist + np.where(succ == idx, 0, dist[succ])
        succ = succ[succ]
        if done.all():
            return dist


@dataclass
class _Rings:
    """Closed crack boundaries of a mask, all rings in one array.

    Attributes:
        points: ``(K, 2)`` int64 corner vertices, ring after ring (open).
        starts: ``(R + 1,)`` offsets of each ring in ``points``.
        area2: ``(R,)`` twice the signed area of each ring.
        row, col: ``(R,)`` a region pixel on the right of each ring.
        touching: ``(R,)`` whether the ring passes twice through a vertex.
    """
    points: np.ndarray
    starts: np.ndarray
    area2: np.ndarray
    row: np.ndarray
    col: np.ndarray
    touching: np.ndarray


def _trace_rings(binary: np.ndarray) -> Optional[_Rings]:
    """Link the crack edges of ``binary`` into rings (None when empty)."""
    xs, ys, dirs = _crack_edges(binary)
    if len(xs) == 0:
        return None
    w1 = binary.shape[1] + 1
    keys = (ys * w1 + xs) * 4 + dirs
    order = np.argsort(keys, kind='stable')
    xs, ys, dirs, keys = xs[order], ys[order], dirs[order], keys[order]
    end = (ys + _STEP_Y[dirs]) * w1 + (xs + _STEP_X[dirs])
    lo = np.searchsorted(keys, end * 4)
    hi = np.searchsorted(keys, end * 4 + 4)
    nxt = lo.copy()
    saddle = (hi - lo) == 2
    if saddle.any():
        # Two region pixels meet only at this corner: turn right, so the
        # ring keeps close to its own pixel and the pixels stay apart.
        want = end[saddle] * 4 + (dirs[saddle] + 1) % 4
        nxt[saddle] = np.searchsorted(keys, want)
    head = _pointer_min(nxt)
    dist = _rank_to_tail(nxt, head)
    order = np.lexsort((-dist, head))
    xs, ys, dirs, head = xs[order], ys[order], dirs[order], head[order]
    saddle, end = saddle[order], end[order]
    starts = np.flatnonzero(np.r_[True, head[1:] != head[:-1]])
    stops = np.r_[starts[1:], len(head)]
    ring_of = np.repeat(np.arange(len(starts)), stops - starts)

    # Shoelace over the unit edges: x0 * y1 - x1 * y0 per edge.
    cross = xs * (ys + _STEP_Y[dirs]) - (xs + _STEP_X[dirs]) * ys
    area2 = np.add.reduceat(cross, starts)

    # A ring touches itself when it ends two of its edges at one saddle.
    touching = np.zeros(len(starts), dtype=bool)
    if saddle.any():
        pairs = np.stack([ring_of[saddle], end[saddle]], axis=1)
        uniq, counts = np.unique(pairs, axis=0, return_counts=True)
        touching[uniq[counts > 1, 0]] = True

    # A vertex is a corner when the direction changes there.
    prev = np.empty_like(dirs)
    prev[1:] = dirs[:-1]
    prev[starts] = dirs[stops - 1]
    corner = dirs != prev
    points = np.stack([xs[corner], ys[corner]], axis=1)
    corner_starts = np.r_[0, np.cumsum(np.add.reduceat(corner, starts))]

    # The region pixel on the right of each ring's first edge.
    d0, x0, y0 = dirs[starts], xs[starts], ys[starts]
    col = x0 - (d0 == 1) - (d0 == 2)
    row = y0 - (d0 == 2) - (d0 == 3)
    return _Rings(points, corner_starts, area2, row, col, touching)


def _split_touching(ring: np.ndarray) -> List[np.ndarray]:
    """Split a ring that passes twice through a vertex into simple rings."""
    keys = ring[:, 0] * (int(ring[:, 1].max()) + 2) + ring[:, 1]
    if len(np.unique(keys)) == len(keys):
        return [ring]
    loops = []
    path: List[int] = []
    where: Dict[int, int] = {}
    for i, key in enumerate(keys.tolist()):
        if key in where:
            j = where[key]
            loop = path[j:]
            for idx in loop[1:]:
                del where[int(keys[idx])]
            loops.append(ring[loop])
            del path[j + 1:]
        else:
            where[key] = len(path)
            path.append(i)
    loops.append(ring[path])
    return [loop for loop in loops if len(loop) >= 3]


def _point_in_ring(x: float, y: float, ring: np.ndarray) -> bool:
    """Even-odd test of a point that is never on the ring."""
    x0, y0 = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide='ignore', invalid='ignore'):
        xi = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(crosses & (xi > x)) % 2)


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
    rings = _trace_rings(binary)
    if rings is None:
        return []
    _, labels = cv2.connectedComponents(binary.astype(np.uint8),
                                        connectivity=4)
    component = labels[rings.row, rings.col]
    points = rings.points.astype(np.float64)
    starts = rings.starts
    exteriors: Dict[int, List[np.ndarray]] = {}
    holes: Dict[int, List[np.ndarray]] = {}
    # Rings are ordered by their first vertex (row first), so exteriors come
    # in the order of the regions' top-left pixels.
    for k in range(len(rings.area2)):
        comp = int(component[k])
        ring = points[starts[k]:starts[k + 1]]
        loops = _split_touching(ring) if rings.touching[k] else [ring]
        for loop in loops:
            outer = rings.area2[k] > 0 if len(loops) == 1 else \
                ring_signed_area(loop) > 0
            if outer:
                exteriors.setdefault(comp, []).append(loop)
            else:
                holes.setdefault(comp, []).append(loop)

    polygons = []
    for comp, outs in exteriors.items():
        parts = [MaskPolygon(o, [], int(class_id)) for o in outs]
        for hole in holes.get(comp, []):
            target = parts[0]
            if len(parts) > 1:
                # Rare: test a point just inside the hole against each
                # exterior (a hole's own vertices may touch an exterior).
                a, b = hole[0], hole[1]
                step = np.sign(b - a)
                # The region lies on the right of every edge, so the hole's
                # background is on the left, half a pixel off the first edge.
                probe = a + 0.5 * step + 0.5 * np.array([step[1], -step[0]])
                for part in parts:
                    if _point_in_ring(probe[0], probe[1], part.exterior):
                        target = part
                        break
            target.holes.append(hole)
        polygons.extend(parts)

    if tolerance > 0:
        simplified = []
        for poly in polygons:
            ext = _simplify(poly.exterior, tolerance)
            if len(ext) < 3:
                continue
            kept = [_simplify(h, tolerance) for h in poly.holes]
            simplified.append(
                MaskPolygon(ext, [h for h in kept if len(h) >= 3],
                            poly.class_id))
        polygons = simplified
    return polygons


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
    ext = polygon.exterior
    if not polygon.holes:
        return ext
    attach: Dict[int, List[np.ndarray]] = {}
    for hole in polygon.holes:
        d2 = ((ext[:, None, :] - hole[None, :, :])**2).sum(axis=2)
        k, j = np.unravel_index(int(np.argmin(d2)), d2.shape)
        # Start the hole at its vertex nearest to the exterior.
        attach.setdefault(int(k), []).append(np.roll(hole, -int(j), axis=0))
    parts = []
    for k in range(len(ext)):
        parts.append(ext[k:k + 1])
        for hole in attach.get(k, []):
            parts.extend([hole, hole[:1], ext[k:k + 1]])
    return np.concatenate(parts)


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
