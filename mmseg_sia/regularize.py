"""Building outlines with straight edges and right angles.

Outlines traced from a mask (:mod:`mmseg_sia.vectorize`) follow pixel
edges: a wall at 30 degrees becomes a staircase. :func:`regularize_polygon`
turns such an outline into what a map expects, by dominant-orientation
snapping:

1. The ring is simplified (Douglas-Peucker, ``simplify_px``), which turns
   staircases into straight edges.
2. The building's orientation is the length-weighted mean direction of its
   edges modulo 90 degrees (averaging ``4 * angle`` on the unit circle, so
   walls at right angles to each other agree).
3. Each edge within ``angle_tolerance`` degrees of that orientation or of
   its perpendicular is turned about its midpoint onto it; other edges (a
   real diagonal wall, a curve) keep their direction.
4. Consecutive edges that end up parallel are merged into one wall when
   their offset is below ``merge_px`` (their length-weighted mean line),
   and joined by a short perpendicular step otherwise.
5. The vertices are the intersections of consecutive walls. Where two
   walls are too close to parallel, or an intersection lands farther than
   ``max_shift_px`` from the simplified outline's vertex, that vertex is
   kept instead.

Holes are regularized along the building's orientation too. When the
result is not a valid polygon, or its IoU against the pixel outline is below
``min_iou``, the simplified outline is returned instead (so regularization
never changes a building beyond the tolerance). Every result reports its IoU
against the pixel outline.

:func:`regularize_polygons` does all outlines of a call together: one GEOS
call simplifies every ring, numpy classifies every edge, and only the
merging of walls runs ring by ring in Python; the IoU against the pixel
outline comes from pairs of edges (:func:`_intersection_areas`) rather than
a GEOS overlay per polygon. Each result is the one the outline gets alone
(:func:`regularize_polygon`), vertex for vertex.

The ``buildingregulariser`` package on the package index does the same kind
of snapping well, but imports geopandas at import time and is several times
slower per building; see ``benchmarks/bench_road_network.py --library``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.validation import make_valid

from .vectorize import MaskPolygon, ring_signed_area

__all__ = ['RegularizedPolygon', 'regularize_polygon',
           'regularize_polygons', 'dominant_orientation']


@dataclass
class RegularizedPolygon:
    """A regularized outline and how close it stays to the pixel outline.

    Attributes:
        polygon (MaskPolygon): The outline, in the same pixel coordinates and
            ring orientation as the input.
        iou (float): Intersection over union with the input outline.
        regularized (bool): False when the simplified outline was kept (the
            regularized one was invalid or below ``min_iou``).
    """
    polygon: MaskPolygon
    iou: float
    regularized: bool


def dominant_orientation(ring: np.ndarray) -> float:
    """The main wall direction of a ring, in radians in ``[0, pi/2)``.

    Args:
        ring (np.ndarray): ``(N, 2)`` open ring.

    Returns:
        float: The length-weighted mean edge direction modulo 90 degrees.
    """
    ring = np.asarray(ring, dtype=np.float64)
    d = np.roll(ring, -1, axis=0) - ring
    length = np.hypot(d[:, 0], d[:, 1])
    theta = np.arctan2(d[:, 1], d[:, 0])
    s = float((length * np.sin(4 * theta)).sum())
    c = float((length * np.cos(4 * theta)).sum())
    return (math.atan2(s, c) / 4) % (math.pi / 2)


def _largest(geom) -> Optional[Polygon]:
    if geom.geom_type == 'Polygon':
        return geom if not geom.is_empty else None
    polys = [g for g in getattr(geom, 'geoms', []) if
             g.geom_type == 'Polygon']
    polys += [p for g in getattr(geom, 'geoms', []) if
              g.geom_type == 'MultiPolygon' for p in g.geoms]
    return max(polys, key=lambda p: p.area) if polys else None


def _as_mask_polygon(poly: Polygon, class_id: int) -> MaskPolygon:
    ext = np.asarray(poly.exterior.coords)[:-1]
    if ring_signed_area(ext) < 0:
        ext = ext[::-1]
    holes = []
    for ring in poly.interiors:
        h = np.asarray(ring.coords)[:-1]
        if ring_signed_area(h) > 0:
            h = h[::-1]
        holes.append(h)
    return MaskPolygon(ext, holes, class_id)


_TWO_PI = 2 * math.pi
_HALF_PI = math.pi / 2


def _check_parameters(name: str, angle_tolerance: float, simplify_px: float,
                      merge_px: float, max_shift_px: float,
                      min_iou: float) -> None:
    if not 0 <= angle_tolerance <= 45:
        raise ValueError(f'{name}: angle_tolerance must be in [0, 45] '
                         f'degrees, got {angle_tolerance!r}')
    if not 0 <= min_iou <= 1:
        raise ValueError(f'{name}: min_iou must be in [0, 1], got '
                         f'{min_iou!r}')
    for key, value in (('simplify_px', simplify_px), ('merge_px', merge_px),
                       ('max_shift_px', max_shift_px)):
        if not value >= 0:
            raise ValueError(f'{name}: {key} must be >= 0, got {value!r}')


def _pixel_rectangles(rings: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Which ``(K, 4, 2)`` rings are rectangles along the pixel grid, and
    their corners starting at the second vertex, clockwise on screen."""
    rect = rings[:, [1, 2, 3, 0]]
    d = rect - rings
    ok = ((d[..., 0] == 0) != (d[..., 1] == 0)).all(axis=1)
    x, y = rect[..., 0], rect[..., 1]
    twice = (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(1)
    return ok, np.where((twice < 0)[:, None, None], rect[:, ::-1], rect)


def _segments(counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Offsets of consecutive segments of these lengths, and for each item
    its position within its segment."""
    starts = np.zeros(len(counts), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    pos = np.arange(int(counts.sum()), dtype=np.int64) - \
        np.repeat(starts, counts)
    return starts, pos


def _next_index(counts: np.ndarray) -> np.ndarray:
    """For vertices of rings stored one after another, the index of the
    next vertex of the same ring (wrapping around)."""
    starts, pos = _segments(counts)
    first = np.repeat(starts, counts)
    length = np.repeat(counts, counts)
    return first + (pos + 1) % np.maximum(length, 1)


@dataclass
class _Simplified:
    """Simplified rings stored one after another.

    Attributes:
        pts (np.ndarray): ``(P, 2)`` vertices of all rings.
        counts (np.ndarray): Vertices per ring.
        span_first (np.ndarray): Per edge (the edge from each vertex to the
            next of its ring), the index in ``closed`` of the first input
            vertex it replaces, or -1 when it replaces only its own two
            vertices.
        span_n (np.ndarray): Per edge, how many input vertices it replaces,
            both ends included.
        closed (np.ndarray): The input rings, each rolled to where its
            simplification started and closed.
    """
    pts: np.ndarray
    counts: np.ndarray
    span_first: np.ndarray
    span_n: np.ndarray
    closed: np.ndarray

    def rings(self) -> List[np.ndarray]:
        return np.split(self.pts, np.cumsum(self.counts)[:-1])


def _vertex_hash(ring: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each ring number and the bits of its ``(x, y)``."""
    h = (bits[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ \
        (bits[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)) ^ \
        (ring * np.uint64(0x165667B19E3779F9))
    return h ^ (h >> np.uint64(31))


def _last_equal(in_ring: np.ndarray, in_xy: np.ndarray,
                out_ring: np.ndarray, out_xy: np.ndarray) -> np.ndarray:
    """For each output vertex, the index of the last input vertex of the
    same ring with the same coordinates, or -1.

    Inputs and outputs are sorted together by a hash of ``(ring, x, y)``
    (a stable sort keeps the inputs in order and before the outputs); a
    hash shared by different vertices, which is next to impossible, is
    detected and then the exact keys are sorted instead.
    """
    n_in = len(in_ring)
    ring = np.r_[in_ring, out_ring].astype(np.uint64)
    xy = np.concatenate([in_xy, out_xy]) + 0.0  # -0.0 equals 0.0
    h = _vertex_hash(ring, xy.view(np.uint64))
    order = np.argsort(h, kind='stable')
    hs, rs, xs, ys = h[order], ring[order], xy[order, 0], xy[order, 1]
    same = hs[1:] == hs[:-1]
    if (same & ((rs[1:] != rs[:-1]) | (xs[1:] != xs[:-1]) |
                (ys[1:] != ys[:-1]))).any():
        order = np.lexsort((np.arange(len(ring)), xy[:, 1], xy[:, 0], ring))
        rs, xs, ys = ring[order], xy[order, 0], xy[order, 1]
    is_out = order >= n_in
    last_in = np.where(is_out, -1, np.arange(len(order)))
    np.maximum.accumulate(last_in, out=last_in)
    prev = last_in[is_out]
    ok = prev >= 0
    prev = np.maximum(prev, 0)
    o = np.flatnonzero(is_out)
    ok &= (rs[prev] == rs[o]) & (xs[prev] == xs[o]) & (ys[prev] == ys[o])
    found = np.empty(len(out_ring), np.int64)
    found[order[o] - n_in] = np.where(ok, order[prev], -1)
    return found


def _simplify_rings(rings: List[np.ndarray], tolerance: float) -> _Simplified:
    """Douglas-Peucker of many open rings at once (one GEOS call), and the
    input vertices that each edge of the result replaces.

    Each ring is rolled to start at the vertex farthest from its centroid,
    so that Douglas-Peucker's fixed first point is a real corner. Rings of
    fewer than 4 vertices (or any ring when ``tolerance`` is 0) are kept as
    they are, rings that collapse (fewer than 3 vertices left) as rolled.
    """
    n_in = np.fromiter((len(r) for r in rings), np.int64, len(rings))
    n_rings = len(rings)
    first, pos = _segments(n_in)
    ring_of = np.repeat(np.arange(n_rings), n_in)
    v = np.concatenate(rings)
    simplify = (n_in >= 4) if tolerance > 0 else np.zeros(n_rings, bool)
    # The start: the first vertex farthest from the mean (summed vertex by
    # vertex, as numpy's mean of one ring does).
    count = np.maximum(n_in, 1)
    mean = np.stack([np.bincount(ring_of, v[:, 0], minlength=n_rings),
                     np.bincount(ring_of, v[:, 1], minlength=n_rings)],
                    axis=1) / count[:, None]
    d2 = ((v - mean[ring_of])**2).sum(axis=1)
    far = np.full(n_rings, -np.inf)
    np.maximum.at(far, ring_of, d2)
    start = np.full(n_rings, np.iinfo(np.int64).max)
    np.minimum.at(start, ring_of, np.where(d2 == far[ring_of], pos,
                                           np.iinfo(np.int64).max))
    start = np.where(simplify & (start < n_in), start, 0)
    rolled = v[first[ring_of] + (pos + start[ring_of]) % count[ring_of]]
    # Closed copies of the rolled rings (n + 1 vertices each).
    c_first, c_pos = _segments(n_in + 1)
    c_ring = np.repeat(np.arange(n_rings), n_in + 1)
    closed = rolled[first[c_ring] + c_pos % count[c_ring]]
    # Simplified rings: by default the rolled input ring itself, each edge
    # replacing its own two vertices.
    src_first = first.copy()
    n_out = n_in.copy()
    spans = np.zeros(n_rings, bool)
    s_idx = np.zeros(0, np.int64)
    s_coords = np.zeros((0, 2))
    todo = np.flatnonzero(simplify)
    if len(todo):
        sub = simplify[ring_of]
        s_of = np.cumsum(simplify)[ring_of[sub]] - 1
        simple = shapely.simplify(
            shapely.linearrings(rolled[sub], indices=s_of), tolerance,
            preserve_topology=False)
        s_coords, s_ring = shapely.get_coordinates(simple, return_index=True)
        k_out = np.bincount(s_ring, minlength=len(todo))
        # Drop each output ring's closing vertex.
        keep = np.ones(len(s_coords), bool)
        keep[np.cumsum(k_out)[k_out > 0] - 1] = False
        s_coords, s_ring = s_coords[keep], s_ring[keep]
        k_out = np.maximum(k_out - 1, 0)
        # Douglas-Peucker keeps input vertices: the position of each output
        # vertex in its rolled input ring (the last one with the same
        # coordinates), found by sorting inputs and outputs together,
        # inputs first.
        hit = _last_equal(ring_of[sub], rolled[sub], todo[s_ring], s_coords)
        s_idx = np.where(hit >= 0, pos[sub][hit], -1)
        # Rings that kept at least 3 vertices use them; those whose
        # vertices are all found, in order, know the input each edge
        # replaces.
        o_first, _ = _segments(k_out)
        bad = np.bincount(s_ring, s_idx < 0, minlength=len(todo)) > 0
        down = np.flatnonzero((np.diff(s_idx) < 0) &
                              (s_ring[1:] == s_ring[:-1]))
        bad[s_ring[down]] = True
        kept = k_out >= 3
        use = todo[kept]
        src_first[use] = len(rolled) + o_first[kept]
        n_out[use] = k_out[kept]
        spans[todo[kept & ~bad]] = True
    both = np.concatenate([rolled, s_coords])
    p_first, p_pos = _segments(n_out)
    p_ring = np.repeat(np.arange(n_rings), n_out)
    src = src_first[p_ring] + p_pos
    pts = both[src]
    span_first = np.full(len(pts), -1, np.int64)
    span_n = np.full(len(pts), 2, np.int64)
    with_spans = spans[p_ring]
    if with_spans.any():
        idx = s_idx[src[with_spans] - len(rolled)]
        ring = p_ring[with_spans]
        last = p_pos[with_spans] == n_out[ring] - 1
        nxt = np.where(last, n_in[ring], np.r_[idx[1:], 0])
        span_first[with_spans] = c_first[ring] + idx
        span_n[with_spans] = nxt - idx + 1
    return _Simplified(pts, n_out, span_first, span_n, closed)


def _snap_walls(walls: list, P: list, merge_px: float,
                max_shift_px: float) -> Optional[list]:
    """Merge and intersect the walls of one ring (plain floats: rings have a
    handful of walls, where numpy's per-call cost would dominate).

    Walls are ``[x, y, dx, dy, length, class, edges]``; class 0/1 is a
    snapped direction (the orientation or its perpendicular), -1 a free
    wall. ``P`` are the simplified vertices. Returns the vertices, or None
    when fewer than three walls are left.
    """
    merged: List[list] = []
    for wall in walls:
        if merged and wall[5] >= 0 and merged[-1][5] == wall[5]:
            last = merged[-1]
            nx_, ny_ = -last[3], last[2]
            ox, oy = wall[0] - last[0], wall[1] - last[1]
            offset = ox * nx_ + oy * ny_
            if abs(offset) < merge_px:
                total = last[4] + wall[4]
                shift = offset * wall[4] / total
                along = (ox * last[2] + oy * last[3]) * wall[4] / total
                last[0] = last[0] + shift * nx_ + along * last[2]
                last[1] = last[1] + shift * ny_ + along * last[3]
                last[4] = total
                last[6] = last[6] + wall[6]
                continue
        merged.append(wall)
    if len(merged) > 1 and merged[0][5] >= 0 and \
            merged[0][5] == merged[-1][5]:
        first, last = merged[0], merged[-1]
        nx_, ny_ = -first[3], first[2]
        offset = (last[0] - first[0]) * nx_ + (last[1] - first[1]) * ny_
        if abs(offset) < merge_px:
            total = first[4] + last[4]
            first[0] = first[0] + offset * last[4] / total * nx_
            first[1] = first[1] + offset * last[4] / total * ny_
            first[4] = total
            first[6] = last[6] + first[6]
            merged.pop()
    if len(merged) < 3:
        return None
    out = []
    m = len(merged)
    min_cross = math.sin(math.radians(10))
    for j in range(m):
        a, b = merged[j], merged[(j + 1) % m]
        cx, cy = P[b[6][0]]  # the original vertex between them
        if a[5] >= 0 and a[5] == b[5]:
            # Parallel but offset: a perpendicular step at the corner.
            t = (cx - a[0]) * a[2] + (cy - a[1]) * a[3]
            out.append((a[0] + t * a[2], a[1] + t * a[3]))
            t = (cx - b[0]) * b[2] + (cy - b[1]) * b[3]
            out.append((b[0] + t * b[2], b[1] + t * b[3]))
            continue
        # The walls' intersection, unless they are too close to parallel
        # or it lands too far from the corner.
        cross = a[2] * b[3] - a[3] * b[2]
        p = (cx, cy)
        if abs(cross) >= min_cross:
            t = ((b[0] - a[0]) * b[3] - (b[1] - a[1]) * b[2]) / cross
            q = (a[0] + t * a[2], a[1] + t * a[3])
            if math.hypot(q[0] - cx, q[1] - cy) <= max_shift_px:
                p = q
        out.append(p)
    return out


def _regularize_rings(simple: _Simplified, theta0: np.ndarray,
                      tolerance: float, merge_px: float,
                      max_shift_px: float) -> List[np.ndarray]:
    """Snap the walls of many simplified rings, ``theta0`` the orientation
    of each ring's building.

    Each wall is placed by least squares on the input vertices its edge
    replaces (their mean across the wall), not on the two vertices that
    Douglas-Peucker kept, which sit on one side of a staircase or the
    other. The edges of all rings are classified at once with numpy.
    """
    pts, counts = simple.pts, simple.counts
    result = simple.rings()
    nxt = pts[_next_index(counts)]
    vec = nxt - pts
    length = np.hypot(vec[:, 0], vec[:, 1])
    theta = np.arctan2(vec[:, 1], vec[:, 0])
    t0 = np.repeat(theta0, counts)
    rel = (theta - t0) % _TWO_PI
    k = np.round(rel / _HALF_PI).astype(np.int64) % 4
    delta = (rel - k * _HALF_PI + math.pi) % _TWO_PI - math.pi
    snapped = np.abs(delta) <= math.radians(tolerance)
    ang = t0 + k * _HALF_PI
    with np.errstate(divide='ignore', invalid='ignore'):
        dx = np.where(snapped, np.cos(ang), vec[:, 0] / length)
        dy = np.where(snapped, np.sin(ang), vec[:, 1] / length)
    cls = np.where(snapped, k % 2, -1)
    # Mid points: the mean of the input vertices each edge replaces.
    mid = 0.5 * (pts + nxt)
    long = simple.span_n > 2
    if long.any():
        n_long = simple.span_n[long]
        s_start, s_pos = _segments(n_long)
        stacked = simple.closed[np.repeat(simple.span_first[long], n_long) +
                                s_pos]
        mid[long] = np.add.reduceat(stacked, s_start, axis=0) / \
            n_long[:, None]
    ring_of = np.repeat(np.arange(len(counts)), counts)
    short = np.bincount(ring_of, ~(length > 1e-9),
                        minlength=len(counts)) > 0
    todo = np.flatnonzero((counts >= 3) & ~short).tolist()
    starts = np.r_[0, np.cumsum(counts)].tolist()
    mid_l, dx_l, dy_l = mid.tolist(), dx.tolist(), dy.tolist()
    len_l, cls_l, p_l = length.tolist(), cls.tolist(), pts.tolist()
    for r in todo:
        a, b = starts[r], starts[r + 1]
        walls = [[m[0], m[1], ddx, ddy, le, c, [i]] for i, (m, ddx, ddy, le, c)
                 in enumerate(zip(mid_l[a:b], dx_l[a:b], dy_l[a:b],
                                  len_l[a:b], cls_l[a:b]))]
        out = _snap_walls(walls, p_l[a:b], merge_px, max_shift_px)
        if out is not None:
            result[r] = np.asarray(out, dtype=np.float64)
    return result


def _orientations(rings: List[np.ndarray]) -> np.ndarray:
    """:func:`dominant_orientation` of many rings (each with vertices)."""
    counts = np.fromiter((len(r) for r in rings), np.int64, len(rings))
    pts = np.concatenate(rings)
    d = pts[_next_index(counts)] - pts
    length = np.hypot(d[:, 0], d[:, 1])
    theta = np.arctan2(d[:, 1], d[:, 0])
    sin = length * np.sin(4 * theta)
    cos = length * np.cos(4 * theta)
    # Summed ring by ring as numpy sums one array (pairwise), so that the
    # result does not depend on the batch.
    ends = np.cumsum(counts).tolist()
    out = []
    for a, b in zip([0] + ends[:-1], ends):
        out.append((math.atan2(float(sin[a:b].sum()), float(cos[a:b].sum()))
                    / 4) % _HALF_PI)
    return np.array(out)


def _edge_table(polygons: List[MaskPolygon], origin: np.ndarray):
    """The non-vertical edges of polygons, for :func:`_intersection_areas`.

    Returns:
        tuple: Per edge: its polygon, ``x0, y0, x1, y1`` (relative to its
        polygon's ``origin``), the slope ``dy / dx``, and its weight: for
        an exterior with a positive shoelace area (clockwise on screen)
        ``-sign(dx)``, negated for an exterior turning the other way, and
        for a hole the opposite of an exterior turning its way. Vertical
        edges weigh 0 and are left out.
    """
    rings, poly_of, hole = [], [], []
    for i, p in enumerate(polygons):
        for k, ring in enumerate(p.rings()):
            rings.append(ring)
            poly_of.append(i)
            hole.append(k > 0)
    counts = np.fromiter((len(r) for r in rings), np.int64, len(rings))
    ring_of = np.repeat(np.arange(len(rings)), counts)
    poly = np.asarray(poly_of, np.int64)[ring_of]
    pts = np.concatenate(rings).astype(np.float64) - origin[poly]
    nxt = pts[_next_index(counts)]
    twice = np.bincount(ring_of, pts[:, 0] * nxt[:, 1] - nxt[:, 0] *
                        pts[:, 1], minlength=len(rings))
    turn = np.sign(twice) * np.where(hole, -1.0, 1.0)
    dx = nxt[:, 0] - pts[:, 0]
    weight = -np.sign(dx) * turn[ring_of]
    keep = weight != 0
    x0, y0 = pts[keep, 0], pts[keep, 1]
    x1, y1 = nxt[keep, 0], nxt[keep, 1]
    return poly[keep], x0, y0, x1, y1, (y1 - y0) / (x1 - x0), weight[keep]


def _pieces(table, x_start, bin_width, n_bins, group_start):
    """Cut edges at the boundaries of their polygon's bins along x.

    Returns:
        tuple: Per piece: its edge, its group (polygon and bin) and its
        x-range ``left, right``.
    """
    poly, x0, _, x1 = table[:4]
    lo, hi = np.minimum(x0, x1), np.maximum(x0, x1)
    k, width, start = n_bins[poly], bin_width[poly], x_start[poly]
    # One bin more on either side than rounding could put an end in; the
    # first and last bins are open-ended, so the pieces of an edge cover
    # exactly its x-range.
    b_lo = np.clip(np.floor((lo - start) / width) - 1, 0, k - 1)
    b_hi = np.clip(np.floor((hi - start) / width) + 1, 0, k - 1)
    cnt = (b_hi - b_lo + 1).astype(np.int64)
    edge = np.repeat(np.arange(len(poly)), cnt)
    _, pos = _segments(cnt)
    b = b_lo.astype(np.int64)[edge] + pos
    k, width, start = k[edge], width[edge], start[edge]
    left = np.maximum(lo[edge], np.where(b == 0, -np.inf,
                                         start + b * width))
    right = np.minimum(hi[edge], np.where(b == k - 1, np.inf,
                                          start + (b + 1) * width))
    keep = right > left
    edge, b, left, right = edge[keep], b[keep], left[keep], right[keep]
    return edge, group_start[poly[edge]] + b, left, right


def _intersection_areas(a: List[MaskPolygon], b: List[MaskPolygon]
                        ) -> np.ndarray:
    """Areas of ``a[i]`` intersected with ``b[i]``, without overlaying them.

    Where a polygon's rings do not cross each other (a valid polygon, or a
    pixel outline), its indicator function is a sum over its non-vertical
    edges ``e``: ``w_e * [x within e's x-range] * [y <= y_e(x)]`` with the
    weights of :func:`_edge_table`. The area of the intersection, the
    integral of the product of two such sums, is then the sum over pairs of
    edges ``(e, f)`` whose x-ranges overlap of ``w_e * w_f`` times the
    integral of ``min(y_e(x), y_f(x))`` over the overlap (the terms that
    would bound ``y`` from below cancel because a closed ring's weights sum
    to zero at every ``x``). That integral of the lower of two straight
    lines has a closed form. All polygons are done at once; each polygon's
    x-range is cut into bins, and only pieces of edges in the same bin are
    paired (the integral over an overlap is the sum over its bins).
    """
    n = len(a)
    origin = np.array([p.exterior[0] for p in b], dtype=np.float64)
    ta = _edge_table(a, origin)
    tb = _edge_table(b, origin)
    x_start = np.full(n, np.inf)
    x_end = np.full(n, -np.inf)
    for t in (ta, tb):
        np.minimum.at(x_start, t[0], np.minimum(t[1], t[3]))
        np.maximum.at(x_end, t[0], np.maximum(t[1], t[3]))
    na = np.bincount(ta[0], minlength=n)
    nb = np.bincount(tb[0], minlength=n)
    span = x_end - x_start
    n_bins = np.where(span > 0, np.clip(
        (np.sqrt(na * nb) / 6).astype(np.int64), 1, 256), 1)
    bin_width = np.where(span > 0, span / n_bins, 1.0)
    x_start = np.where(span > 0, x_start, 0.0)
    group_start, _ = _segments(n_bins)
    ea, ga, la, ra = _pieces(ta, x_start, bin_width, n_bins, group_start)
    eb, gb, lb, rb = _pieces(tb, x_start, bin_width, n_bins, group_start)
    order = np.argsort(gb, kind='stable')
    eb, gb, lb, rb = eb[order], gb[order], lb[order], rb[order]
    per_group = np.bincount(gb, minlength=int(n_bins.sum()))
    b_start, _ = _segments(per_group)
    m = per_group[ga]
    ia = np.repeat(np.arange(len(ga)), m)
    _, pos = _segments(m)
    ib = b_start[ga][ia] + pos
    left = np.maximum(la[ia], lb[ib])
    right = np.minimum(ra[ia], rb[ib])
    ok = right > left
    ia, ib, left, right = ea[ia[ok]], eb[ib[ok]], left[ok], right[ok]
    pa, ax0, ay0, _, _, aslope, aw = ta
    _, bx0, by0, _, _, bslope, bw = tb
    ya_l = ay0[ia] + aslope[ia] * (left - ax0[ia])
    ya_r = ay0[ia] + aslope[ia] * (right - ax0[ia])
    d_l = ya_l - (by0[ib] + bslope[ib] * (left - bx0[ib]))
    d_r = ya_r - (by0[ib] + bslope[ib] * (right - bx0[ib]))
    width = right - left
    p_l, p_r = np.maximum(d_l, 0), np.maximum(d_r, 0)
    cross = (d_l * d_r) < 0
    above = np.where(cross, (p_l * p_l + p_r * p_r) /
                     np.where(cross, np.abs(d_l) + np.abs(d_r), 1),
                     p_l + p_r)
    lower = 0.5 * width * (ya_l + ya_r - above)
    return np.bincount(pa[ia], aw[ia] * bw[ib] * lower, minlength=n)


def _oriented(ext: np.ndarray, holes: List[np.ndarray],
              class_id: int) -> MaskPolygon:
    """A MaskPolygon with the vectorizer's ring orientations."""
    if ring_signed_area(ext) < 0:
        ext = ext[::-1]
    holes = [h[::-1] if ring_signed_area(h) > 0 else h for h in holes]
    return MaskPolygon(ext, holes, class_id)


def _polygon_array(rings: List[List[np.ndarray]]) -> np.ndarray:
    """Shapely polygons (exterior, then holes) made in one call."""
    flat = [r for poly in rings for r in poly]
    counts = np.fromiter((len(r) for r in flat), np.int64, len(flat))
    ring_geoms = shapely.linearrings(
        np.concatenate(flat), indices=np.repeat(np.arange(len(flat)), counts))
    return shapely.polygons(ring_geoms, indices=np.repeat(
        np.arange(len(rings)), [len(poly) for poly in rings]))


# Above this many pairs of edges, a polygon's intersection area is left to
# GEOS (a quadratic number of pairs would outgrow memory).
_MAX_PAIRS = 250_000
# Polygons regularized together: bounds the arrays of one batch.
_BATCH = 1024


def _ious(a: List[MaskPolygon], a_area: np.ndarray, b: List[MaskPolygon],
          b_area: np.ndarray, b_geoms: np.ndarray,
          b_valid: np.ndarray) -> np.ndarray:
    """IoU of valid polygons ``a[i]`` and ``b[i]`` given their areas.

    Where ``b[i]`` is not a valid polygon (an outline simplified before, whose
    rings cross) or the pairs of edges would be too many, GEOS intersects
    them instead.
    """
    inter = np.zeros(len(a))
    pairs = np.array([(len(p.exterior) + sum(map(len, p.holes))) *
                      (len(q.exterior) + sum(map(len, q.holes)))
                      for p, q in zip(a, b)], dtype=np.int64)
    exact = (pairs <= _MAX_PAIRS) & b_valid
    small = np.flatnonzero(exact)
    # A few million pairs of edges at a time at most.
    cut = np.cumsum(pairs[small]) // (4 * _MAX_PAIRS)
    for chunk in np.split(small, np.flatnonzero(np.diff(cut)) + 1):
        if len(chunk):
            inter[chunk] = _intersection_areas([a[i] for i in chunk],
                                               [b[i] for i in chunk])
    for i in np.flatnonzero(~exact):
        inter[i] = Polygon(a[i].exterior, a[i].holes).intersection(
            b_geoms[i]).area
    union = a_area + b_area - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _regularize_batch(polygons: Sequence[MaskPolygon], angle_tolerance,
                      simplify_px, merge_px, max_shift_px,
                      min_iou) -> List[RegularizedPolygon]:
    results: List[Optional[RegularizedPolygon]] = [None] * len(polygons)
    exteriors = [np.asarray(p.exterior, dtype=np.float64) for p in polygons]
    # A rectangle along the pixel grid (most often a speck of a few pixels)
    # is already straight and square: the steps below would return its own
    # corners, starting at the second.
    quads = [i for i, (p, e) in enumerate(zip(polygons, exteriors))
             if not p.holes and e.shape == (4, 2)]
    if quads:
        ok, rects = _pixel_rectangles(np.stack([exteriors[i] for i in quads]))
        for i, good, rect in zip(quads, ok.tolist(), rects):
            if good:
                results[i] = RegularizedPolygon(
                    MaskPolygon(rect, [], polygons[i].class_id), 1.0, True)
    todo = [i for i, r in enumerate(results) if r is None]
    rings_in = [[exteriors[i]] + [np.asarray(h, dtype=np.float64)
                                  for h in polygons[i].holes] for i in todo]
    if not todo:
        return results
    sources = _polygon_array(rings_in)
    source_valid = shapely.is_valid(sources)
    if not source_valid.all():
        # An outline simplified before regularizing may have rings that
        # cross; GEOS cannot intersect it, its valid version measures it.
        sources = sources.copy()
        sources[~source_valid] = shapely.make_valid(sources[~source_valid])
    source_area = shapely.area(sources)
    n_rings = [len(r) for r in rings_in]
    first_ring = np.r_[0, np.cumsum(n_rings)[:-1]]
    simplified = _simplify_rings([r for poly in rings_in for r in poly],
                                 simplify_px)
    # The orientation of the simplified outline: the pixel outline's own
    # edges are all horizontal or vertical.
    simple_rings = simplified.rings()
    theta0 = _orientations([simple_rings[f] for f in first_ring])
    regular = _regularize_rings(simplified, np.repeat(theta0, n_rings),
                                angle_tolerance, merge_px, max_shift_px)
    # Candidates: the regularized rings as polygons.
    cand_rings, cand_of = [], []
    for j, f in enumerate(first_ring):
        if len(regular[f]) >= 3:
            cand_rings.append([regular[f]] + [
                h for h in regular[f + 1:f + n_rings[j]] if len(h) >= 3])
            cand_of.append(j)
    cands: List[Optional[MaskPolygon]] = [None] * len(todo)
    areas = np.zeros(len(todo))
    if cand_rings:
        geoms = _polygon_array(cand_rings)
        valid = shapely.is_valid(geoms)
        cand_area = shapely.area(geoms)
        for j, rings, ok, geom, area in zip(cand_of, cand_rings, valid,
                                            geoms, cand_area):
            class_id = polygons[todo[j]].class_id
            if not ok:
                geom = _largest(make_valid(geom))
                if geom is None:
                    continue
                area = geom.area
                if area > 0:
                    cands[j] = _as_mask_polygon(geom, class_id)
            elif area > 0:
                cands[j] = _oriented(rings[0], rings[1:], class_id)
            areas[j] = area
    have = [j for j in range(len(todo)) if cands[j] is not None]
    fallback = [j for j in range(len(todo)) if cands[j] is None]
    if have:
        iou = _ious([cands[j] for j in have], areas[have],
                    [polygons[todo[j]] for j in have], source_area[have],
                    sources[have], source_valid[have])
        for j, v in zip(have, iou.tolist()):
            if v >= min_iou:
                results[todo[j]] = RegularizedPolygon(cands[j], v, True)
            else:
                fallback.append(j)
    if not fallback:
        return results
    # The simplified outline where regularizing failed, or the pixel
    # outline itself where that is not a valid polygon either.
    fallback.sort()
    fallback_rings = []
    for j in fallback:
        f = first_ring[j]
        fallback_rings.append([simple_rings[f]] + [
            h for h in simple_rings[f + 1:f + n_rings[j]] if len(h) >= 3])
    geoms = _polygon_array(fallback_rings)
    ok = shapely.is_valid(geoms) & (shapely.area(geoms) > 0)
    good = [j for j, g in zip(fallback, ok) if g]
    simple = [_oriented(r[0], r[1:], polygons[todo[j]].class_id)
              for j, r, g in zip(fallback, fallback_rings, ok) if g]
    iou = _ious(simple, shapely.area(geoms[ok]),
                [polygons[todo[j]] for j in good], source_area[good],
                sources[good], source_valid[good])
    for j, s, v in zip(good, simple, iou.tolist()):
        results[todo[j]] = RegularizedPolygon(s, v, False)
    for j, g in zip(fallback, ok):
        if not g:
            results[todo[j]] = RegularizedPolygon(
                _as_mask_polygon(Polygon(*rings_in[j][:1], rings_in[j][1:]),
                                 polygons[todo[j]].class_id),
                1.0 if source_area[j] > 0 else 0.0, False)
    return results


def regularize_polygon(polygon: MaskPolygon,
                       angle_tolerance: float = 15.0,
                       simplify_px: float = 1.5,
                       merge_px: float = 2.0,
                       max_shift_px: float = 4.0,
                       min_iou: float = 0.8) -> RegularizedPolygon:
    """Straighten one building outline (see the module notes).

    Args:
        polygon (MaskPolygon): The pixel outline (pixel coordinates).
        angle_tolerance (float): Edges within this many degrees of the
            building's orientation or its perpendicular are snapped onto it.
            Defaults to 15.
        simplify_px (float): Douglas-Peucker tolerance in pixels applied
            first; pixel staircases deviate up to about one pixel from
            the wall they trace. Defaults to 1.5.
        merge_px (float): Consecutive parallel walls closer than this are
            merged into one. Defaults to 2.0.
        max_shift_px (float): A corner farther than this from the simplified
            outline's vertex keeps that vertex. Defaults to 4.0.
        min_iou (float): Below this IoU against the pixel outline the
            simplified outline is kept. Defaults to 0.8.

    Returns:
        RegularizedPolygon: The outline, its IoU, and whether it was
        regularized.

    Raises:
        ValueError: When a parameter is out of range.
    """
    params = (angle_tolerance, simplify_px, merge_px, max_shift_px, min_iou)
    _check_parameters('regularize_polygon', *params)
    return _regularize_batch([polygon], *params)[0]


def regularize_polygons(polygons: Sequence[MaskPolygon],
                        angle_tolerance: float = 15.0,
                        simplify_px: float = 1.5,
                        merge_px: float = 2.0,
                        max_shift_px: float = 4.0,
                        min_iou: float = 0.8) -> List[RegularizedPolygon]:
    """Regularize many outlines with the same parameters.

    The same results as :func:`regularize_polygon` of each, computed
    together: one GEOS call simplifies all rings, numpy classifies all
    edges, and the IoU against the pixel outlines is computed for all
    polygons at once without a GEOS overlay (:func:`_intersection_areas`).

    Args:
        polygons (Sequence[MaskPolygon]): Pixel outlines.
        angle_tolerance, simplify_px, merge_px, max_shift_px, min_iou:
            See :func:`regularize_polygon`.

    Returns:
        list[RegularizedPolygon]: One result per polygon, in order.

    Raises:
        ValueError: When a parameter is out of range.
    """
    params = (angle_tolerance, simplify_px, merge_px, max_shift_px, min_iou)
    _check_parameters('regularize_polygons', *params)
    polygons = list(polygons)
    out: List[RegularizedPolygon] = []
    for start in range(0, len(polygons), _BATCH):
        out += _regularize_batch(polygons[start:start + _BATCH], *params)
    return out
