#!/usr/bin/env python
"""Write tiny test data whose labels are polygons in map coordinates.

Run from anywhere: ``python tests/data/landcover/data.py``. The output beside
this script is committed; the tests regenerate nothing, but this script
documents exactly how the files were made (seeded, deterministic: every file
comes out byte for byte the same except the GeoPackage, whose metadata
records when it was written).

Two layouts:

* ``lc/``: AIHub's land-cover release (토지피복지도 항공위성 이미지) as the
  issue describes it: TIF images without georeference in ``TS_AP25_512픽셀``,
  GeoJSON labels in EPSG:5186 in ``TL_AP25_512픽셀_Json`` (Polygon and
  MultiPolygon with holes, ``ANN_CD`` and ``ANN_NM``, a ``crs`` member in
  some files only), and META files in ``TL_AP25_512픽셀_Meta``: cp949 with
  Korean text, UTF-16 with a byte-order mark, and the 1024-part naming
  ``X_1024.json`` / ``X_META_1024.json``.
* ``geo/``: GeoTIFFs in EPSG:32652 (UTM 52N) and one GeoPackage of
  footprints in EPSG:5186 (Korea 2000 Central Belt), with a ``kind``
  attribute; a polygon crosses two tiles, one lies on no tile.

Tiles are 96 x 96 at 0.5 m (land cover) and 80 x 64 at 0.6 m (GeoTIFFs).
Polygons are drawn in pixel space by seeded shapely operations and written
in map coordinates, so the tests know the truth in both frames.
"""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pyogrio.raw
import rasterio
import shapely
from affine import Affine
from PIL import Image
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import MultiPolygon, box, mapping

ROOT = osp.dirname(osp.abspath(__file__))
LC = osp.join(ROOT, 'lc')
GEO = osp.join(ROOT, 'geo')
IMG_DIR = 'TS_AP25_512픽셀'
LABEL_DIR = 'TL_AP25_512픽셀_Json'
META_DIR = 'TL_AP25_512픽셀_Meta'
SIZE = 96
RES = 0.5
NAMES = {10: '건물', 30: '도로', 60: '밭', 95: '수역', 20: '주차장'}
CRS_MEMBER = {'type': 'name',
              'properties': {'name': 'urn:ogc:def:crs:EPSG::5186'}}

# stem, (x, y) of the centre of the upper-left pixel, META encoding,
# crs member in the label file, META file stem.
LC_TILES = [
    ('LC_GS_AP25_34801025_006_2019_FGT', (200123.25, 551987.75), 'cp949',
     True, 'LC_GS_AP25_34801025_006_2019_FGT_META'),
    ('LC_GS_AP25_34801025_007_2019_FGT', (200171.25, 551987.75), 'utf-16',
     False, 'LC_GS_AP25_34801025_007_2019_FGT_META'),
    ('LC_GS_AP25_34801025_008_2019_FGT_1024', (200219.25, 551987.75),
     'cp949', True, 'LC_GS_AP25_34801025_008_2019_FGT_META_1024'),
]


def random_shapes(rng, n, size):
    """Seeded polygons in pixel space: rotated boxes, some with holes,
    some as two-part MultiPolygons, some reaching past the tile."""
    shapes = []
    for i in range(n):
        cx, cy = rng.uniform(-8, size + 8, 2)
        w, h = rng.uniform(8, size / 2.5, 2)
        poly = affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2,
                                   cy + h / 2), rng.uniform(0, 90))
        if i % 3 == 0:  # a hole
            poly = poly.difference(poly.centroid.buffer(min(w, h) / 4, 3))
        if i % 4 == 1:  # a second part, with its own hole
            dx, dy = rng.uniform(-size / 2, size / 2, 2)
            other = affinity.translate(
                box(0, 0, w / 1.5, h / 1.5), cx + dx, cy + dy)
            other = other.difference(other.centroid.buffer(2.2, 2))
            merged = shapely.union(poly, other)
            poly = merged if merged.geom_type == 'MultiPolygon' else \
                MultiPolygon([poly, other]) if not poly.intersects(
                    other) else merged
        shapes.append(shapely.set_precision(poly, 1e-3))
    return shapes


def to_map(geom, transform):
    a, b, c, d, e, f = tuple(transform)[:6]
    return affinity.affine_transform(geom, [a, b, d, e, c, f])


def coords(geom):
    """GeoJSON coordinates, closed rings (as GeoJSON writers do)."""
    return mapping(geom)['coordinates']


def write_landcover():
    rng = np.random.default_rng(12)
    shutil.rmtree(LC, ignore_errors=True)
    for sub in (IMG_DIR, LABEL_DIR, META_DIR):
        os.makedirs(osp.join(LC, sub))
    codes = [10, 30, 10, 60, 95, 10, 30, 20]
    for k, (stem, (x, y), encoding, with_crs, meta_stem) in enumerate(
            LC_TILES):
        transform = Affine(RES, 0, x - RES / 2, 0, -RES, y + RES / 2)
        img = np.full((SIZE, SIZE, 3), 40 + 30 * k, np.uint8)
        img[::8] = 200
        Image.fromarray(img).save(
            osp.join(LC, IMG_DIR, stem + '.tif'), compression='tiff_deflate')
        features = []
        for i, shape in enumerate(random_shapes(rng, 8, SIZE)):
            code = codes[i]
            geom = mapping(to_map(shape, transform))
            features.append({
                'type': 'Feature',
                'geometry': {'type': geom['type'],
                             'coordinates': coords(to_map(shape, transform))},
                'properties': {'ANN_CD': code, 'ANN_NM': NAMES[code],
                               'OBJECTID': i + 1}})
        collection = {'type': 'FeatureCollection', 'name': stem}
        if with_crs:
            collection['crs'] = CRS_MEMBER
        collection['features'] = features
        with open(osp.join(LC, LABEL_DIR, stem + '.json'), 'w',
                  encoding='utf-8') as f:
            json.dump(collection, f, ensure_ascii=False)
        meta = [{
            'img_id': stem + '.tif', 'img_title': '토지피복지도 항공 이미지',
            'img_width': SIZE, 'img_height': SIZE, 'img_resolution': RES,
            'img_coordinate': 5186, 'coordinates': f'{x}, {y}',
            'img_date': '2019-05-01'}]
        text = json.dumps(meta, ensure_ascii=False, indent=1)
        with open(osp.join(LC, META_DIR, meta_stem + '.json'), 'wb') as f:
            f.write(text.encode(encoding))  # 'utf-16' writes a BOM


def write_geo():
    rng = np.random.default_rng(21)
    shutil.rmtree(GEO, ignore_errors=True)
    os.makedirs(osp.join(GEO, 'images'))
    to_5186 = Transformer.from_crs(32652, 5186, always_xy=True)
    width, height, res = 80, 64, 0.6
    origins = [(322000.3, 4160040.7), (322048.3, 4160040.7)]  # side by side
    footprints, kinds = [], []
    for k, (x0, y0) in enumerate(origins):
        transform = Affine(res, 0, x0, 0, -res, y0)
        img = np.full((3, height, width), 60 + 50 * k, np.uint8)
        with rasterio.open(
                osp.join(GEO, 'images', f'scene_{k}.tif'), 'w',
                driver='GTiff', width=width, height=height, count=3,
                dtype='uint8', crs='EPSG:32652', transform=transform,
                compress='deflate') as ds:
            ds.write(img)
        for i, shape in enumerate(random_shapes(rng, 5, 64)):
            footprints.append(to_map(shape, transform))
            kinds.append(['building', 'road'][i % 2])
    # One polygon across the two tiles, one on neither.
    footprints.append(box(322040.1, 4160010.2, 322060.7, 4160020.9))
    kinds.append('building')
    footprints.append(box(323000, 4161000, 323010, 4161010))
    kinds.append('building')
    geoms = [
        shapely.transform(g, lambda p: np.column_stack(
            to_5186.transform(p[:, 0], p[:, 1]))) for g in footprints
    ]
    geoms = [MultiPolygon([g]) if g.geom_type == 'Polygon' else g
             for g in geoms]
    pyogrio.raw.write(
        osp.join(GEO, 'footprints.gpkg'),
        geometry=np.array(shapely.to_wkb(geoms), dtype=object),
        field_data=[np.array(kinds, dtype=object)], fields=['kind'],
        crs='EPSG:5186', geometry_type='MultiPolygon', driver='GPKG',
        layer='footprints')


if __name__ == '__main__':
    write_landcover()
    write_geo()
