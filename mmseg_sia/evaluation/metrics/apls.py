"""APLS: the Average Path Length Similarity of two road networks.

APLS is the road-network measure of the SpaceNet road challenges, defined by
A. Van Etten, D. Lindenbaum and T. M. Bacastow, "SpaceNet: A Remote Sensing
Dataset and Challenge Series", arXiv:1807.01232 (2018), with the reference
code in CosmiQ's ``apls`` package (``apls.py``: ``make_graphs``,
``path_sim_metric``, ``compute_apls_metric``). It compares shortest-path
lengths, so it measures what pixel scores cannot: whether the predicted
network gets you from A to B by a route of the right length. One missing
link that disconnects two halves of a town costs half of all routes, however
few pixels it is.

Definition (one direction, a *source* graph scored against a *target*):

1. **Control nodes.** Every node of the source (junctions, dead ends) and
   points inserted along its edges every ``node_spacing_m`` metres (an edge
   of length ``L >= 0.75 * node_spacing_m`` gets ``ceil(L / spacing) - 1``
   evenly spaced points, at least one; the reference's
   ``create_graph_midpoints``).
2. **Snapping.** Each control node is projected onto the nearest edge of the
   target; when it is at most ``snap_distance_m`` away, the target edge is
   split there and the new node stands for the control node. Farther control
   nodes have no counterpart.
3. **Routes.** For every ordered pair ``(a, b)`` of control nodes joined in
   the source by a shortest path of length ``L >= min_path_length_m``, the
   difference ``d = min(1, |L - L'| / L)``, where ``L'`` is the shortest path
   between their counterparts in the target; ``d = 1`` when either has no
   counterpart or the target has no path between them.
4. The direction's score is ``1 - mean(d)`` over its routes.

APLS is the harmonic mean of the two directions (ground truth snapped onto
the prediction, which penalises missing roads and breaks; prediction snapped
onto the ground truth, which penalises spurious roads and false shortcuts),
and 0 when either direction is 0. Two networks without any route score 1
(nothing to find, nothing claimed); when only one of them has routes, the
direction without routes scores 0, as in the reference.

Differences from the reference code, all in corner cases: routes from a
control node without a counterpart count only when at least
``min_path_length_m`` long, like every other route (the reference counts
them whatever their length); and a control node that projects onto an
existing target node uses that node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from ...labels import polygon_coverage
from ._common import (check_gt_source, check_same_shape, label_polygons,
                      resolve_class, sample_maps)

# networkx, shapely and the road-network code load on first use, so that
# registering the metric (``import mmseg_sia``) stays cheap.
nx = STRtree = LineString = Point = mask_to_network = None


def _load() -> None:
    global nx, STRtree, LineString, Point, mask_to_network
    if nx is None:
        import networkx
        from shapely import STRtree as tree
        from shapely.geometry import LineString as line
        from shapely.geometry import Point as point

        from ...roads import mask_to_network as to_network
        STRtree, LineString, Point = tree, line, point
        mask_to_network = to_network
        nx = networkx

__all__ = ['APLSMetric', 'APLSResult', 'apls_score']


@dataclass
class APLSResult:
    """APLS of one pair of networks, scores in [0, 1].

    Attributes:
        apls (float): The symmetric score (harmonic mean of the two).
        gt_onto_pred (float): Ground-truth control nodes snapped onto the
            prediction (penalises missing roads and breaks).
        pred_onto_gt (float): Predicted control nodes snapped onto the
            ground truth (penalises spurious roads).
        gt_routes (int): Number of routes scored in the first direction.
        pred_routes (int): Number of routes scored in the second.
    """
    apls: float
    gt_onto_pred: float
    pred_onto_gt: float
    gt_routes: int
    pred_routes: int


def _metric_lines(graph: nx.Graph) -> Tuple[list, Dict]:
    """Edges ``(u, v, LineString from u to v in metres, length)``, nodes."""
    sx, sy = graph.graph.get('pixel_size', (1.0, 1.0))
    nodes = {n: (float(d['x']) * sx, float(d['y']) * sy)
             for n, d in graph.nodes(data=True)}
    edges = []
    for u, v, data in graph.edges(data=True):
        geom = data.get('geometry')
        if geom is None:
            coords = np.array([nodes[u], nodes[v]])
        else:
            coords = np.asarray(geom.coords, dtype=np.float64) * (sx, sy)
            start = data.get('start', u)
            if start != u:
                coords = coords[::-1]
        line = LineString(coords)
        edges.append((u, v, line, float(line.length)))
    return edges, nodes


def _with_control_nodes(edges: list, nodes: Dict,
                        spacing: Optional[float]) -> Tuple[nx.Graph, Dict]:
    """Graph of tagged nodes ``('n', id)`` / ``('m', i)`` with midpoints."""
    graph = nx.Graph()
    pos = {}
    for n, xy in nodes.items():
        graph.add_node(('n', n))
        pos[('n', n)] = xy
    count = 0
    for u, v, line, length in edges:
        cuts: List[float] = []
        if spacing and length >= 0.75 * spacing:
            if length <= spacing:
                cuts = [0.5 * length]
            else:
                npoints = len(np.arange(0, length, spacing)) + 1
                cuts = list(np.linspace(0, length, npoints)[1:-1])
        chain = [('n', u)]
        for at in cuts:
            mid = ('m', count)
            count += 1
            p = line.interpolate(at)
            pos[mid] = (p.x, p.y)
            chain.append(mid)
        chain.append(('n', v))
        marks = [0.0, *cuts, length]
        for a, b, s, e in zip(chain[:-1], chain[1:], marks[:-1], marks[1:]):
            _add_shortest(graph, a, b, e - s)
    return graph, pos


def _add_shortest(graph: nx.Graph, a, b, length: float) -> None:
    if a == b:
        return  # a loop never shortens a path
    if graph.has_edge(a, b) and graph.edges[a, b]['length'] <= length:
        return
    graph.add_edge(a, b, length=length)


def _snap(points: Dict, edges: list, nodes: Dict,
          snap: float) -> Tuple[nx.Graph, Dict]:
    """Target graph with the points inserted; point -> target node."""
    graph = nx.Graph()
    graph.add_nodes_from(('n', n) for n in nodes)
    where: Dict = {}
    splits: Dict[int, list] = {}
    if edges:
        lines = [e[2] for e in edges]
        tree = STRtree(lines)
        keys = list(points)
        geoms = [Point(points[k]) for k in keys]
        idx, dist = tree.query_nearest(geoms, max_distance=snap,
                                       return_distance=True, all_matches=False)
        for (pi, ei), d in zip(idx.T.tolist(), dist.tolist()):
            if d <= snap:
                at = lines[ei].project(geoms[pi])
                splits.setdefault(ei, []).append((at, keys[pi]))
    for ei, (u, v, line, length) in enumerate(edges):
        chain = [('n', u)]
        marks = [0.0]
        for at, key in sorted(splits.get(ei, [])):
            if at <= 1e-9:
                where[key] = ('n', u)
                continue
            if at >= length - 1e-9:
                where[key] = ('n', v)
                continue
            if at - marks[-1] <= 1e-9 and chain[-1][0] == 's':
                where[key] = chain[-1]
                continue
            node = ('s', ei, len(chain))
            chain.append(node)
            marks.append(at)
            where[key] = node
        chain.append(('n', v))
        marks.append(length)
        for a, b, s, e in zip(chain[:-1], chain[1:], marks[:-1], marks[1:]):
            _add_shortest(graph, a, b, e - s)
    return graph, where


def _direction(source: nx.Graph, controls: Sequence, target: nx.Graph,
               where: Dict, min_len: float) -> List[float]:
    """Route differences of one direction."""
    diffs: List[float] = []
    control_set = set(controls)
    for a in controls:
        lengths = nx.single_source_dijkstra_path_length(
            source, a, weight='length')
        routes = [(b, lengths[b]) for b in lengths
                  if b != a and b in control_set and lengths[b] >= min_len]
        if not routes:
            continue
        if a not in where:
            diffs.extend([1.0] * len(routes))
            continue
        found = nx.single_source_dijkstra_path_length(
            target, where[a], weight='length')
        for b, length in routes:
            other = found.get(where[b]) if b in where else None
            if other is None:
                diffs.append(1.0)
            else:
                diffs.append(min(1.0, abs(length - other) / length))
    return diffs


def check_apls_parameters(snap_distance_m: float,
                          node_spacing_m: Optional[float],
                          min_path_length_m: float,
                          who: str = 'apls_score') -> None:
    """Raise unless the APLS distances are usable (see :func:`apls_score`).

    Raises:
        ValueError: When a distance is negative or not finite, or the node
            spacing is 0; the message starts with ``who``.
    """
    for name, value in (('snap_distance_m', snap_distance_m),
                        ('min_path_length_m', min_path_length_m),
                        ('node_spacing_m', node_spacing_m or 1.0)):
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f'{who}: {name} must be a finite number '
                             f'>= 0, got {value!r}')
    if node_spacing_m is not None and node_spacing_m <= 0:
        raise ValueError(f'{who}: node_spacing_m must be > 0 or None, '
                         f'got {node_spacing_m!r}')


def apls_score(gt: nx.Graph,
               pred: nx.Graph,
               snap_distance_m: float = 4.0,
               node_spacing_m: Optional[float] = 50.0,
               min_path_length_m: float = 10.0) -> APLSResult:
    """APLS between a ground-truth and a predicted road network.

    Graphs are those of :func:`mmseg_sia.roads.mask_to_network` (node ``x``,
    ``y`` in pixels, ``graph.graph['pixel_size']`` in metres per pixel, edge
    ``geometry``), or any networkx graph whose nodes have ``x``, ``y`` in
    metres (without ``pixel_size``) and whose edges optionally have a
    ``geometry`` (straight between the nodes otherwise).

    Args:
        gt (networkx.Graph): Ground-truth network.
        pred (networkx.Graph): Predicted network.
        snap_distance_m (float): Farthest a control node is snapped onto the
            other network. Defaults to 4 (the reference's ``max_snap_dist``).
        node_spacing_m (float, optional): Spacing of the control nodes
            inserted along edges (path sampling); None inserts none.
            Defaults to 50 (the reference's ``linestring_delta``).
        min_path_length_m (float): Shorter routes are not scored. Defaults
            to 10 (the reference's ``min_path_length``).

    Returns:
        APLSResult: The score and its two directions, in [0, 1].

    Raises:
        ValueError: When a distance is negative or not finite.
    """
    check_apls_parameters(snap_distance_m, node_spacing_m,
                          min_path_length_m)
    _load()
    gt_edges, gt_nodes = _metric_lines(gt)
    pred_edges, pred_nodes = _metric_lines(pred)
    gt_cp, gt_pos = _with_control_nodes(gt_edges, gt_nodes, node_spacing_m)
    pred_cp, pred_pos = _with_control_nodes(pred_edges, pred_nodes,
                                            node_spacing_m)
    pred_prime, gt_where = _snap(gt_pos, pred_edges, pred_nodes,
                                 snap_distance_m)
    gt_prime, pred_where = _snap(pred_pos, gt_edges, gt_nodes,
                                 snap_distance_m)
    d1 = _direction(gt_cp, list(gt_pos), pred_prime, gt_where,
                    min_path_length_m)
    d2 = _direction(pred_cp, list(pred_pos), gt_prime, pred_where,
                    min_path_length_m)
    if not d1 and not d2:
        return APLSResult(1.0, 1.0, 1.0, 0, 0)
    c1 = 1.0 - float(np.mean(d1)) if d1 else 0.0
    c2 = 1.0 - float(np.mean(d2)) if d2 else 0.0
    total = 0.0 if c1 <= 0 or c2 <= 0 else 2 * c1 * c2 / (c1 + c2)
    return APLSResult(total, c1, c2, len(d1), len(d2))


@METRICS.register_module()
class APLSMetric(BaseMetric):
    """APLS (SpaceNet's Average Path Length Similarity) of road networks.

    For each tile, the predicted road mask and the ground-truth roads are
    turned into networks by :func:`mmseg_sia.roads.mask_to_network` (the
    same parameters for both) and compared by :func:`apls_score` (see this
    module's notes for the definition and the citation). The dataset's APLS
    is the mean over tiles, as in the SpaceNet challenges, in percent.

    The ground-truth network is made from the label's road polygons when the
    sample's metainfo carries ``label_paths`` (add it to ``PackSegInputs``'
    ``meta_keys``): the union of the polygons drawn at the tile's pixels, so
    a road is not cut where a building polygon overlaps it; otherwise from
    the ground-truth map's road pixels. Pixels labelled ``ignore_index`` are
    not road in the prediction. Use it beside ``IoUMetric`` and
    ``RoadCCQMetric``::

        val_evaluator = [
            dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
            dict(type='RoadCCQMetric'),
            dict(type='APLSMetric', pixel_size=0.55)]

    Args:
        road_class (int | str): Id or name of the road class. Defaults to
            'road'.
        pixel_size (float): Metres per pixel. Defaults to 0.55 (KOMPSAT-3A
            pan-sharpened).
        snap_distance_m (float): Control-node snapping distance. Defaults
            to 4.
        node_spacing_m (float, optional): Control nodes along edges every
            this many metres (None: only junctions and ends). Defaults to 50.
        min_path_length_m (float): Shortest route scored. Defaults to 10.
        network (dict, optional): Keyword arguments of
            :func:`mmseg_sia.roads.mask_to_network` (e.g. ``max_gap_m``).
        gt_source (str): 'auto', 'mask' or 'polygons'. Defaults to 'auto'.
        road_key (str): Label property of road polygons. Defaults to
            'road_imcoords'.
        ignore_index (int): Ignored label. Defaults to 255.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 road_class: Union[int, str] = 'road',
                 pixel_size: float = 0.55,
                 snap_distance_m: float = 4.0,
                 node_spacing_m: Optional[float] = 50.0,
                 min_path_length_m: float = 10.0,
                 network: Optional[dict] = None,
                 gt_source: str = 'auto',
                 road_key: str = 'road_imcoords',
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_gt_source(gt_source, 'APLSMetric')
        if not (pixel_size > 0 and math.isfinite(pixel_size)):
            raise ValueError('APLSMetric: pixel_size must be a positive '
                             f'number of metres, got {pixel_size!r}')
        self.road_class = road_class
        self.pixel_size = float(pixel_size)
        self.apls_args = dict(snap_distance_m=snap_distance_m,
                              node_spacing_m=node_spacing_m,
                              min_path_length_m=min_path_length_m)
        # Check the distances once, here, rather than on the first sample.
        check_apls_parameters(**self.apls_args, who='APLSMetric')
        self.network = dict(network or {})
        self.network.pop('pixel_size', None)
        self.gt_source = gt_source
        self.road_key = road_key
        self.ignore_index = ignore_index

    def gt_road_mask(self, gt: np.ndarray, road: int,
                     label_paths: Optional[Sequence[str]]) -> np.ndarray:
        """The ground-truth road mask of one sample.

        Args:
            gt (np.ndarray): ``(H, W)`` reference class map.
            road (int): Road class id.
            label_paths (Sequence[str], optional): The tile's label files.

        Returns:
            np.ndarray: ``(H, W)`` bool road mask.

        Raises:
            ValueError: When polygons are asked for and ``label_paths`` is
                missing.
        """
        polygons = label_polygons(self.gt_source, label_paths,
                                  self.road_key, 'APLSMetric')
        if polygons is None:
            return gt == road
        return polygon_coverage(polygons, *gt.shape)

    def score_sample(self, pred: np.ndarray, gt: np.ndarray, road: int,
                     label_paths: Optional[Sequence[str]] = None
                     ) -> APLSResult:
        """APLS of one tile.

        Args:
            pred (np.ndarray): ``(H, W)`` predicted class map.
            gt (np.ndarray): ``(H, W)`` reference class map.
            road (int): Road class id.
            label_paths (Sequence[str], optional): The tile's label files.

        Returns:
            APLSResult: The tile's score.
        """
        check_same_shape(pred, gt, 'APLSMetric')
        pred_road = (pred == road) & (gt != self.ignore_index)
        gt_road = self.gt_road_mask(gt, road, label_paths)
        _load()
        pred_net = mask_to_network(pred_road, self.pixel_size, **self.network)
        gt_net = mask_to_network(gt_road, self.pixel_size, **self.network)
        return apls_score(gt_net, pred_net, **self.apls_args)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each sample.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_sem_seg``
                and ``gt_sem_seg``.
        """
        road = resolve_class(self.road_class,
                             (self.dataset_meta or {}).get('classes'),
                             'APLSMetric', 'road_class')
        for sample in data_samples:
            pred, gt = sample_maps(sample)
            r = self.score_sample(pred, gt, road, sample.get('label_paths'))
            self.results.append((r.apls, r.gt_onto_pred, r.pred_onto_gt))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the tiles' scores.

        Args:
            results (list): ``(apls, gt_onto_pred, pred_onto_gt)`` per tile.

        Returns:
            dict[str, float]: ``road_APLS``, ``road_APLS_gt_onto_pred``,
            ``road_APLS_pred_onto_gt`` (percent, mean over tiles).
        """
        mean = np.asarray(results, dtype=np.float64).mean(axis=0) * 100 \
            if results else np.zeros(3)
        print_log(
            f'road networks (APLS, snap {self.apls_args["snap_distance_m"]:g}'
            f' m, spacing {self.apls_args["node_spacing_m"]} m): APLS '
            f'{mean[0]:.2f} (ground truth onto prediction {mean[1]:.2f}, '
            f'prediction onto ground truth {mean[2]:.2f}) over '
            f'{len(results)} tiles',
            logger=MMLogger.get_current_instance())
        return dict(road_APLS=round(float(mean[0]), 2),
                    road_APLS_gt_onto_pred=round(float(mean[1]), 2),
                    road_APLS_pred_onto_gt=round(float(mean[2]), 2))
