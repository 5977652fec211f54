#!/usr/bin/env python
"""Compare ``apls_score`` with CosmiQ's reference APLS code, side by side.

CosmiQ's ``apls`` package (0.1.0 on the package index) does not install in
this project's environment: it pins ``GDAL==2.4.0`` and imports ``osgeo``,
``fiona``, ``utm`` and ``geopandas`` at import time, none of which its APLS
functions (``make_graphs``, ``compute_apls_metric``) use. This script runs
those functions with stand-ins for the missing modules, from a wheel you
unpacked yourself::

    pip download --no-deps apls geopandas -d /tmp/apls
    cd /tmp/apls && unzip -o -q apls-0.1.0-py3-none-any.whl
    pip install --no-deps --target /tmp/apls/site geopandas
    python tools/dev/apls_reference_check.py /tmp/apls/apls \\
        --site /tmp/apls/site

and prints both scores (symmetric, ground truth onto prediction, prediction
onto ground truth) for the hand-made networks of ``tests/test_apls.py`` and
for networks extracted from road masks.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import os.path as osp
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

STUBS = {
    'osgeo/__init__.py': 'gdal = ogr = osr = None\n',
    'fiona.py': '',
    'utm.py': ('def from_latlon(*a, **k):\n    raise ValueError("stub")\n'
               'def to_latlon(*a, **k):\n    raise ValueError("stub")\n'),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('apls_dir', help='folder holding apls.py')
    parser.add_argument('--site', help='folder with geopandas installed')
    args = parser.parse_args()

    stubs = tempfile.mkdtemp()
    for name, text in STUBS.items():
        os.makedirs(osp.dirname(osp.join(stubs, name)), exist_ok=True)
        with open(osp.join(stubs, name), 'w') as f:
            f.write(text)
    sys.path[:0] = [stubs] + ([args.site] if args.site else []) + \
        [args.apls_dir]
    import networkx as nx
    import numpy as np
    from shapely.geometry import LineString
    with contextlib.redirect_stdout(io.StringIO()):
        import apls as ref

    import mmseg_sia  # noqa: F401
    from mmseg_sia.evaluation import apls_score
    from mmseg_sia.roads import mask_to_network

    def metric_graph(graph, offset):
        """A network as the reference wants it: metres, 'length'."""
        sx, sy = graph.graph.get('pixel_size', (1.0, 1.0))
        out = nx.MultiGraph()
        ids = {n: offset + i for i, n in enumerate(graph.nodes)}
        for n, d in graph.nodes(data=True):
            out.add_node(ids[n], x=d['x'] * sx, y=d['y'] * sy)
        for u, v, d in graph.edges(data=True):
            if 'geometry' in d:
                xy = np.asarray(d['geometry'].coords) * (sx, sy)
                if d.get('start', u) != u:
                    xy = xy[::-1]
            else:
                xy = np.array([[out.nodes[ids[u]]['x'],
                                out.nodes[ids[u]]['y']],
                               [out.nodes[ids[v]]['x'],
                                out.nodes[ids[v]]['y']]])
            line = LineString(xy)
            out.add_edge(ids[u], ids[v], geometry=line, length=line.length)
        return out

    def compare(name, gt, pred, spacing, snap=4.0):
        with contextlib.redirect_stdout(io.StringIO()):
            made = ref.make_graphs(
                metric_graph(gt, 1), metric_graph(pred, 100000),
                linestring_delta=spacing or 1e12, is_curved_eps=-1,
                max_snap_dist=snap, allow_renaming=False)
            c = ref.compute_apls_metric(*made[6:10], made[4], made[5],
                                        min_path_length=10)
        r = apls_score(gt, pred, snap_distance_m=snap,
                       node_spacing_m=spacing)
        print(f'{name:22s} reference {c[0]:.6f} ({c[1]:.6f}, {c[2]:.6f})'
              f'  here {r.apls:.6f} ({r.gt_onto_pred:.6f}, '
              f'{r.pred_onto_gt:.6f})')

    def net(nodes, edges):
        graph = nx.MultiGraph()
        for n, (x, y) in nodes.items():
            graph.add_node(n, x=float(x), y=float(y))
        graph.add_edges_from(edges)
        return graph

    line3 = {'A': (0, 0), 'B': (100, 0), 'C': (200, 0)}
    u4 = {'A': (0, 0), 'B': (100, 0), 'C': (100, 100), 'D': (0, 100)}
    compare('missing link', net(line3, [('A', 'B'), ('B', 'C')]),
            net({'A': (0, 0), 'B': (100, 0)}, [('A', 'B')]), None)
    compare('spurious link', net(u4, [('A', 'B'), ('B', 'C'), ('C', 'D')]),
            net(u4, [('A', 'B'), ('B', 'C'), ('C', 'D'), ('A', 'D')]), None)
    compare('gap, 50 m spacing', net({'A': (0, 0), 'B': (200, 0)},
                                     [('A', 'B')]),
            net({'A': (0, 0), 'P': (95, 0), 'Q': (105, 0), 'B': (200, 0)},
                [('A', 'P'), ('Q', 'B')]), 50)
    compare('detour', net({'A': (0, 0), 'B': (100, 0)}, [('A', 'B')]),
            net({'A': (0, 3), 'M': (50, 43), 'B': (100, 3)},
                [('A', 'M'), ('M', 'B')]), None)
    rng = np.random.default_rng(0)
    for k in range(4):
        seg = np.zeros((512, 512), bool)
        for _ in range(4):
            if rng.random() < 0.5:
                r = int(rng.integers(20, 490))
                seg[r:r + int(rng.integers(7, 20)), 10:502] = True
            else:
                c = int(rng.integers(20, 490))
                seg[10:502, c:c + int(rng.integers(7, 20))] = True
        # The prediction: two 40 px breaks (too long to join), a spurious
        # road and a shifted stretch.
        pred = seg.copy()
        for _ in range(2):
            r, c = (int(v) for v in rng.integers(40, 470, 2))
            pred[r:r + 40, c:c + 40] = False
        r = int(rng.integers(40, 470))
        pred[r:r + 9, 100:300] = True
        pred[:, 300:400] = np.roll(pred[:, 300:400], 3, axis=0)
        compare(f'masks {k}, 50 m spacing',
                mask_to_network(seg, 0.55), mask_to_network(pred, 0.55), 50)


if __name__ == '__main__':
    main()
