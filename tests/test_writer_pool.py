"""A scene's writer with worker processes (issue 11: the writer must keep up
with a model on a GPU): the same files byte for byte as without them, a
dead worker fails its scene cleanly, and the defaults of ``tools/infer.py``.
"""
import os
import time

import cv2
import numpy as np
import pytest
import rasterio

from mmseg_sia.apis import road_rows, scene
from mmseg_sia.apis.scene import SceneWriter
from mmseg_sia.apis.workers import WriterPool, default_writer_processes
from mmseg_sia.georef import lonlat_transform
from test_inference import tiny  # noqa: F401
from test_scene_stream import CLASSES, PALETTE, georef_of
from test_scenes import H, W, run_tool, write_uint16

STAMP = '2026-01-01T00:00:00.000000Z'


class CountingPool(WriterPool):
    """A pool that counts the jobs it was given."""

    def __init__(self, processes):
        super().__init__(processes)
        self.jobs = 0

    def submit(self, fn, *args):
        self.jobs += 1
        return super().submit(fn, *args)


@pytest.fixture(scope='module')
def pool():
    with CountingPool(2) as p:
        yield p


def town_mask(seed, h, w):
    """Class ids unlike the other tests' masks: rectangles of buildings
    (some touching, some with courtyards) on a grid of roads that spans
    the mask, so one road region crosses every band and has many holes."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    step = int(rng.integers(18, 30))
    for x in range(int(rng.integers(0, step)), w, step):
        mask[:, x:x + int(rng.integers(2, 5))] = 2
    for y in range(int(rng.integers(0, step)), h, step):
        mask[y:y + int(rng.integers(2, 5)), :] = 2
    for _ in range(int(rng.integers(40, 80))):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        bh, bw = rng.integers(3, 14, 2)
        mask[y:y + bh, x:x + bw] = 1
        if bh > 7 and bw > 7 and rng.random() < 0.5:
            mask[y + 3:y + bh - 3, x + 3:x + bw - 3] = 0
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32),
                             (0, 0), 1.5)
    mask[noise > np.quantile(noise, 0.97)] = 1
    mask[:int(rng.integers(1, 6)), :int(rng.integers(3, 20))] = 255
    return mask


def write_scene(tmp_path, name, mask, band, pool=None, **kwargs):
    h, w = mask.shape
    georef = georef_of(tmp_path, h, w)
    out = tmp_path / name
    paths = {k: str(out / f's{suffix}') for k, suffix in (
        ('mask', '_mask.tif'), ('gpkg', '.gpkg'), ('geojson', '.geojson'),
        ('json', '.json'))}
    with SceneWriter(paths, h, w, CLASSES, PALETTE, '/data/s.tif',
                     georef=georef, transform=lonlat_transform(georef),
                     pool=pool, **kwargs) as writer:
        for y in range(0, h, band):
            rows = mask[y:y + band].copy()
            writer.add(y, rows)
            rows[:] = 0  # the caller's array is its own again
    return {k: open(p, 'rb').read() for k, p in paths.items()}, writer.row


@pytest.mark.parametrize('seed,band,options,big', [
    (0, 13, {}, None),
    (1, 7, dict(tolerance=1.0), 40),
    (2, 29, dict(regularize={}), 60),
    (3, 1, dict(tolerance=1.2, regularize={}), None),
])
def test_pool_writes_the_same_bytes(tmp_path, monkeypatch, pool, seed, band,
                                    options, big):
    """Every file and the summary, with and without two worker processes;
    ``big``: polygons of that many vertices or more are made in the
    writer's thread, between the workers' runs, as a scene's road region
    is."""
    monkeypatch.setattr(scene, 'now_stamp', lambda: STAMP)
    if big is not None:
        monkeypatch.setattr(scene, 'POOL_VERTICES', big)
    # Several chunks of columns for the road length (thinned by threads
    # beside a pool).
    monkeypatch.setattr(road_rows._RoadLength, 'COLUMNS', 24 + 8 * seed)
    mask = town_mask(seed, 150 + 17 * seed, 131 + 9 * seed)
    alone, row = write_scene(tmp_path, 'alone', mask, band, **options)
    jobs = pool.jobs
    pooled, row_pooled = write_scene(tmp_path, 'pooled', mask, band,
                                     pool=pool, **options)
    # Every band went to the workers, and runs of polygons too.
    assert pool.jobs - jobs > -(-mask.shape[0] // band)
    assert row_pooled == row
    assert row['building_count'] > 20 and row['road_count'] >= 1
    for kind in alone:
        assert pooled[kind] == alone[kind], kind
    if options.get('tolerance'):  # some polygons were simplified away
        assert row['building_count'] < write_scene(
            tmp_path, 'exact', mask, band)[1]['building_count']


def test_a_dead_writer_process_fails_its_scene_only(tmp_path, monkeypatch):
    """A worker that dies (here it exits; in life, killed for memory) fails
    the scene it worked for with a clear error and leaves no file; the
    pool starts afresh for the next scene, which is complete."""
    monkeypatch.setattr(scene, 'now_stamp', lambda: STAMP)
    mask = town_mask(5, 120, 100)
    with WriterPool(1) as one:
        # The one worker sleeps, then exits; the scene's first band is
        # queued behind it.
        one.submit(time.sleep, 0.3)
        one.submit(os._exit, 3)
        with pytest.raises(RuntimeError,
                           match=r'/data/s\.tif: a writer process stopped'):
            write_scene(tmp_path, 'broken', mask, 16, pool=one)
        assert not (tmp_path / 'broken').exists() or \
            not os.listdir(tmp_path / 'broken')
        again, row = write_scene(tmp_path, 'again', mask, 16, pool=one)
    alone, row_alone = write_scene(tmp_path, 'alone', mask, 16)
    assert again == alone and row == row_alone


def test_writer_pool_arguments_and_defaults(monkeypatch):
    with pytest.raises(ValueError, match='at least one process, got 0'):
        WriterPool(0)
    assert repr(WriterPool(3)) == 'WriterPool(processes=3)'
    # (CPUs of the machine, CPUs this process may use, ranks per machine,
    # device) -> processes.
    for machine, cpus, share, device, expected in [
            (16, 16, 1, 'cuda:0', 4), (5, 5, 1, 'cuda', 3),
            (16, 16, 8, 'cuda:3', 0), (16, 16, 4, 'cuda:1', 2),
            (2, 2, 1, 'cuda', 0), (64, 64, 1, 'cpu', 0),
            # Bound to 6 of 64 CPUs (Slurm's --cpus-per-task): its own.
            (64, 6, 8, 'cuda:2', 4), (64, 5, 8, 'cuda', 3)]:
        monkeypatch.setattr(os, 'cpu_count', lambda n=machine: n)
        monkeypatch.setattr(os, 'sched_getaffinity',
                            lambda pid, n=cpus: set(range(n)))
        assert default_writer_processes(device, share) == expected, (
            machine, cpus, share, device)


def test_infer_writers_option(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811,E501
    """``tools/infer.py --writers 2`` writes the files ``--writers 0``
    does, byte for byte; a negative count is an argument error."""
    monkeypatch.setattr(scene, 'now_stamp', lambda: STAMP)
    path, _, _ = write_uint16(tmp_path / 'scene.tif')
    assert run_tool(tiny, [path], tmp_path / 'bad', '--writers', '-1') == 2
    assert '--writers must be >= 0' in capsys.readouterr().err
    outs = {}
    for n in (0, 2):
        out = tmp_path / f'w{n}'
        assert run_tool(tiny, [path], out, '--writers', str(n)) == 0
        outs[n] = {f: (out / f).read_bytes() for f in sorted(os.listdir(out))}
    assert sorted(outs[0]) == ['scene.geojson', 'scene.gpkg', 'scene.json',
                               'scene_mask.tif', 'summary.csv']
    assert outs[2] == outs[0]
    with rasterio.open(tmp_path / 'w2' / 'scene_mask.tif') as ds:
        assert ds.shape == (H, W)
