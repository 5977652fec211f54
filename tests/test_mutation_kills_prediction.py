"""The per-polygon and per-image measures of predictions (GeoJSON,
GeoPackage fields, ``summary.csv``) that mutation testing found unpinned
(issue 14), on a sheared footprint written down by hand.

The pixel -> lon/lat map is ``lon = LON0 + A x + B y``,
``lat = LAT0 + D x + E y``: a sheared (not rotated) grid, on which the two
diagonal pixel steps have different ground lengths and the x and y steps
are not perpendicular, so that a measure taken along the wrong direction
shows. References: pyproj's ``Geod`` (WGS84 geodesics) for lengths and
areas, shapely for pixel perimeters and ring orientation, counts by hand.
"""
import math

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Geod
from shapely.geometry import LinearRing, Polygon

from mmseg_sia.apis import SIAPrediction
from mmseg_sia.apis.prediction import (footprint_geometry, geojson_feature,
                                       network_pixel_size, polygon_measures)
from mmseg_sia.apis.scene import SceneWriter
from mmseg_sia.geo import GeoTransform
from mmseg_sia.georef import Georef
from mmseg_sia.vectorize import MaskPolygon

GEOD = Geod(ellps='WGS84')
CLASSES = ('background', 'building', 'road')
PALETTE = [[0, 0, 0], [128, 128, 0], [128, 64, 128]]
H, W = 40, 56
LON0, LAT0 = 127.0, 37.55
A, B = 1e-5, 4e-6            # degrees of longitude per pixel step in x, y
D, E = 3e-6, -8e-6           # degrees of latitude per pixel step in x, y


def lonlat(points, e=E, d=D):
    pts = np.asarray(points, np.float64)
    return np.stack([LON0 + A * pts[:, 0] + B * pts[:, 1],
                     LAT0 + d * pts[:, 0] + e * pts[:, 1]], 1)


def transform(e=E, d=D, w=W, h=H):
    matrix = np.array([[A, B, LON0], [d, e, LAT0]])
    corners = lonlat([[0, 0], [w, 0], [w, h], [0, h]], e, d)
    return GeoTransform(matrix, w, h, corners, 0.0, 'by hand')


def ring_length(lonlat_ring):
    ring = np.vstack([lonlat_ring, lonlat_ring[:1]])
    return GEOD.line_length(ring[:, 0], ring[:, 1])


def ring_area(lonlat_ring):
    return abs(GEOD.polygon_area_perimeter(lonlat_ring[:, 0],
                                           lonlat_ring[:, 1])[0])


def line_length(pixel_points):
    ll = lonlat(pixel_points)
    return GEOD.line_length(ll[:, 0], ll[:, 1])


def prediction(mask, georeferenced=True, **kwargs):
    return SIAPrediction(mask=mask, polygons=kwargs.pop('polygons', {}),
                         classes=kwargs.pop(
        'classes', CLASSES), palette=PALETTE,
        transform=transform() if georeferenced else None, **kwargs)


def holed_building():
    """A 20 x 30 building with two holes, by hand."""
    mask = np.zeros((H, W), np.uint8)
    mask[4:24, 6:36] = 1
    mask[8:12, 10:14] = 0
    mask[14:20, 25:28] = 0
    outer = np.array([[6, 4], [36, 4], [36, 24], [6, 24]], float)
    holes = [np.array([[10, 8], [14, 8], [14, 12], [10, 12]], float),
             np.array([[25, 14], [28, 14], [28, 20], [25, 20]], float)]
    return mask, outer, holes


# --------------------------------------------------------------------------
# Polygon measures
# --------------------------------------------------------------------------
def test_polygon_measures_with_two_holes_against_geod_and_shapely():
    mask, outer, holes = holed_building()
    (poly, ) = prediction(mask).to_geojson()['features']
    got = poly['properties']
    shape = Polygon(outer, holes)
    assert got['area_px'] == shape.area == 600 - 16 - 18
    assert got['perimeter_px'] == shape.length == 100 + 16 + 18
    area = ring_area(lonlat(outer)) - sum(ring_area(lonlat(h))
                                          for h in holes)
    perimeter = ring_length(lonlat(outer)) + sum(
        ring_length(lonlat(h)) for h in holes)
    assert got['area_m2'] == pytest.approx(area, rel=1e-6)
    assert got['perimeter_m'] == pytest.approx(perimeter, rel=1e-6)
    assert (got['class'], got['class_id']) == ('building', 1)
    # Without a georeference: pixels only.
    mp = MaskPolygon(outer, holes)
    assert polygon_measures(mp, None) == dict(
        area_px=566.0, perimeter_px=134.0, area_m2=None, perimeter_m=None)
    assert prediction(mask, False).polygon_measures(mp) == \
        polygon_measures(mp, None)
    # The summary's area is the sum of the polygons' areas.
    row = prediction(mask).measures()
    assert row['building_area_m2'] == pytest.approx(area, rel=1e-6)
    assert row['building_area_px'] == 566


# --------------------------------------------------------------------------
# GeoJSON features
# --------------------------------------------------------------------------
@pytest.mark.parametrize('e,d', [(E, D), (-E, 0.0)])
def test_geojson_rings_orientation_rounding_and_ids(e, d):
    """RFC 7946 orientation on a north-up tile (the map turns the ring's
    sense) and on a south-up one (it keeps it); coordinates rounded to the
    given decimals; ids counted over all classes."""
    mask, outer, holes = holed_building()
    mask[30:34, 40:50] = 2
    mask[30:33, 2:5] = 1
    pred = prediction(mask)
    pred.transform = transform(e, d)
    gj = pred.to_geojson(decimals=7)
    feats = gj['features']
    assert [f['id'] for f in feats] == [0, 1, 2]
    assert [f['properties']['class_id'] for f in feats] == [1, 1, 2]
    assert [f['properties']['class'] for f in feats] == ['building',
                                                          'building', 'road']
    rings = [np.array(r) for r in feats[0]['geometry']['coordinates']]
    assert len(rings) == 3
    for ring in rings:
        np.testing.assert_array_equal(ring[0], ring[-1])
    assert LinearRing(rings[0]).is_ccw
    assert [LinearRing(r).is_ccw for r in rings[1:]] == [False, False]
    # The exterior's vertices, rounded to 7 decimals, by hand.
    want = np.round(lonlat(outer, e, d), 7)
    assert {tuple(p) for p in rings[0][:-1]} == {tuple(p) for p in want}
    road = np.array(feats[2]['geometry']['coordinates'][0])
    assert {tuple(p) for p in road[:-1]} == {tuple(p) for p in np.round(
        lonlat([[40, 30], [50, 30], [50, 34], [40, 34]], e, d), 7)}
    assert LinearRing(road).is_ccw
    # Five decimals (about a metre) are five decimals.
    coarse = pred.to_geojson(decimals=5)['features'][2]
    assert {tuple(p) for p in coarse['geometry']['coordinates'][0]} == {
        tuple(p) for p in np.round(
            lonlat([[40, 30], [50, 30], [50, 34], [40, 34]], e, d), 5)}


def test_geojson_feature_keeps_given_measures_and_rounds_iou():
    mask, outer, holes = holed_building()
    poly = MaskPolygon(outer, holes, 1)
    poly.regularized_iou = 0.987654321
    feat = geojson_feature(poly, 5, CLASSES, transform(),
                           measures=dict(area_m2=1.5))
    assert feat['id'] == 5 and feat['type'] == 'Feature'
    assert feat['properties'] == {'class': 'building', 'class_id': 1,
                                  'area_m2': 1.5,
                                  'regularized_iou': 0.9877}
    assert feat['geometry']['type'] == 'Polygon'
    # The default keeps 9 decimals.
    coords = geojson_feature(poly, 0, CLASSES, transform())['geometry'][
        'coordinates'][0]
    assert {tuple(p) for p in coords} == {
        tuple(p) for p in np.round(lonlat(outer), 9)}


def test_no_geojson_without_georeference():
    mask, _, _ = holed_building()
    pred = prediction(mask, False, image_path='/data/t7.png')
    with pytest.raises(ValueError, match=r'^t7\.png: no footprint/'
                       r'georeference, so no GeoJSON \(RFC 7946 coordinates '
                       r'are lon/lat\); use the label JSON, whose '
                       r'coordinates are pixels$'):
        pred.to_geojson()


def test_polygons_made_on_demand_use_the_tolerance_and_background():
    stairs = np.zeros((H, W), np.uint8)
    for i in range(10):
        stairs[i, :i + 1] = 2
    pred = prediction(stairs, tolerance=1.5)
    (feat, ) = pred.to_geojson()['features']
    assert len(feat['geometry']['coordinates'][0]) == 4   # a closed triangle
    assert feat['properties']['area_px'] == 50.0
    # Without a background class, class 0 is measured too.
    pred = prediction(stairs, classes=('land', 'building', 'road'),
                      background=None)
    row = pred.measures()
    assert (row['land_count'], row['land_area_px']) == (1, H * W - 55)
    assert (row['road_count'], row['road_area_px']) == (1, 55)
    assert [f['properties']['class'] for f in pred.to_geojson()[
        'features']] == ['land', 'road']


def test_polygons_given_for_some_classes_only():
    mask, outer, holes = holed_building()
    pred = prediction(mask, georef=georef(),
                      polygons={1: [MaskPolygon(outer, holes, 1)]})
    row = pred.measures()
    assert (row['building_count'], row['road_count']) == (1, 0)
    assert row['road_area_m2'] == 0.0
    assert pred.gpkg_layers()['road'][0] == []


def test_footprint_geometry_by_hand():
    assert footprint_geometry(None) is None
    t = transform()
    ring = lonlat([[0, 0], [W, 0], [W, H], [0, H]])
    want = [[float(x), float(y), 0] for x, y in ring]
    assert footprint_geometry(t) == dict(type='Polygon',
                                         coordinates=[want + [want[0]]])


# --------------------------------------------------------------------------
# GeoPackage layers
# --------------------------------------------------------------------------
UTM52 = CRS.from_epsg(32652)
AFFINE = Affine(0.5, 0.1, 300000.0, 0.05, -0.5, 4150000.0)


def georef():
    return Georef(UTM52, AFFINE, W, H, 'raster')


def test_gpkg_layers_geometry_and_fields():
    mask, outer, holes = holed_building()
    pred = prediction(mask, georef=georef())
    layers = pred.gpkg_layers()
    assert list(layers) == ['building', 'road']
    (geom, ), fields = layers['building']
    to_map = lambda p: [AFFINE * tuple(v) for v in p]  # noqa: E731
    assert geom.normalize().equals_exact(Polygon(
        to_map(outer), [to_map(h) for h in holes]).normalize(), 1e-6)
    want = polygon_measures(MaskPolygon(outer, holes), transform())
    assert fields == dict(class_id=[1], area_m2=[want['area_m2']],
                          perimeter_m=[want['perimeter_m']],
                          area_px=[566.0], perimeter_px=[134.0])
    assert layers['road'] == ([], dict(class_id=[], area_m2=[],
                                       perimeter_m=[], area_px=[],
                                       perimeter_px=[]))
    # No lon/lat transform: the ground measures are NaN (null in the file).
    fields = prediction(mask, False, georef=georef()).gpkg_layers()[
        'building'][1]
    assert math.isnan(fields['area_m2'][0])
    assert math.isnan(fields['perimeter_m'][0])
    assert fields['area_px'] == [566.0]
    with pytest.raises(ValueError, match=r'^image\.png: no CRS, so no '
                       r'GeoPackage$'):
        prediction(mask).gpkg_layers()


# --------------------------------------------------------------------------
# The summary row
# --------------------------------------------------------------------------
def test_summary_head_size_image_and_crs():
    mask = np.zeros((H, W), np.uint8)
    row = prediction(mask, georef=georef(), image_path='/d/a.tif').measures()
    assert {k: row[k] for k in ('image', 'width', 'height',
                                'georeferenced', 'crs')} == dict(
        image='/d/a.tif', width=W, height=H, georeferenced=True,
        crs='EPSG:32652')
    row = prediction(mask, False).measures()
    assert (row['image'], row['georeferenced']) == ('image', False)
    assert 'crs' not in row
    assert (row['building_count'], row['building_area_m2'],
            row['building_area_px']) == (0, None, 0)
    # A CRS without an EPSG code is named.
    custom = CRS.from_proj4('+proj=tmerc +lat_0=38 +lon_0=127.31 '
                            '+k=0.9999 +x_0=123456 +y_0=654321 '
                            '+ellps=bessel +units=m +no_defs')
    custom = CRS.from_json_dict(dict(custom.to_json_dict(),
                                     name='SIA test grid'))
    assert custom.to_epsg(min_confidence=90) is None
    row = prediction(mask, georef=Georef(custom, AFFINE, W, H,
                                         'raster')).measures()
    assert row['crs'] == 'SIA test grid'
    # Classes without a road: no road length.
    row = prediction(mask, classes=('background', 'building')).measures()
    assert 'road_length_px' not in row and 'road_length_m' not in row


def road_parts():
    """One-pixel road lines (their own skeletons): pixel-centre polylines
    and lengths in pixels by hand."""
    parts = []
    m = np.zeros((H, W), np.uint8)
    for i in range(12):               # down-right diagonal, 11 steps
        m[2 + i, 3 + i] = 2
    parts.append((m, [[3.5, 2.5], [14.5, 13.5]], 11 * math.sqrt(2)))
    m = np.zeros((H, W), np.uint8)
    for i in range(9):                # down-left diagonal, 8 steps
        m[20 + i, 40 - i] = 2
    parts.append((m, [[40.5, 20.5], [32.5, 28.5]], 8 * math.sqrt(2)))
    m = np.zeros((H, W), np.uint8)
    m[30, 5:16] = 2                   # a plus: two straight 10-step arms
    m[25:36, 10] = 2
    parts.append((m, [[5.5, 30.5], [15.5, 30.5], [10.5, 30.5],
                      [10.5, 25.5], [10.5, 35.5]], 20))
    return parts


def test_road_lengths_on_a_sheared_grid_against_geod():
    """Each kind of skeleton step alone and together; the ground length of
    each step against the geodesic between the pixel centres."""
    total_px = total_m = 0.0
    whole = np.zeros((H, W), np.uint8)
    for mask, pts, length in road_parts():
        row = prediction(mask).measures()
        assert row['road_length_px'] == pytest.approx(length, rel=1e-12)
        if len(pts) == 5:           # the plus: its two arms
            metres = line_length(pts[:2]) + line_length(pts[3:])
        else:
            metres = line_length(pts)
        assert row['road_length_m'] == pytest.approx(metres, rel=1e-5)
        total_px += length
        total_m += metres
        whole |= mask
    row = prediction(whole).measures()
    assert row['road_length_px'] == pytest.approx(total_px, rel=1e-12)
    assert row['road_length_m'] == pytest.approx(total_m, rel=1e-5)
    row = prediction(whole, False).measures()
    assert row['road_length_m'] is None
    assert row['road_length_px'] == pytest.approx(total_px, rel=1e-12)


def test_network_pixel_size_against_geod():
    assert network_pixel_size(None) == 0.55
    assert network_pixel_size(None, 0.3) == 0.3
    x_step, y_step = network_pixel_size(transform())
    assert x_step == pytest.approx(line_length([[W / 2, H / 2],
                                                [W / 2 + 1, H / 2]]),
                                   rel=1e-6)
    assert y_step == pytest.approx(line_length([[W / 2, H / 2],
                                                [W / 2, H / 2 + 1]]),
                                   rel=1e-6)


# --------------------------------------------------------------------------
# Scenes: the summary accumulated band by band
# --------------------------------------------------------------------------
def scene_rows(mask, band=7, **kwargs):
    h, w = mask.shape
    with SceneWriter({}, h, w, CLASSES, PALETTE, '/d/scene.tif',
                     **kwargs) as writer:
        for y in range(0, h, band):
            writer.add(y, mask[y:y + band])
    return writer.row


def test_scene_summary_by_hand():
    mask, outer, holes = holed_building()
    mask[30:33, 2:5] = 1
    road = road_parts()[2][0]
    mask[road == 2] = 2
    row = scene_rows(mask, transform=transform())
    area = ring_area(lonlat(outer)) - sum(ring_area(lonlat(h))
                                          for h in holes) + ring_area(
        lonlat([[2, 30], [5, 30], [5, 33], [2, 33]]))
    assert row['image'] == '/d/scene.tif'
    assert (row['width'], row['height']) == (W, H)
    assert (row['building_count'], row['building_area_px']) == (2, 575)
    assert row['building_area_m2'] == pytest.approx(area, rel=1e-6)
    assert (row['road_count'], row['road_area_px']) == (1, 21)
    assert row['road_length_px'] == pytest.approx(20, rel=1e-12)
    assert row['road_length_m'] == pytest.approx(
        line_length([[5.5, 30.5], [15.5, 30.5]]) + line_length(
            [[10.5, 25.5], [10.5, 35.5]]), rel=1e-5)
    # As the whole mask gives it.
    assert row == prediction(mask, image_path='/d/scene.tif').measures()
    plain = scene_rows(mask)
    assert (plain['building_area_m2'], plain['road_length_m']) == (None,
                                                                     None)
    assert plain['road_length_px'] == row['road_length_px']


def test_scene_summary_without_roads_or_rows():
    mask = np.zeros((H, W), np.uint8)
    mask[5:9, 5:9] = 1
    row = scene_rows(mask, transform=transform())
    assert (row['road_count'], row['road_length_px'],
            row['road_length_m']) == (0, 0.0, 0.0)
    assert scene_rows(mask)['road_length_m'] is None
    empty = scene_rows(np.zeros((0, W), np.uint8), transform=transform())
    assert (empty['building_count'], empty['road_length_px'],
            empty['road_length_m']) == (0, 0.0, 0.0)
    empty = scene_rows(np.zeros((0, W), np.uint8))
    assert (empty['road_length_px'], empty['road_length_m']) == (0.0, None)


def test_scene_geojson_with_simplified_and_regularized_buildings(tmp_path):
    """Simplified, then regularized building outlines (roads left as
    traced) in the scene's GeoJSON, as the whole mask gives them."""
    import json
    yy, xx = np.mgrid[:H, :W]
    mask = np.zeros((H, W), np.uint8)
    # A rectangle turned by about 20 degrees: a staircase outline.
    u = (xx - 20) * 0.94 + (yy - 18) * 0.34
    v = -(xx - 20) * 0.34 + (yy - 18) * 0.94
    mask[(abs(u) < 12) & (abs(v) < 7)] = 1
    mask[30:38, 5:50] = 2
    mask[31:33, 44:46] = 1
    path = tmp_path / 's.geojson'
    options = dict(min_iou=0.999)
    with SceneWriter({'geojson': str(path)}, H, W, CLASSES, PALETTE,
                     '/d/s.tif', transform=transform(), tolerance=0.5,
                     regularize=options) as writer:
        for y in range(0, H, 9):
            writer.add(y, mask[y:y + 9])
    got = json.loads(path.read_text())['features']
    whole = prediction(mask, image_path='/d/s.tif', tolerance=0.5)
    whole.regularize_buildings(**options)
    want = whole.to_geojson()['features']
    other = prediction(mask, image_path='/d/s.tif', tolerance=0.5)
    other.regularize_buildings()
    assert other.to_geojson()['features'] != want
    key = lambda f: json.dumps(dict(f, id=None),  # noqa: E731
                               sort_keys=True)
    assert sorted(map(key, got)) == sorted(map(key, want))
    assert sorted(f['id'] for f in got) == [0, 1, 2]
    props = sorted((f['properties'] for f in got),
                   key=lambda p: p['class'])
    assert [p['class'] for p in props] == ['building', 'building', 'road']
    assert all(0.8 <= p['regularized_iou'] <= 1 for p in props[:2])
    assert 'regularized_iou' not in props[2]
    assert writer.row['building_count'] == 2


def test_scene_label_json_and_gpkg_fields(tmp_path):
    """The label JSON's time stamps and the GeoPackage's class ids and
    measures (null ground measures without a lon/lat transform)."""
    import json
    import re

    import pyogrio
    mask, _, _ = holed_building()
    mask[30:34, 40:50] = 2
    paths = dict(json=str(tmp_path / 's.json'), gpkg=str(tmp_path / 's.gpkg'))
    with SceneWriter(paths, H, W, CLASSES, PALETTE, '/d/s.tif',
                     georef=georef()) as writer:
        for y in range(0, H, 16):
            writer.add(y, mask[y:y + 16])
    feats = json.loads((tmp_path / 's.json').read_text())['features']
    assert len(feats) == 2
    for f in feats:
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z',
                            f['properties']['ingest_time'])
    for layer, cid, area in (('building', 1, 566.0), ('road', 2, 40.0)):
        meta, _, _, fields = pyogrio.raw.read(paths['gpkg'], layer=layer)
        table = dict(zip(meta['fields'], fields))
        assert table['class_id'].tolist() == [cid]
        assert table['area_px'].tolist() == [area]
        assert np.isnan(table['area_m2']).all()
        assert np.isnan(table['perimeter_m']).all()


def test_scene_summary_without_a_road_class():
    mask = np.zeros((H, W), np.uint8)
    mask[5:9, 5:9] = 1
    with SceneWriter({}, H, W, CLASSES[:2], PALETTE, '/d/s.tif',
                     transform=transform()) as writer:
        writer.add(0, mask)
    assert writer.row['building_count'] == 1
    assert 'road_length_px' not in writer.row


# --------------------------------------------------------------------------
# Label JSON features, and features written lazily (scenes)
# --------------------------------------------------------------------------
def test_label_feature_by_hand():
    """Every member of a label feature, in the order written, by hand; the
    lazy one writes the same bytes as ``json.dumps`` of the whole one."""
    import json

    from mmseg_sia.apis.prediction import label_feature, label_keys
    from mmseg_sia.apis.writers import FeatureStream
    road = MaskPolygon(np.array([[6.25, 4], [36, 4], [36, 24.5], [6, 24]]),
                       [], class_id=2)
    keys = label_keys(CLASSES, 0)
    geometry = dict(type='Polygon', coordinates=[[[1, 2, 0]]])
    want = dict(type='Feature', geometry=geometry, properties={
        'object_imcoords': 'EMPTY', 'building_imcoords': 'EMPTY',
        'road_imcoords': '6.25,4,36,4,36,24.5,6,24',
        'image_id': 'a.png', 'ingest_time': 'T', 'type_id': '',
        'type_name': 'road'})
    got = label_feature(road, keys, CLASSES, 'a.png', 'T', geometry)
    assert json.dumps(got) == json.dumps(want)      # order included
    lazy = label_feature(road, keys, CLASSES, 'a.png', 'T', geometry,
                         lazy=True)
    assert b''.join(FeatureStream({}).feature_pieces(lazy)) == \
        json.dumps(want, ensure_ascii=False).encode()
    assert lazy['properties']['road_imcoords'].dumps() == \
        b'"6.25,4,36,4,36,24.5,6,24"'


def test_geojson_feature_uses_the_rings_given_in_lonlat():
    """With ``lonlat`` (a scene maps each ring once), neither the
    coordinates nor the measures map the rings again."""
    import json

    from mmseg_sia.apis.writers import FeatureStream
    mask, outer, holes = holed_building()
    poly = MaskPolygon(outer, holes, class_id=1)
    whole = transform()
    given = [whole.pixel_to_lonlat(r) for r in poly.rings()]

    class Mapped:
        def pixel_to_lonlat(self, points):
            raise AssertionError('mapped again')

    for lazy in (False, True):
        got = geojson_feature(poly, 3, CLASSES, Mapped(), lazy=lazy,
                              lonlat=given)
        want = geojson_feature(poly, 3, CLASSES, whole)
        assert b''.join(FeatureStream({}).feature_pieces(got)) == \
            json.dumps(want, ensure_ascii=False).encode()


@pytest.mark.parametrize('e,d', [(E, D), (-E, 0.0)])
def test_lazy_geojson_rings_are_oriented(e, d):
    """The rings written lazily follow RFC 7946 on north-up and south-up
    tiles (the map turns the rings' sense on one of them only)."""
    import json

    from mmseg_sia.apis.writers import FeatureStream
    mask, outer, holes = holed_building()
    poly = MaskPolygon(outer, holes, class_id=1)
    feature = geojson_feature(poly, 0, CLASSES, transform(e, d), lazy=True)
    doc = json.loads(b''.join(FeatureStream({}).feature_pieces(feature)))
    rings = doc['geometry']['coordinates']
    assert [LinearRing(r).is_ccw for r in rings] == [True, False, False]
    assert feature['geometry']['coordinates'].dumps() == json.dumps(
        rings).encode()


def test_dumps_pieces_with_several_lazy_values_and_indent():
    """Lazy values at any depth of dicts, several in one document, written
    in place; with ``indent`` the document is indented and each lazy value
    written as its pieces are."""
    import json

    from mmseg_sia.apis.writers import LazyJSON, dumps_pieces
    doc = {'a': LazyJSON(lambda: iter([b'[1, ', b'2]'])), 'b': [1, 'é'],
           'c': {'d': {'e': LazyJSON(lambda: iter([b'"x"']))}, 'f': None}}
    plain = {'a': [1, 2], 'b': [1, 'é'], 'c': {'d': {'e': 'x'}, 'f': None}}
    assert b''.join(dumps_pieces(doc)) == json.dumps(
        plain, ensure_ascii=False).encode()
    text = json.dumps(dict(plain, a='A'), ensure_ascii=False, indent=2)
    assert b''.join(dumps_pieces(doc, indent=2)) == text.replace(
        '"A"', '[1, 2]').encode()
    assert list(dumps_pieces({'n': 1.5})) == [b'{"n": 1.5}']


def test_format_imcoords_against_printf():
    """The label JSON's coordinate strings: whole numbers as integers (the
    fast path) and others with at most 4 decimals, trailing zeros dropped,
    against C's ``%.4f``."""
    from decimal import Decimal

    from mmseg_sia.labels import format_imcoords
    values = [0.0, -0.0, 1.0, -1.0, 7.0, -36.0, 1234567.0, 2.0**52,
              2.0**53 - 1, -(2.0**53) + 1, 2.0**53, 0.5, -0.5, 6.25, 24.125, 1e-5, -1e-5, 3.14159,
              -2.71828, 1234.56789, 1e6 + 0.5]

    def trim(text):
        return text.rstrip('0').rstrip('.') if '.' in text else text

    def printf(v):
        return trim('%.4f' % v)

    for pair in ([values[i], values[j]] for i in range(len(values))
                 for j in (0, 5, 14, i)):
        assert format_imcoords(np.array([pair])) == ','.join(
            map(printf, pair)), pair
    # Beyond 2**53 the shortest digits that give the float back (repr),
    # written out in full.
    for big in (2.0**53 + 2, 2.0**60, -(2.0**63), 1e20, 2.0**64):
        text = trim(format(Decimal(repr(big)), 'f'))
        assert format_imcoords(np.array([[big, 1]])) == text + ',1'
    assert format_imcoords(np.array([[2.0**60, 1]])) == \
        '1152921504606847000,1'
    whole = np.array([[6, 4], [36, -4], [0, 24]], np.float64)
    assert format_imcoords(whole) == '6,4,36,-4,0,24'
    assert format_imcoords(np.array([[-0.0, 3]])) == '-0,3'
    assert format_imcoords(np.array([[np.nan, 3]])) == 'nan,3'
    assert format_imcoords(np.array([[np.inf, 3]])) == 'inf,3'
    assert format_imcoords(np.array([[1.23456, 3]]), decimals=2) == '1.23,3'
    assert format_imcoords(np.array([[4, 3]], np.int32)) == '4,3'
    assert format_imcoords(np.zeros((0, 2))) == ''


def test_feature_stream_indented_and_markers_in_strings():
    """Indented features (the separator between them as in
    ``json.dumps``' lists) and a string equal to a marker's text after a
    lazy value, which stays a string."""
    import json

    from mmseg_sia.apis.writers import FeatureStream, LazyJSON, dumps_pieces
    feature = {'type': 'Feature', 'properties': {'a': [1, 2], 'b': 'c'}}
    stream = FeatureStream({}, indent=2)
    text = json.dumps(feature, indent=2).encode()
    assert b''.join(stream.feature_pieces(feature)) == text
    assert b''.join(stream.feature_pieces(feature)) == b', ' + text
    assert b''.join(stream.feature_pieces(feature)) == b', ' + text
    doc = {'a': LazyJSON(lambda: iter([b'1'])), 'b': '\ue0000\ue001'}
    assert b''.join(dumps_pieces(doc)) == \
        '{"a": 1, "b": "\ue0000\ue001"}'.encode()


@pytest.mark.parametrize('marker', ['\ue0000\ue001', '\ue0001\ue001'])
def test_dumps_pieces_strings_like_markers_before_lazy_values(marker):
    """Strings and keys that read like the markers of lazy values, before
    them, are written as they are (bug: the first lazy value was written in
    place of such a string, and its marker left in the file)."""
    import json

    from mmseg_sia.apis.writers import LazyJSON, dumps_pieces
    lazy = [LazyJSON(lambda: iter([b'[1, ', b'2]'])),
            LazyJSON(lambda: iter([b'3']))]
    for doc, plain in (
            ({'s': marker, 'a': lazy[0], 'b': {'c': lazy[1]}},
             {'s': marker, 'a': [1, 2], 'b': {'c': 3}}),
            ({marker: 0, 'a': lazy[0], 'b': {marker: lazy[1]}},
             {marker: 0, 'a': [1, 2], 'b': {marker: 3}})):
        assert b''.join(dumps_pieces(doc)) == json.dumps(
            plain, ensure_ascii=False).encode()
    # Strings like the markers tried next too.
    doc = {'s': [marker, marker.replace('\ue000', '\ue000#')],
           't': marker.replace('\ue000', '\ue000##'), 'a': lazy[1]}
    assert b''.join(dumps_pieces(doc)) == json.dumps(
        dict(doc, a=3), ensure_ascii=False).encode()


def test_scene_gpkg_measures_without_summary_or_geojson(tmp_path):
    """A scene writing only its GeoPackage (no summary) still measures the
    polygons for its fields."""
    import pyogrio
    mask, outer, holes = holed_building()
    path = str(tmp_path / 's.gpkg')
    with SceneWriter({'gpkg': path}, H, W, CLASSES, PALETTE, '/d/s.tif',
                     georef=georef(), transform=transform(),
                     summary=False) as writer:
        for y in range(0, H, 16):
            writer.add(y, mask[y:y + 16])
    meta, _, _, fields = pyogrio.raw.read(path, layer='building')
    table = {k: v.tolist() for k, v in zip(meta['fields'], fields)}
    want = polygon_measures(MaskPolygon(outer, holes), transform())
    assert table == {k: [v] for k, v in dict(want, class_id=1).items()}


def test_streamed_road_length_warns_once_when_context_was_dropped():
    """A road far wider than any before it, after more than ``RETAIN``
    rows: its band needs rows already dropped, which is said once (the
    length here still equals scikit-image's skeleton of the whole mask,
    the dropped rows being far from the skeleton); thin roads, none."""
    import warnings

    from mmseg_sia.apis.prediction import _skeleton_length
    from mmseg_sia.apis.road_rows import _RoadLength
    mask = np.zeros((1300, 300), np.uint8)
    mask[:, 50:53] = 2

    def streamed():
        length = _RoadLength(2, 300, block=257)
        for y in range(0, len(mask), 32):
            length.add(y, mask[y:y + 32])
        return length.result(None)[1]

    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert streamed() == _skeleton_length(mask == 2) == 1297
    # Rows 300-599 all road, 280 pixels wide: 140 pixels from its edge
    # (taxicab), so the band of rows 257-513 needs 2 * 140 + 8 rows above;
    # the 256 rows above it (RETAIN) are kept, row 0 is not. A second such
    # road: no second warning.
    mask[300:600, 10:290] = 2
    mask[900:1200, 10:290] = 2
    with pytest.warns(UserWarning) as record:
        got = streamed()
    assert [str(w.message) for w in record] == [
        'road length: the road at row 257 needs 288 rows of context above '
        'and 256 are kept; the length near it may differ slightly from '
        'that of the whole mask']
    assert got == _skeleton_length(mask == 2)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_dumps_numbers_same_bytes_as_json(seed):
    """Coordinates written through orjson are the bytes ``json.dumps``
    writes: lon/lat at 9 decimals, metres, integers, negative zero, and
    arrays with a value below 1e-4 (written ``1e-05`` by Python, so taken
    through json); NaN is refused as json refuses it."""
    import json

    from mmseg_sia.apis.writers import dumps_numbers
    rng = np.random.default_rng(seed)
    exps = rng.uniform(-4, 15.9, (3000, 2))
    values = np.sign(rng.standard_normal(exps.shape)) * 10**exps
    cases = [np.round(rng.uniform(-180, 180, (500, 2)), 9), values,
             np.round(values, 2), np.array([[-0.0, 0.0], [1.0, -1.0]]),
             rng.integers(-10**12, 10**12, 64),
             np.array([[126.5, 3e-05]]), np.array([[1e-4, -7e-7]]),
             np.zeros((0, 2))]
    for a in cases:
        assert dumps_numbers(a) == json.dumps(a.tolist()).encode(), a
    with pytest.raises(ValueError, match='JSON compliant'):
        dumps_numbers(np.array([1.0, np.nan]))
