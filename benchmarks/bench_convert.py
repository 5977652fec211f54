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
import sys
import tempfile
import time
from typing import Callable, Dict, List

import cv2
import numpy as np
import pandas as pd

import mmseg_sia  # noqa: F401
from mmseg_sia.dataset_tools import convert_labels

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from dense_tiles import write_dense_tiles as make_tiles  # noqa: E402

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
        print(f'generated {len(stems)} tiles of 1024x1024 '
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
