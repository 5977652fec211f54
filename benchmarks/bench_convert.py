"""Benchmark: the seed's masking code against ``convert_labels``.

Generates dense 1024x1024 tiles (150-400 buildings and a few roads each, in
the AIHub JSON schema, pretty-printed like the release) into a temporary
folder, then times, side by side in one run and on the same tiles:

* ``seed``: the seed recipe's ``masking.py`` (pandas ``read_json``, one
  ``cv2.fillPoly`` per polygon on int32-truncated vertices, ``cv2.imwrite``
  of the colour mask), transcribed below as :func:`seed_masking`;
* ``convert_labels`` with 1 worker and with N worker processes.

Each method runs ``--repeat`` times (in turn, so background load hits all of
them alike) and its best time is reported, as tiles per second and as the
ratio to the seed. Run::

    python benchmarks/bench_convert.py --tiles 48 --workers 4
"""
import argparse
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Callable, Dict, List

import cv2
import numpy as np
import pandas as pd

import mmseg_sia  # noqa: F401
from mmseg_sia.dataset_tools import convert_labels

TILE = 1024
BUILDING_TYPES = [('1', '소형시설'), ('2', '아파트'), ('3', '공장'),
                  ('4', '컨테이너'), ('5', '중형단독시설'), ('6', '대형시설')]
ROAD_TYPES = [('1', 'Mortorway'), ('2', 'Primary'), ('3', 'Secondary'),
              ('4', 'Tertiary'), ('5', 'Residential'), ('6', 'Unclassified')]


# --------------------------------------------------------------------------
# Test data in the release's schema
# --------------------------------------------------------------------------
def _coords(points: np.ndarray) -> str:
    """Vertices as the release writes them: full float repr, clipped to the
    tile, with the release's near-zero values on the left/top edges."""
    pts = np.clip(points, 0, TILE)
    return ','.join('-2.8421709430404014e-14' if v == 0 else repr(float(v))
                    for v in pts.reshape(-1))


def _collection(stem: str, polygons: List[np.ndarray], key: str,
                types, rng: np.random.Generator) -> dict:
    footprint = [[[31.3609468532, 30.140372558, 0],
                  [31.3667921448, 30.1404454243, 0],
                  [31.366708448, 30.1455259019, 0],
                  [31.3608628572, 30.1454530208, 0]]]
    features = []
    for poly in polygons:
        type_id, type_name = types[int(rng.integers(len(types)))]
        props = {'object_imcoords': 'EMPTY', 'building_imcoords': 'EMPTY',
                 'road_imcoords': 'EMPTY', key: _coords(poly),
                 'image_id': f'{stem}.png',
                 'ingest_time': '2020-11-11T08:29:37.297611Z',
                 'type_id': type_id, 'type_name': type_name}
        features.append({'type': 'Feature',
                         'geometry': {'type': 'Polygon',
                                      'coordinates': footprint},
                         'properties': props})
    return {'type': 'FeatureCollection', 'features': features}


def _buildings(rng: np.random.Generator) -> List[np.ndarray]:
    polys = []
    for _ in range(int(rng.integers(150, 401))):
        centre = rng.uniform(0, TILE, 2)
        w, h = rng.uniform(6, 45, 2)
        angle = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)],
                        [np.sin(angle), np.cos(angle)]])
        box = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        if rng.random() < 0.3:  # an L-shaped building
            box = np.array([[-w, -h], [w, -h], [w, 0], [0, 0], [0, h],
                            [-w, h]]) / 2
        polys.append(box @ rot.T + centre)
    return polys


def _roads(rng: np.random.Generator) -> List[np.ndarray]:
    polys = []
    for _ in range(int(rng.integers(4, 13))):
        line = [rng.uniform(0, TILE, 2)]
        heading = rng.normal(0, 1, 2)
        heading /= np.linalg.norm(heading)
        for _ in range(int(rng.integers(8, 20))):
            heading = heading + rng.normal(0, 0.15, 2)
            heading /= np.linalg.norm(heading)
            line.append(line[-1] + heading * rng.uniform(40, 90))
        line = np.array(line)
        normal = np.stack([-np.gradient(line[:, 1]),
                           np.gradient(line[:, 0])], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        half = rng.uniform(4, 14)
        polys.append(np.concatenate([line + normal * half,
                                     (line - normal * half)[::-1]]))
    return polys


def make_tiles(root: str, count: int, seed: int = 0) -> List[str]:
    """Write ``count`` dense tiles (image, building and road file) to root.

    Args:
        root (str): Folder for ``images/`` and ``labels/{building,road}/``.
        count (int): Number of tiles.
        seed (int): Random seed. Defaults to 0.

    Returns:
        list[str]: The stems.
    """
    rng = np.random.default_rng(seed)
    for sub in ('images', 'labels/building', 'labels/road'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    # A few textured pictures, copied: decoding cost is what matters.
    pictures = []
    for k in range(min(4, count)):
        small = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        img = cv2.resize(small, (TILE, TILE), interpolation=cv2.INTER_CUBIC)
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
                ('building', _buildings(rng), BUILDING_TYPES),
                ('road', _roads(rng), ROAD_TYPES)):
            data = _collection(stem, polys, f'{kind}_imcoords', types, rng)
            with open(osp.join(root, 'labels', kind, f'{stem}.json'), 'w',
                      encoding='utf-8') as f:
                json.dump(data, f, indent=2, ensure_ascii=False)
    for path in pictures:
        os.remove(path)
    return stems


# --------------------------------------------------------------------------
# The seed's masking code (masking.py of the blog post), as a function.
# Left out: the per-tile print, plt.imshow and plt.show (display only).
# --------------------------------------------------------------------------
def list_chunk(lst, n):
    return [lst[i:i + n] for i in range(0, len(lst), n)]


def seed_masking(building_imgs_path, building_labels_path, road_imgs_path,
                 road_labels_path, save_dir):
    building_label_list = os.listdir(building_labels_path)
    for building_label in building_label_list:
        if building_label.split('.')[1] != 'json':
            continue
        building_img = os.path.join(building_imgs_path,
                                    building_label.split('.')[0] + '.png')
        if os.path.isfile(building_img):
            image_array = cv2.imread(building_img)
            zero_mask = np.zeros(image_array.shape[0:3])
            masked_image = zero_mask
            cur_build_json = pd.read_json(building_labels_path + '/' +
                                          building_label)
            for feature in cur_build_json['features']:
                building_imcoords = feature['properties']['building_imcoords']
                if len(building_imcoords) == 0:
                    continue
                building_imcoords_list = building_imcoords.split(',')
                building_imcoords_list = list_chunk(building_imcoords_list, 2)
                polygon = np.array(building_imcoords_list)
                polygon = np.array(polygon, np.float32)
                polygon = np.array(polygon, np.int32)
                cv2.fillPoly(masked_image, np.int32([polygon]), [0, 128, 128])
            road_json = os.path.join(road_labels_path, building_label)
            if os.path.isfile(road_json):
                cur_road_json = pd.read_json(road_json)
                for feature in cur_road_json['features']:
                    road_imcoords = feature['properties']['road_imcoords']
                    if len(road_imcoords) == 0:
                        continue
                    road_imcoords_list = road_imcoords.split(',')
                    road_imcoords_list = list_chunk(road_imcoords_list, 2)
                    polygon = np.array(road_imcoords_list)
                    polygon = np.array(polygon, np.float32)
                    polygon = np.array(polygon, np.int32)
                    cv2.fillPoly(masked_image, np.int32([polygon]),
                                 [128, 64, 128])
            save_path = os.path.join(save_dir,
                                     building_label.split('.')[0] + '.png')
            cv2.imwrite(save_path, masked_image)

    road_label_list = os.listdir(road_labels_path)
    for road_label in road_label_list:
        if road_label.split('.')[1] != 'json':
            continue
        road_img = os.path.join(road_imgs_path,
                                road_label.split('.')[0] + '.png')
        exist_build_json = os.path.join(building_labels_path, road_label)
        if os.path.isfile(road_img) and not os.path.isfile(exist_build_json):
            image_array = cv2.imread(road_img)
            zero_mask = np.zeros(image_array.shape[0:3])
            masked_image = zero_mask
            cur_road_json = pd.read_json(road_labels_path + '/' + road_label)
            for feature in cur_road_json['features']:
                road_imcoords = feature['properties']['road_imcoords']
                if len(road_imcoords) == 0:
                    continue
                road_imcoords_list = road_imcoords.split(',')
                road_imcoords_list = list_chunk(road_imcoords_list, 2)
                polygon = np.array(road_imcoords_list)
                polygon = np.array(polygon, np.float32)
                polygon = np.array(polygon, np.int32)
                cv2.fillPoly(masked_image, np.int32([polygon]),
                             [128, 64, 128])
            save_path = os.path.join(save_dir,
                                     road_label.split('.')[0] + '.png')
            cv2.imwrite(save_path, masked_image)


# --------------------------------------------------------------------------
def _agreement(seed_dir: str, ours_dir: str, stems: List[str]) -> float:
    """Share of pixels where the seed's colour masks and ours agree."""
    same = total = 0
    colours = {(0, 0, 0): 0, (0, 128, 128): 1, (128, 64, 128): 2}  # BGR
    for stem in stems:
        bgr = cv2.imread(osp.join(seed_dir, f'{stem}.png'))
        ids = np.full(bgr.shape[:2], 255, np.uint8)
        for colour, class_id in colours.items():
            ids[(bgr == colour).all(axis=2)] = class_id
        ours = cv2.imread(osp.join(ours_dir, f'{stem}.png'),
                          cv2.IMREAD_UNCHANGED)
        same += int((ids == ours).sum())
        total += ours.size
    return same / total


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tiles', type=int, default=48,
                        help='tiles to generate (default 48)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='processes for the N-worker run (default: CPU '
                        'cores)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each method; the best counts '
                        '(default 3)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    with tempfile.TemporaryDirectory(prefix='bench_convert_') as tmp:
        root = osp.join(tmp, 'data')
        start = time.perf_counter()
        stems = make_tiles(root, args.tiles, args.seed)
        labels_mb = sum(
            osp.getsize(osp.join(dp, f))
            for dp, _, fs in os.walk(osp.join(root, 'labels'))
            for f in fs) / 2**20
        polygons = sum(
            len(json.load(open(osp.join(root, 'labels', k, f'{s}.json'),
                               encoding='utf-8'))['features'])
            for s in stems for k in ('building', 'road'))
        print(f'generated {len(stems)} tiles of {TILE}x{TILE} '
              f'({polygons / len(stems):.0f} polygons per tile, '
              f'{labels_mb:.1f} MiB of JSON) in '
              f'{time.perf_counter() - start:.1f} s')
        print(f'CPU cores: {os.cpu_count()}, load average: '
              f'{", ".join(f"{v:.2f}" for v in os.getloadavg())}')

        seed_dir = osp.join(tmp, 'seed')
        os.makedirs(seed_dir)
        images = osp.join(root, 'images')
        building = osp.join(root, 'labels', 'building')
        road = osp.join(root, 'labels', 'road')

        methods: Dict[str, Callable[[], None]] = {
            'seed masking.py':
            lambda: seed_masking(images, building, images, road, seed_dir),
            'convert_labels, 1 worker':
            lambda: convert_labels(root, osp.join(tmp, 'out1'), workers=1,
                                   overwrite=True, progress=False),
            f'convert_labels, {args.workers} workers':
            lambda: convert_labels(root, osp.join(tmp, 'outN'),
                                   workers=args.workers, overwrite=True,
                                   progress=False),
        }
        best = {name: float('inf') for name in methods}
        for _ in range(args.repeat):
            for name, run in methods.items():
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)

        seed_time = best['seed masking.py']
        print(f'\nbest of {args.repeat} runs, {len(stems)} tiles:')
        print(f'{"method":<28}{"seconds":>9}{"tiles/s":>10}{"ratio":>8}')
        for name, seconds in best.items():
            print(f'{name:<28}{seconds:>9.2f}{len(stems) / seconds:>10.1f}'
                  f'{seed_time / seconds:>7.1f}x')
        agree = _agreement(seed_dir, osp.join(tmp, 'out1'), stems)
        print(f'\npixels where the seed mask and ours agree: '
              f'{100 * agree:.2f}% (the rest: the seed truncates vertices '
              'to integers and fillPoly fills the outline, not pixel centres)')


if __name__ == '__main__':
    main()
