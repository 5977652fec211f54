"""Road masks to road networks: centre lines, junctions, lengths, widths.

A road mask says where road surface is; a router needs a network: centre
lines that meet at junctions, each with a length. :func:`mask_to_network`
builds one in four steps:

1. **Centre lines.** Holes smaller than ``hole_area_m2`` are filled, and
   the mask is thinned to one-pixel centre lines
   (:func:`skimage.morphology.skeletonize`). Skeleton pixels with other than
   two neighbours (ends, junctions) become nodes (touching ones merged into
   one node at their centroid); the runs of two-neighbour pixels between them
   become edges. Nodes left with two edges are dissolved, so every node is a
   junction (three or more edges) or a dead end (one edge), or the one node
   of a closed loop.
2. **Spur pruning.** Thinning a wide road grows short branches towards the
   corners of its outline. A dead-end branch whose *reach* (its length plus
   the road's half width at its end, less the half width at its junction:
   how far it gets beyond the junction's road surface) is below
   ``spur_length_m`` or below ``spur_ratio`` times the half width at the
   junction is removed, and this is repeated until no such spur is left.
   Corner branches reach about 0.4 half widths; a road that really ends, at
   a dead end or at a break of the mask, reaches its whole length and stays.
3. **Gap joining.** Where the mask is broken, two dead ends that face each
   other (each within ``gap_angle`` degrees of the other's heading) are
   joined when the join crosses at most ``max_gap_m`` of non-road pixels
   (a centre line ends about half a road width inside the surface, so the
   ends themselves are farther apart),
   and a dead end that points at another road within that distance is
   joined to it (a new junction). A
   join within one connected piece is made only where the network path
   between the two points is at least three times longer than the gap, so a
   road is never short-circuited with itself.
4. **Measures.** Each edge carries its geometry (a
   :class:`shapely.geometry.LineString` in pixel coordinates, the tile
   spanning ``[0, W] x [0, H]``, simplified by ``simplify_px``),
   ``length_px``, ``length_m``, and a width estimate ``width_px`` /
   ``width_m``: twice the median distance (:func:`cv2.distanceTransform`,
   within 2 % of Euclidean) from the edge's centre-line pixels to the
   nearest non-road pixel, less one pixel (exact for axis-aligned roads of
   an odd number of pixels, one pixel short for an even number).

**Large scenes.** :func:`mask_rows_to_network` does the same from a mask
read band by band (``read_rows(y0, y1)``, e.g. windows of a tiled GeoTIFF):
each band is filled, measured and thinned with rows of context above and
below, only its own rows' centre-line pixels are kept (sparsely), and the
graph is built from the centre lines of the whole scene, so the network is
the one of the whole mask, without seams, while memory stays that of one
band plus the roads. :func:`mask_to_network` is the same code on an array
in memory.

The graph is a :class:`networkx.MultiGraph` (two junctions may be joined by
two different roads, and a ring road is a loop). Node attributes: ``x``,
``y`` (pixel coordinates), ``kind`` (``'junction'``, ``'end'`` or
``'loop'``). Edge attributes: ``geometry`` (running from ``start`` to the
other end), ``start``, ``length_px``, ``length_m``, ``width_px``,
``width_m`` and ``gap_px`` (how much of the edge crosses non-road pixels
where a gap was joined, in pixels).
:func:`network_lines` turns the edges into LineStrings with properties, in
pixel coordinates or mapped through a transform.
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely import STRtree
from shapely.geometry import LineString
from shapely.ops import substring
from skimage.morphology import skeletonize

from .vectorize import _small_holes

__all__ = ['mask_to_network', 'mask_rows_to_network', 'network_lines',
           'network_length_m', 'line_length_m', 'network_geojson',
           'write_network_gpkg']

PixelSize = Union[float, Tuple[float, float]]

_EIGHT = np.ones((3, 3), dtype=bool)
_OFFSETS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
            if (dr, dc) != (0, 0)]
# Centre-line pixels of the skeleton pieces turned into a graph together.
_BATCH_PX = 1 << 16


def _pixel_size(pixel_size: PixelSize) -> Tuple[float, float]:
    if np.isscalar(pixel_size):
        sx = sy = float(pixel_size)
    else:
        sx, sy = (float(v) for v in pixel_size)
    if not (sx > 0 and sy > 0 and np.isfinite(sx) and np.isfinite(sy)):
        raise ValueError(f'pixel_size must be positive and finite, got '
                         f'{pixel_size!r}')
    return sx, sy


def line_length_m(coords: np.ndarray, pixel_size: PixelSize) -> float:
    """Length in metres of a polyline given in pixel coordinates.

    Args:
        coords (np.ndarray): ``(N, 2)`` vertices ``(x, y)`` in pixels.
        pixel_size (float | tuple[float, float]): Metres per pixel, one value
            or ``(x, y)``.

    Returns:
        float: The length in metres.
    """
    sx, sy = _pixel_size(pixel_size)
    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) < 2:
        return 0.0
    d = np.diff(coords, axis=0)
    return float(np.hypot(d[:, 0] * sx, d[:, 1] * sy).sum())


# --------------------------------------------------------------------------
# Skeleton -> graph
# --------------------------------------------------------------------------
def _neighbours(lin: np.ndarray, shape: Tuple[int, int],
                offsets: Sequence[Tuple[int, int]] = _OFFSETS,
                chunk: int = 1 << 20,
                at: Optional[np.ndarray] = None) -> np.ndarray:
    """Index (into ``lin``) of each skeleton pixel's neighbours, -1 where
    none, for each of ``offsets``; computed a chunk of pixels at a time to
    keep the scratch memory small.

    Args:
        at (np.ndarray, optional): Only for these pixels (indices into
            ``lin``). Defaults to None (all).

    Returns:
        np.ndarray: ``(len(offsets), N)`` int32 (N pixels or ``len(at)``).
    """
    h, w = shape
    n_all = len(lin)
    query = lin if at is None else lin[at]
    nbr = np.empty((len(offsets), len(query)), dtype=np.int32)
    for lo in range(0, len(query), chunk):
        part = query[lo:lo + chunk]
        row, col = np.divmod(part, w)
        for k, (dr, dc) in enumerate(offsets):
            q = part + (dr * w + dc)
            j = np.minimum(np.searchsorted(lin, q), n_all - 1)
            hit = (lin[j] == q) & (row + dr >= 0) & (row + dr < h) & \
                (col + dc >= 0) & (col + dc < w)
            nbr[k, lo:lo + chunk] = np.where(hit, j, -1)
    return nbr


def _pieces(lin: np.ndarray, tile_label: np.ndarray, n_labels: int,
            shape: Tuple[int, int], block: int) -> Tuple[np.ndarray, int]:
    """Connected pieces of a scene's centre lines from those of its tiles.

    Args:
        lin (np.ndarray): Sorted linear indices of the skeleton pixels.
        tile_label (np.ndarray): The piece ``0..n_labels-1`` of its tile's
            centre lines each pixel belongs to.
        n_labels (int): Number of tile pieces.
        shape (tuple[int, int]): The scene's ``(H, W)``.
        block (int): The tiles' side.

    Returns:
        tuple: Labels ``1..n`` of the pixels, numbered in the order of each
        piece's first pixel (as whole-scene labelling numbers them), and
        ``n``.
    """
    if n_labels == 0:
        return np.zeros(0, dtype=np.int32), 0
    h, w = shape
    chunk = 1 << 20
    # Only pixels on a tile's edge can touch a pixel of another tile.
    at = []
    for lo in range(0, len(lin), chunk):
        row, col = np.divmod(lin[lo:lo + chunk], w)
        row %= block
        col %= block
        at.append(lo + np.flatnonzero((row == 0) | (row == block - 1) |
                                      (col == 0) | (col == block - 1)))
    at = np.concatenate(at)
    nbr = _neighbours(lin, shape, at=at)
    src = np.repeat(tile_label[at][None], len(_OFFSETS), axis=0)
    hit = nbr >= 0
    dst = tile_label[nbr[hit]]
    src = src[hit]
    join = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)),
                      shape=(n_labels, n_labels))
    n, comp = connected_components(join, directed=False)
    label = comp.astype(np.int32)[tile_label]
    first = np.full(n, len(lin), dtype=np.int64)
    for lo in range(0, len(lin), chunk):
        part = label[lo:lo + chunk]
        np.minimum.at(first, part, np.arange(lo, lo + len(part)))
    rank = np.empty(n, dtype=np.int32)
    rank[np.argsort(first)] = np.arange(1, n + 1, dtype=np.int32)
    return rank[label], int(n)


def _components(nbr: np.ndarray, idx: np.ndarray,
                n_all: int) -> Tuple[np.ndarray, int]:
    """8-connected components of the skeleton pixels ``idx``.

    Args:
        nbr (np.ndarray): ``(8, N)`` neighbour indices of all N pixels (-1
            where none), in the order of ``_OFFSETS``.
        idx (np.ndarray): Sorted indices of the pixels to group.
        n_all (int): N.

    Returns:
        tuple: Labels ``1..n`` of the pixels of ``idx``, numbered in the
        order of each component's first pixel (as :func:`ndimage.label`
        numbers them in raster order), and ``n``.
    """
    m = len(idx)
    if m == 0:
        return np.zeros(0, dtype=np.int32), 0
    local = np.full(n_all + 1, -1, dtype=np.int32)      # [-1] -> -1
    local[idx] = np.arange(m, dtype=np.int32)
    src, dst = [], []
    for k, offset in enumerate(_OFFSETS):
        if offset > (0, 0):        # each pair once: the later neighbours
            t = local[nbr[k, idx]]
            ok = np.flatnonzero(t >= 0)
            src.append(ok.astype(np.int32))
            dst.append(t[ok])
    del local
    src = np.concatenate(src)
    dst = np.concatenate(dst)
    adjacency = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)),
                           shape=(m, m))
    n, lab = connected_components(adjacency, directed=False)
    _, first = np.unique(lab, return_index=True)
    rank = np.empty(n, dtype=np.int32)
    rank[np.argsort(first)] = np.arange(1, n + 1, dtype=np.int32)
    return rank[lab], int(n)


def _skeleton_graph(lin: np.ndarray, dist: np.ndarray,
                    shape: Tuple[int, int]) -> nx.MultiGraph:
    """Nodes and pixel-chain edges of a one-pixel skeleton.

    The skeleton is given sparsely, as the sorted linear indices
    ``row * W + col`` of its pixels (``lin``) and the distance to the road's
    edge at each (``dist``), so that its memory is that of the centre lines,
    not of the scene. A node's id is the linear index of its first pixel,
    and chains are walked in raster order: the graph depends only on the
    skeleton, not on how it was computed (whole or in bands) or cut into
    connected pieces.
    """
    h, w = shape
    graph = nx.MultiGraph()
    n_all = len(lin)
    if n_all == 0:
        return graph
    r_all = lin // w
    c_all = lin - r_all * w
    nbr = _neighbours(lin, shape)
    is_node = (nbr >= 0).sum(axis=0) != 2
    node_idx = np.flatnonzero(is_node)
    chain_idx = np.flatnonzero(~is_node)
    node_lab_all = np.zeros(n_all + 1, dtype=np.int32)  # [-1] -> 0
    node_lab, n_nodes = _components(nbr, node_idx, n_all)
    node_lab_all[node_idx] = node_lab
    if n_nodes:
        nr, nc = r_all[node_idx], c_all[node_idx]
        count = np.bincount(node_lab, minlength=n_nodes + 1)[1:]
        cy = np.bincount(node_lab, nr, minlength=n_nodes + 1)[1:] / count
        cx = np.bincount(node_lab, nc, minlength=n_nodes + 1)[1:] / count
        rad = np.zeros(n_nodes + 1)
        np.maximum.at(rad, node_lab, dist[node_idx])
        # A node's id is the linear index of its first pixel: the same
        # however the skeleton was cut into pieces.
        _, first_px = np.unique(node_lab, return_index=True)
        ids = [0] + lin[node_idx[first_px]].tolist()
        for i in range(n_nodes):
            graph.add_node(ids[i + 1], x=float(cx[i]) + 0.5,
                           y=float(cy[i]) + 0.5, radius_px=float(rad[i + 1]))
    n = len(chain_idx)
    if n == 0:
        return graph
    # Chain pixels: positions and their (at most two) chain neighbours.
    rows, cols = r_all[chain_idx], c_all[chain_idx]
    cdist = dist[chain_idx]
    # The median distance to the road's edge along each chain, all at once.
    lab, n_chains = _components(nbr, chain_idx, n_all)
    order = np.lexsort((cdist, lab))
    counts = np.bincount(lab, minlength=n_chains + 1)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    median = np.zeros(n_chains + 1)
    has = counts > 0
    median[has] = cdist[order][first[has] + (counts[has] - 1) // 2]
    pos = np.full(n_all + 1, -1, dtype=np.int32)      # [-1] -> -1
    pos[chain_idx] = np.arange(n)
    other = pos[nbr[:, chain_idx]]
    touch = node_lab_all[nbr[:, chain_idx]]
    del nbr
    other.sort(axis=0)
    n1, n2 = other[-1], other[-2]        # -1 where there is none
    n_chain = (other >= 0).sum(axis=0)
    del other
    touch_lo = np.where(touch > 0, touch, np.iinfo(touch.dtype).max).min(0)
    touch_hi = touch.max(axis=0)
    del touch
    n1l, n2l = n1.tolist(), n2.tolist()
    seen = bytearray(n)

    def walk(start: int) -> List[int]:
        path = [start]
        seen[start] = 1
        prev, cur = -1, start
        while True:
            a, b = n1l[cur], n2l[cur]
            if a >= 0 and a != prev and not seen[a]:
                nxt = a
            elif b >= 0 and b != prev and not seen[b]:
                nxt = b
            else:
                return path
            prev, cur = cur, nxt
            seen[cur] = 1
            path.append(cur)

    def touching(i: int) -> List[int]:
        hi = int(touch_hi[i])
        if hi <= 0:
            return []
        return sorted({int(touch_lo[i]), hi})

    for start in np.flatnonzero(n_chain < 2).tolist():
        if seen[start]:
            continue
        path = walk(start)
        first = touching(path[0])
        last = touching(path[-1])
        if len(path) == 1:
            if not first:
                continue
            u, v = ids[first[0]], ids[first[-1]]
        else:
            if not first or not last:
                continue
            u, v = ids[first[0]], ids[last[0]]
        idx = np.asarray(path)
        _add_chain_edge(graph, u, v, rows[idx], cols[idx],
                        median[lab[path[0]]])
    # What is left are closed loops with no node on them.
    for start in range(n):
        if seen[start]:
            continue
        path = walk(start)
        node = int(lin[chain_idx[path[0]]])
        r0, c0 = int(rows[path[0]]), int(cols[path[0]])
        graph.add_node(node, x=c0 + 0.5, y=r0 + 0.5,
                       radius_px=float(cdist[path[0]]))
        idx = np.asarray(path)
        rr = np.r_[rows[idx], r0]
        cc = np.r_[cols[idx], c0]
        _add_chain_edge(graph, node, node, rr[1:], cc[1:],
                        median[lab[path[0]]])
    graph.remove_nodes_from([v for v in list(graph) if graph.degree(v) == 0])
    return graph



def _add_chain_edge(graph: nx.MultiGraph, u: int, v: int, rr: np.ndarray,
                    cc: np.ndarray, median: float) -> None:
    nu, nv = graph.nodes[u], graph.nodes[v]
    coords = np.empty((len(rr) + 2, 2))
    coords[0] = nu['x'], nu['y']
    coords[1:-1, 0] = cc + 0.5
    coords[1:-1, 1] = rr + 0.5
    coords[-1] = nv['x'], nv['y']
    graph.add_edge(u, v, coords=coords, start=u, len=_edge_len(coords),
                   dist_sum=float(median) * len(rr), n_px=len(rr),
                   gap_px=0.0)


def _edge_len(coords: np.ndarray) -> float:
    d = np.diff(coords, axis=0)
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


def _oriented(data: dict, start: int) -> np.ndarray:
    """The edge's coordinates running from node ``start``."""
    coords = data['coords']
    return coords if data['start'] == start else coords[::-1]


def _dissolve_degree_two(graph: nx.MultiGraph) -> None:
    """Merge the two edges at every node that has exactly two (no loop)."""
    changed = True
    while changed:
        changed = False
        for node in list(graph.nodes):
            if node not in graph or graph.degree(node) != 2:
                continue
            edges = list(graph.edges(node, keys=True, data=True))
            if len(edges) != 2:  # a self-loop: the node of a closed loop
                continue
            (_, a, ka, da), (_, b, kb, db) = edges
            if a == node or b == node:
                continue
            # a -> node -> b
            first = _oriented(da, a)
            second = _oriented(db, node)
            coords = np.vstack([first, second[1:]])
            graph.remove_edge(node, a, ka)
            graph.remove_edge(node, b, kb)
            graph.remove_node(node)
            graph.add_edge(a, b, coords=coords, start=a,
                           len=da['len'] + db['len'],
                           dist_sum=da['dist_sum'] + db['dist_sum'],
                           n_px=da['n_px'] + db['n_px'],
                           gap_px=da['gap_px'] + db['gap_px'])
            changed = True


def _prune_spurs(graph: nx.MultiGraph, min_px: float, ratio: float) -> None:
    """Remove dead-end branches that barely leave their junction, repeatedly.

    A branch's reach is how far its end gets beyond the road's half width at
    the junction: ``length + r_end - r_junction`` (``r`` the distance to the
    nearest non-road pixel). The branches that thinning grows towards the
    corners of a wide road reach about ``0.4 r_junction``; a real road that
    ends (at a dead end or a break of the mask) reaches its whole length.
    """
    while True:
        spurs = []
        loops = []
        for u, v, k, data in graph.edges(keys=True, data=True):
            if u == v:
                # A loop shorter than two road widths encloses nothing: a
                # ring around a speck the hole filling left.
                if graph.degree(u) > 2 and data['len'] < max(
                        min_px, 4 * ratio * graph.nodes[u]['radius_px']):
                    loops.append((u, k))
                continue
            for end, junction in ((u, v), (v, u)):
                if graph.degree(end) == 1 and graph.degree(junction) >= 3:
                    r_j = graph.nodes[junction]['radius_px']
                    reach = data['len'] + \
                        graph.nodes[end]['radius_px'] - r_j
                    if reach < max(min_px, ratio * r_j):
                        spurs.append((end, junction, k, reach))
                    break
        for u, k in loops:
            graph.remove_edge(u, u, k)
        if not spurs:
            if loops:
                _dissolve_degree_two(graph)
                continue
            return
        # At one junction, never remove more than all but one edge per
        # round, so a junction whose branches are all short keeps one.
        by_junction: Dict[int, list] = {}
        for end, junction, k, reach in spurs:
            by_junction.setdefault(junction, []).append((reach, end, k))
        for junction, items in by_junction.items():
            items.sort()
            room = graph.degree(junction) - 1
            for _, end, k in items[:room]:
                graph.remove_edge(end, junction, k)
                graph.remove_node(end)
        _dissolve_degree_two(graph)


def _heading(graph: nx.MultiGraph, end: int, back_px: float) -> np.ndarray:
    """Unit vector pointing out of a dead end along its edge."""
    (_, _, data), = graph.edges(end, data=True)
    coords = _oriented(data, end)
    line = LineString(coords)
    ref = line.interpolate(min(back_px, line.length))
    vec = coords[0] - np.array([ref.x, ref.y])
    norm = float(np.hypot(*vec))
    return vec / norm if norm > 0 else vec


def _angle_ok(direction: np.ndarray, vec: np.ndarray, max_deg: float) -> bool:
    norm = float(np.hypot(*vec))
    if norm == 0 or not direction.any():
        return True
    cos = float(direction @ vec) / norm
    return cos >= np.cos(np.radians(max_deg)) - 1e-12


def _off_road(a: np.ndarray, b: np.ndarray, binary: '_RoadRuns') -> float:
    """Length of the segment ``a``-``b`` that runs over non-road pixels."""
    length = float(np.hypot(*(b - a)))
    n = max(int(np.ceil(length * 4)), 1)
    t = (np.arange(n) + 0.5) / n
    pts = a[None] + t[:, None] * (b - a)[None]
    h, w = binary.shape
    c = np.clip(np.floor(pts[:, 0]).astype(int), 0, w - 1)
    r = np.clip(np.floor(pts[:, 1]).astype(int), 0, h - 1)
    return length * float((~binary[r, c]).mean())


def _join_gaps(graph: nx.MultiGraph, max_px: float, max_deg: float,
               binary: '_RoadRuns') -> None:
    """Join dead ends across breaks of the mask (see the module notes)."""
    ends = [n for n in graph.nodes if graph.degree(n) == 1]
    if not ends or max_px <= 0:
        return
    xy = {n: np.array([graph.nodes[n]['x'], graph.nodes[n]['y']])
          for n in graph.nodes}
    heading = {e: _heading(graph, e, 10.0) for e in ends}

    def far_in_graph(a: int, targets: Sequence[int], gap: float) -> bool:
        reach = nx.single_source_dijkstra_path_length(
            graph, a, cutoff=3 * gap, weight=lambda u, v, d: min(
                x['len'] for x in d.values()))
        return not any(t in reach for t in targets)

    # Dead end to dead end, facing each other.
    pairs = []
    end_xy = np.array([xy[e] for e in ends])
    radius = np.array([graph.nodes[e]['radius_px'] for e in ends])
    # Candidates from a k-d tree (a scene has tens of thousands of dead
    # ends: all pairs would be quadratic), then the exact test per pair.
    search = (max_px + 2 * float(radius.max())) * (1 + 1e-9) + 1e-9
    close = cKDTree(end_xy).query_pairs(search, output_type='ndarray')
    close.sort(axis=1)
    close = close[np.lexsort((close[:, 1], close[:, 0]))]
    ii, jj = close[:, 0], close[:, 1]
    d = np.hypot(end_xy[jj, 0] - end_xy[ii, 0], end_xy[jj, 1] - end_xy[ii, 1])
    within = d <= max_px + radius[ii] + radius[jj]
    for i, j, dist in zip(ii[within].tolist(), jj[within].tolist(),
                          d[within].tolist()):
        a, b = ends[i], ends[j]
        vec = xy[b] - xy[a]
        if _angle_ok(heading[a], vec, max_deg) and \
                _angle_ok(heading[b], -vec, max_deg):
            off = _off_road(xy[a], xy[b], binary)
            if off <= max_px:
                pairs.append((off, dist, a, b))
    used = set()
    for off, gap, a, b in sorted(pairs):
        if a in used or b in used or not far_in_graph(a, [b], gap):
            continue
        used.update((a, b))
        _add_gap_edge(graph, a, b, off)

    # Dead end to the side of another road.
    edges = [(u, v, k) for u, v, k in graph.edges(keys=True)]
    if not edges:
        return
    lines = [LineString(graph.edges[e]['coords']) for e in edges]
    tree = STRtree(lines)
    joins: Dict[tuple, list] = {}
    half = [graph.edges[e]['dist_sum'] / max(graph.edges[e]['n_px'], 1)
            for e in edges]
    widest = max(half)
    active = [a for a in ends if a not in used]
    if not active:
        return
    # The nearest point of every candidate edge to every dead end, in a few
    # vectorized GEOS calls (a scene has hundreds of thousands of such
    # pairs); then the exact tests, pair by pair in the order the tree
    # gives them, on those within reach.
    active_xy = np.array([xy[a] for a in active])
    end_pts = shapely.points(active_xy)
    r_end = np.array([graph.nodes[a]['radius_px'] for a in active])
    which, cand = tree.query(shapely.buffer(end_pts, max_px + r_end + widest,
                                            quad_segs=16))
    ids = np.asarray(active)[which]
    own = np.array([(u, v) for u, v, _ in edges])[cand]
    mine = (own[:, 0] != ids) & (own[:, 1] != ids)
    which, cand = which[mine], cand[mine]
    line_arr = np.array(lines, dtype=object)[cand]
    at = shapely.line_locate_point(line_arr, end_pts[which])
    near = shapely.get_coordinates(shapely.line_interpolate_point(line_arr,
                                                                  at))
    del line_arr
    vec = near - active_xy[which]
    gap = np.hypot(vec[:, 0], vec[:, 1])
    reach = max_px + r_end[which] + np.asarray(half)[cand]
    best: Dict[int, tuple] = {}
    for n in np.flatnonzero(gap <= reach).tolist():
        a, i = active[which[n]], int(cand[n])
        if not _angle_ok(heading[a], vec[n], max_deg):
            continue
        off = _off_road(xy[a], near[n], binary)
        if off <= max_px and (a not in best or off < best[a][0]):
            best[a] = (off, edges[i], float(at[n]), float(gap[n]))
    for a in active:
        if a in best and far_in_graph(a, best[a][1][:2], best[a][3]):
            off, edge, at_a, _ = best[a]
            joins.setdefault(edge, []).append((at_a, a, off))
    next_id = max(graph.nodes) + 1  # new nodes are numbered on from here
    for (u, v, k), items in joins.items():
        next_id = _split_and_join(graph, u, v, k, items, next_id)


def _add_gap_edge(graph: nx.MultiGraph, a: int, b: int, off: float) -> None:
    coords = np.array([[graph.nodes[a]['x'], graph.nodes[a]['y']],
                       [graph.nodes[b]['x'], graph.nodes[b]['y']]])
    # The gap takes the width of the roads it joins.
    widths = [d['dist_sum'] / max(d['n_px'], 1)
              for n in (a, b) for _, _, d in graph.edges(n, data=True)]
    graph.add_edge(a, b, coords=coords, start=a,
                   len=_edge_len(coords),
                   dist_sum=float(np.mean(widths)) if widths else 1.0,
                   n_px=1, gap_px=off)


def _split_and_join(graph: nx.MultiGraph, u: int, v: int, k: int,
                    items: List[Tuple[float, int, float]],
                    next_id: int) -> int:
    """Cut edge ``(u, v, k)`` where dead ends join its side and add the gap
    edges; new nodes are numbered from ``next_id``. Returns the next free
    node number."""
    data = graph.edges[u, v, k]
    line = LineString(data['coords'])
    start = data['start']
    other = v if start == u else u
    mean = data['dist_sum'] / max(data['n_px'], 1)
    total = line.length
    graph.remove_edge(u, v, k)
    cuts = sorted(items)
    prev_node, prev_at = start, 0.0
    for at, end, off in cuts:
        if at <= 0 or at >= total:
            node = start if at <= 0 else other
        else:
            node = next_id
            next_id += 1
            p = line.interpolate(at)
            graph.add_node(node, x=p.x, y=p.y, radius_px=mean)
        if node != prev_node or at > prev_at:
            piece = np.asarray(substring(line, prev_at, at).coords)
            if len(piece) >= 2 and node != prev_node:
                graph.add_edge(prev_node, node, coords=piece,
                               start=prev_node, len=_edge_len(piece),
                               dist_sum=mean, n_px=1, gap_px=0.0)
        prev_node, prev_at = node, at
        _add_gap_edge(graph, end, node, off)
    piece = np.asarray(substring(line, prev_at, total).coords)
    if len(piece) >= 2:
        graph.add_edge(prev_node, other, coords=piece, start=prev_node,
                       len=_edge_len(piece), dist_sum=mean, n_px=1,
                       gap_px=0.0)
    return next_id



# --------------------------------------------------------------------------
# Mask -> skeleton, band by band
# --------------------------------------------------------------------------
class _RoadRuns:
    """The (hole-filled) road mask of a scene as runs of road pixels.

    Gap joining asks whether points between dead ends are road; the runs
    answer that without a scene-sized array: memory grows with the length
    of the roads' outlines, not with the scene.
    """

    def __init__(self, starts: np.ndarray, ends: np.ndarray,
                 shape: Tuple[int, int]) -> None:
        self.starts = starts        # linear index of each run's first pixel
        self.ends = ends            # ... one past its last pixel
        self.shape = shape

    @staticmethod
    def of_rows(binary: np.ndarray, y0: int, x0: int,
                width: int) -> Tuple[np.ndarray, np.ndarray]:
        """Runs of ``binary``, the pixels from row ``y0``, column ``x0`` of
        a scene ``width`` pixels wide (a run cut by the edge of ``binary``
        becomes two, which answer alike)."""
        n, w = binary.shape
        padded = np.zeros((n, w + 1), dtype=np.int8)
        padded[:, 1:] = binary
        # +1 where a run starts, -1 one past where it ends; the extra
        # column closes the runs that reach the row's end.
        change = np.zeros((n, w + 1), dtype=np.int8)
        np.subtract(padded[:, 1:], padded[:, :-1], out=change[:, :-1])
        change[:, -1] = -padded[:, -1]
        flat = np.flatnonzero(change)
        row, col = np.divmod(flat, w + 1)
        lin = (row + y0) * width + (col + x0)
        first = change.ravel()[flat] > 0
        return lin[first], lin[~first]

    def __getitem__(self, index: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        r, c = index
        q = np.asarray(r, dtype=np.int64) * self.shape[1] + c
        k = np.searchsorted(self.starts, q, side='right') - 1
        return (k >= 0) & (q < self.ends[np.maximum(k, 0)])


def _tile_fill_measure(binary: np.ndarray, holes: int,
                   scene_edges: Tuple[bool, bool, bool, bool]
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill and measure one tile (with its context).

    Args:
        binary (np.ndarray): The tile's road mask.
        holes (int): Holes of fewer pixels are filled.
        scene_edges (tuple[bool, ...]): Whether the tile's top, bottom,
            left and right edges are the scene's.

    Returns:
        tuple: The filled mask and the distance to the nearest non-road
        pixel (float32).
    """
    if holes > 0:
        # 4-connected holes: the thinning keeps the road 8-connected, so a
        # non-road pixel touching the outside only at a corner is a hole to
        # it, and the centre line would loop around it. A hole cut by the
        # tile's edge is not filled, rightly so for the core pixels when the
        # context is at least ``holes`` pixels: a hole that reaches from the
        # core to the tile's edge has more pixels.
        binary = binary | _small_holes(binary, holes, connectivity=4)
    # Distance to the nearest non-road pixel: OpenCV's 5x5 chamfer
    # approximation of the Euclidean distance (exact along rows and columns,
    # within 2 % otherwise), twenty times faster than exact. Outside the
    # scene counts as non-road, so that the branches that thinning grows
    # into the two corners where a road leaves the scene are pruned like
    # any corner branch; beyond a tile's edge inside the scene OpenCV sees
    # no boundary (road), so core pixels whose nearest non-road pixel lies
    # in the tile get exact values.
    top, bottom, left, right = (int(e) for e in scene_edges)
    h, w = binary.shape
    dist = cv2.distanceTransform(
        np.pad(binary.view(np.uint8), ((top, bottom), (left, right))),
        cv2.DIST_L2, cv2.DIST_MASK_5)[top:top + h, left:left + w]
    return binary, dist


def _band_skeleton(read: Callable[[int, int], np.ndarray],
                   shape: Tuple[int, int], y0: int, y1: int, block: int,
                   holes: int, halo: int, max_halo: int,
                   short: list) -> Tuple[np.ndarray, ...]:
    """Skeleton pixels, distances and road runs of the rows ``y0:y1``.

    The rows are read with ``halo`` rows of context above and below (fewer
    at the scene's top and bottom) and processed in tiles of ``block``
    columns with ``halo`` columns of context on each side; the context
    grows while the widest road surface in a tile needs more (see
    :func:`mask_rows_to_network`); tiles that need more than ``max_halo``
    are appended to ``short`` as ``(y0, y1, x0, x1, need)``.

    Returns:
        tuple: Sorted linear indices of the skeleton pixels in the rows,
        their distances to the road's edge (float32), the label ``0..n-1``
        of the piece of a tile's centre lines each belongs to and ``n``,
        the starts and ends of the road runs of the (hole-filled) rows, and
        the context used.
    """
    h, w = shape
    while True:
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        band = read(a, b)
        lins, dists, runs, labels = [], [], [], []
        n_labels = 0
        grow = 0
        for x0 in range(0, w, block):
            x1 = min(w, x0 + block)
            left, right = max(0, x0 - halo), min(w, x1 + halo)
            edges = (a == 0, b == h, left == 0, right == w)
            binary, dist = _tile_fill_measure(band[:, left:right], holes,
                                              edges)
            if not all(edges):
                # Thinning peels about two layers per iteration: what the
                # core sees of the tile's cut edges is ``3 * widest half
                # width`` pixels away, the hole filling ``holes`` pixels.
                need = holes + 3 * int(np.ceil(dist.max(initial=0))) + 16
                if halo < need:
                    if halo < max_halo:
                        grow = need
                        break
                    short.append((y0, y1, x0, x1, need))
            # Thinned only once the context is known to be enough.
            skel = skeletonize(binary)
            core = (slice(y0 - a, y1 - a), slice(x0 - left, x1 - left))
            runs.append(_RoadRuns.of_rows(binary[core], y0, x0, w))
            # Connected pieces of the tile's centre lines; pieces of
            # neighbouring tiles that touch are joined at the end.
            n_lab, lab = cv2.connectedComponents(
                np.ascontiguousarray(skel[core], dtype=np.uint8),
                connectivity=8, ltype=cv2.CV_32S)
            rr, cc = np.nonzero(lab)
            lins.append((rr + y0).astype(np.int64) * w + (cc + x0))
            dists.append(dist[core][rr, cc])
            labels.append(lab[rr, cc] + (n_labels - 1))
            n_labels += n_lab - 1
            del binary, dist, skel, lab
        else:
            lin = np.concatenate(lins)
            order = np.argsort(lin, kind='stable')
            starts = np.concatenate([r[0] for r in runs])
            ends = np.concatenate([r[1] for r in runs])
            by_start = np.argsort(starts)
            return (lin[order], np.concatenate(dists)[order],
                    np.concatenate(labels)[order], n_labels,
                    starts[by_start], ends[by_start], halo)
        halo = min(max(grow, halo + halo // 4), max_halo)


def _check(name: str, value, ok: bool) -> None:
    if not ok:
        raise ValueError(f'{name}, got {value!r}')


def _build_network(read: Callable[[int, int], np.ndarray],
                   shape: Tuple[int, int], block: int, halo: int,
                   max_halo: int, pixel_size: PixelSize,
                   spur_length_m: float, spur_ratio: float, max_gap_m: float,
                   gap_angle: float, min_length_m: float,
                   hole_area_m2: float, simplify_px: float,
                   caller: str) -> nx.MultiGraph:
    """The one implementation behind both public builders."""
    sx, sy = _pixel_size(pixel_size)
    for name, value in (('spur_length_m', spur_length_m),
                        ('spur_ratio', spur_ratio), ('max_gap_m', max_gap_m),
                        ('min_length_m', min_length_m),
                        ('hole_area_m2', hole_area_m2),
                        ('simplify_px', simplify_px)):
        _check(f'{caller}: {name} must be >= 0', value, value >= 0)
    _check(f'{caller}: gap_angle must be in [0, 180]', gap_angle,
           0 <= gap_angle <= 180)
    for name, value in (('block', block), ('halo', halo),
                        ('max_halo', max_halo)):
        _check(f'{caller}: {name} must be a positive integer', value,
               isinstance(value, (int, np.integer)) and value > 0)
    px = float(np.sqrt(sx * sy))
    h, w = shape
    holes = int(np.ceil(hole_area_m2 / (sx * sy)))
    lins, dists, starts, ends, labels = [], [], [], [], []
    n_labels = 0
    short: List[tuple] = []
    for y0 in range(0, h, block):
        # A band starts with the context the previous one grew to: roads
        # are about as wide further down the scene.
        lin, dist, lab, n_lab, s, e, halo = _band_skeleton(
            read, shape, y0, min(h, y0 + block), block, holes, halo,
            max(halo, max_halo), short)
        lins.append(lin)
        dists.append(dist)
        labels.append(lab + n_labels)
        n_labels += n_lab
        starts.append(s)
        ends.append(e)
    if short:
        y0, y1, x0, x1, need = short[0]
        warnings.warn(
            f'{caller}: {len(short)} tile(s) (the first at rows {y0}-{y1}, '
            f'columns {x0}-{x1}) hold road surfaces so wide that they need '
            f'{max(t[4] for t in short)} pixels of context, more than '
            f'max_halo={max(halo, max_halo)}; the network there may differ '
            'from that of the whole mask')
    lin = np.concatenate(lins) if lins else np.zeros(0, np.int64)
    dist = np.concatenate(dists) if dists else np.zeros(0, np.float32)
    del lins, dists
    runs = _RoadRuns(np.concatenate(starts) if starts else
                     np.zeros(0, np.int64),
                     np.concatenate(ends) if ends else np.zeros(0, np.int64),
                     shape)
    del starts, ends
    # The connected pieces of the skeleton are turned into graphs and
    # pruned a batch at a time (the steps never reach across pieces), so
    # that the raw graph, with every short branch of a rough outline,
    # exists for a batch of pieces (or one big piece) at a time.
    graph = nx.MultiGraph()
    label, n_pieces = _pieces(lin, np.concatenate(labels) if labels else
                              np.zeros(0, np.int32), n_labels, shape, block)
    del labels
    order = np.argsort(label, kind='stable')
    bounds = np.r_[0, np.cumsum(np.bincount(label)[1:])].tolist()
    del label
    first = 0
    for i in range(n_pieces):
        if bounds[i + 1] - bounds[first] < _BATCH_PX and i + 1 < n_pieces:
            continue
        idx = np.sort(order[bounds[first]:bounds[i + 1]])
        first = i + 1
        piece = _skeleton_graph(lin[idx], dist[idx], shape)
        _dissolve_degree_two(piece)
        _prune_spurs(piece, spur_length_m / px, spur_ratio)
        graph.update(piece)
    del lin, dist, order
    if graph.number_of_nodes():
        _join_gaps(graph, max_gap_m / px, gap_angle, runs)
        _dissolve_degree_two(graph)
        if min_length_m > 0:
            comp_of = {}
            comps = list(nx.connected_components(graph))
            for i, comp in enumerate(comps):
                comp_of.update(dict.fromkeys(comp, i))
            total = np.zeros(len(comps))
            for u, _, d in graph.edges(data=True):
                total[comp_of[u]] += d['len']
            for i in np.flatnonzero(total * px < min_length_m).tolist():
                graph.remove_nodes_from(comps[i])
    graph.graph.update(pixel_size=(sx, sy), shape=tuple(shape))
    for node in graph.nodes:
        degree = graph.degree(node)
        attrs = graph.nodes[node]
        attrs['kind'] = ('end' if degree == 1 else 'loop' if
                         degree == 2 else 'junction')
        attrs.pop('radius_px', None)
    for u, v, k, data in graph.edges(keys=True, data=True):
        coords = data.pop('coords')
        data.pop('len')
        line = LineString(coords)
        if simplify_px > 0 and len(coords) > 2:
            line = line.simplify(simplify_px, preserve_topology=False)
        width = max(2 * data.pop('dist_sum') / max(data.pop('n_px'), 1) - 1,
                    1.0)
        data.update(geometry=line,
                    length_px=float(line.length),
                    length_m=line_length_m(np.asarray(line.coords),
                                           (sx, sy)),
                    width_px=float(width),
                    width_m=float(width * px))
    return graph


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
_DEFAULT_BLOCK = 1024
_DEFAULT_HALO = 96
_MAX_HALO = 512
# The parameters both builders share, written once into both docstrings.
_NETWORK_ARGS = """pixel_size (float | tuple[float, float]): Metres per
            pixel, one value or ``(x, y)``. Defaults to 0.55 (KOMPSAT-3A
            pan-sharpened).
        spur_length_m (float): Dead-end branches that reach less than this
            beyond their junction's road surface are removed. Defaults to 3.0.
        spur_ratio (float): ... and so are those that reach less than this
            many half widths of the road at the junction. Defaults to 1.0.
        max_gap_m (float): Longest stretch of non-road pixels that a join
            may cross; 0 disables joining. Defaults to 10.0.
        gap_angle (float): Largest angle in degrees between a dead end's
            heading and the direction of a join. Defaults to 45.
        min_length_m (float): Connected pieces of the network shorter than
            this in total are dropped. Defaults to 5.0.
        hole_area_m2 (float): Holes of the mask smaller than this are filled
            first (a speck of non-road inside a road would become a loop of
            the centre line). Defaults to 10.0.
        simplify_px (float): Douglas-Peucker tolerance of the edge
            geometries in pixels (lengths are measured after it, which takes
            out the staircase of pixel chains); 0 keeps every pixel.
            Defaults to 1.0."""


def mask_to_network(mask: np.ndarray,
                    pixel_size: PixelSize = 0.55,
                    spur_length_m: float = 3.0,
                    spur_ratio: float = 1.0,
                    max_gap_m: float = 10.0,
                    gap_angle: float = 45.0,
                    min_length_m: float = 5.0,
                    hole_area_m2: float = 10.0,
                    simplify_px: float = 1.0,
                    block: Optional[int] = None) -> nx.MultiGraph:
    """Build the road network of a road mask.

    See the module notes for the steps and the attributes of the graph.
    This is :func:`mask_rows_to_network` reading the rows of an array in
    memory; by default the whole mask is one band.

    Args:
        mask (np.ndarray): ``(H, W)`` boolean road mask (or anything whose
            non-zero pixels are road).
        {args}
        block (int, optional): Process the mask in tiles of this many rows
            and columns (the same network, less scratch memory: see
            :func:`mask_rows_to_network`). Defaults to None (one tile).

    Returns:
        networkx.MultiGraph: The network; ``graph.graph`` holds
        ``pixel_size`` and ``shape``.

    Raises:
        ValueError: When the mask is not 2-D or a parameter is out of range.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(
            f'mask_to_network: mask must be 2-D, got shape {mask.shape}')
    h, w = mask.shape
    return _build_network(
        lambda a, b: mask[a:b] != 0, (h, w),
        block if block is not None else max(h, w, 1), _DEFAULT_HALO,
        _MAX_HALO, pixel_size, spur_length_m, spur_ratio, max_gap_m,
        gap_angle, min_length_m, hole_area_m2, simplify_px,
        'mask_to_network')


if mask_to_network.__doc__:  # None under python -OO
    mask_to_network.__doc__ = mask_to_network.__doc__.replace(
        '{args}', _NETWORK_ARGS)


def mask_rows_to_network(read_rows: Callable[[int, int], np.ndarray],
                         height: int,
                         width: int,
                         road_class: Optional[int] = None,
                         *,
                         block: int = _DEFAULT_BLOCK,
                         halo: int = _DEFAULT_HALO,
                         max_halo: int = _MAX_HALO,
                         pixel_size: PixelSize = 0.55,
                         spur_length_m: float = 3.0,
                         spur_ratio: float = 1.0,
                         max_gap_m: float = 10.0,
                         gap_angle: float = 45.0,
                         min_length_m: float = 5.0,
                         hole_area_m2: float = 10.0,
                         simplify_px: float = 1.0) -> nx.MultiGraph:
    """Build the road network of a scene's mask read band by band.

    The scene is never held whole: rows ``y0:y0 + block`` are read with
    ``halo`` rows of context above and below, and processed in tiles of
    ``block`` columns with ``halo`` columns of context on each side:
    filled, measured (distance to the road's edge) and thinned; only the
    centre-line pixels of the tile's own pixels are kept, sparsely, with
    the runs of road pixels of each row. The centre lines of the whole
    scene are then cut into connected pieces, each turned into a graph and
    pruned (a batch of small pieces at a time), and gap joining runs on the
    pruned network (asking the runs whether a pixel is road). So the
    network has no seams: it is the one :func:`mask_to_network` builds
    from the whole mask, node for node and edge for edge, whenever every
    tile's context covers its widest road surface. The context grows by
    itself for that: a tile whose widest road is ``2 r`` pixels wide gets
    at least ``holes + 3 r + 16`` pixels of context (``holes`` the pixels
    of ``hole_area_m2``), up to ``max_halo`` (beyond, a warning says the
    network there may differ): the band is read again with that context,
    or a quarter more, and the next bands start from it.

    Memory: the band's rows with their context (2 bytes per pixel), about
    30 bytes per pixel of the one tile with its context being processed,
    and what grows with the roads, not with the scene: 12 bytes per
    centre-line pixel, 16 per run of road in a row, the raw graph of the
    largest connected piece of centre lines (about 250 bytes per
    centre-line pixel: a road network connected across the whole scene
    is one piece), and the network.

    Args:
        read_rows (Callable[[int, int], np.ndarray]): ``read_rows(y0, y1)``
            returns rows ``y0:y1`` of the scene's mask, shape
            ``(y1 - y0, width)``: class ids, or booleans / anything whose
            non-zero pixels are road when ``road_class`` is None. Rows may
            be asked for more than once (the context of two bands).
        height (int): Rows of the scene.
        width (int): Columns of the scene.
        road_class (int, optional): The road class id of the mask; None
            takes every non-zero pixel as road. Defaults to None.
        block (int): Rows per band and columns per tile. Defaults to 1024.
        halo (int): Rows (columns) of context around a band (tile) at
            first. Defaults to 96.
        max_halo (int): The most context a band may grow to. Defaults to
            512.
        {args}

    Returns:
        networkx.MultiGraph: The network (see the module notes), in pixel
        coordinates of the scene; ``graph.graph`` holds ``pixel_size`` and
        ``shape``.

    Raises:
        ValueError: When a size or parameter is out of range, or
            ``read_rows`` returns rows of the wrong shape.
    """
    for name, value in (('height', height), ('width', width)):
        _check(f'mask_rows_to_network: {name} must be a positive integer',
               value, isinstance(value, (int, np.integer)) and value > 0)

    def read(y0: int, y1: int) -> np.ndarray:
        rows = np.asarray(read_rows(y0, y1))
        if rows.shape != (y1 - y0, width):
            raise ValueError(
                f'mask_rows_to_network: read_rows({y0}, {y1}) returned shape '
                f'{rows.shape}, expected {(y1 - y0, width)}')
        return rows != 0 if road_class is None else rows == road_class

    return _build_network(read, (int(height), int(width)), block, halo,
                          max_halo, pixel_size, spur_length_m, spur_ratio,
                          max_gap_m, gap_angle, min_length_m, hole_area_m2,
                          simplify_px, 'mask_rows_to_network')


if mask_rows_to_network.__doc__:  # None under python -OO
    mask_rows_to_network.__doc__ = mask_rows_to_network.__doc__.replace(
        '{args}', _NETWORK_ARGS)


def network_length_m(graph: nx.MultiGraph) -> float:
    """Total length of a network's edges in metres.

    Args:
        graph (networkx.MultiGraph): A network of :func:`mask_to_network`.

    Returns:
        float: The sum of the edges' ``length_m``.
    """
    return float(sum(d['length_m'] for _, _, d in graph.edges(data=True)))


def network_lines(
    graph: nx.MultiGraph,
    transform: Optional[Callable[[np.ndarray], np.ndarray]] = None
) -> List[Tuple[LineString, dict]]:
    """The edges of a network as LineStrings with their measures.

    Args:
        graph (networkx.MultiGraph): A network of :func:`mask_to_network`.
        transform (Callable, optional): Maps ``(N, 2)`` pixel coordinates to
            ``(N, 2)`` output coordinates (e.g. a raster's pixel-to-CRS
            transform, or :meth:`mmseg_sia.geo.GeoTransform.pixel_to_lonlat`).
            Defaults to None (pixel coordinates).

    Returns:
        list[tuple[LineString, dict]]: One ``(line, properties)`` per edge;
        the properties are ``start_node``, ``end_node``, ``length_m``,
        ``width_m``, ``gap_m``, and ``start_kind`` / ``end_kind``.
    """
    out = []
    sx, sy = graph.graph.get('pixel_size', (1.0, 1.0))
    px = float(np.sqrt(sx * sy))
    edges = list(graph.edges(data=True))
    if not edges:
        return out
    # Every vertex mapped in one call and every line made in one GEOS call:
    # a scene's network has tens of thousands of edges, and a transform
    # call per edge (pyproj for lon/lat) cost more than the rest together.
    parts = [shapely.get_coordinates(data['geometry']) for _, _, data in edges]
    counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    coords = np.concatenate(parts)
    del parts
    if transform is not None:
        coords = np.asarray(transform(coords), dtype=np.float64)
    lines = shapely.linestrings(coords, indices=np.repeat(
        np.arange(len(edges)), counts)).tolist()
    del coords
    for line, (u, v, data) in zip(lines, edges):
        start = data['start']
        end = v if start == u else u
        out.append((line, dict(
            start_node=int(start), end_node=int(end),
            start_kind=graph.nodes[start]['kind'],
            end_kind=graph.nodes[end]['kind'],
            length_m=round(float(data['length_m']), 3),
            width_m=round(float(data['width_m']), 3),
            gap_m=round(float(data['gap_px']) * px, 3))))
    return out


def network_geojson(graph: nx.MultiGraph,
                    to_lonlat: Callable[[np.ndarray], np.ndarray],
                    decimals: int = 9) -> dict:
    """The network as a GeoJSON FeatureCollection of LineStrings (RFC 7946).

    Coordinates are lon/lat (EPSG:4326, longitude first); ``length_m`` is
    measured on the ellipsoid along the mapped line
    (:func:`mmseg_sia.geo.ring_length_m`), ``width_m`` and ``gap_m`` come
    from the pixel size of the network.

    Args:
        graph (networkx.MultiGraph): A network of :func:`mask_to_network`.
        to_lonlat (Callable): Maps ``(N, 2)`` pixel coordinates to lon/lat,
            e.g. :meth:`mmseg_sia.geo.GeoTransform.pixel_to_lonlat`.
        decimals (int): Decimals of the coordinates. Defaults to 9.

    Returns:
        dict: The FeatureCollection.
    """
    from .geo import ring_lengths_m
    features = []
    rows = network_lines(graph, to_lonlat)
    if not rows:
        return {'type': 'FeatureCollection', 'features': features}
    lonlat = shapely.get_coordinates([line for line, _ in rows])
    ends = np.cumsum(shapely.get_num_points([line for line, _ in rows]))
    # The geodesic lengths of all lines from one pyproj call, each the
    # float ring_length_m(line, closed=False) gives.
    lengths = ring_lengths_m(np.split(lonlat, ends[:-1]), closed=False)
    for (line, props), a, b, length in zip(rows, [0] + ends[:-1].tolist(),
                                           ends.tolist(), lengths):
        coords = np.round(lonlat[a:b], decimals)
        props = dict(props, length_m=round(length, 3))
        features.append({
            'type': 'Feature',
            'geometry': {'type': 'LineString',
                         'coordinates': coords.tolist()},
            'properties': dict(props, **{'class': 'road_centreline'})})
    return {'type': 'FeatureCollection', 'features': features}


def write_network_gpkg(path: str,
                       graph: nx.MultiGraph,
                       transform: Optional[Callable[[np.ndarray],
                                                    np.ndarray]] = None,
                       crs: Optional[str] = None,
                       layer: str = 'road_network',
                       overwrite: bool = False) -> None:
    """Write a network's edges as a LineString layer of a GeoPackage.

    The file is written under a temporary name in the same folder and
    renamed into place; an existing file is replaced only with
    ``overwrite``. A GIS opens the layer as a routable line network:
    ``start_node`` / ``end_node`` name the junctions each line joins.

    Args:
        path (str): The ``.gpkg`` file.
        graph (networkx.MultiGraph): A network of :func:`mask_to_network`.
        transform (Callable, optional): Pixel to CRS coordinates; None keeps
            pixel coordinates (then give no ``crs``).
        crs (str, optional): The CRS of the mapped coordinates (WKT or
            ``'EPSG:xxxx'``). Defaults to None.
        layer (str): Layer name. Defaults to 'road_network'.
        overwrite (bool): Replace an existing file. Defaults to False.

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
    """
    import pyogrio.raw

    from .fileio import atomic_output
    rows = network_lines(graph, transform)
    names = ['start_node', 'end_node', 'start_kind', 'end_kind', 'length_m',
             'width_m', 'gap_m']
    geometry = shapely.to_wkb([line for line, _ in rows])
    field_data = [np.array([props[n] for _, props in rows],
                           dtype=object if 'kind' in n else None)
                  for n in names]
    with atomic_output(path, overwrite) as tmp:
        pyogrio.raw.write(tmp, geometry, field_data, names, layer=layer,
                          driver='GPKG', geometry_type='LineString', crs=crs)
