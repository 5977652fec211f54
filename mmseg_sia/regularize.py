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

The ``buildingregulariser`` package on the package index does the same kind
of snapping well, but imports geopandas at import time and takes about 7 ms
per building on the bundled sample (this module about ten times less); see
``benchmarks/bench_road_network.py``.
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


def _pixel_rectangle(ring: np.ndarray) -> Optional[np.ndarray]:
    """The corners of a 4-vertex ring along the pixel grid, starting at its
    second vertex and clockwise on screen; None for any other ring."""
    if len(ring) != 4:
        return None
    rect = ring[[1, 2, 3, 0]]
    d = rect - ring
    if not ((d[:, 0] == 0) != (d[:, 1] == 0)).all():
        return None
    return rect if ring_signed_area(rect) >= 0 else rect[::-1]


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


def _simplify_rings(rings: List[np.ndarray], tolerance: float):
    """Douglas-Peucker of many open rings at once (one GEOS call).

    Returns:
        list: Per ring, ``(simplified ring, spans)`` where ``spans`` is None
        when each edge replaces only its own two vertices, and otherwise
        ``(closed, idx)``: the rolled input ring closed and, for each edge
        ``k``, the input vertices ``closed[idx[k]:idx[k + 1] + 1]`` it
        replaces.
    """
    out: List[tuple] = [(ring, None) for ring in rings]
    todo = [r for r, ring in enumerate(rings)
            if tolerance > 0 and len(ring) >= 4]
    if not todo:
        return out
    rolled = []
    for r in todo:
        ring = rings[r]
        # Start at the vertex farthest from the centroid so that
        # Douglas-Peucker's fixed first point is a real corner.
        start = int(np.argmax(((ring - ring.mean(axis=0))**2).sum(axis=1)))
        rolled.append(np.roll(ring, -start, axis=0))
    n_in = np.fromiter((len(r) for r in rolled), np.int64, len(rolled))
    coords = np.concatenate(rolled)
    ring_of = np.repeat(np.arange(len(todo)), n_in)
    simple = shapely.simplify(shapely.linearrings(coords, indices=ring_of),
                              tolerance, preserve_topology=False)
    s_coords, s_ring = shapely.get_coordinates(simple, return_index=True)
    n_out = np.bincount(s_ring, minlength=len(todo))
    # Drop each output ring's closing vertex.
    keep = np.ones(len(s_coords), bool)
    keep[np.cumsum(n_out)[n_out > 0] - 1] = False
    s_coords, s_ring = s_coords[keep], s_ring[keep]
    n_out = np.maximum(n_out - 1, 0)
    # Douglas-Peucker keeps input vertices: the position of each output
    # vertex in its input ring (the last one with the same coordinates),
    # found by sorting inputs and outputs together, inputs first.
    _, pos_in = _segments(n_in)
    ring_all = np.concatenate([ring_of, s_ring])
    x = np.concatenate([coords[:, 0], s_coords[:, 0]])
    y = np.concatenate([coords[:, 1], s_coords[:, 1]])
    is_out = np.r_[np.zeros(len(coords), bool), np.ones(len(s_coords), bool)]
    pos = np.r_[pos_in, np.zeros(len(s_coords), np.int64)]
    order = np.lexsort((pos, is_out, y, x, ring_all))
    last_in = np.where(~is_out[order], np.arange(len(order)), -1)
    np.maximum.accumulate(last_in, out=last_in)
    o = order[is_out[order]]
    prev = order[last_in[is_out[order]]]
    found = (last_in[is_out[order]] >= 0) & (ring_all[prev] == ring_all[o]) \
        & (x[prev] == x[o]) & (y[prev] == y[o])
    where = np.empty(len(s_coords), np.int64)
    where[o - len(coords)] = np.where(found, pos[prev], -1)
    out_start = np.r_[0, np.cumsum(n_out)]
    for j, r in enumerate(todo):
        a, b = out_start[j], out_start[j + 1]
        ring = rolled[j]
        if b - a < 3:
            out[r] = (ring, None)
            continue
        idx = where[a:b]
        pts = s_coords[a:b]
        if (idx < 0).any() or (np.diff(idx) < 0).any():
            out[r] = (pts, None)
            continue
        out[r] = (pts, (np.vstack([ring, ring[:1]]),
                        np.r_[idx, len(ring)]))
    return out


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


def _regularize_rings(simplified: list, theta0: np.ndarray, tolerance: float,
                      merge_px: float, max_shift_px: float
                      ) -> List[np.ndarray]:
    """Snap the walls of many simplified rings (``(pts, spans)`` as
    :func:`_simplify_rings` gives them), ``theta0`` the orientation of
    each ring's building.

    Each wall is placed by least squares on the input vertices its edge
    replaces (their mean across the wall), not on the two vertices that
    Douglas-Peucker kept, which sit on one side of a staircase or the
    other. The edges of all rings are classified at once with numpy.
    """
    result = [pts for pts, _ in simplified]
    todo = [r for r, (pts, _) in enumerate(simplified) if len(pts) >= 3]
    if not todo:
        return result
    pts = np.concatenate([simplified[r][0] for r in todo])
    counts = np.fromiter((len(simplified[r][0]) for r in todo), np.int64,
                         len(todo))
    nxt = pts[_next_index(counts)]
    vec = nxt - pts
    length = np.hypot(vec[:, 0], vec[:, 1])
    theta = np.arctan2(vec[:, 1], vec[:, 0])
    t0 = np.repeat(theta0[todo], counts)
    rel = (theta - t0) % _TWO_PI
    k = np.round(rel / _HALF_PI).astype(np.int64) % 4
    delta = (rel - k * _HALF_PI + math.pi) % _TWO_PI - math.pi
    snapped = np.abs(delta) <= math.radians(tolerance)
    ang = t0 + k * _HALF_PI
    dx = np.where(snapped, np.cos(ang), vec[:, 0] / length)
    dy = np.where(snapped, np.sin(ang), vec[:, 1] / length)
    cls = np.where(snapped, k % 2, -1)
    # Mid points: the mean of the input vertices each edge replaces.
    mid = 0.5 * (pts + nxt)
    starts, _ = _segments(counts)
    spans = [simplified[r][1] for r in todo]
    with_spans = [j for j, s in enumerate(spans) if s is not None]
    if with_spans:
        span_n = np.concatenate([np.diff(spans[j][1]) + 1
                                 for j in with_spans])
        edge = np.concatenate([starts[j] + np.arange(counts[j])
                               for j in with_spans])
        long = span_n > 2
        if long.any():
            closed = np.concatenate([spans[j][0] for j in with_spans])
            c_len = np.fromiter((len(spans[j][0]) for j in with_spans),
                                np.int64, len(with_spans))
            c_start = np.repeat(_segments(c_len)[0], counts[with_spans])
            first = (c_start + np.concatenate(
                [spans[j][1][:-1] for j in with_spans]))[long]
            n_long = span_n[long]
            s_start, s_pos = _segments(n_long)
            stacked = closed[np.repeat(first, n_long) + s_pos]
            mid[edge[long]] = np.add.reduceat(stacked, s_start, axis=0) / \
                n_long[:, None]
    short = np.add.reduceat(length <= 1e-9, starts) > 0
    mid_l, dx_l, dy_l = mid.tolist(), dx.tolist(), dy.tolist()
    len_l, cls_l = length.tolist(), cls.tolist()
    for j, r in enumerate(todo):
        if short[j]:
            continue
        a, n = int(starts[j]), int(counts[j])
        walls = [[m[0], m[1], ddx, ddy, le, c, [i]] for i, (m, ddx, ddy, le, c)
                 in enumerate(zip(mid_l[a:a + n], dx_l[a:a + n],
                                  dy_l[a:a + n], len_l[a:a + n],
                                  cls_l[a:a + n]))]
        out = _snap_walls(walls, pts[a:a + n].tolist(), merge_px,
                          max_shift_px)
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
        polygon's ``origin``), the slope ``dy / dx``, and its weight
        ``-sign(dx)``, negated for a ring turning the other way than an
        exterior should (a hole the same way as an exterior counts
        negatively). The area of the part of a polygon above... see
        :func:`_intersection_areas`.
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
    lines has a closed form; all pairs of all polygons are done at once.
    """
    n = len(a)
    origin = np.array([p.exterior[0] for p in b], dtype=np.float64)
    pa, ax0, ay0, ax1, ay1, aslope, aw = _edge_table(a, origin)
    pb, bx0, by0, bx1, by1, bslope, bw = _edge_table(b, origin)
    nb = np.bincount(pb, minlength=n)
    b_start, _ = _segments(nb)
    m = nb[pa]
    ia = np.repeat(np.arange(len(pa)), m)
    _, pos = _segments(m)
    ib = b_start[pa][ia] + pos
    left = np.maximum(np.minimum(ax0, ax1)[ia], np.minimum(bx0, bx1)[ib])
    right = np.minimum(np.maximum(ax0, ax1)[ia], np.maximum(bx0, bx1)[ib])
    ok = right > left
    ia, ib, left, right = ia[ok], ib[ok], left[ok], right[ok]
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
          b_area: np.ndarray, b_geoms: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` and ``b[i]`` given their areas."""
    inter = np.zeros(len(a))
    pairs = np.array([(len(p.exterior) + sum(map(len, p.holes))) *
                      (len(q.exterior) + sum(map(len, q.holes)))
                      for p, q in zip(a, b)], dtype=np.int64)
    small = np.flatnonzero(pairs <= _MAX_PAIRS)
    if len(small):
        inter[small] = _intersection_areas([a[i] for i in small],
                                           [b[i] for i in small])
    for i in np.flatnonzero(pairs > _MAX_PAIRS):
        inter[i] = Polygon(a[i].exterior, a[i].holes).intersection(
            b_geoms[i]).area
    union = a_area + b_area - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _regularize_batch(polygons: Sequence[MaskPolygon], angle_tolerance,
                      simplify_px, merge_px, max_shift_px,
                      min_iou) -> List[RegularizedPolygon]:
    results: List[Optional[RegularizedPolygon]] = [None] * len(polygons)
    todo, rings_in = [], []
    for i, polygon in enumerate(polygons):
        ext = np.asarray(polygon.exterior, dtype=np.float64)
        if not polygon.holes:
            # A rectangle along the pixel grid (most often a speck of a
            # few pixels) is already straight and square: the steps below
            # would return its own corners, starting at the second.
            rect = _pixel_rectangle(ext)
            if rect is not None:
                results[i] = RegularizedPolygon(
                    MaskPolygon(rect, [], polygon.class_id), 1.0, True)
                continue
        todo.append(i)
        rings_in.append([ext] + [np.asarray(h, dtype=np.float64)
                                 for h in polygon.holes])
    if not todo:
        return results
    sources = _polygon_array(rings_in)
    source_area = shapely.area(sources)
    n_rings = [len(r) for r in rings_in]
    first_ring = np.r_[0, np.cumsum(n_rings)[:-1]]
    simplified = _simplify_rings([r for poly in rings_in for r in poly],
                                 simplify_px)
    # The orientation of the simplified outline: the pixel outline's own
    # edges are all horizontal or vertical.
    theta0 = _orientations([simplified[f][0] for f in first_ring])
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
                    sources[have])
        for j, v in zip(have, iou.tolist()):
            if v >= min_iou:
                results[todo[j]] = RegularizedPolygon(cands[j], v, True)
            else:
                fallback.append(j)
    if not fallback:
        return results
    # The simplified outline where regularizing failed.
    fallback.sort()
    simple_rings = []
    for j in fallback:
        f = first_ring[j]
        simple_rings.append([simplified[f][0]] + [
            h for h, _ in simplified[f + 1:f + n_rings[j]] if len(h) >= 3])
    geoms = _polygon_array(simple_rings)
    ok = shapely.is_valid(geoms) & (shapely.area(geoms) > 0)
    simple = []
    for j, rings, good in zip(fallback, simple_rings, ok):
        class_id = polygons[todo[j]].class_id
        simple.append(_oriented(rings[0], rings[1:], class_id) if good else
                      _as_mask_polygon(sources[j], class_id))
    iou = _ious(simple, np.where(ok, shapely.area(geoms),
                                 source_area[fallback]),
                [polygons[todo[j]] for j in fallback],
                source_area[fallback], sources[fallback])
    for j, s, v, good in zip(fallback, simple, iou.tolist(), ok):
        results[todo[j]] = RegularizedPolygon(s, v if good else 1.0, False)
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
