"""The measures a user reads from inference outputs, against independent
references (issue 14).

Areas, lengths and corners are checked against pyproj's ``Geod`` (geodesics
on WGS84) and shapely, on a footprint that is an exact parallelogram in
lon/lat, so that the pixel -> lon/lat map can be written down by hand:
``lon = LON0 + x * DLON`` and ``lat = LAT0 - y * DLAT`` for a point ``(x, y)``
of the tile's continuous plane.
"""
import math

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LinearRing, LineString, Polygon
from skimage.morphology import skeletonize

from mmseg_sia.apis import (SIAPrediction, footprint_transform,
                            order_footprint_corners, write_summary_csv)

GEOD = Geod(ellps='WGS84')
CLASSES = ('background', 'building', 'road')
PALETTE = [[0, 0, 0], [128, 128, 0], [128, 64, 128]]
SIZE = 64
LON0, LAT0 = 127.0, 37.55          # top-left corner of the tile
DLON, DLAT = 1e-5, 8e-6            # degrees per pixel (~0.88 m, ~0.89 m)
# The release's order: bottom-left, bottom-right, top-right, top-left.
FOOTPRINT = [[LON0, LAT0 - SIZE * DLAT, 0.0],
             [LON0 + SIZE * DLON, LAT0 - SIZE * DLAT, 0.0],
             [LON0 + SIZE * DLON, LAT0, 0.0],
             [LON0, LAT0, 0.0]]
SQRT2 = math.sqrt(2)


def lonlat(points):
    """Pixel ``(x, y)`` -> lon/lat, by hand (the footprint is exact)."""
    pts = np.asarray(points, np.float64)
    return np.stack([LON0 + pts[:, 0] * DLON, LAT0 - pts[:, 1] * DLAT], 1)


def geod_ring_length(ring):
    """Geodesic length of a closed lon/lat ring."""
    ring = np.vstack([ring, ring[:1]])
    return GEOD.line_length(ring[:, 0], ring[:, 1])


def geod_ring_area(ring):
    return abs(GEOD.polygon_area_perimeter(ring[:, 0], ring[:, 1])[0])


def prediction(mask, georeferenced=True):
    transform = footprint_transform(FOOTPRINT, SIZE, SIZE) \
        if georeferenced else None
    return SIAPrediction(mask=mask, polygons={}, classes=CLASSES,
                         palette=PALETTE, transform=transform)


def square_with_hole():
    """A 30 x 30 building (columns and rows 10-39) with a 10 x 10 hole."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[10:40, 10:40] = 1
    mask[20:30, 20:30] = 0
    outer = np.array([[10, 10], [40, 10], [40, 40], [10, 40]], float)
    hole = np.array([[20, 20], [30, 20], [30, 30], [20, 30]], float)
    return mask, outer, hole


# --------------------------------------------------------------------------
# Footprint corners and the pixel -> ground scale
# --------------------------------------------------------------------------
def test_footprint_corners_assigned_by_hand():
    corners = order_footprint_corners(FOOTPRINT)
    # Top-left, top-right, bottom-right, bottom-left, exactly the inputs.
    expected = np.array([FOOTPRINT[3][:2], FOOTPRINT[2][:2],
                         FOOTPRINT[1][:2], FOOTPRINT[0][:2]])
    np.testing.assert_array_equal(corners, expected)
    t = footprint_transform(FOOTPRINT, SIZE, SIZE)
    np.testing.assert_array_equal(t.corners, expected)
    # The tile's corners and any inner point land where the hand-written
    # map puts them (a parallelogram fits with no residual).
    pts = np.array([[0, 0], [SIZE, 0], [SIZE, SIZE], [0, SIZE],
                    [12.5, 40.25]])
    np.testing.assert_allclose(t.pixel_to_lonlat(pts), lonlat(pts),
                               rtol=0, atol=1e-12)
    assert t.residual_m == pytest.approx(0, abs=1e-6)


def test_metres_per_pixel_and_pixel_area_against_geod():
    t = footprint_transform(FOOTPRINT, SIZE, SIZE)
    jac = t.metres_per_pixel()
    c = SIZE / 2
    # One pixel step east and south from the centre, as geodesics.
    (lon0, lat0), (lon1, lat1), (lon2, lat2) = lonlat(
        [[c, c], [c + 1, c], [c, c + 1]])
    az_e, _, east = GEOD.inv(lon0, lat0, lon1, lat1)
    az_s, _, south = GEOD.inv(lon0, lat0, lon2, lat2)
    assert np.linalg.norm(jac[:, 0]) == pytest.approx(east, rel=1e-6)
    assert np.linalg.norm(jac[:, 1]) == pytest.approx(south, rel=1e-6)
    # Column 0 points east (azimuth 90), column 1 south (azimuth 180).
    assert jac[0, 0] > 0 and abs(jac[1, 0]) < 1e-9
    assert abs(jac[0, 1]) < 1e-9 and jac[1, 1] < 0
    assert az_e == pytest.approx(90, abs=1e-3)
    assert abs(az_s) == pytest.approx(180, abs=1e-3)
    pixel = lonlat([[c, c], [c + 1, c], [c + 1, c + 1], [c, c + 1]])
    assert t.pixel_area_m2() == pytest.approx(geod_ring_area(pixel),
                                              rel=1e-6)


@pytest.mark.parametrize('angle', [-20.0, 0.0, 7.5, 30.0])
def test_rotated_footprint_built_with_geod(angle):
    """A 1024-px tile of 0.55 m pixels turned ``angle`` degrees
    counter-clockwise, its corners walked out on the ellipsoid with
    ``Geod.fwd``: the transform gives back 0.55 m pixel steps in the right
    directions, and a 100 x 100 px square measures 55 m a side."""
    gsd, size = 0.55, 1024
    az_x, az_y = 90.0 - angle, 180.0 - angle  # pixel x and y directions
    tl = (126.98, 37.56)
    tr = GEOD.fwd(*tl, az_x, size * gsd)[:2]
    bl = GEOD.fwd(*tl, az_y, size * gsd)[:2]
    br = GEOD.fwd(*tr, az_y, size * gsd)[:2]
    corners = [list(bl), list(br), list(tr), list(tl)]
    t = footprint_transform(corners, size, size)
    assert t.residual_m < 0.01
    for col, az in ((0, az_x), (1, az_y)):
        east, north = t.metres_per_pixel()[:, col]
        assert math.hypot(east, north) == pytest.approx(gsd, rel=1e-4)
        assert math.degrees(math.atan2(east, north)) % 360 == pytest.approx(
            az % 360, abs=0.01)
    mask = np.zeros((size, size), np.uint8)
    mask[462:562, 462:562] = 1
    pred = SIAPrediction(mask=mask, polygons={}, classes=CLASSES,
                         palette=PALETTE, transform=t)
    (feature, ) = pred.to_geojson()['features']
    props = feature['properties']
    assert props['perimeter_m'] == pytest.approx(400 * gsd, rel=1e-4)
    assert props['area_m2'] == pytest.approx((100 * gsd)**2, rel=1e-4)
    ring = np.array(feature['geometry']['coordinates'][0])
    assert LinearRing(ring).is_ccw
    assert props['area_m2'] == pytest.approx(
        abs(GEOD.geometry_area_perimeter(Polygon(ring))[0]), rel=1e-5)


# --------------------------------------------------------------------------
# GeoJSON: coordinates, ring orientation, area and perimeter with a hole
# --------------------------------------------------------------------------
def test_geojson_polygon_with_hole_against_geod_and_shapely():
    mask, outer, hole = square_with_hole()
    pred = prediction(mask)
    gj = pred.to_geojson()
    (feature, ) = gj['features']
    props = feature['properties']
    exterior, *holes = [np.array(r) for r in feature['geometry'][
        'coordinates']]
    assert len(holes) == 1
    # Closed rings (RFC 7946), then the vertices are the polygon's corners
    # mapped by hand (9 decimals are kept).
    for ring in (exterior, holes[0]):
        np.testing.assert_array_equal(ring[0], ring[-1])
    for ring, ref in ((exterior, outer), (holes[0], hole)):
        got = {tuple(p) for p in np.round(ring[:-1], 9)}
        # Collinear vertices (if any) lie on the outline; the corners are all
        # there.
        assert {tuple(p) for p in np.round(lonlat(ref), 9)} <= got
        assert Polygon(ring).normalize().equals_exact(
            Polygon(lonlat(ref)).normalize(), 1e-9)
    # RFC 7946: exterior counter-clockwise, holes clockwise.
    assert LinearRing(exterior).is_ccw
    assert not LinearRing(holes[0]).is_ccw
    assert Polygon(exterior, holes).is_valid
    # Pixel measures: exact.
    shape_px = Polygon(outer, [hole])
    assert props['area_px'] == shape_px.area == 800
    assert props['perimeter_px'] == shape_px.length == 160
    # Ground measures: geodesics on WGS84. The perimeter counts the hole's
    # outline as well as the exterior, like perimeter_px. (pyproj's
    # geometry_length and geometry_area_perimeter would count the exterior
    # only: 4 * 30 pixels here.)
    area = geod_ring_area(lonlat(outer)) - geod_ring_area(lonlat(hole))
    perimeter = geod_ring_length(lonlat(outer)) + geod_ring_length(
        lonlat(hole))
    assert props['area_m2'] == pytest.approx(area, rel=1e-6)
    assert props['perimeter_m'] == pytest.approx(perimeter, rel=1e-6)
    outer_only = geod_ring_length(lonlat(outer))
    assert props['perimeter_m'] - outer_only == pytest.approx(
        geod_ring_length(lonlat(hole)), rel=1e-5)
    # The run summary's area is the same figure.
    row = pred.measures()
    assert row['building_count'] == 1
    assert row['building_area_px'] == 800
    assert row['building_area_m2'] == pytest.approx(area, rel=1e-6)


def test_geojson_two_holes_and_a_second_polygon():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[4:24, 4:44] = 1          # 20 x 40 with two 4 x 4 holes
    mask[8:12, 8:12] = 0
    mask[8:12, 30:34] = 0
    mask[40:50, 50:60] = 1        # a plain 10 x 10 square
    mask[52:60, 2:20] = 2         # a road 8 x 18
    gj = prediction(mask).to_geojson()
    feats = {(f['properties']['class'], len(f['geometry']['coordinates'])):
             f for f in gj['features']}
    assert sorted(feats) == [('building', 1), ('building', 3), ('road', 1)]
    holed = feats[('building', 3)]
    ext, *holes = [np.array(r) for r in holed['geometry']['coordinates']]
    assert LinearRing(ext).is_ccw
    assert [LinearRing(h).is_ccw for h in holes] == [False, False]
    px = holed['properties']
    assert px['area_px'] == 800 - 32
    assert px['perimeter_px'] == 2 * (20 + 40) + 2 * 16
    ring_sum = geod_ring_length(ext[:-1]) + sum(
        geod_ring_length(h[:-1]) for h in holes)
    assert px['perimeter_m'] == pytest.approx(ring_sum, rel=1e-6)
    road = feats[('road', 1)]['properties']
    assert (road['area_px'], road['perimeter_px']) == (144, 52)
    road_ring = lonlat([[2, 52], [20, 52], [20, 60], [2, 60]])
    assert road['area_m2'] == pytest.approx(geod_ring_area(road_ring),
                                            rel=1e-6)
    assert road['perimeter_m'] == pytest.approx(
        geod_ring_length(road_ring), rel=1e-6)


# --------------------------------------------------------------------------
# Road length: skeleton steps, diagonal steps included
# --------------------------------------------------------------------------
def road_lines():
    """One-pixel road lines (their own skeletons), with their pixel-centre
    polylines ``(x, y)`` and lengths in pixels."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    lines = []
    # Horizontal: row 5, columns 5-34 (29 steps).
    mask[5, 5:35] = 2
    lines.append(([[5.5, 5.5], [34.5, 5.5]], 29))
    # Diagonal down-right: (r, c) = (12 + i, 2 + i), i = 0..19 (19 steps).
    for i in range(20):
        mask[12 + i, 2 + i] = 2
    lines.append(([[2.5, 12.5], [21.5, 31.5]], 19 * SQRT2))
    # Diagonal down-left: (r, c) = (12 + i, 60 - i), i = 0..15 (15 steps).
    for i in range(16):
        mask[12 + i, 60 - i] = 2
    lines.append(([[60.5, 12.5], [45.5, 27.5]], 15 * SQRT2))
    # A bend: row 50 columns 30-39, a diagonal step, column 40 rows 51-58
    # (skeletonize takes the corner pixel out of a right-angled bend).
    mask[50, 30:40] = 2
    mask[51:59, 40] = 2
    lines.append(([[30.5, 50.5], [39.5, 50.5], [40.5, 51.5], [40.5, 58.5]],
                  16 + SQRT2))
    return mask, lines


def test_road_length_px_counts_diagonal_steps():
    mask, lines = road_lines()
    assert (skeletonize(mask == 2) == (mask == 2)).all()
    row = prediction(mask, georeferenced=False).measures()
    assert row['road_length_px'] == pytest.approx(
        sum(n for _, n in lines), rel=1e-12)
    assert row['road_length_m'] is None
    # Each part alone (so a missing step kind shows up on its own).
    for pts, length in lines:
        part = np.zeros_like(mask)
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
            steps = int(max(abs(x1 - x0), abs(y1 - y0)))
            for k in range(steps + 1):
                part[int(y0 + (y1 - y0) * k / steps),
                     int(x0 + (x1 - x0) * k / steps)] = 2
        np.testing.assert_array_equal(part & (mask == 2) * 2, part)
        got = prediction(part, False).measures()['road_length_px']
        assert got == pytest.approx(length, rel=1e-12)
        assert got == pytest.approx(LineString(pts).length, rel=1e-12)


def test_road_length_m_against_geod():
    mask, lines = road_lines()
    row = prediction(mask).measures()
    expected = sum(
        GEOD.line_length(*lonlat(pts).T) for pts, _ in lines)
    # The code measures every step with the ground scale of the tile
    # centre; over 64 pixels the scale changes by about 1e-6.
    assert row['road_length_m'] == pytest.approx(expected, rel=1e-5)
    assert row['road_length_px'] == pytest.approx(
        sum(n for _, n in lines), rel=1e-12)
    # Only roads are measured as lines; a mask without roads has length 0.
    empty = prediction(np.zeros_like(mask)).measures()
    assert (empty['road_length_px'], empty['road_length_m']) == (0.0, 0.0)


def test_summary_csv_holds_the_measures(tmp_path):
    mask, _ = road_lines()
    building, _, _ = square_with_hole()
    mask = np.where(building == 1, 1, mask).astype(np.uint8)
    pred = prediction(mask)
    row = pred.measures()
    path = tmp_path / 'summary.csv'
    write_summary_csv(str(path), [row])
    table = pd.read_csv(path)
    assert len(table) == 1
    for key in ('building_area_m2', 'road_length_m', 'road_length_px',
                'building_area_px', 'road_area_px'):
        assert table[key][0] == pytest.approx(row[key], rel=1e-9), key
    assert table['building_count'][0] == 1


def test_transform_description_and_local_scale():
    t = footprint_transform(FOOTPRINT, SIZE, SIZE, source='t.json')
    d = t.to_dict()
    assert d['crs'] == 'EPSG:4326' and d['source'] == 't.json'
    assert d['corners'] == [[LON0, LAT0], [LON0 + SIZE * DLON, LAT0],
                            [LON0 + SIZE * DLON, LAT0 - SIZE * DLAT],
                            [LON0, LAT0 - SIZE * DLAT]]
    # lon = DLON x + 0 y + LON0, lat = 0 x - DLAT y + LAT0.
    np.testing.assert_allclose(d['affine'], [DLON, 0, LON0, 0, -DLAT, LAT0],
                               rtol=1e-9, atol=1e-12)
    assert d['residual_m'] == pytest.approx(0, abs=1e-6)
    # The GeoJSON carries the same affine and footprint source.
    pred = prediction(square_with_hole()[0])
    info = pred.to_geojson()['mmseg_sia']
    assert info['affine'] == pred.transform.to_dict()['affine']
    # The ground scale at a given pixel: one step east at row 0 (latitude
    # LAT0) is shorter than at the bottom row, as Geod says.
    for y in (0, SIZE):
        (lon0, lat0), (lon1, lat1) = lonlat([[10, y], [11, y]])
        east = GEOD.inv(lon0, lat0, lon1, lat1)[2]
        assert np.linalg.norm(t.metres_per_pixel(10, y)[:, 0]) == \
            pytest.approx(east, rel=1e-9)
    top, bottom = (np.linalg.norm(t.metres_per_pixel(0, y)[:, 0])
                   for y in (0, SIZE))
    assert top < bottom


def test_footprint_limits():
    from mmseg_sia.apis import FootprintError
    for w, h in ((0, 64), (64, 0), (-1, 64)):
        with pytest.raises(FootprintError,
                           match=rf'a.json: footprint cannot map a tile of '
                           rf'size {w} x {h}'):
            footprint_transform(FOOTPRINT, w, h, source='a.json')
    # Latitudes up to 90 and longitudes up to 360 in magnitude are degrees.
    near_pole = [[10.0, 89.0], [10.2, 89.0], [10.2, 90.0], [10.0, 90.0]]
    assert order_footprint_corners(near_pole)[0].tolist() == [10.0, 90.0]
    east = [[359.0, 1.0], [360.0, 1.0], [360.0, 2.0], [359.0, 2.0]]
    assert order_footprint_corners(east)[1].tolist() == [360.0, 2.0]
    for bad in ([[10.0, 89.0], [10.2, 89.0], [10.2, 90.5], [10.0, 90.5]],
                [[359.0, 1.0], [360.5, 1.0], [360.5, 2.0], [359.0, 2.0]],
                [[1e5, 10.0], [1e5 + 1, 10.0], [1e5 + 1, 11.0],
                 [1e5, 11.0]]):
        with pytest.raises(FootprintError,
                           match=r'^b.json: footprint is not in lon/lat '
                           r'degrees \(EPSG:4326\)'):
            order_footprint_corners(bad, source='b.json')
    with pytest.raises(FootprintError,
                       match=r'^c.json: footprint has a NaN or infinite '
                       'coordinate$'):
        order_footprint_corners([[0, 0], [1, 0], [1, float('nan')], [0, 1]],
                                source='c.json')
    with pytest.raises(FootprintError,
                       match=r'^d.json: footprint is not a list of \(lon, '
                       r'lat\) points'):
        order_footprint_corners([[0, 0], [1], [1, 1], [0, 1]],
                                source='d.json')
    # A corner on the line between its neighbours (bottom-right (1, 0.5)
    # between top-right (2, 1) and bottom-left (0, 0)) is degenerate.
    with pytest.raises(FootprintError, match='north-up quadrilateral'):
        order_footprint_corners([[0, 0], [1, 0.5], [2, 1], [0, 1]])


def test_footprint_residual_of_a_trapezoid_against_geod():
    """Bottom-right corner moved east by ``shift`` degrees: the least-squares
    affine fit misses every corner by a quarter of the shift (the defect
    p0 - p1 + p2 - p3 spreads evenly over the four corners)."""
    for shift_px, warns in ((0.4, False), (8.0, True)):
        shift = shift_px * DLON
        pts = [list(p) for p in FOOTPRINT]
        pts[1][0] += shift            # bottom-right
        if warns:
            with pytest.warns(UserWarning,
                              match=r'^q.json: the four corners are not a '
                              r'parallelogram; the affine fit is off by up '
                              r'to \d+\.\d\d m \(\d+\.\d pixels\) at a '
                              'corner$'):
                t = footprint_transform(pts, SIZE, SIZE, source='q.json')
        else:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter('error')
                t = footprint_transform(pts, SIZE, SIZE, source='q.json')
        lat = LAT0 - SIZE * DLAT / 2
        quarter = GEOD.inv(LON0, lat, LON0 + shift / 4, lat)[2]
        assert t.residual_m == pytest.approx(quarter, rel=2e-3)
        assert t.to_dict()['residual_m'] == t.residual_m
