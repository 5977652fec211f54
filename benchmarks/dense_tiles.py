"""Dense 1024 x 1024 tiles in the AIHub layout, for the benchmarks.

Each tile gets 150-400 buildings (rotated rectangles and irregular
quadrilaterals, some overlapping) and a few roads (long quadrilateral strips
crossing the tile), written in the released JSON schema with full-precision
float coordinates, as the real files have them.
"""
from __future__ import annotations

import json
import os
import os.path as osp

import cv2
import numpy as np

SIZE = 1024


def _building(rng: np.random.Generator) -> np.ndarray:
    cx, cy = rng.uniform(-10, SIZE + 10, 2)
    w, h = rng.uniform(6, 45, 2)
    angle = rng.uniform(0, np.pi)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    corners += rng.normal(0, 0.8, corners.shape)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])
    return corners @ rot.T + (cx, cy)


def _road(rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(0, SIZE, 2)
    b = rng.uniform(0, SIZE, 2)
    d = b - a
    d = d / (np.linalg.norm(d) + 1e-9)
    normal = np.array([-d[1], d[0]]) * rng.uniform(4, 18)
    start, end = a - d * SIZE, b + d * SIZE
    return np.array([start + normal, end + normal, end - normal,
                     start - normal])


def _coords(points: np.ndarray) -> str:
    return ','.join(repr(float(v)) for v in points.reshape(-1))


def _collection(kind: str, polygons, stem: str) -> dict:
    footprint = [[127.02, 37.54, 0], [127.03, 37.54, 0], [127.03, 37.53, 0],
                 [127.02, 37.53, 0]]
    features = []
    for pts in polygons:
        features.append({
            'type': 'Feature',
            'geometry': {'type': 'Polygon', 'coordinates': [footprint]},
            'properties': {
                'object_imcoords': 'EMPTY',
                'building_imcoords':
                _coords(pts) if kind == 'building' else 'EMPTY',
                'road_imcoords': _coords(pts) if kind == 'road' else 'EMPTY',
                'image_id': stem + '.png',
                'ingest_time': '2020-11-11T08:29:37.297611Z',
                'type_id': '1',
                'type_name': 'Secondary' if kind == 'road' else '소형시설',
            }
        })
    return {'type': 'FeatureCollection', 'features': features}


def write_dense_tiles(root: str, count: int, seed: int = 0) -> list:
    """Write ``count`` dense tiles under ``root``; returns their stems."""
    rng = np.random.default_rng(seed)
    for sub in ('images', 'labels/building', 'labels/road'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    stems = []
    for i in range(count):
        stem = f'BLD{i:05d}_PS3_K3A_NIA{i % 1000:04d}'
        stems.append(stem)
        img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(root, 'images', stem + '.png'), img)
        buildings = [_building(rng) for _ in range(int(rng.integers(150,
                                                                    401)))]
        roads = [_road(rng) for _ in range(int(rng.integers(2, 7)))]
        for kind, polys in (('building', buildings), ('road', roads)):
            with open(osp.join(root, 'labels', kind, stem + '.json'), 'w',
                      encoding='utf-8') as f:
                json.dump(_collection(kind, polys, stem), f,
                          ensure_ascii=False)
    return stems
