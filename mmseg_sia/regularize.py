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
from shapely.geometry import LinearRing, Polygon
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


def _simplify_ring(ring: np.ndarray, tolerance: float
                   ) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Douglas-Peucker of an open ring, and the input vertices per edge.

    Returns:
        tuple: The simplified open ring and, for each of its edges, the
        input vertices that edge replaces (both ends included).
    """
    ring = np.asarray(ring, dtype=np.float64)
    n = len(ring)
    if tolerance <= 0 or n < 4:
        return ring, [ring[[i, (i + 1) % n]] for i in range(n)]
    # Start at the vertex farthest from the centroid so that
    # Douglas-Peucker's fixed first point is a real corner.
    start = int(np.argmax(((ring - ring.mean(axis=0))**2).sum(axis=1)))
    ring = np.roll(ring, -start, axis=0)
    simple = LinearRing(ring).simplify(tolerance, preserve_topology=False)
    out = np.asarray(simple.coords)[:-1]
    if len(out) < 3:
        return ring, [ring[[i, (i + 1) % n]] for i in range(n)]
    # Douglas-Peucker keeps input vertices: find each one's position.
    where = {(float(x), float(y)): i for i, (x, y) in enumerate(ring)}
    idx = [where.get((float(x), float(y))) for x, y in out]
    if any(i is None for i in idx) or idx != sorted(idx):
        return out, [out[[i, (i + 1) % len(out)]] for i in range(len(out))]
    closed = np.vstack([ring, ring[:1]])
    idx.append(n)
    spans = [closed[a:b + 1] for a, b in zip(idx[:-1], idx[1:])]
    return out, spans


def _regularize_ring(pts: np.ndarray, spans: List[np.ndarray], theta0: float,
                     tolerance: float, merge_px: float,
                     max_shift_px: float) -> np.ndarray:
    """Snap the walls of an already simplified ring.

    Each wall is placed by least squares on the input vertices its edge
    replaces (their mean across the wall), not on the two vertices that
    Douglas-Peucker kept, which sit on one side of a staircase or the other.
    The edges are classified at once with numpy; the walls are merged and
    intersected with plain floats (rings have a handful of walls, where
    numpy's per-call cost would dominate).
    """
    n = len(pts)
    if n < 3:
        return pts
    vec = np.roll(pts, -1, axis=0) - pts
    length = np.hypot(vec[:, 0], vec[:, 1])
    if not (length > 1e-9).all():
        return pts
    theta = np.arctan2(vec[:, 1], vec[:, 0])
    half_pi = math.pi / 2
    rel = (theta - theta0) % (2 * math.pi)
    k = np.round(rel / half_pi).astype(np.int64) % 4
    delta = (rel - k * half_pi + math.pi) % (2 * math.pi) - math.pi
    snapped = np.abs(delta) <= math.radians(tolerance)
    ang = theta0 + k * half_pi
    dx = np.where(snapped, np.cos(ang), vec[:, 0] / length)
    dy = np.where(snapped, np.sin(ang), vec[:, 1] / length)
    cls = np.where(snapped, k % 2, -1)
    # Mid points: the mean of the input vertices each edge replaces.
    counts = np.fromiter((len(s) for s in spans), dtype=np.int64, count=n)
    mid = 0.5 * (pts + np.roll(pts, -1, axis=0))
    long = counts > 2
    if long.any():
        stacked = np.concatenate([s for s, m in zip(spans, long) if m])
        starts = np.r_[0, np.cumsum(counts[long])[:-1]]
        mid[long] = np.add.reduceat(stacked, starts, axis=0) / \
            counts[long, None]
    P = pts.tolist()
    # Walls: [x, y, dx, dy, length, class, edges]; class 0/1 is a snapped
    # direction (theta0 or its perpendicular), -1 a free wall.
    walls = [[m[0], m[1], a, b, le, c, [i]] for i, (m, a, b, le, c) in
             enumerate(zip(mid.tolist(), dx.tolist(), dy.tolist(),
                           length.tolist(), cls.tolist()))]
    # Merge consecutive parallel walls that are nearly collinear.
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
        return pts
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
    return np.asarray(out, dtype=np.float64)


def _axis_aligned(ring: np.ndarray) -> bool:
    """Whether every edge of an open ring is horizontal or vertical."""
    d = np.roll(ring, -1, axis=0) - ring
    return bool(np.all((d[:, 0] == 0) != (d[:, 1] == 0)))


def _largest(geom) -> Optional[Polygon]:
    if geom.geom_type == 'Polygon':
        return geom if not geom.is_empty else None
    polys = [g for g in getattr(geom, 'geoms', []) if
             g.geom_type == 'Polygon']
    polys += [p for g in getattr(geom, 'geoms', []) if
              g.geom_type == 'MultiPolygon' for p in g.geoms]
    return max(polys, key=lambda p: p.area) if polys else None


def _iou(a: Polygon, b: Polygon) -> float:
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return float(inter / union) if union > 0 else 0.0


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
    if not 0 <= angle_tolerance <= 45:
        raise ValueError('regularize_polygon: angle_tolerance must be in '
                         f'[0, 45] degrees, got {angle_tolerance!r}')
    if not 0 <= min_iou <= 1:
        raise ValueError('regularize_polygon: min_iou must be in [0, 1], '
                         f'got {min_iou!r}')
    for name, value in (('simplify_px', simplify_px), ('merge_px', merge_px),
                        ('max_shift_px', max_shift_px)):
        if not value >= 0:
            raise ValueError(f'regularize_polygon: {name} must be >= 0, got '
                             f'{value!r}')
    ring = np.asarray(polygon.exterior)
    if not polygon.holes and len(ring) == 4 and _axis_aligned(ring):
        # A rectangle along the pixel grid (most often a speck of a few
        # pixels) is already straight and square: the steps below would
        # return its own corners, starting at the second.
        rect = Polygon(np.roll(ring, -1, axis=0))
        return RegularizedPolygon(_as_mask_polygon(rect, polygon.class_id),
                                  1.0, True)
    source = Polygon(polygon.exterior, polygon.holes)
    simple_ext, ext_spans = _simplify_ring(polygon.exterior, simplify_px)
    simple_holes = [_simplify_ring(h, simplify_px) for h in polygon.holes]
    # The orientation of the simplified outline: the pixel outline's own
    # edges are all horizontal or vertical.
    theta0 = dominant_orientation(simple_ext)
    args = (theta0, angle_tolerance, merge_px, max_shift_px)
    ext = _regularize_ring(simple_ext, ext_spans, *args)
    holes = [_regularize_ring(h, sp, *args) for h, sp in simple_holes]
    result = None
    if len(ext) >= 3:
        cand = Polygon(ext, [h for h in holes if len(h) >= 3])
        if not cand.is_valid:
            cand = _largest(make_valid(cand))
        if cand is not None and cand.area > 0:
            iou = _iou(cand, source)
            if iou >= min_iou:
                result = RegularizedPolygon(
                    _as_mask_polygon(cand, polygon.class_id), iou, True)
    if result is None:
        simple = Polygon(simple_ext,
                         [h for h, _ in simple_holes if len(h) >= 3])
        if not simple.is_valid or simple.area <= 0:
            simple = source
        result = RegularizedPolygon(
            _as_mask_polygon(simple, polygon.class_id), _iou(simple, source),
            False)
    return result


def regularize_polygons(polygons: Sequence[MaskPolygon],
                        **kwargs) -> List[RegularizedPolygon]:
    """Regularize many outlines with the same parameters.

    Args:
        polygons (Sequence[MaskPolygon]): Pixel outlines.
        **kwargs: Parameters of :func:`regularize_polygon`.

    Returns:
        list[RegularizedPolygon]: One result per polygon, in order.
    """
    return [regularize_polygon(p, **kwargs) for p in polygons]
