"""Road networks from hand-made road masks (mmseg_sia.roads)."""
import os
import os.path as osp
import sys

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString

from mmseg_sia.roads import (line_length_m, mask_to_network, network_length_m,
                             network_lines)


def horizontal(width=15, x0=10, x1=190, shape=(100, 200), top=45):
    mask = np.zeros(shape, bool)
    mask[top:top + width, x0:x1] = True
    return mask


def kinds(graph):
    return sorted(d['kind'] for _, d in graph.nodes(data=True))


def test_straight_road_one_edge_with_length_and_width():
    graph = mask_to_network(horizontal(), pixel_size=0.5)
    # Thinning leaves two corner branches at each end of a wide road; they
    # are pruned, so one edge from end to end remains.
    assert kinds(graph) == ['end', 'end']
    (_, _, data), = graph.edges(data=True)
    # The centre line stops about half a width (7.5 px) short of each end.
    assert abs(data['length_px'] - (180 - 15)) <= 3
    assert data['length_m'] == pytest.approx(0.5 * data['length_px'])
    assert data['width_px'] == 15 and data['width_m'] == 7.5
    # The centre line runs along the road's middle row (52, centre 52.5).
    ys = np.asarray(data['geometry'].coords)[:, 1]
    assert np.all(np.abs(ys - 52.5) <= 1)


def test_anisotropic_pixels_scale_each_axis():
    mask = np.zeros((200, 60), bool)
    mask[10:190, 25:34] = True      # a vertical road, 9 px wide
    graph = mask_to_network(mask, pixel_size=(2.0, 0.5))
    (_, _, data), = graph.edges(data=True)
    coords = np.asarray(data['geometry'].coords)
    d = np.diff(coords, axis=0)
    assert data['length_m'] == pytest.approx(
        np.hypot(2.0 * d[:, 0], 0.5 * d[:, 1]).sum())
    assert data['length_m'] == pytest.approx(0.5 * data['length_px'],
                                             rel=0.01)
    assert line_length_m(np.array([[0, 0], [3, 4]]), (2.0, 0.5)) == \
        pytest.approx(np.hypot(6, 2))


def test_crossing_is_one_junction_of_degree_four():
    mask = horizontal()
    mask[10:90, 95:104] = True
    graph = mask_to_network(mask, pixel_size=1.0)
    assert kinds(graph) == ['end'] * 4 + ['junction']
    junction = next(n for n, d in graph.nodes(data=True)
                    if d['kind'] == 'junction')
    assert graph.degree(junction) == 4
    assert abs(graph.nodes[junction]['x'] - 100) <= 1.5
    assert abs(graph.nodes[junction]['y'] - 52.5) <= 1.5
    widths = sorted(d['width_px'] for _, _, d in graph.edges(data=True))
    assert widths == [9, 9, 15, 15]


def test_broken_road_is_joined_across_its_gaps():
    # The example: a 15 px road cut by five 4 px gaps.
    mask = horizontal()
    for x in (40, 70, 100, 130, 160):
        mask[:, x:x + 4] = False
    broken = mask_to_network(mask, pixel_size=1.0, max_gap_m=0)
    assert nx.number_connected_components(broken) == 6
    joined = mask_to_network(mask, pixel_size=1.0, max_gap_m=5)
    assert nx.number_connected_components(joined) == 1
    (_, _, data), = joined.edges(data=True)
    assert abs(data['length_px'] - 165) <= 3
    # What was joined: five breaks of 4 px of non-road pixels each.
    assert data['gap_px'] == pytest.approx(5 * 4, abs=1)
    # A break longer than max_gap_m stays open.
    assert nx.number_connected_components(
        mask_to_network(mask, pixel_size=1.0, max_gap_m=3)) == 6


def test_side_road_ending_short_of_a_road_gets_a_junction():
    mask = horizontal()
    mask[64:95, 95:104] = True  # a side road stopping 4 px below the road
    apart = mask_to_network(mask, pixel_size=1.0, max_gap_m=0)
    assert nx.number_connected_components(apart) == 2
    graph = mask_to_network(mask, pixel_size=1.0, max_gap_m=6)
    assert nx.number_connected_components(graph) == 1
    assert kinds(graph) == ['end'] * 3 + ['junction']


def test_gap_join_needs_the_heading():
    # A parallel road 4 px away is not joined to a dead end beside it.
    mask = horizontal(width=9, x0=10, x1=100, top=40)
    mask[53:62, 20:190] = True
    graph = mask_to_network(mask, pixel_size=1.0, max_gap_m=6)
    assert nx.number_connected_components(graph) == 2


def test_short_piece_dropped_and_ring_is_a_loop():
    mask = np.zeros((200, 200), bool)
    yy, xx = np.mgrid[:200, :200]
    r = np.hypot(yy - 100, xx - 100)
    mask[(r > 60) & (r < 70)] = True
    mask[5:8, 5:9] = True  # 4 px long: below min_length_m
    graph = mask_to_network(mask, pixel_size=1.0)
    assert kinds(graph) == ['loop']
    (_, _, data), = graph.edges(data=True)
    assert data['length_px'] == pytest.approx(2 * np.pi * 65, rel=0.03)


def test_empty_mask_and_lines_through_a_transform():
    assert mask_to_network(np.zeros((10, 10), bool)).number_of_nodes() == 0
    graph = mask_to_network(horizontal(), pixel_size=0.5)
    assert network_length_m(graph) == pytest.approx(
        sum(d['length_m'] for _, _, d in graph.edges(data=True)))
    (line, props), = network_lines(
        graph, transform=lambda xy: xy * [2, -2] + [1000, 5000])
    (_, _, data), = graph.edges(data=True)
    coords = np.asarray(data['geometry'].coords)
    if data['start'] != props['start_node']:
        coords = coords[::-1]
    assert isinstance(line, LineString)
    np.testing.assert_allclose(np.asarray(line.coords),
                               coords * [2, -2] + [1000, 5000])
    assert props['start_kind'] == props['end_kind'] == 'end'
    assert props['length_m'] == pytest.approx(data['length_m'], abs=1e-3)
    assert props['width_m'] == 7.5 and props['gap_m'] == 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='mask must be 2-D'):
        mask_to_network(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match='max_gap_m must be >= 0'):
        mask_to_network(np.zeros((4, 4)), max_gap_m=-1)
    with pytest.raises(ValueError, match='pixel_size must be positive'):
        mask_to_network(np.zeros((4, 4)), pixel_size=0)
    with pytest.raises(ValueError, match=r'gap_angle must be in \[0, 180\]'):
        mask_to_network(np.zeros((4, 4)), gap_angle=200)


def test_geojson_and_geopackage_of_a_network(tmp_path):
    import pyogrio.raw
    import shapely

    from mmseg_sia.geo import ring_length_m
    from mmseg_sia.roads import network_geojson, write_network_gpkg

    mask = horizontal()
    mask[10:90, 95:104] = True
    graph = mask_to_network(mask, pixel_size=0.5)
    # A north-up tile near the equator: 1e-5 degrees per pixel.

    def to_lonlat(xy):
        return np.asarray(xy) * [1e-5, -1e-5] + [127.0, 0.001]

    doc = network_geojson(graph, to_lonlat)
    assert len(doc['features']) == 4
    for feat in doc['features']:
        coords = np.array(feat['geometry']['coordinates'])
        assert feat['geometry']['type'] == 'LineString'
        assert np.all(np.abs(coords[:, 0] - 127) < 0.01)  # lon first
        assert feat['properties']['length_m'] == pytest.approx(
            ring_length_m(coords, closed=False), abs=1e-3)
    path = str(tmp_path / 'net.gpkg')
    write_network_gpkg(path, graph, lambda xy: np.asarray(xy) * 0.5,
                       crs='EPSG:5186')
    meta, _, geoms, fields = pyogrio.raw.read(path, layer='road_network')
    assert meta['geometry_type'] == 'LineString'
    assert 'EPSG:5186' in meta['crs']
    lengths = dict(zip(meta['fields'], fields))['length_m']
    for wkb, length in zip(geoms, lengths):
        assert shapely.from_wkb(wkb).length == pytest.approx(length,
                                                             abs=1e-3)
    with pytest.raises(FileExistsError, match='pass overwrite=True'):
        write_network_gpkg(path, graph)
    write_network_gpkg(path, graph, overwrite=True)
    assert len(pyogrio.raw.read(path)[2]) == 4


def test_specks_inside_a_road_make_no_loops():
    mask = horizontal()
    mask[52, 60] = False             # a one-pixel hole
    mask[46, 120] = False            # a hole that touches the outside
    mask[45, 121] = False            # only at a corner
    mask[50:53, 150:152] = False     # a 6 px hole
    graph = mask_to_network(mask, pixel_size=1.0)
    assert kinds(graph) == ['end', 'end']
    # Without the hole filling, thinning rings the specks with loops.
    raw = mask_to_network(mask, pixel_size=1.0, hole_area_m2=0,
                          spur_length_m=0, spur_ratio=0)
    assert nx.cycle_basis(nx.Graph(raw)) or any(
        u == v for u, v in raw.edges())


FOOTPRINT = [[127.0210, 37.5412, 0], [127.0268, 37.5413, 0],
             [127.0267, 37.5367, 0], [127.0209, 37.5366, 0]]


def sample_prediction(georeferenced=True):
    """A prediction of a cross of roads and a rotated building."""
    from mmseg_sia.apis import SIAPrediction, footprint_transform
    from mmseg_sia.labels import polygon_coverage
    mask = horizontal().astype(np.uint8) * 2
    mask[10:90, 95:104] = 2
    a = np.radians(25)
    rect = np.array([[-20, -8], [20, -8], [20, 8], [-20, 8]]) @ np.array(
        [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + [150, 80]
    mask[polygon_coverage([rect], 100, 200) & (mask == 0)] = 1
    transform = footprint_transform(FOOTPRINT, 200, 100, 'test') \
        if georeferenced else None
    return SIAPrediction(mask=mask, polygons={},
                         classes=('background', 'building', 'road'),
                         palette=[[0, 0, 0], [128, 128, 0], [128, 64, 128]],
                         transform=transform, image_path='tile.png')


def test_prediction_writes_the_network_and_regularized_outlines(tmp_path):
    import json

    import pyogrio.raw

    result = sample_prediction()
    results = result.regularize_buildings()
    assert len(results) == 1 and results[0].regularized
    assert len(result.polygons[1][0].exterior) == 4
    paths = result.save(str(tmp_path),
                        formats=['geojson', 'network', 'network_gpkg'])
    assert sorted(osp.basename(p) for p in paths.values()) == [
        'tile.geojson', 'tile_network.geojson', 'tile_network.gpkg']
    doc = json.loads(open(paths['geojson']).read())
    building, = [f for f in doc['features']
                 if f['properties']['class'] == 'building']
    assert building['properties']['regularized_iou'] == pytest.approx(
        results[0].iou, abs=1e-4)
    net = json.loads(open(paths['network']).read())
    assert net['mmseg_sia']['crs'] == 'EPSG:4326'
    assert len(net['features']) == 4
    assert all(f['geometry']['type'] == 'LineString'
               for f in net['features'])
    meta, _, geoms, _ = pyogrio.raw.read(paths['network_gpkg'],
                                         layer='road_network')
    assert len(geoms) == 4 and 'EPSG:4326' in meta['crs']
    # Without a georeference: no network GeoJSON, a GeoPackage in pixels.
    plain = sample_prediction(georeferenced=False)
    paths = plain.save(str(tmp_path / 'plain'),
                       formats=['network', 'network_gpkg'])
    assert list(paths) == ['network_gpkg']
    meta, _, geoms, _ = pyogrio.raw.read(paths['network_gpkg'])
    assert meta['crs'] is None
    with pytest.raises(ValueError, match="no 'boundary' class"):
        plain.class_index('boundary')


def test_infer_tool_formats_network_and_regularize(tmp_path):
    import importlib.util
    import json

    import torch
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    from mmseg.registry import MODELS

    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if osp.join(repo, 'tools') not in sys.path:  # as for a script: _cli.py
        sys.path.insert(0, osp.join(repo, 'tools'))
    spec = importlib.util.spec_from_file_location(
        'infer_tool', osp.join(repo, 'tools', 'infer.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cfg_path = osp.join(repo, 'configs', 'sia', 'fpn_r18_sia-sample.py')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    model.init_weights()
    ckpt = str(tmp_path / 'random.pth')
    save_checkpoint(model.state_dict(), ckpt)
    stem = 'BLD03154_PS3_K3A_NIA0697'
    image = osp.join(repo, 'data', 'sia_sample', 'images', stem + '.png')
    out = tmp_path / 'out'
    assert tool.main([cfg_path, ckpt, image, '--out-dir', str(out),
                      '--device', 'cpu', '--no-progress', '--regularize',
                      '--formats', 'geojson,network,network_gpkg']) == 0
    assert sorted(os.listdir(out)) == [
        f'{stem}.geojson', f'{stem}_network.geojson',
        f'{stem}_network.gpkg']
    doc = json.loads((out / f'{stem}.geojson').read_text())
    for feat in doc['features']:
        if feat['properties']['class'] == 'building':
            assert 0 < feat['properties']['regularized_iou'] <= 1
    # The defaults are unchanged: no network files.
    assert 'network' not in tool.DEFAULT_FORMATS


def test_bench_road_network_smoke():
    """The benchmark runs and prints its ratios (figures not checked)."""
    import re
    import subprocess
    import sys
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo, OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        [sys.executable, osp.join(repo, 'benchmarks', 'bench_road_network.py'),
         '--tiles', '1', '--size', '256', '--repeat', '1'],
        capture_output=True, text=True, timeout=600, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r'^added / inference +\d+\.\d+ +\(CPU time',
                     proc.stdout, re.M), proc.stdout
    assert re.search(r'^road network +\d+\.\d+ s/MP', proc.stdout, re.M)


# --------------------------------------------------------------------------
# Streamed building: mask_rows_to_network against the whole mask
# --------------------------------------------------------------------------
def network_key(graph):
    """Everything a user reads from a network, exactly."""
    nodes = sorted((n, d['x'], d['y'], d['kind'])
                   for n, d in graph.nodes(data=True))
    edges = sorted((u, v, k, d['start'], d['geometry'].wkt, d['length_m'],
                    d['width_m'], d['gap_px'])
                   for u, v, k, d in graph.edges(keys=True, data=True))
    return nodes, edges


def random_roads(seed, size=320):
    """Curved roads 5-25 px wide with roughened outlines, breaks and a
    square, drawn with shapely-independent OpenCV polylines."""
    import cv2
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(7):
        point = rng.uniform(0, size, 2)
        heading = rng.normal(0, 1, 2)
        points = [point]
        for _ in range(12):
            heading = heading / np.linalg.norm(heading) + rng.normal(0, .3, 2)
            points.append(points[-1] + heading / np.linalg.norm(heading) *
                          rng.uniform(15, 40))
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 1,
                      thickness=int(rng.integers(5, 26)))
    mask = canvas.astype(bool)
    y, x = rng.integers(60, size - 60, 2)
    mask[y - 35:y + 35, x - 35:x + 35] = True      # a 70 px square
    for _ in range(8):                             # breaks of 2-7 px
        y, x = rng.integers(0, size, 2)
        gap = int(rng.integers(2, 8))
        if rng.random() < 0.5:
            mask[y - 20:y + 20, x:x + gap] = False
        else:
            mask[y:y + gap, x - 20:x + 20] = False
    edge = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)
    return mask ^ (edge & (rng.random(mask.shape) < 0.3))


def read_counting(mask, calls):
    def read_rows(y0, y1):
        calls.append((y0, y1))
        return mask[y0:y1]
    return read_rows


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_streamed_network_is_the_whole_mask_network(seed):
    mask = random_roads(seed)
    whole = mask_to_network(mask, pixel_size=0.5)
    assert whole.number_of_edges() >= 8
    from mmseg_sia.roads import mask_rows_to_network
    for block, halo in ((45, 8), (100, 40)):
        calls = []
        banded = mask_rows_to_network(read_counting(mask, calls),
                                      *mask.shape, block=block, halo=halo,
                                      pixel_size=0.5)
        assert network_key(banded) == network_key(whole), (block, halo)
        # Roads were cut by the bands: the network crosses their edges.
        crossing = sum(
            1 for _, _, d in whole.edges(data=True)
            for y in range(block, mask.shape[0], block)
            if d['geometry'].bounds[1] < y < d['geometry'].bounds[3])
        assert crossing >= 5


def boundary_roads(block=64):
    """A road centred on a band edge, a crossing road with its junction on
    the edge, and a road broken across the next edge."""
    mask = np.zeros((4 * block, 240), bool)
    mask[block - 7:block + 8, 10:230] = True          # along the edge
    mask[10:3 * block - 40, 100:111] = True           # junction on it
    mask[30:4 * block - 10, 180:189] = True           # down, then broken
    mask[2 * block - 3:2 * block + 3, 170:200] = False   # ... on an edge
    return mask


def test_streamed_network_across_band_edges():
    from mmseg_sia.roads import mask_rows_to_network
    mask = boundary_roads(64)
    whole = mask_to_network(mask, pixel_size=1.0, max_gap_m=8)
    calls = []
    banded = mask_rows_to_network(read_counting(mask, calls), *mask.shape,
                                  block=64, halo=20, pixel_size=1.0,
                                  max_gap_m=8)
    assert network_key(banded) == network_key(whole)
    # Each read is a band with its context, never the scene: the context
    # needs 10 + 3 * 10 + 16 rows (10 px holes, a crossing 10 px from the
    # road's edge) and grows in steps of at least a quarter.
    assert max(y1 - y0 for y0, y1 in calls) <= 64 + 2 * 70
    # What a router sees: one network, two junctions (the crossing on the
    # edge and where the broken road meets the edge road), the break of
    # 6 px joined.
    assert nx.number_connected_components(banded) == 1
    junctions = [d for _, d in banded.nodes(data=True)
                 if d['kind'] == 'junction']
    assert len(junctions) == 2
    assert any(abs(d['y'] - 64) <= 1.5 and abs(d['x'] - 105.5) <= 1.5
               for d in junctions)
    assert sum(d['gap_px'] for _, _, d in banded.edges(data=True)) == \
        pytest.approx(6, abs=1)
    # The edge road is one straight line along row 64 (pixel centre 64.5),
    # not two halves or a zig-zag.
    ys = np.concatenate([np.asarray(d['geometry'].coords)[:, 1]
                         for _, _, d in banded.edges(data=True)
                         if d['width_px'] == 15])
    assert np.all(np.abs(ys - 64.5) <= 1)


def test_streamed_context_grows_for_wide_roads():
    from mmseg_sia.roads import mask_rows_to_network
    mask = np.zeros((300, 200), bool)
    mask[40:260, 60:140] = True     # an 80 px wide surface over five bands
    mask[140:150, :] = True
    whole = mask_to_network(mask, pixel_size=1.0)
    calls = []
    banded = mask_rows_to_network(read_counting(mask, calls), 300, 200,
                                  block=50, halo=4, pixel_size=1.0)
    assert network_key(banded) == network_key(whole)
    assert max(y1 - y0 for y0, y1 in calls) > 50 + 2 * 4
    # Held to a few rows of context, it warns once that it may differ.
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        mask_rows_to_network(lambda a, b: mask[a:b], 300, 200, block=50,
                             halo=4, max_halo=4, pixel_size=1.0)
    assert len(caught) == 1
    with pytest.warns(UserWarning, match=r'mask_rows_to_network: \d+ '
                      r'tile\(s\) \(the first at rows 0-50, columns 0-50\)'
                      r' .* more than max_halo=4; the network there may '
                      'differ'):
        mask_rows_to_network(lambda a, b: mask[a:b], 300, 200, block=50,
                             halo=4, max_halo=4, pixel_size=1.0)


def test_streamed_network_of_class_ids_and_bad_reads():
    from mmseg_sia.roads import mask_rows_to_network
    mask = boundary_roads(32).astype(np.uint8) * 2
    mask[:20, :] = np.where(mask[:20, :] == 0, 1, 2)   # buildings: class 1
    graph = mask_rows_to_network(lambda a, b: mask[a:b], *mask.shape,
                                 road_class=2, block=32)
    assert network_key(graph) == network_key(mask_to_network(mask == 2))
    with pytest.raises(ValueError, match=r'read_rows\(0, 32\) returned '
                       r'shape \(32, 239\), expected \(32, 240\)'):
        mask_rows_to_network(lambda a, b: mask[a:b, 1:], *mask.shape,
                             road_class=2, block=16, halo=16)
    with pytest.raises(ValueError, match='height must be a positive'):
        mask_rows_to_network(lambda a, b: mask[a:b], 0, 240)
    with pytest.raises(ValueError, match='block must be a positive'):
        mask_rows_to_network(lambda a, b: mask[a:b], *mask.shape, block=0)


def test_bench_road_network_scene_smoke():
    """The scene mode runs, and its streamed and whole-mask networks of a
    mosaic cut into 128-pixel tiles are the same (figures not checked)."""
    import re
    import subprocess
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo, OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        [sys.executable, osp.join(repo, 'benchmarks', 'bench_road_network.py'),
         '--scene', '640', '--size', '256', '--block', '128',
         '--repeat', '1'],
        capture_output=True, text=True, timeout=600, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r'^ +640² stream +0\.4 ', proc.stdout, re.M), \
        proc.stdout
    assert 'streamed and whole-mask networks identical: True' in \
        proc.stdout, proc.stdout
