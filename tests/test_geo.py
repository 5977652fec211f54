"""Footprint -> affine georeference, and metric measures on lon/lat."""
import json
import math

import numpy as np
import pytest

from mmseg_sia.geo import (WGS84_A, WGS84_F, FootprintError,
                           footprint_transform, order_footprint_corners,
                           polygon_area_m2, read_footprint, ring_area_m2,
                           ring_length_m)

E2 = WGS84_F * (2 - WGS84_F)
# The committed test footprint: top-left, top-right, bottom-right,
# bottom-left (each row's latitudes differ slightly, as in the data).
CORNERS = np.array([[127.0210, 37.5412], [127.0268, 37.5413],
                    [127.0267, 37.5367], [127.0209, 37.5366]])


def radii(lat):
    s = math.sin(math.radians(lat))
    w = math.sqrt(1 - E2 * s * s)
    return WGS84_A * (1 - E2) / w**3, WGS84_A / w


def tile_corners(lon0, lat0, gsd, size, angle_deg):
    """Corners of a ``size`` px tile of ground pixel ``gsd`` metres, turned
    ``angle_deg`` counter-clockwise, top-left at ``(lon0, lat0)``."""
    m, n = radii(lat0)
    a = math.radians(angle_deg)
    # Ground (east, north) of a pixel step along x and along y.
    ex = gsd * np.array([math.cos(a), math.sin(a)])
    ey = gsd * np.array([math.sin(a), -math.cos(a)])
    deg = np.array([1 / (math.radians(1) * n * math.cos(math.radians(lat0))),
                    1 / (math.radians(1) * m)])
    pix = np.array([[0, 0], [size, 0], [size, size], [0, size]], float)
    ground = pix[:, :1] * ex + pix[:, 1:] * ey
    return np.array([lon0, lat0]) + ground * deg


@pytest.mark.parametrize('shift', range(4))
def test_corners_rotated_and_shuffled_give_the_same_transform(shift):
    rng = np.random.default_rng(shift)
    order = np.roll(np.arange(4), shift)
    shuffled = CORNERS[order][rng.permutation(4)]
    points = [[lon, lat, 0] for lon, lat in shuffled]  # with z, as in files
    np.testing.assert_array_equal(order_footprint_corners(points), CORNERS)
    t = footprint_transform(points, 64, 64)
    np.testing.assert_allclose(
        t.pixel_to_lonlat([[0, 0], [64, 0], [64, 64], [0, 64]]), CORNERS,
        atol=1e-9)
    assert t.residual_m < 1e-3
    # North-up: row 0 is the northern edge, column 0 the western one.
    lon_lat_centre = t.pixel_to_lonlat([[32, 32]])[0]
    assert t.pixel_to_lonlat([[32, 0]])[0, 1] > lon_lat_centre[1]
    assert t.pixel_to_lonlat([[0, 32]])[0, 0] < lon_lat_centre[0]
    np.testing.assert_allclose(
        t.lonlat_to_pixel(t.pixel_to_lonlat([[3.5, 60.25]])), [[3.5, 60.25]],
        atol=1e-6)


@pytest.mark.parametrize('angle', [-20.0, 0.0, 7.5, 30.0])
def test_geometrically_rotated_footprint(angle):
    corners = tile_corners(126.98, 37.56, 0.55, 1024, angle)
    rng = np.random.default_rng(int(angle) + 100)
    t = footprint_transform(corners[rng.permutation(4)], 1024, 1024)
    if abs(angle) < 1e-9:
        np.testing.assert_allclose(t.corners, corners, atol=1e-12)
    # Whatever the rotation, the corner put at row 0 / column 0 is the
    # north-westernmost one, and ground distances come out right.
    jac = t.metres_per_pixel()
    np.testing.assert_allclose(np.linalg.norm(jac, axis=0), [0.55, 0.55],
                               rtol=1e-4)
    assert t.pixel_area_m2() == pytest.approx(0.55**2, rel=1e-4)
    top = t.pixel_to_lonlat([[512, 0]])[0, 1]
    bottom = t.pixel_to_lonlat([[512, 1024]])[0, 1]
    assert top > bottom


def test_footprints_that_cannot_georeference():
    with pytest.raises(FootprintError, match='has 3 points'):
        footprint_transform(CORNERS[:3], 64, 64, source='a.json')
    with pytest.raises(FootprintError, match='a.json: footprint has 5'):
        footprint_transform(np.vstack([CORNERS, [[127.0, 37.0]]]), 64, 64,
                            source='a.json')
    with pytest.raises(FootprintError, match='repeats a corner'):
        footprint_transform(CORNERS[[0, 1, 2, 2]], 64, 64)
    dart = [[127.0, 37.1], [127.1, 37.1], [127.05, 37.09], [127.05, 37.0]]
    with pytest.raises(FootprintError, match='north-up'):
        footprint_transform(dart, 64, 64)
    with pytest.raises(FootprintError, match='lon/lat'):
        footprint_transform(CORNERS * 1e4, 64, 64)
    # A closed ring (first point repeated) is four corners.
    t = footprint_transform(np.vstack([CORNERS, CORNERS[:1]]), 64, 64)
    np.testing.assert_allclose(t.corners, CORNERS)


def test_read_footprint_from_label_files(tmp_path):
    def write(name, coords):
        path = tmp_path / name
        feature = dict(type='Feature',
                       geometry=dict(type='Polygon', coordinates=coords),
                       properties=dict(building_imcoords='1,1,5,1,5,5'))
        path.write_text(json.dumps(dict(type='FeatureCollection',
                                        features=[feature])))
        return path

    ring = [[float(a), float(b), 0] for a, b in CORNERS]
    np.testing.assert_allclose(read_footprint(write('ok.json', [ring])),
                               CORNERS)
    np.testing.assert_allclose(read_footprint(write('bare.json', ring)),
                               CORNERS)
    bad = write('bad.json', [ring[:3]])
    with pytest.raises(FootprintError, match=r'bad\.json.*3 points'):
        read_footprint(bad)
    assert read_footprint(write('none.json', None)) is None


def authalic_band_area(lat1, lat2, dlon_deg):
    """Exact ellipsoid area between two parallels over a longitude span."""
    e = math.sqrt(E2)
    b2 = (WGS84_A * (1 - WGS84_F))**2

    def q(lat):
        s = math.sin(math.radians(lat))
        return s / (1 - E2 * s * s) + math.log((1 + e * s) /
                                               (1 - e * s)) / (2 * e)

    return b2 * math.radians(dlon_deg) / 2 * (q(lat2) - q(lat1))


def test_area_and_length_against_ellipsoid_formulas():
    lat1, lat2, lon1, lon2 = 37.53, 37.54, 127.02, 127.03
    cell = np.array([[lon1, lat2], [lon2, lat2], [lon2, lat1], [lon1, lat1]])
    exact = authalic_band_area(lat1, lat2, lon2 - lon1)
    assert ring_area_m2(cell) == pytest.approx(exact, rel=1e-5)
    # Meridian and parallel lengths.
    m, _ = radii((lat1 + lat2) / 2)
    _, n = radii(lat1)
    assert ring_length_m(cell[[2, 1]], closed=False) == pytest.approx(
        m * math.radians(lat2 - lat1), rel=1e-6)
    assert ring_length_m(cell[[3, 2]], closed=False) == pytest.approx(
        n * math.cos(math.radians(lat1)) * math.radians(lon2 - lon1),
        rel=1e-6)
    # Holes are subtracted; orientation does not matter.
    hole = (cell - cell.mean(axis=0)) * 0.5 + cell.mean(axis=0)
    assert polygon_area_m2(cell, [hole[::-1]]) == pytest.approx(
        0.75 * ring_area_m2(cell), rel=1e-6)


def test_tile_measures_match_ground_size():
    corners = tile_corners(127.0, 37.5, 0.5, 1000, 0.0)
    t = footprint_transform(corners, 1000, 1000)
    square = t.pixel_to_lonlat([[100, 100], [300, 100], [300, 300],
                                [100, 300]])
    assert ring_area_m2(square) == pytest.approx(100.0**2, rel=1e-4)
    assert ring_length_m(square) == pytest.approx(400.0, rel=1e-4)


@pytest.mark.parametrize('seed', [0, 1])
def test_ring_lengths_from_one_call_equal_ring_by_ring(seed):
    """Many rings measured from one pyproj call: exactly the floats of
    ``Geod.line_length`` ring by ring (closed and open), with empty and
    one-vertex rings measuring 0."""
    from pyproj import Geod

    from mmseg_sia.geo import ring_length_m, ring_lengths_m
    geod = Geod(ellps='WGS84')
    rng = np.random.default_rng(seed)
    rings = [np.column_stack([127 + rng.random(n) * 0.02,
                              37 + rng.random(n) * 0.02])
             for n in rng.integers(0, 400, 300)]
    rings += [np.zeros((1, 2)), np.zeros((0, 2))]
    for closed in (True, False):
        got = ring_lengths_m(rings, closed)
        want = [ring_length_m(r, closed) for r in rings]
        assert got == want
        for r, n in zip(rings, got):
            pts = np.vstack([r, r[:1]]) if closed and len(r) > 1 else r
            assert n == (geod.line_length(pts[:, 0], pts[:, 1])
                         if len(pts) > 1 else 0.0)
    assert ring_lengths_m([]) == []
