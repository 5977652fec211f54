"""Scenes written from bands of mask rows (issue 11): seamless polygons and
outputs equal to those of the whole mask.

:class:`BandPolygonizer` is checked against polygonizing the whole mask at
once (GDAL through ``binary_to_polygons``) with shapely's ``normalize``, and
:class:`SceneWriter`'s files against :class:`SIAPrediction` writing the same
mask whole, and against the mask itself (rasterio's ``rasterize``).
"""
import json
import os
import os.path as osp
import platform
import subprocess
import sys

import cv2
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize

from mmseg_sia.apis import SIAPrediction, segment_image
from mmseg_sia.apis.scene import SceneWriter
from mmseg_sia.apis.stitching import BandPolygonizer
from mmseg_sia.apis.segment import iter_segment_rows
from mmseg_sia.georef import lonlat_transform, read_raster_georef
from mmseg_sia.vectorize import binary_to_polygons
from test_inference import blocks_image, model, tiny  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

CLASSES = ('background', 'building', 'road')
PALETTE = [[0, 0, 0], [128, 128, 0], [128, 64, 128]]


def shapely_set(polys):
    """Polygons as sorted normalized WKT (an order-free comparison)."""
    return sorted(shapely.Polygon(p.exterior, p.holes).normalize().wkt
                  for p in polys)


def streamed(mask, class_id, band):
    maker = BandPolygonizer(class_id, mask.shape[1])
    out = []
    for y in range(0, mask.shape[0], band):
        out += maker.add(y, mask[y:y + band])
    return out + maker.finish()


def random_mask(seed, h=61, w=47):
    rng = np.random.default_rng(seed)
    if seed % 2:
        # Smooth blobs: large regions crossing many bands, with holes.
        field = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32),
                                 (0, 0), 2.5)
        mask = np.digitize(field, np.quantile(field, [0.45, 0.7]))
    else:
        # Speckle: many diagonal contacts and pinched holes.
        mask = (rng.random((h, w)) < 0.5) * rng.integers(1, 3, (h, w))
    return mask.astype(np.uint8)


@pytest.mark.parametrize('band', [1, 7, 13])
@pytest.mark.parametrize('seed', range(4))
def test_band_polygons_equal_the_whole_mask(seed, band):
    mask = random_mask(seed)
    for c in (1, 2):
        whole = binary_to_polygons(mask == c, c)
        got = streamed(mask, c, band)
        assert shapely_set(got) == shapely_set(whole)
        # Not only the same shapes: the same arrays (canonical rings).
        key = lambda p: (p.exterior.tobytes(),  # noqa: E731
                         tuple(h.tobytes() for h in p.holes))
        assert sorted(map(key, got)) == sorted(map(key, whole))
        assert all(p.class_id == c for p in got)


@pytest.mark.parametrize('seed', range(6))
def test_one_pass_pieces_equal_each_class_alone(seed):
    # band_pieces polygonizes all classes of a band at once (what
    # SceneWriter does); each class gets what its own binary band gives,
    # and the polygons streamed from those pieces are the whole mask's.
    from mmseg_sia.apis.stitching import band_pieces
    from mmseg_sia.vectorize import label_shapes
    mask = random_mask(seed, 53, 71)
    rng = np.random.default_rng(seed)
    mask[rng.random(mask.shape) < 0.08] = 3  # a class not asked for
    mask[:, :3] = 255  # nodata
    pieces = band_pieces(mask[8:40], [1, 2], 8)
    assert sorted(pieces) == [1, 2]
    for c in (1, 2):
        binary = mask[8:40] == c
        alone = [[np.asarray(r, np.float64) for r in g['coordinates']]
                 for _, g in label_shapes(binary.view(np.uint8), binary, 8)]
        assert sorted(shapely.Polygon(p[0], p[1:]).normalize().wkt
                      for p in pieces[c]) == \
            sorted(shapely.Polygon(p[0], p[1:]).normalize().wkt
                   for p in alone)
    makers = {c: BandPolygonizer(c, mask.shape[1]) for c in (1, 2)}
    out = {1: [], 2: []}
    for y in range(0, mask.shape[0], 9):
        got = band_pieces(mask[y:y + 9], [1, 2], y)
        for c, maker in makers.items():
            out[c] += maker.add(y, mask[y:y + 9], got[c])
    for c, maker in makers.items():
        assert shapely_set(out[c] + maker.finish()) == \
            shapely_set(binary_to_polygons(mask == c, c))


def test_band_of_more_regions_than_16_bit_labels_hold():
    """A band of 90,000 single pixels and one of 22,500 pairs (more regions
    than 16-bit labels hold), linked across the band edge."""
    mask = np.zeros((900, 600), np.uint8)
    mask[:600:2, ::2] = 1  # 90,000 regions in the first band
    mask[600::4, ::2] = mask[601::4, ::2] = 1  # pairs across rows
    maker = BandPolygonizer(1, 600)
    got = maker.add(0, mask[:600]) + maker.add(600, mask[600:]) + \
        maker.finish()
    assert len(got) == 90000 + 22500
    assert shapely_set(got) == shapely_set(binary_to_polygons(mask == 1, 1))


@pytest.mark.parametrize('seed', range(4))
def test_pieces_hold_the_edge_pixels_opencv_labels_give(seed):
    """Which piece holds each pixel of a band's first and last rows, read
    off the pieces' exteriors, is what OpenCV's 4-connected labels of the
    band give: the same pixels, one piece for each label."""
    from mmseg_sia.apis.stitching import _edge_rows, band_pieces
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 30), rng.integers(1, 60)
    mask = (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
    mask[rng.random((h, w)) < 0.2] = 2  # another class
    y0 = int(rng.integers(0, 1000))
    pieces = band_pieces(mask, [1], y0)[1]
    _, labels = cv2.connectedComponents((mask == 1).view(np.uint8),
                                        connectivity=4)
    if not pieces:
        assert not (mask == 1).any()
        return
    rows = _edge_rows([p[0] for p in pieces], (y0, y0 + h), w)
    for got, want in zip(rows, (labels[0], labels[-1])):
        assert ((got > 0) == (want > 0)).all()
        pairs = set(zip(got[got > 0].tolist(), want[want > 0].tolist()))
        assert len(pairs) == len({a for a, _ in pairs}) == \
            len({b for _, b in pairs})


def test_inner_holes_of_open_regions_held_compactly():
    """Holes of a region still open that touch no band edge are stored in
    canonical form, one array per region and band, and come back in their
    place: a region in one band only reaching the last row, one whose next
    band has none of its class, one across many bands; the arrays equal the
    whole mask's."""
    from mmseg_sia.apis.stitching import _InnerHoles
    mask = np.zeros((42, 40), np.uint8)
    mask[0:14, 2:12] = 1           # bands 0-1, ends where band 2 is empty
    mask[3:5, 4:6] = mask[9, 8] = 0
    mask[0:42, 20:38] = 1          # the whole height
    mask[2:40:4, 22:36:4] = 0      # holes inside bands and on their edges
    mask[36:42, 2:12] = 1          # the last band only, to its last row
    mask[38, 4] = mask[39:41, 7:10] = 0
    for c in (1, ):
        maker = BandPolygonizer(c, 40)
        got, stored = [], 0
        for y in range(0, 42, 7):
            got += maker.add(y, mask[y:y + 7])
            stored += sum(isinstance(p, _InnerHoles) for pieces in
                          maker._open.values() for p in pieces)
        got += maker.finish()
        assert stored >= 8
        whole = binary_to_polygons(mask == c, c)
        key = lambda p: (p.exterior.tobytes(),  # noqa: E731
                         tuple(h.tobytes() for h in p.holes))
        assert sorted(map(key, got)) == sorted(map(key, whole))
        assert sum(len(p.holes) for p in got) == 2 + 40 + 2


def test_region_across_many_bands_with_holes_on_band_edges():
    mask = np.zeros((40, 30), np.uint8)
    mask[2:38, 3:27] = 1          # one building over six 7-row bands
    mask[6:15, 8:12] = 0          # a hole crossing the edge at row 7 ...
    mask[13:29, 15:20] = 0        # ... and one crossing rows 14, 21, 28
    mask[20, 10] = 0              # a one-pixel hole
    (poly, ) = streamed(mask, 1, 7)
    shape = shapely.Polygon(poly.exterior, poly.holes)
    assert shape.is_valid and len(poly.holes) == 3
    assert shape.area == (mask == 1).sum()
    assert shapely.equals(shape, shapely.box(3, 2, 27, 38).difference(
        shapely.union_all([shapely.box(8, 6, 12, 15),
                           shapely.box(15, 13, 20, 29),
                           shapely.box(10, 20, 11, 21)])))


def test_diagonal_contacts_across_a_band_edge_stay_apart():
    mask = np.zeros((14, 10), np.uint8)
    mask[6, 2] = mask[7, 3] = 1              # touch at a corner on the edge
    mask[3:7, 6] = mask[7:10, 7] = 1         # two bars meeting at a corner
    got = streamed(mask, 1, 7)
    assert len(got) == 4 == len(binary_to_polygons(mask == 1))
    # A ring closed only through a corner on the band edge: one region
    # with a hole that touches its exterior at that corner.
    ring = np.zeros((14, 10), np.uint8)
    ring[3:11, 2:8] = 1
    ring[5:9, 4:6] = 0
    ring[6, 3] = 0        # the hole reaches ...
    ring[7, 2] = 0        # ... out through the corner (7, 3) on the edge
    got = streamed(ring, 1, 7)
    assert shapely_set(got) == shapely_set(binary_to_polygons(ring == 1))
    (poly, ) = got
    assert shapely.Polygon(poly.exterior, poly.holes).is_valid
    assert poly.area == (ring == 1).sum()


def test_bands_must_follow_each_other():
    maker = BandPolygonizer(1, 5)
    maker.add(0, np.zeros((3, 5), np.uint8))
    with pytest.raises(ValueError, match='band at row 4 .* rows 0:3'):
        maker.add(4, np.zeros((3, 5), np.uint8))


def test_segment_rows_cover_the_image_and_equal_segment_image(model):
    import torch
    image = blocks_image(80, 96, 0)
    grad = []
    original = type(model).encode_decode

    def spy(self, inputs, metas):
        grad.append(torch.is_grad_enabled())
        return original(self, inputs, metas)

    type(model).encode_decode = spy
    try:
        bands = list(iter_segment_rows(model, image))
    finally:
        type(model).encode_decode = original
    # No autograd graph is kept (it would grow with the scene).
    assert grad and not any(grad)
    assert [y for y, _ in bands] == list(np.cumsum(
        [0] + [len(r) for _, r in bands[:-1]]))
    np.testing.assert_array_equal(np.concatenate([r for _, r in bands]),
                                  segment_image(model, image))


def georef_of(tmp_path, height, width, crs='EPSG:32652'):
    path = str(tmp_path / 'grid.tif')
    with rasterio.open(path, 'w', driver='GTiff', height=height, width=width,
                       count=1, dtype='uint8', crs=crs,
                       transform=Affine(0.5, 0, 320000, 0, -0.5,
                                        4160000)) as ds:
        ds.write(np.zeros((1, height, width), np.uint8))
    return read_raster_georef(path)


def test_scene_writer_equals_the_whole_mask_outputs(tmp_path):
    """Bands of 7 rows written by SceneWriter vs SIAPrediction writing the
    whole mask: the same polygons (GeoJSON, label JSON, GeoPackage), the
    same summary measures, and the mask COG; GeoPackage polygons rasterized
    back give the mask."""
    import pyogrio

    mask = random_mask(3, 70, 52)
    mask[:5, :9] = 255                       # nodata: never covered
    h, w = mask.shape
    georef = georef_of(tmp_path, h, w)
    transform = lonlat_transform(georef)
    names = dict(mask='s_mask.tif', gpkg='s.gpkg', geojson='s.geojson',
                 json='s.json')
    paths = {k: str(tmp_path / 'stream' / v) for k, v in names.items()}
    with SceneWriter(paths, h, w, CLASSES, PALETTE, '/data/s.tif',
                     georef=georef, transform=transform) as writer:
        for y in range(0, h, 7):
            writer.add(y, mask[y:y + 7])
    whole = SIAPrediction(mask=mask, polygons={}, classes=CLASSES,
                          palette=PALETTE, transform=transform,
                          image_path='/data/s.tif', georef=georef,
                          scene=True)
    whole.save(str(tmp_path / 'whole'), formats=list(names))
    # Summary measures: equal, floats included.
    assert writer.row == whole.measures()
    assert writer.row['building_count'] > 3
    # The mask COG.
    with rasterio.open(paths['mask']) as ds:
        np.testing.assert_array_equal(ds.read(1), mask)
    # GeoJSON: the same features, in the order the bands finished them.
    docs = [json.loads((tmp_path / d / 's.geojson').read_text())
            for d in ('stream', 'whole')]
    assert {k: v for k, v in docs[0].items() if k != 'features'} == \
        {k: v for k, v in docs[1].items() if k != 'features'}
    key = lambda f: json.dumps(  # noqa: E731
        dict(f, id=None), sort_keys=True)
    assert sorted(map(key, docs[0]['features'])) == \
        sorted(map(key, docs[1]['features']))
    # Label JSON: the same features (apart from the time stamp).
    labels = []
    for d in ('stream', 'whole'):
        doc = json.loads((tmp_path / d / 's.json').read_text())
        for f in doc['features']:
            f['properties'].pop('ingest_time')
        labels.append(sorted(json.dumps(f, sort_keys=True)
                             for f in doc['features']))
    assert labels[0] == labels[1]
    # GeoPackage: same rows per layer; rasterized back, the mask.
    back = np.zeros_like(mask)
    for layer, cid in (('building', 1), ('road', 2)):
        rows = []
        for d in ('stream', 'whole'):
            meta, _, wkb, fields = pyogrio.raw.read(
                str(tmp_path / d / 's.gpkg'), layer=layer)
            geoms = shapely.from_wkb(wkb)
            data = dict(zip(meta['fields'], fields))
            rows.append(sorted(zip(
                shapely.to_wkt(shapely.normalize(geoms)).tolist(),
                data['area_m2'].tolist(), data['perimeter_px'].tolist())))
        assert rows[0] == rows[1] and rows[0]
        geoms = [shapely.from_wkt(r[0]) for r in rows[0]]
        burned = rasterize([(g, 1) for g in geoms],
                           out_shape=mask.shape, transform=georef.transform,
                           dtype='uint8')
        assert not (back.astype(bool) & burned.astype(bool)).any()
        back[burned == 1] = cid
    expected = mask.copy()
    expected[mask == 255] = 0
    np.testing.assert_array_equal(back, expected)


def test_scene_writer_leaves_nothing_on_error(tmp_path):
    georef = georef_of(tmp_path, 20, 10)
    paths = dict(mask=str(tmp_path / 'o' / 'm.tif'),
                 gpkg=str(tmp_path / 'o' / 'm.gpkg'))
    with pytest.raises(ValueError, match='5 rows written of 20'):
        with SceneWriter(paths, 20, 10, CLASSES, PALETTE, 'm.tif',
                         georef=georef) as writer:
            writer.add(0, np.ones((5, 10), np.uint8))
    assert list((tmp_path / 'o').iterdir()) == []


def test_scene_writer_road_network_equals_the_whole_mask(tmp_path):
    """The network formats of a streamed scene: the network is built in a
    thread as the rows arrive (bands of 32 rows here); GeoJSON and
    GeoPackage equal those of the whole mask, and no other file is
    left."""
    import cv2
    import pyogrio

    h, w = 150, 130
    mask = np.zeros((h, w), np.uint8)
    cv2.line(mask, (0, 20), (129, 120), 2, 9)
    cv2.line(mask, (60, 0), (60, 149), 2, 7)
    cv2.line(mask, (0, 140), (80, 140), 2, 5)
    cv2.rectangle(mask, (90, 10), (110, 30), 1, -1)
    georef = georef_of(tmp_path, h, w)
    transform = lonlat_transform(georef)
    names = dict(network='s_network.geojson', network_gpkg='s_network.gpkg')
    paths = {k: str(tmp_path / 'stream' / v) for k, v in names.items()}
    with SceneWriter(paths, h, w, CLASSES, PALETTE, '/data/s.tif',
                     georef=georef, transform=transform, summary=False,
                     network=dict(block=32)) as writer:
        for y in range(0, h, 11):
            writer.add(y, mask[y:y + 11])
    whole = SIAPrediction(mask=mask, polygons={}, classes=CLASSES,
                          palette=PALETTE, transform=transform,
                          image_path='/data/s.tif', georef=georef,
                          scene=True)
    whole.save(str(tmp_path / 'whole'), formats=list(names))
    assert sorted(os.listdir(tmp_path / 'stream')) == sorted(names.values())
    docs = [json.loads((tmp_path / d / 's_network.geojson').read_text())
            for d in ('stream', 'whole')]
    assert docs[0] == docs[1]
    assert len(docs[0]['features']) >= 4   # the crossing splits the lines
    tables = []
    for d in ('stream', 'whole'):
        meta, _, wkb, fields = pyogrio.raw.read(
            str(tmp_path / d / 's_network.gpkg'), layer='road_network')
        assert meta['crs'] == 'EPSG:4326'
        tables.append((shapely.to_wkt(shapely.from_wkb(wkb)).tolist(),
                       [list(f) for f in fields]))
    assert tables[0] == tables[1]


@pytest.mark.filterwarnings('ignore:mask_rows_to_network')
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_network_thread_reads_back_the_rows_it_was_given(seed):
    """The network thread holds the bands it is given bit-packed, lets go
    of the rows it can no longer ask for, and builds the network that
    ``mask_rows_to_network`` builds reading the whole mask: bands of
    several heights, a context small enough that most rows are let go."""
    from mmseg_sia.apis.road_rows import _RoadNetwork
    from mmseg_sia.roads import mask_rows_to_network, network_lines

    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(260, 400)), int(rng.integers(60, 140))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(6):
        p = rng.integers(0, [w, h], size=(2, 2)).tolist()
        cv2.line(mask, tuple(p[0]), tuple(p[1]), 2, int(rng.integers(3, 9)))
    kwargs = dict(block=32, halo=8, max_halo=24, pixel_size=0.5)
    with _RoadNetwork(h, w, kwargs) as net:
        y = 0
        while y < h:
            n = int(rng.integers(1, 40))
            net.write(y, np.packbits(mask[y:y + n] == 2, axis=1))
            y += n
        graph = net.network()
        held = sum(n for n, _ in net.bands.values())
    expected = mask_rows_to_network(lambda a, b: mask[a:b], h, w, 2,
                                    **kwargs)

    def lines(g):
        return [(line.wkt, props) for line, props in network_lines(g)]
    assert lines(graph) == lines(expected) and len(lines(graph)) >= 3
    # Rows above the last band's widest context are let go: what is held
    # at the end is that context, a band and one band given, not the scene.
    assert held <= (24 + 32) + 32 + 24 + 40 < h


def test_network_thread_error_and_early_stop(tmp_path, monkeypatch):
    """An error while the network is built reaches the caller, naming its
    cause, and leaves no file; a scene stopped before its last row ends the
    thread without waiting for rows that never come."""
    import mmseg_sia.roads as roads

    h, w = 64, 40
    georef = georef_of(tmp_path, h, w)
    transform = lonlat_transform(georef)
    paths = dict(network=str(tmp_path / 'o' / 's_network.geojson'),
                 gpkg=str(tmp_path / 'o' / 's.gpkg'))
    mask = np.zeros((h, w), np.uint8)
    mask[:, 18:24] = 2

    def broken(*args, **kwargs):
        raise OSError('no space left for the network')
    monkeypatch.setattr(roads, 'mask_rows_to_network', broken)
    with pytest.raises(OSError, match='no space left for the network'):
        with SceneWriter(paths, h, w, CLASSES, PALETTE, 's.tif',
                         georef=georef, transform=transform) as writer:
            writer.add(0, mask)
    monkeypatch.undo()
    with pytest.raises(ValueError, match='16 rows written of 64'):
        with SceneWriter(paths, h, w, CLASSES, PALETTE, 's.tif',
                         georef=georef, transform=transform) as writer:
            writer.add(0, mask[:16])
            thread = writer._roads.thread
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert list((tmp_path / 'o').iterdir()) == []


def test_road_length_error_in_its_thread_names_the_scene(tmp_path,
                                                         monkeypatch):
    """The road length is thinned in a thread of its own; an error there
    is raised to the writer with the scene's name and leaves no file."""
    from mmseg_sia.apis.road_rows import _RoadLength

    def broken(self, road):
        raise MemoryError('thinning')
    monkeypatch.setattr(_RoadLength, 'add_road', broken)
    georef = georef_of(tmp_path, 30, 20)
    paths = dict(mask=str(tmp_path / 'o' / 'm.tif'))
    with pytest.raises(RuntimeError, match='m.tif: road length: thinning'):
        with SceneWriter(paths, 30, 20, CLASSES, PALETTE, 'm.tif',
                         georef=georef) as writer:
            for y in range(0, 30, 5):
                writer.add(y, np.full((5, 20), 2, np.uint8))
    assert list((tmp_path / 'o').iterdir()) == []


def road_masks(seed):
    """Masks of class ids with roads of every kind: blobs, lines 1-60 px
    wide, discs and rectangles larger than a band, speckle."""
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    for kind in range(4):
        h, w = int(rng.integers(120, 400)), int(rng.integers(40, 200))
        if kind == 0:
            smooth = ndimage.gaussian_filter(rng.random((h, w)), 4)
            yield (smooth > 0.5).astype(np.uint8) * 2
        elif kind == 1:
            m = np.zeros((h, w), np.uint8)
            for _ in range(5):
                p = rng.integers(0, [w, h], size=(2, 2)).tolist()
                cv2.line(m, tuple(p[0]), tuple(p[1]), 2,
                         int(rng.integers(1, 60)))
            yield m
        elif kind == 2:
            m = np.zeros((h, w), np.uint8)
            cv2.circle(m, (w // 2, h // 2), int(rng.integers(60, 150)), 2,
                       -1)
            m[10:h // 3, 5:w - 20] = 2
            yield m
        else:
            m = rng.integers(0, 2, (h, w)).astype(np.uint8)
            m[ndimage.gaussian_filter(rng.random((h, w)), 3) > 0.55] = 2
            yield m


@pytest.mark.parametrize('seed,columns,context', [
    (0, 2048, 254), (1, 2048, 254), (2, 2048, 254),
    (0, 13, 254), (1, 37, 3), (2, 8, 1)])
def test_streamed_road_length_equals_the_whole_mask(seed, columns, context,
                                                    monkeypatch):
    """The summary's road length from bands equals scikit-image's skeleton
    of the whole mask, step for step, in pixels and on the ground, in bands
    as thin as one row and with roads wider than a band, thinned across the
    width at once or in chunks of a few columns (not whole bytes of the
    packed rows), their roads' reach measured with a context narrower than
    the roads (measured again across the width)."""
    from mmseg_sia.apis.prediction import _skeleton_length
    from mmseg_sia.apis.road_rows import _RoadLength
    monkeypatch.setattr(_RoadLength, 'COLUMNS', columns)
    monkeypatch.setattr(_RoadLength, 'REACH_CONTEXT', context)
    rng = np.random.default_rng(100 + seed)
    jac = np.array([[0.5, 0.1], [-0.05, 0.55]])
    for mask in road_masks(seed):
        want = (_skeleton_length(mask == 2, jac), _skeleton_length(mask == 2))
        assert want[1] > 0
        # (Bands of one row in chunks of a few columns: thousands of
        # thinnings, minutes.)
        for block, band in ((1, 1), (7, 13), (64, 50))[columns < 2048:]:
            length = _RoadLength(2, mask.shape[1], block=block)
            y = 0
            while y < len(mask):
                n = int(rng.integers(1, band + 1))
                length.add(y, mask[y:y + n])
                y += n
            got = length.result(jac)
            assert got == pytest.approx(want, rel=0, abs=1e-9), (block, band)


def test_streamed_road_length_of_a_road_over_255_pixels_from_its_edge():
    """The road's reach from its edge is measured in 8 bits, which stops at
    255: a block of road 1,200 pixels wide (reach 600) is measured again
    in floats, so its context is wide enough and the length is the whole
    mask's (with the reach taken as 255, the context is too short, and
    the length came out 118.7 pixels instead of 401.8)."""
    from mmseg_sia.apis.prediction import _skeleton_length
    from mmseg_sia.apis.road_rows import _RoadLength
    mask = np.zeros((1800, 1300), np.uint8)
    mask[100:1700, 50:1250] = 2
    length = _RoadLength(2, mask.shape[1], block=256)
    length.retain = 1800  # keep every row (the block needs ~1,200)
    for y in range(0, len(mask), 384):
        length.add(y, mask[y:y + 384])
    assert length.result(None)[1] == _skeleton_length(mask == 2)
    assert not length.warned


def test_streamed_road_length_holds_a_band_not_the_scene():
    """Thin roads on a tall scene: the rows kept stay a band and its
    context however many rows have gone by."""
    from mmseg_sia.apis.road_rows import _RoadLength
    width, held = 300, []
    length = _RoadLength(2, width, block=64)
    rows = np.zeros((32, width), np.uint8)
    rows[:, 100:106] = 2
    rows[10:14, :] = 2
    for y in range(0, 32 * 200, 32):
        length.add(y, rows)
        held.append(len(length.rows))
    assert max(held) <= length.RETAIN + 64 + 32
    from mmseg_sia.apis.prediction import _skeleton_length
    assert length.result(None)[1] == _skeleton_length(
        np.tile(rows, (200, 1)) == 2)


@pytest.mark.parametrize('chunk', [3, 4096])
def test_lazy_features_write_the_same_bytes(tmp_path, monkeypatch, chunk):
    """Scene features written ring by ring (and the label string chunk by
    chunk) are byte for byte the features made whole."""
    from mmseg_sia.apis import prediction
    from mmseg_sia.apis.writers import FeatureStream, json_chunks
    monkeypatch.setattr(prediction, '_CHUNK', chunk)
    mask = random_mask(3, 40, 36)
    georef = georef_of(tmp_path, *mask.shape)
    transform = lonlat_transform(georef)
    polys = binary_to_polygons(mask == 1, class_id=1)
    assert any(len(p.holes) > 1 for p in polys)
    keys = ('building_imcoords', 'road_imcoords')
    for poly in polys:
        for make in (
                lambda lazy: prediction.geojson_feature(
                    poly, 7, CLASSES, transform, lazy=lazy),
                lambda lazy: prediction.label_feature(
                    poly, keys, CLASSES, 'x.png', 'stamp', None, lazy=lazy)):
            whole = json.dumps(make(False), ensure_ascii=False).encode()
            stream = FeatureStream({})
            assert b''.join(stream.feature_pieces(make(True))) == whole
            # The second feature of a stream: the separator, then the same.
            assert b''.join(stream.feature_pieces(make(True))) == \
                b', ' + whole
    # A whole document with lazy features equals the one made of lists.
    docs = [b''.join(json_chunks({'type': 'FeatureCollection'}, (
        prediction.geojson_feature(p, i, CLASSES, transform, lazy=lazy)
        for i, p in enumerate(polys)))) for lazy in (False, True)]
    assert docs[0] == docs[1]
    assert json.loads(docs[1])['features'][0]['geometry']['type'] == \
        'Polygon'


@pytest.mark.parametrize('chunk', [1, 2, 7, 4096])
def test_gpkg_wkb_is_shapelys_wkb_of_the_mapped_polygon(tmp_path,
                                                       monkeypatch, chunk):
    """The WKB made with numpy, a chunk of rings at a time, is byte for
    byte what shapely writes for the polygon of the mapped rings: traced,
    simplified and regularized outlines, and a ring given closed."""
    from mmseg_sia.apis import prediction
    from mmseg_sia.apis.prediction import gpkg_wkb, gpkg_wkbs
    from mmseg_sia.regularize import regularize_polygons
    from mmseg_sia.vectorize import MaskPolygon, simplify_polygons
    monkeypatch.setattr(prediction, '_RING_CHUNK', chunk)
    georef = georef_of(tmp_path, 61, 47)
    polys = binary_to_polygons(random_mask(3, 120, 90) == 1, 1)
    assert max(len(p.holes) for p in polys) >= 3
    traced = len(polys)
    polys += simplify_polygons(polys, 1.5)
    polys += [r.polygon for r in regularize_polygons(polys[:10])]
    polys.append(MaskPolygon(np.array([[0, 0], [5, 0], [5, 5], [0, 0]],
                                      np.float64), [], 1))
    together = list(gpkg_wkbs(polys, georef))
    assert len(together) == len(polys)
    for i, p in enumerate(polys):
        rings = [georef.pixel_to_map(r) for r in p.rings()]
        want = shapely.Polygon(rings[0], rings[1:])
        got = gpkg_wkb(p, georef)
        assert got == shapely.to_wkb(want) == together[i]
        assert i >= traced or shapely.from_wkb(got).is_valid


def wkb_box(x0, y0, x1, y1):
    return shapely.to_wkb(shapely.box(x0, y0, x1, y1))


def test_large_polygons_reach_the_geopackage_without_waiting(tmp_path,
                                                           monkeypatch):
    from mmseg_sia.apis import vector_output
    written = []
    original = vector_output._GpkgLayers._write

    def spy(self, name, records):
        written.append((name, len(records)))
        return original(self, name, records)

    monkeypatch.setattr(vector_output._GpkgLayers, '_write', spy)
    monkeypatch.setattr(vector_output._GpkgLayers, 'BIG', 100)
    layers = vector_output._GpkgLayers(str(tmp_path / 'g.gpkg'), ['road'],
                                       'EPSG:32652', batch=100)
    written.clear()
    layers.add('road', wkb_box(0, 0, 1, 1), dict.fromkeys(
        vector_output.GPKG_FIELDS, 1.0))  # 93 bytes: waits for its batch
    assert written == []
    circle = shapely.to_wkb(shapely.Point(0, 0).buffer(1, 4))
    assert len(circle) >= 100
    layers.add('road', circle, dict.fromkeys(
        vector_output.GPKG_FIELDS, 2.0))  # written with the one before
    assert written == [('road', 2)]
    assert layers.pending['road'] == []
    import pyogrio
    _, _, geometry, fields = pyogrio.raw.read(str(tmp_path / 'g.gpkg'),
                                              layer='road')
    assert len(geometry) == 2 and list(fields[0]) == [1.0, 2.0]
    assert list(geometry) == [wkb_box(0, 0, 1, 1), circle]


@pytest.mark.parametrize('crs', ['EPSG:32652', 'EPSG:5186'])
def test_lonlat_rings_of_a_band_equal_ring_by_ring(tmp_path, crs):
    from mmseg_sia.apis.prediction import lonlat_rings
    transform = lonlat_transform(georef_of(tmp_path, 120, 90, crs))
    polys = binary_to_polygons(random_mask(3, 120, 90) == 1, 1)
    assert len(polys) > 3 and any(p.holes for p in polys)
    got = lonlat_rings(polys, transform)
    assert len(got) == len(polys)
    for p, rings in zip(polys, got):
        assert len(rings) == 1 + len(p.holes)
        for ring, mapped in zip(p.rings(), rings):
            np.testing.assert_array_equal(mapped,
                                          transform.pixel_to_lonlat(ring))
    assert lonlat_rings([], transform) == []


@pytest.mark.parametrize('vertices', [1, 30, 1 << 16])
def test_rings_of_a_huge_polygon_mapped_as_read(tmp_path, vertices):
    """A polygon over ``huge`` vertices gets rings mapped a group at a time
    whenever they are read; measures and GeoJSON text are the same as from
    rings mapped at once."""
    from mmseg_sia.apis.prediction import (LonLatRings, geojson_feature,
                                           lonlat_rings, polygon_measures)
    from mmseg_sia.apis.vector_output import _with_lonlat
    from mmseg_sia.apis.writers import FeatureStream
    transform = lonlat_transform(georef_of(tmp_path, 120, 90, 'EPSG:5186'))
    polys = binary_to_polygons(random_mask(5, 120, 90) == 1, 1)
    big = max(polys, key=lambda p: len(p.holes))
    assert len(big.holes) > 5
    size = len(big.exterior) + sum(map(len, big.holes))
    pairs = list(_with_lonlat(polys, transform, vertices, huge=size))
    lazy = [rings for poly, rings, _ in pairs if poly is big]
    assert [type(r) for r in lazy] == [LonLatRings]
    assert all(not isinstance(r, LonLatRings) for p, r, _ in pairs
               if p is not big)
    assert [n for p, _, n in pairs if p is big] == [None]
    (lazy, ) = lazy
    (held, ) = lonlat_rings([big], transform)
    for _ in range(2):  # read twice, as the measures and GeoJSON do
        got = list(lazy)
        assert len(got) == len(held) == len(lazy)
        for a, b in zip(got, held):
            np.testing.assert_array_equal(a, b)
    assert polygon_measures(big, transform, lazy) == \
        polygon_measures(big, transform, held) == \
        polygon_measures(big, transform)

    def text(lonlat):
        feature = geojson_feature(big, 0, ('bg', 'building'), transform,
                                  lazy=True, lonlat=lonlat)
        return b''.join(FeatureStream({}).feature_pieces(feature))
    assert text(lazy) == text(held) == text(None)


@pytest.mark.parametrize('chunk', [5, 4096])
def test_label_ring_streamed_in_pieces_equals_the_whole(monkeypatch, chunk):
    """The label JSON's keyhole ring written lazily, piece by piece, is the
    text of the ring made whole (bridges with the nearest pairs of the
    k-d tree search, in groups of holes)."""
    from mmseg_sia.apis import prediction
    from mmseg_sia.apis.writers import FeatureStream
    from mmseg_sia import vectorize
    monkeypatch.setattr(prediction, '_CHUNK', chunk)
    rng = np.random.default_rng(chunk)
    block = np.zeros((150, 120), bool)
    for r in range(2, 148):  # ragged sides, specks of background inside
        block[r, rng.integers(1, 5):rng.integers(114, 119)] = True
    block[5:145, 8:110] &= rng.random((140, 102)) > 0.04
    polys = binary_to_polygons(block, 2)
    big = max(polys, key=lambda p: len(p.holes))
    assert len(big.holes) > 100
    keys = ['object_imcoords', 'building_imcoords', 'road_imcoords']
    classes = ('background', 'building', 'road')

    def text(lazy):
        feature = prediction.label_feature(big, keys, classes, 'x.png', 't',
                                           None, lazy=lazy)
        return b''.join(FeatureStream({}).feature_pieces(feature))
    whole = text(False)
    assert text(True) == whole
    # Holes searched a few at a time give the same bridges.
    monkeypatch.setattr(vectorize._bridges, '__defaults__', (7, ))
    assert text(True) == whole
    ring = vectorize.keyhole_ring(big)
    assert len(ring) == len(big.exterior) + sum(len(h) + 2
                                                for h in big.holes)


_MALLOC_PROBE = """
import ctypes, sys
import numpy as np
from mmseg_sia.apis.malloc import tune_malloc
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
tuned = tune_malloc() if sys.argv[1] == 'tune' else None
size = int(sys.argv[2]) << 20
blocks = []
for _ in range(3):  # a large block made and let go, as a model's tensors
    before = libc.mallinfo2().hblks
    blocks.append(np.ones(size, np.uint8))
    mapped = libc.mallinfo2().hblks - before
    blocks.clear()
print(tuned, mapped, libc.mallinfo2().fordblks >= size)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc only')
@pytest.mark.parametrize('how,mb,env,expect', [
    ('plain', 64, {}, 'None 1 False'),  # glibc maps a 64 MB block, unmaps it
    ('tune', 64, {}, 'True 0 True'),  # heap memory, kept for the next one
    # A model's working set of a few hundred MB stays too (keeping 128 MB,
    # a batch's activations went back after it and the next faulted them
    # in again).
    ('tune', 400, {}, 'True 0 True'),
    ('tune', 64, {'MALLOC_ARENA_MAX': '2'}, 'False 1 False'),  # user's
])
def test_tune_malloc_reuses_large_blocks(how, mb, env, expect):
    """After tune_malloc, a large block comes from the heap (no mapped
    chunk) and stays there for reuse once freed; with a MALLOC_ variable
    set it changes nothing. Run in a child: the setting is process-wide."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('MALLOC_')} | env | {'PYTHONPATH': REPO}
    out = subprocess.run([sys.executable, '-c', _MALLOC_PROBE, how, str(mb)],
                         env=env, capture_output=True, text=True,
                         check=True).stdout.split('\n')
    assert out[-2] == expect, out


@pytest.mark.parametrize('vertices,most', [(1, 256), (40, 3), (1 << 16, 256)])
def test_polygons_mapped_in_groups_equal_one_by_one(tmp_path, vertices,
                                                    most):
    import gc
    import weakref

    from mmseg_sia.apis.vector_output import _with_lonlat
    transform = lonlat_transform(georef_of(tmp_path, 120, 90))
    polys = binary_to_polygons(random_mask(3, 120, 90) == 1, 1)
    from mmseg_sia.apis.prediction import polygon_measures
    from mmseg_sia.geo import ring_length_m
    seen = []
    for poly, rings, lengths in _with_lonlat(polys, transform, vertices,
                                             most):
        seen.append(poly)
        assert len(rings) == len(lengths) == 1 + len(poly.holes)
        for ring, mapped, n in zip(poly.rings(), rings, lengths):
            np.testing.assert_array_equal(mapped,
                                          transform.pixel_to_lonlat(ring))
            # Measured with the group, the same float as ring by ring.
            assert n == ring_length_m(mapped)
        assert polygon_measures(poly, transform, rings, lengths) == \
            polygon_measures(poly, transform)
        # Once the caller lets them go, the rings are freed (their base
        # array too, when the polygon was mapped alone).
        ref = weakref.ref(rings[0].base if vertices == 1 else rings[0])
        rings = mapped = lengths = None
        gc.collect()
        assert ref() is None
    assert seen == polys


def test_merged_regions_let_their_pieces_go():
    """Regions carried over many bands are merged from their pieces; once a
    region's polygon is made, nothing in the polygonizer holds its pieces'
    rings while the next region is merged (a region spanning a scene would
    be held twice)."""
    import gc
    import weakref

    mask = np.zeros((40, 61), np.uint8)
    for x in range(1, 61, 20):  # three regions, from the top to the bottom
        mask[:, x:x + 18] = 2
        mask[3:37:3, x + 2:x + 16:3] = 0  # holes, some on band edges
    maker = BandPolygonizer(2, 61)
    merged = []
    alive = []
    original = maker._merge

    def merge(shells, stores):
        gc.collect()
        alive.append(sum(r() is not None for r in merged))
        poly = original(shells, stores)
        merged.extend(weakref.ref(r) for rings in shells for r in rings)
        merged.extend(weakref.ref(s) for s in stores)
        return poly

    maker._merge = merge
    done = []
    for y in range(0, 40, 7):
        done += maker.add(y, mask[y:y + 7])
    done += maker.finish()
    assert len(done) == 3 and all(len(p.holes) == 60 for p in done)
    assert len(alive) == 3 and len(merged) > 30
    assert alive == [0, 0, 0]
