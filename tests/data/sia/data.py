#!/usr/bin/env python
"""Write the tiny test dataset in the AIHub layout, with the release's quirks.

Run from anywhere: ``python tests/data/sia/data.py``. The output beside this
script is committed; the tests regenerate nothing, but this script documents
exactly how the files were made (seeded, deterministic).

Tiles are 64 x 64. Quirks reproduced: a UTF-8 byte-order mark, a trailing
comma, coordinates of ``-2.8421709430404014e-14`` and exactly the tile size,
``"EMPTY"`` and ``""`` for the unused keys, footprints both as a ring list
``[[...]]`` and as a bare point list, a tile with no label file, a tile with a
building file only, one with a road file only, and one with both.
"""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np

SIZE = 64
ROOT = osp.dirname(osp.abspath(__file__))
FOOTPRINT = [[127.0210, 37.5412, 0], [127.0268, 37.5413, 0],
             [127.0267, 37.5367, 0], [127.0209, 37.5366, 0]]
TINY = '-2.8421709430404014e-14'

# stem -> {'building': [polygon strings], 'road': [...]}; None = no file.
TILES = {
    'BLD00001_PS3_K3A_NIA0001': {
        'building': [
            '5.25,6.5,20.75,6.5,20.75,18.25,5.25,18.25',
            # Overlaps the road below: the road must win by default.
            '30.4,24.6,44.9,24.6,44.9,40.3,30.4,40.3,',
            # Reaches past the right edge: clipped, not rejected.
            '56.5,50.5,70.2,50.5,70.2,60.5,56.5,60.5',
        ],
        'road': [
            f'{TINY},30.5,64,30.5,64,36.75,{TINY},36.75',
        ],
    },
    'BLD00002_PS3_K3A_NIA0002': {
        'building': [
            f'{TINY},{TINY},12.6,{TINY},12.6,9.3,{TINY},9.3',
            '40.1,40.7,64,40.7,64,64,52.3,64,40.1,52.2',
            '20.2,44.8,31.7,47.1,27.6,58.9,17.3,55.4',
        ],
        'road': None,
    },
    'BLD00003_PS3_K3A_NIA0003': {
        'building': None,
        'road': [
            '10.5,0,17.25,0,17.25,64,10.5,64',
            '17.25,20.5,64,26.75,64,33.5,17.25,28.0',
        ],
    },
    'BLD00004_PS3_K3A_NIA0004': {'building': None, 'road': None},
    'BLD00005_PS3_K3A_NIA0005': {
        'building': ['8.8,8.2,24.4,9.9,23.1,25.6,7.7,24.3'],
        'road': ['0,50.5,64,46.25,64,54.75,0,58.5'],
    },
}
SPLITS = {
    'train': ['BLD00001_PS3_K3A_NIA0001', 'BLD00002_PS3_K3A_NIA0002',
              'BLD00003_PS3_K3A_NIA0003'],
    'val': ['BLD00004_PS3_K3A_NIA0004', 'BLD00005_PS3_K3A_NIA0005'],
}
TYPES = {'building': ('1', '소형시설'), 'road': ('3', 'Secondary')}


def feature(kind: str, coords: str, stem: str, ring: bool) -> dict:
    geometry = [list(p) for p in FOOTPRINT]
    props = {
        'object_imcoords': 'EMPTY',
        'building_imcoords': coords if kind == 'building' else 'EMPTY',
        'road_imcoords': coords if kind == 'road' else '',
        'image_id': stem + '.png',
        'ingest_time': '2020-11-11T08:29:37.297611Z',
        'type_id': TYPES[kind][0],
        'type_name': TYPES[kind][1],
    }
    return {
        'geometry': {
            'coordinates': [geometry] if ring else geometry,
            'type': 'Polygon'
        },
        'properties': props,
        'type': 'Feature'
    }


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ('images', 'labels', 'splits'):
        shutil.rmtree(osp.join(ROOT, sub), ignore_errors=True)
    os.makedirs(osp.join(ROOT, 'images'))
    os.makedirs(osp.join(ROOT, 'labels', 'building'))
    os.makedirs(osp.join(ROOT, 'labels', 'road'))
    os.makedirs(osp.join(ROOT, 'splits'))
    for i, (stem, kinds) in enumerate(TILES.items()):
        img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(ROOT, 'images', stem + '.png'), img)
        for kind, polys in kinds.items():
            if polys is None:
                continue
            doc = {
                'type': 'FeatureCollection',
                'features': [
                    feature(kind, p, stem, ring=(i % 2 == 0)) for p in polys
                ]
            }
            text = json.dumps(doc, ensure_ascii=False, indent=1)
            # The first building file carries a byte-order mark.
            encoding = 'utf-8-sig' if (i == 0 and kind == 'building') \
                else 'utf-8'
            path = osp.join(ROOT, 'labels', kind, stem + '.json')
            with open(path, 'w', encoding=encoding) as f:
                f.write(text)
    for split, stems in SPLITS.items():
        with open(osp.join(ROOT, 'splits', split + '.txt'), 'w') as f:
            f.write('\n'.join(stems) + '\n')


if __name__ == '__main__':
    main()
