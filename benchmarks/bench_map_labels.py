#!/usr/bin/env python
"""Labels from map-coordinate polygons against loading the map as a PNG.

Measured side by side in one process, per sample, on land-cover style
tiles of 1024 x 1024 pixels (0.25 m) each with 300 polygons in EPSG:5186
(Polygons and MultiPolygons, a third of them with holes), a TIF image
without georeference and a cp949 META file:

* ``LoadPolygonAnnotations`` on the sample as :class:`SIALandCoverDataset`
  gives it: look for the image's own georeference (rasterio), read the META
  file, read the GeoJSON, map the rings to pixels and draw them with the
  pixel-centre rule;
* mmseg's ``LoadAnnotations`` decoding the same label map saved as a PNG.

Goal: ratio <= 1.0. Then the exactness check: every pixel against an
independent reference, its centre taken to map coordinates (META origin
plus ``(c, -r) * resolution``) and tested against the polygons with
shapely's ``contains_xy``; goal >= 99.95 % agreement.

    python benchmarks/bench_map_labels.py [--tiles 4] [--repeat 5] [--seed 0]

``--baseline REF`` also times the map-label drawing of another version of
the plugin, interleaved in the same run (its ``labels``, ``_rasterize``,
``_geojson``, ``maplabels``, ``georef`` and ``geo`` modules taken from git
revision ``REF`` of this repository), and checks that both draw the same
maps: ``--baseline main``.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import os.path as osp
import statistics
import tempfile
import time

import cv2
cv2.setNumThreads(0)  # as mmengine sets it in data workers
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from PIL import Image  # noqa: E402
from shapely import affinity  # noqa: E402
from shapely.geometry import mapping, shape  # noqa: E402

import mmseg_sia  # noqa: E402,F401
from mmseg.datasets.transforms import LoadAnnotations  # noqa: E402
from mmseg_sia.datasets import LoadPolygonAnnotations  # noqa: E402
from mmseg_sia.maplabels import (LANDCOVER_BUILDING_ROAD,  # noqa: E402
                                 LANDCOVER_CODES)

SIZE = 1024
RES = 0.25
CODES = (10, 30, 10, 60, 10, 30, 95, 10)


def shapes(rng: np.random.Generator, n: int, precision: float = 1e-4):
    """``n`` polygons in pixel space, in the tile and across its edges:
    buildings as rotated boxes, roads as long bent bands, fields as blobs;
    every third with a hole, every fifth a MultiPolygon of two parts;
    vertices on a grid of ``precision`` pixels (0: as computed)."""
    out = []
    for i in range(n):
        cx, cy = rng.uniform(-20, SIZE + 20, 2)
        kind = i % 3
        if kind == 0:
            w, h = rng.uniform(10, 60, 2)
            geom = affinity.rotate(
                shapely.box(cx - w, cy - h, cx + w, cy + h),
                rng.uniform(0, 90))
        elif kind == 1:
            pts = np.cumsum(rng.uniform(-60, 60, (6, 2)), axis=0) + (cx, cy)
            geom = shapely.LineString(pts).buffer(rng.uniform(3, 9), 4)
        else:
            geom = shapely.Point(cx, cy).buffer(rng.uniform(15, 70), 8)
        if i % 3 == 0:
            c = geom.centroid
            geom = geom.difference(c.buffer(geom.length / 40, 4))
        if i % 5 == 0:
            other = affinity.translate(geom, rng.uniform(80, 160),
                                       rng.uniform(80, 160))
            geom = shapely.MultiPolygon(
                list(shapely.get_parts(geom)) +
                list(shapely.get_parts(other.difference(geom))))
        out.append(shapely.set_precision(geom, precision) if precision
                   else geom)
    return out


def write_tile(root: str, k: int, rng: np.random.Generator,
               precision: float = 1e-4):
    stem = f'LC_GS_AP25_3480{k:04d}_006_2019_FGT'
    x0, y0 = 200000.125 + k * 300, 551999.875
    img = os.path.join(root, stem + '.tif')
    Image.fromarray(np.full((SIZE, SIZE, 3), 90, np.uint8)).save(img)
    meta = os.path.join(root, stem + '_META.json')
    with open(meta, 'wb') as f:
        f.write(json.dumps([{
            'img_id': stem + '.tif', 'img_title': '토지피복', 'img_width': SIZE,
            'img_height': SIZE, 'img_resolution': RES,
            'img_coordinate': 5186, 'coordinates': f'{x0}, {y0}'
        }], ensure_ascii=False).encode('cp949'))
    # Pixel plane -> map: x = x0 - res/2 + res * px, y = y0 + res/2 - res*py.
    to_map = [RES, 0, 0, -RES, x0 - RES / 2, y0 + RES / 2]
    features = []
    for i, geom in enumerate(shapes(rng, 300, precision)):
        g = mapping(affinity.affine_transform(geom, to_map))
        features.append({'type': 'Feature', 'geometry': g, 'properties': {
            'ANN_CD': CODES[i % len(CODES)],
            'ANN_NM': LANDCOVER_CODES[CODES[i % len(CODES)]][0]}})
    label = os.path.join(root, stem + '.json')
    with open(label, 'w', encoding='utf-8') as f:
        json.dump({'type': 'FeatureCollection', 'crs': {
            'type': 'name', 'properties': {'name': 'EPSG:5186'}},
            'features': features}, f, ensure_ascii=False)
    return img, label, meta, (x0, y0)


def reference(label: str, origin) -> np.ndarray:
    """Pixel centres in map coordinates tested with shapely; road over
    building, the other codes background."""
    x0, y0 = origin
    cols, rows = np.meshgrid(np.arange(SIZE), np.arange(SIZE))
    xs, ys = x0 + cols * RES, y0 - rows * RES
    with open(label, encoding='utf-8') as f:
        features = json.load(f)['features']
    seg = np.zeros((SIZE, SIZE), np.uint8)
    for code, value in ((10, 1), (30, 2)):
        geoms = [shape(f['geometry']) for f in features
                 if f['properties']['ANN_CD'] == code]
        seg[shapely.contains_xy(shapely.union_all(geoms), xs, ys)] = value
    return seg


def load_baseline(ref: str, where: str):
    """The ``maplabels`` and ``georef`` modules of git revision ``ref``
    (with the modules they import), as a package of their own."""
    from revision import import_revision

    modules = import_revision(ref, ('labels', '_rasterize', '_geojson',
                                    'maplabels', 'geo', 'georef'), where)
    return modules['maplabels'], modules['georef']


def draw_baseline(base, img: str, label: str, meta: str) -> np.ndarray:
    """The baseline's drawing of one tile, as its loader did it."""
    maplabels, georef = base
    ref = georef.resolve_georef(img, meta, shape=(SIZE, SIZE))
    return maplabels.rasterize_map_label_files(
        [label], ref, LANDCOVER_BUILDING_ROAD)[0]


def time_once(fn) -> float:
    """CPU time of this thread (robust to other load on a shared machine)."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tiles', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the generated tiles')
    parser.add_argument('--baseline', metavar='REF',
                        help='also time the drawing of git revision REF')
    parser.add_argument(
        '--full-digits', action='store_true',
        help='vertices as computed, so the files hold 16-17 significant '
        'digits (as Python writes floats) instead of 4 decimals of a pixel')
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    loader = LoadPolygonAnnotations()
    png_loader = LoadAnnotations()

    with tempfile.TemporaryDirectory() as root:
        base = None
        if args.baseline:
            base = load_baseline(args.baseline, osp.join(root, 'baseline'))
        samples = []
        parts = holes = 0
        agree = total = 0
        for k in range(args.tiles):
            img, label, meta, origin = write_tile(
                root, k, rng, 0 if args.full_digits else 1e-4)
            spec = dict(paths=[label], meta_path=meta, attribute='ANN_CD',
                        class_map=LANDCOVER_BUILDING_ROAD, crs=None)

            def run_map(img=img, spec=spec):
                return loader(dict(img_path=img, map_labels=spec,
                                   ori_shape=(SIZE, SIZE), seg_fields=[]))

            seg = run_map()['gt_seg_map']
            run_base = None
            if base is not None:
                run_base = functools.partial(draw_baseline, base, img, label,
                                             meta)
                if not np.array_equal(run_base(), seg):
                    raise SystemExit(f'{args.baseline} draws another map')
            png = osp.join(root, f'{k}_label.png')
            cv2.imwrite(png, seg)
            ref = reference(label, origin)
            agree += int((seg == ref).sum())
            total += seg.size
            with open(label, encoding='utf-8') as f:
                for feat in json.load(f)['features']:
                    geom = shape(feat['geometry'])
                    parts += len(shapely.get_parts(geom))
                    holes += sum(len(p.interiors)
                                 for p in shapely.get_parts(geom))
            samples.append((run_map, png, run_base))

        def run_png(png):
            return png_loader(dict(seg_map_path=png, reduce_zero_label=False,
                                   seg_fields=[]))

        times = {'map': [], 'png': [], 'base': []}
        for _ in range(args.repeat):  # interleaved
            for run_map, png, run_base in samples:
                times['map'].append(time_once(run_map))
                times['png'].append(time_once(lambda: run_png(png)))
                if run_base is not None:
                    times['base'].append(time_once(run_base))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()
               if v}
        digits = '16-17 significant digits' if args.full_digits else \
            '4 decimals of a pixel'
        print(f'{args.tiles} tiles of {SIZE}x{SIZE}, 300 features each '
              f'({parts / args.tiles:.0f} polygon parts, '
              f'{holes / args.tiles:.0f} holes per tile), EPSG:5186 via a '
              f'META file, coordinates with {digits}; {args.repeat} rounds, '
              'median CPU ms per sample')
        print(f'  LoadPolygonAnnotations (map coordinates): '
              f'{med["map"]:8.2f} ms')
        print(f'  LoadAnnotations (same map as PNG):        '
              f'{med["png"]:8.2f} ms')
        print(f'ratio map labels / LoadAnnotations: '
              f'{med["map"] / med["png"]:.2f} (goal <= 1.0)')
        if 'base' in med:
            print(f'  {args.baseline} (resolve_georef + '
                  f'rasterize_map_label_files): {med["base"]:8.2f} ms, '
                  f'ratio {med["base"] / med["png"]:.2f}; this version / '
                  f'{args.baseline}: {med["map"] / med["base"]:.2f}')
        print(f'pixel agreement with shapely contains_xy at pixel centres in '
              f'map coordinates: {100 * agree / total:.4f} % of {total} '
              f'pixels (goal >= 99.95 %)')


if __name__ == '__main__':
    main()
