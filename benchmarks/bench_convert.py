"""Benchmark: the seed's masking code against ``convert_labels``, on the
same work.

Generates dense tiles (150-400 buildings and a few roads each, in the AIHub
JSON schema, pretty-printed like the release) into a temporary folder, then
times two comparisons, side by side in one run and on the same tiles:

1. **Label maps**, the files mmseg trains on (single-channel 8-bit PNGs of
   class ids, what mmseg's ``LoadAnnotations`` reads):

   * ``seed``: the seed recipe's ``masking.py`` changed only to draw class
     ids (1 building, 2 road) into one channel instead of colours into
     three (:func:`seed_label_maps`). Per tile it decodes the image to learn
     its size, parses the JSON with pandas, truncates every vertex to int32
     and calls ``cv2.fillPoly`` once per polygon;
   * ``convert_labels`` (1 worker, then N worker processes): reads only the
     PNG header for the size, parses the JSON, fills pixel centres of the
     float polygons, writes the map atomically.

2. **Colour masks** (3-channel palette PNGs, the seed's output):

   * ``seed``: ``masking.py`` as the blog post has it (:func:`seed_masking`);
   * ``convert_labels --color``: writes the colour mask *and* the class-id
     map of each tile (it has no colour-only mode), so it does more work
     than the seed here.

Each method runs ``--repeat`` times, the methods in turn (so background load
hits all of them alike); the median is reported. Times are wall clock (the
N-worker run spends its CPU time in child processes); the single-process
runs also report their CPU time (``time.process_time``), which other jobs
on a shared machine do not inflate. Printed per comparison: seconds, tiles
per second and the speed ratio to the seed (a ``ratio`` line each), and the
share of pixels where the seed's maps and ours agree. Run::

    python benchmarks/bench_convert.py --tiles 48 --workers 4
    python benchmarks/bench_convert.py --tiles 2 --repeat 1 --size 256  # smoke
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

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


def _seed_polygons(frame: pd.DataFrame, key: str):
    """The seed's parsing of one label file: int32-truncated vertices."""
    for feature in frame['features']:
        imcoords = feature['properties'][key]
        if len(imcoords) == 0:
            continue
        polygon = np.array(list_chunk(imcoords.split(','), 2))
        polygon = np.array(polygon, np.float32)
        yield np.array(polygon, np.int32)


def seed_label_maps(imgs_path, building_labels_path, road_labels_path,
                    save_dir):
    """``masking.py`` writing class-id label maps instead of colour masks.

    Same file walk, same image decoding, same pandas parsing and int32
    ``fillPoly``; the mask is one uint8 channel holding 1 for buildings and
    2 for roads (drawn last, so roads win, as in the seed).
    """
    building_names = set(os.listdir(building_labels_path))
    road_names = os.listdir(road_labels_path)
    names = sorted(building_names) + [n for n in road_names
                                      if n not in building_names]
    for name in names:
        if name.split('.')[1] != 'json':
            continue
        img = os.path.join(imgs_path, name.split('.')[0] + '.png')
        if not os.path.isfile(img):
            continue
        image_array = cv2.imread(img)
        mask = np.zeros(image_array.shape[0:2], np.uint8)
        for folder, key, value in (
                (building_labels_path, 'building_imcoords', 1),
                (road_labels_path, 'road_imcoords', 2)):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                for polygon in _seed_polygons(pd.read_json(path), key):
                    cv2.fillPoly(mask, np.int32([polygon]), value)
        cv2.imwrite(os.path.join(save_dir, name.split('.')[0] + '.png'),
                    mask)


# --------------------------------------------------------------------------
_BGR_IDS = {(0, 0, 0): 0, (0, 128, 128): 1, (128, 64, 128): 2}


def _read_ids(path: str) -> np.ndarray:
    """Class ids of a label map or of a colour mask (seed palette, BGR)."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img.ndim == 2:
        return img
    ids = np.full(img.shape[:2], 255, np.uint8)
    for colour, class_id in _BGR_IDS.items():
        ids[(img == colour).all(axis=2)] = class_id
    return ids


def _agreement(seed_dir: str, ours_dir: str, stems: List[str]) -> float:
    """Share of pixels where the seed's masks and ours agree."""
    same = total = 0
    for stem in stems:
        theirs = _read_ids(osp.join(seed_dir, f'{stem}.png'))
        ours = _read_ids(osp.join(ours_dir, f'{stem}.png'))
        same += int((theirs == ours).sum())
        total += ours.size
    return same / total


def _time(methods: Dict[str, Callable[[], None]],
          repeat: int) -> Dict[str, Tuple[float, float]]:
    """Median wall-clock and CPU seconds of each method, run in turns."""
    runs: Dict[str, List[Tuple[float, float]]] = {m: [] for m in methods}
    for _ in range(repeat):
        for name, run in methods.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            runs[name].append((time.perf_counter() - wall,
                               time.process_time() - cpu))
    return {name: (statistics.median(w for w, _ in r),
                   statistics.median(c for _, c in r))
            for name, r in runs.items()}


def _report(title: str, times: Dict[str, Tuple[float, float]], tiles: int,
            single: List[str]) -> None:
    """Print one comparison: the first method is the seed."""
    seed_wall, seed_cpu = next(iter(times.values()))
    print(f'\n{title}')
    print(f'  {"method":<44}{"wall s":>8}{"tiles/s":>9}{"CPU s":>8}'
          f'{"x seed":>8}')
    for name, (wall, cpu) in times.items():
        cpu_text = f'{cpu:8.2f}' if name in single else f'{"-":>8}'
        print(f'  {name:<44}{wall:8.2f}{tiles / wall:9.1f}{cpu_text}'
              f'{seed_wall / wall:7.2f}x')


def main(argv: List[str] = None) -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tiles', type=int, default=48,
                        help='tiles to generate (default 48)')
    parser.add_argument('--size', type=int, default=1024,
                        help='tile side in pixels (default 1024)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='processes for the N-worker run (default: CPU '
                        'cores; 1 leaves that run out)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each method; the median counts '
                        '(default 3)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.tiles < 1 or args.repeat < 1 or args.size < 16:
        parser.error('--tiles and --repeat must be >= 1, --size >= 16')
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    with tempfile.TemporaryDirectory(prefix='bench_convert_') as tmp:
        root = osp.join(tmp, 'data')
        start = time.perf_counter()
        stems = make_tiles(root, args.tiles, args.seed, size=args.size)
        labels_mb = sum(
            osp.getsize(osp.join(dp, f))
            for dp, _, fs in os.walk(osp.join(root, 'labels'))
            for f in fs) / 2**20
        polygons = sum(
            len(json.load(open(osp.join(root, 'labels', k, f'{s}.json'),
                               encoding='utf-8'))['features'])
            for s in stems for k in ('building', 'road'))
        print(f'generated {len(stems)} tiles of {args.size}x{args.size} '
              f'({polygons / len(stems):.0f} polygons per tile, '
              f'{labels_mb:.1f} MiB of JSON) in '
              f'{time.perf_counter() - start:.1f} s')
        print(f'CPU cores: {os.cpu_count()}, load average: '
              f'{", ".join(f"{v:.2f}" for v in os.getloadavg())}; '
              f'median of {args.repeat} run(s), methods in turns')

        images = osp.join(root, 'images')
        building = osp.join(root, 'labels', 'building')
        road = osp.join(root, 'labels', 'road')
        out = {k: osp.join(tmp, k) for k in ('seed_ids', 'seed_colour',
                                              'ids1', 'idsN', 'colour1')}
        for folder in ('seed_ids', 'seed_colour'):
            os.makedirs(out[folder])

        def ours(folder, workers, color=False):
            return lambda: convert_labels(
                root, out[folder], color=color, workers=workers,
                overwrite=True, progress=False)

        label_methods: Dict[str, Callable[[], None]] = {
            'seed masking.py, class ids in 1 channel':
            lambda: seed_label_maps(images, building, road, out['seed_ids']),
            'convert_labels, 1 worker': ours('ids1', 1),
        }
        if args.workers > 1:
            label_methods[f'convert_labels, {args.workers} workers'] = ours(
                'idsN', args.workers)
        colour_methods: Dict[str, Callable[[], None]] = {
            'seed masking.py, colour masks':
            lambda: seed_masking(images, building, images, road,
                                 out['seed_colour']),
            'convert_labels --color (ids + colour), 1 wkr':
            ours('colour1', 1, color=True),
        }
        single = ['seed masking.py, class ids in 1 channel',
                  'convert_labels, 1 worker', 'seed masking.py, colour masks',
                  'convert_labels --color (ids + colour), 1 wkr']
        label_times = _time(label_methods, args.repeat)
        colour_times = _time(colour_methods, args.repeat)

        _report('1. label maps (1-channel class ids, what LoadAnnotations '
                'reads)', label_times, len(stems), single)
        print('     seed: decodes each image for its size, pandas JSON, '
              'int32 vertices, fillPoly; ours: PNG header only, centre rule')
        _report('2. colour masks (3-channel palette PNGs)', colour_times,
                len(stems), single)
        print('     seed: colour mask only; ours: colour mask and class-id '
              'map per tile')
        agree_ids = _agreement(out['seed_ids'], out['ids1'], stems)
        agree_colour = _agreement(out['seed_colour'],
                                  out['colour1'] + '_color', stems)

        def ratio(times, name):
            (sw, sc), (w, c) = next(iter(times.values())), times[name]
            return f'{sw / w:.2f}x (wall), {sc / max(c, 1e-9):.2f}x (CPU)'

        print()
        print('ratio label maps, convert_labels 1 worker / seed: '
              + ratio(label_times, 'convert_labels, 1 worker'))
        if args.workers > 1:
            seed_wall = next(iter(label_times.values()))[0]
            wall = label_times[f'convert_labels, {args.workers} workers'][0]
            print(f'ratio label maps, convert_labels {args.workers} workers '
                  f'/ seed: {seed_wall / wall:.2f}x (wall)')
        print('ratio colour masks, convert_labels --color 1 worker / seed: '
              + ratio(colour_times,
                      'convert_labels --color (ids + colour), 1 wkr'))
        print(f'pixels where the seed and ours agree: label maps '
              f'{100 * agree_ids:.2f}%, colour masks {100 * agree_colour:.2f}'
              '% (the rest: the seed truncates vertices to integers and '
              'fillPoly fills the outline, not pixel centres)')


if __name__ == '__main__':
    main()
