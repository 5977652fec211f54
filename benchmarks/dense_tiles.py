"""Dense tiles in the AIHub layout, shared by the benchmarks.

Each tile gets 150-400 buildings (rotated rectangles, a third of them
L-shaped, some overlapping) and 4-12 curved roads, written in the released
JSON schema (pretty-printed, full-precision floats, the release's
``-2.8421709430404014e-14`` on the left and top edges, the real
``type_id``/``type_name`` values). Images are a few textured pictures
copied between tiles: what the benchmarks measure is decoding, not content.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
from typing import List

import cv2
import numpy as np

BUILDING_TYPES = [('1', '소형시설'), ('2', '아파트'), ('3', '공장'),
                  ('4', '컨테이너'), ('5', '중형단독시설'), ('6', '대형시설')]
ROAD_TYPES = [('1', 'Mortorway'), ('2', 'Primary'), ('3', 'Secondary'),
              ('4', 'Tertiary'), ('5', 'Residential'), ('6', 'Unclassified')]


def _coords(points: np.ndarray, size: int) -> str:
    """Vertices as the release writes them: full float repr, clipped to the
    tile, with the release's near-zero values on the left/top edges."""
    pts = np.clip(points, 0, size)
    return ','.join('-2.8421709430404014e-14' if v == 0 else repr(float(v))
                    for v in pts.reshape(-1))


def _collection(stem: str, polygons: List[np.ndarray], key: str, types,
                rng: np.random.Generator, size: int) -> dict:
    footprint = [[[31.3609468532, 30.140372558, 0],
                  [31.3667921448, 30.1404454243, 0],
                  [31.366708448, 30.1455259019, 0],
                  [31.3608628572, 30.1454530208, 0]]]
    features = []
    for poly in polygons:
        type_id, type_name = types[int(rng.integers(len(types)))]
        props = {'object_imcoords': 'EMPTY', 'building_imcoords': 'EMPTY',
                 'road_imcoords': 'EMPTY', key: _coords(poly, size),
                 'image_id': f'{stem}.png',
                 'ingest_time': '2020-11-11T08:29:37.297611Z',
                 'type_id': type_id, 'type_name': type_name}
        features.append({'type': 'Feature',
                         'geometry': {'type': 'Polygon',
                                      'coordinates': footprint},
                         'properties': props})
    return {'type': 'FeatureCollection', 'features': features}


def _buildings(rng: np.random.Generator, size: int) -> List[np.ndarray]:
    scale = size / 1024
    polys = []
    for _ in range(int(rng.integers(150, 401))):
        centre = rng.uniform(0, size, 2)
        w, h = rng.uniform(6, 45, 2) * scale
        angle = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)],
                        [np.sin(angle), np.cos(angle)]])
        box = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        if rng.random() < 0.3:  # an L-shaped building
            box = np.array([[-w, -h], [w, -h], [w, 0], [0, 0], [0, h],
                            [-w, h]]) / 2
        polys.append(box @ rot.T + centre)
    return polys


def _roads(rng: np.random.Generator, size: int) -> List[np.ndarray]:
    scale = size / 1024
    polys = []
    for _ in range(int(rng.integers(4, 13))):
        line = [rng.uniform(0, size, 2)]
        heading = rng.normal(0, 1, 2)
        heading /= np.linalg.norm(heading)
        for _ in range(int(rng.integers(8, 20))):
            heading = heading + rng.normal(0, 0.15, 2)
            heading /= np.linalg.norm(heading)
            line.append(line[-1] + heading * rng.uniform(40, 90) * scale)
        line = np.array(line)
        normal = np.stack([-np.gradient(line[:, 1]),
                           np.gradient(line[:, 0])], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        half = rng.uniform(4, 14) * scale
        polys.append(np.concatenate([line + normal * half,
                                     (line - normal * half)[::-1]]))
    return polys


def write_dense_tiles(root: str, count: int, seed: int = 0,
                      size: int = 1024, split: bool = False) -> List[str]:
    """Write ``count`` dense tiles (image, building and road file) to root.

    Args:
        root (str): Folder for ``images/`` and ``labels/{building,road}/``.
        count (int): Number of tiles.
        seed (int): Random seed. Defaults to 0.
        size (int): Tile side in pixels; polygon sizes scale with it.
            Defaults to 1024.
        split (bool): Also write ``splits/train.txt`` listing every tile.
            Defaults to False.

    Returns:
        list[str]: The stems.
    """
    rng = np.random.default_rng(seed)
    for sub in ('images', 'labels/building', 'labels/road'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    pictures = []
    for k in range(min(4, count)):
        small = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        noise = rng.normal(0, 6, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
        path = osp.join(root, f'picture{k}.png')
        cv2.imwrite(path, img)
        pictures.append(path)
    stems = []
    for t in range(count):
        stem = f'BLD{t:05d}_PS3_K3A_NIA{t % 1000:04d}'
        stems.append(stem)
        shutil.copyfile(pictures[t % len(pictures)],
                        osp.join(root, 'images', f'{stem}.png'))
        for kind, polys, types in (
                ('building', _buildings(rng, size), BUILDING_TYPES),
                ('road', _roads(rng, size), ROAD_TYPES)):
            data = _collection(stem, polys, f'{kind}_imcoords', types, rng,
                               size)
            with open(osp.join(root, 'labels', kind, f'{stem}.json'), 'w',
                      encoding='utf-8') as f:
                json.dump(data, f, indent=2, ensure_ascii=False)
    for path in pictures:
        os.remove(path)
    if split:
        os.makedirs(osp.join(root, 'splits'), exist_ok=True)
        with open(osp.join(root, 'splits', 'train.txt'), 'w') as f:
            f.write('\n'.join(stems) + '\n')
    return stems
