#!/usr/bin/env python
"""Draw the README's road-network and regularized-outline pictures.

From the bundled sample's labels (``data/sia_sample``): the label mask of a
tile stands in for a prediction, and its roads are broken in two places (as
a model's often are) so that the picture shows gap joining too.

    python tools/dev/draw_vector_examples.py            # writes docs/images/
    python tools/dev/draw_vector_examples.py --stem BLD03154_PS3_K3A_NIA0697
"""
from __future__ import annotations

import argparse
import io
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--stem', default='BLD03154_PS3_K3A_NIA0697')
    parser.add_argument('--data', default=osp.join(REPO, 'data', 'sia_sample'))
    parser.add_argument('--out-dir', default=osp.join(REPO, 'docs', 'images'))
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args()

    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import networkx as nx
    import numpy as np

    from mmseg_sia.fileio import atomic_write_bytes
    from mmseg_sia.labels import rasterize_label_files
    from mmseg_sia.regularize import regularize_polygons
    from mmseg_sia.roads import mask_to_network, network_lines
    from mmseg_sia.vectorize import binary_to_polygons

    outputs = [osp.join(args.out_dir, 'road_network_example.png'),
               osp.join(args.out_dir, 'regularized_example.png')]
    for path in outputs:
        if osp.exists(path) and not args.overwrite:
            sys.exit(f'{path} exists; pass --overwrite to replace it')
    image = cv2.imread(osp.join(args.data, 'images', f'{args.stem}.png'),
                       cv2.IMREAD_COLOR)[:, :, ::-1]
    labels = [osp.join(args.data, 'labels', k, f'{args.stem}.json')
              for k in ('building', 'road')]
    seg, _ = rasterize_label_files([p for p in labels if osp.exists(p)],
                                   image.shape[:2], warn=False)
    road = seg == 2
    # Two breaks across the roads, 4 px (2.2 m) wide, as a model leaves:
    # across the middle of the two longest centre-line edges.
    full = mask_to_network(road)
    longest = sorted(full.edges(data=True), key=lambda e: -e[2]['length_px'])
    broken = road.copy()
    yy, xx = np.mgrid[:road.shape[0], :road.shape[1]] + 0.5
    for _, _, data in longest[:2]:
        line = data['geometry']
        p = np.array(line.interpolate(0.5, normalized=True).coords[0])
        q = np.array(line.interpolate(0.5 * line.length + 1).coords[0])
        t = (q - p) / np.hypot(*(q - p))
        along = (xx - p[0]) * t[0] + (yy - p[1]) * t[1]
        near = np.hypot(xx - p[0], yy - p[1]) < 20
        broken &= ~(near & (np.abs(along) < 2))
    before = mask_to_network(broken, spur_length_m=0, spur_ratio=0,
                             max_gap_m=0, min_length_m=0)
    after = mask_to_network(broken)

    def save(fig, path):
        buf = io.BytesIO()
        fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
        plt.close(fig)
        atomic_write_bytes(path, buf.getvalue(), overwrite=args.overwrite)
        print(f'wrote {path}')

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.3))
    for ax, graph, title in ((axes[0], before, 'skeleton graph of a broken '
                              'mask'),
                             (axes[1], after, 'network: spurs pruned, '
                              'gaps joined')):
        ax.imshow(image)
        overlay = np.zeros(road.shape + (4, ))
        overlay[broken] = (0.5, 0.25, 0.5, 0.45)
        ax.imshow(overlay)
        for line, props in network_lines(graph):  # pixel coordinates
            xy = np.asarray(line.coords)
            gap = props['gap_m'] > 0
            ax.plot(xy[:, 0], xy[:, 1], '-', lw=2.2,
                    color='#ff3b30' if gap else '#00e0ff')
        for kind, colour in (('junction', '#ffd60a'), ('end', 'white')):
            pts = np.array([[d['x'], d['y']] for _, d in
                            graph.nodes(data=True) if d['kind'] == kind])
            if len(pts):
                ax.plot(pts[:, 0], pts[:, 1], 'o', ms=5, mec='black',
                        mfc=colour, label=kind)
        n_comp = nx.number_connected_components(graph)
        ax.set_title(f'{title}\n{graph.number_of_edges()} edges, '
                     f'{n_comp} connected pieces', fontsize=10)
        ax.set_axis_off()
    axes[1].plot([], [], '-', color='#00e0ff', label='centre line')
    axes[1].plot([], [], '-', color='#ff3b30',
                 label='centre line across a joined gap')
    axes[1].legend(loc='upper center', bbox_to_anchor=(0.5, -0.01), ncol=2,
                   fontsize=8, frameon=False)
    save(fig, outputs[0])

    outlines = binary_to_polygons(seg == 1)
    results = regularize_polygons(outlines)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.3))
    for ax, polys, title in (
            (axes[0], [o for o in outlines], 'pixel outlines'),
            (axes[1], [r.polygon for r in results], 'regularized')):
        ax.imshow(image)
        for poly in polys:
            for ring in poly.rings():
                xy = np.vstack([ring, ring[:1]])
                ax.plot(xy[:, 0], xy[:, 1], '-', lw=1.6, color='#ffd60a')
        vertices = sum(len(p.exterior) for p in polys)
        ax.set_title(f'{title}: {len(polys)} buildings, {vertices} vertices',
                     fontsize=10)
        ax.set_axis_off()
    ious = [r.iou for r in results]
    axes[1].set_title(axes[1].get_title() + f'\nIoU with the pixel outline '
                      f'{min(ious):.2f}-{max(ious):.2f}', fontsize=10)
    save(fig, outputs[1])


if __name__ == '__main__':
    main()
