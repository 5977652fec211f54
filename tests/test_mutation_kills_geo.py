"""Georeference values that mutation testing found unpinned (issue 14).

References: pyproj's ``Geod`` (WGS84 geodesics) and values by hand on a
footprint that is an exact parallelogram in lon/lat.
"""
import json
import math
import os
import warnings

import numpy as np
import pytest
from pyproj import Geod

import mmseg_sia.geo as geo
from mmseg_sia.geo import (FootprintError, footprint_transform,
                           order_footprint_corners, polygon_area_m2,
                           read_footprint, ring_area_m2, ring_length_m)

GEOD = Geod(ellps='WGS84')
SIZE = 64
LON0, LAT0 = 127.0, 37.55
DLON, DLAT = 1e-5, 8e-6
# Bottom-left, bottom-right, top-right, top-left (the release's order).
FOOTPRINT = [[LON0, LAT0 - SIZE * DLAT],
             [LON0 + SIZE * DLON, LAT0 - SIZE * DLAT],
             [LON0 + SIZE * DLON, LAT0], [LON0, LAT0]]


def geod_area(ring):
    ring = np.asarray(ring, np.float64)
    return abs(GEOD.polygon_area_perimeter(ring[:, 0], ring[:, 1])[0])


def test_footprint_errors_word_for_word():
    pts = FOOTPRINT
    with pytest.raises(FootprintError,
                       match=r'^footprint has 3 points; a tile footprint '
                       r'needs exactly 4 corners$') as info:
        order_footprint_corners(pts[:3])
    assert info.value.source is None
    assert info.value.reason == ('has 3 points; a tile footprint needs '
                                 'exactly 4 corners')
    with pytest.raises(FootprintError,
                       match=r'^r\.json: footprint repeats a corner: '
                       ) as info:
        order_footprint_corners([pts[0], pts[1], pts[1], pts[3]],
                                source='r.json')
    assert info.value.source == 'r.json'
    dart = [[127.0, 37.1], [127.1, 37.1], [127.05, 37.09], [127.05, 37.0]]
    with pytest.raises(FootprintError,
                       match=r'^d\.json: footprint corners do not form a '
                       r'north-up quadrilateral \(rotated by 45 degrees or '
                       r'more, or degenerate\): \[\[127\.0, 37\.1\], '):
        order_footprint_corners(dart, source='d.json')
    assert str(FootprintError(None, 'is odd')) == 'footprint is odd'
    assert str(FootprintError('', 'is odd')) == 'footprint is odd'


def test_read_footprint_reads_only_the_footprint(tmp_path):
    """No polygon is parsed and nothing is warned about: a broken polygon
    or a feature that is not an object do not matter here."""
    ring = [[lon, lat, 0.0] for lon, lat in FOOTPRINT]
    feature = dict(type='Feature',
                   geometry=dict(type='Polygon', coordinates=[ring]),
                   properties=dict(building_imcoords='1,2,3'))
    path = tmp_path / 'fp.json'
    path.write_text(json.dumps(dict(type='FeatureCollection',
                                    features=[feature, 5])))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert read_footprint(str(path)).tolist() == FOOTPRINT
    feature['geometry']['coordinates'] = [ring[:3]]
    path.write_text(json.dumps(dict(type='FeatureCollection',
                                    features=[feature])))
    with pytest.raises(FootprintError,
                       match=rf'^{path}: footprint has 3 points; a tile '
                       r'footprint needs exactly 4 corners$'):
        read_footprint(str(path))


def test_thin_tiles_and_several_points_back():
    for w, h in ((1, 64), (64, 1), (1, 1)):
        t = footprint_transform(FOOTPRINT, w, h)
        np.testing.assert_allclose(
            t.pixel_to_lonlat([[w, h]]),
            [[LON0 + SIZE * DLON, LAT0 - SIZE * DLAT]], rtol=0, atol=1e-12)
    t = footprint_transform(FOOTPRINT, SIZE, SIZE)
    lonlat = [[LON0 + 3 * DLON, LAT0 - 5 * DLAT],
              [LON0 + 40.5 * DLON, LAT0 - 0.25 * DLAT],
              [LON0, LAT0 - SIZE * DLAT]]
    np.testing.assert_allclose(t.lonlat_to_pixel(lonlat),
                               [[3, 5], [40.5, 0.25], [0, SIZE]], atol=1e-6)


def test_ground_scale_at_a_pixel_of_a_large_turned_tile():
    """A 1024-px tile of 100 m pixels turned 30 degrees (corners walked out
    with ``Geod.fwd``): latitude changes along both pixel axes, so the scale
    at a pixel depends on where it is asked. One pixel step at pixel
    ``(x, y)``, measured as a geodesic of a hundredth of a step, against the
    Jacobian there; the default is the tile centre."""
    gsd, size, angle = 100.0, 1024, 30.0
    az_x, az_y = 90.0 - angle, 180.0 - angle
    tl = (126.0, 37.0)
    tr = GEOD.fwd(*tl, az_x, size * gsd)[:2]
    bl = GEOD.fwd(*tl, az_y, size * gsd)[:2]
    br = GEOD.fwd(*tr, az_y, size * gsd)[:2]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # not exactly a parallelogram
        t = footprint_transform([bl, br, tr, tl], size, size)

    def step(x, y, dx, dy):
        (lon0, lat0), (lon1, lat1) = t.pixel_to_lonlat(
            [[x, y], [x + dx * 0.01, y + dy * 0.01]])
        return GEOD.inv(lon0, lat0, lon1, lat1)[2] / 0.01

    for x, y in ((0, 0), (1024, 300), (512, 512), (200, 1024)):
        jac = t.metres_per_pixel(x, y)
        assert np.linalg.norm(jac[:, 0]) == pytest.approx(step(x, y, 1, 0),
                                                          rel=1e-5)
        assert np.linalg.norm(jac[:, 1]) == pytest.approx(step(x, y, 0, 1),
                                                          rel=1e-5)
    centre = t.metres_per_pixel()
    np.testing.assert_array_equal(centre, t.metres_per_pixel(512, 512))
    assert np.linalg.norm(centre[:, 0]) == pytest.approx(step(512, 512, 1, 0),
                                                         rel=1e-5)
    # The east step differs by more than 1e-3 across the tile.
    east = [np.linalg.norm(t.metres_per_pixel(x, 512)[:, 0])
            for x in (0, 1024)]
    assert abs(east[0] / east[1] - 1) > 1e-3


def test_residual_of_a_corner_moved_north_and_the_warning():
    """Bottom-right corner moved north by 8 pixels' worth of latitude: each
    corner is off by a quarter of that (2 pixel heights), a meridian
    distance. In pixels of the fitted map, whose rows are 15/16 as tall (the
    fit spreads the 8-pixel shift over 128 rows) and whose pixel side is the
    square root of its area: 2 / sqrt(15 / 16) = 2.07."""
    shift = 8 * DLAT
    pts = [list(p) for p in FOOTPRINT]
    pts[1][1] += shift
    with pytest.warns(UserWarning,
                      match=r'^footprint: the four corners are not a '
                      r'parallelogram; the affine fit is off by up to '
                      r'1\.78 m \(2\.1 pixels\) at a corner$') as record:
        t = footprint_transform(pts, SIZE, SIZE)
    assert record[0].filename != geo.__file__
    if 'MUTANT_UNDER_TEST' not in os.environ:  # mutmut adds a frame
        assert record[0].filename == __file__
    lat = LAT0 - SIZE * DLAT
    quarter = GEOD.inv(LON0, lat, LON0, lat + shift / 4)[2]
    assert t.residual_m == pytest.approx(quarter, rel=2e-3)


def test_areas_and_lengths_of_small_and_degenerate_rings(monkeypatch):
    # Created afresh: the module's Geod is WGS84.
    monkeypatch.setattr(geo, '_GEOD', None)
    tri = [[LON0, LAT0], [LON0 + 10 * DLON, LAT0], [LON0, LAT0 - 10 * DLAT]]
    assert ring_area_m2(tri) == pytest.approx(geod_area(tri), rel=1e-9)
    assert ring_area_m2(tri) > 30
    assert ring_area_m2(tri[:2]) == 0.0
    assert ring_length_m(tri[:1]) == 0.0
    assert ring_length_m(tri[:2], closed=False) == pytest.approx(
        GEOD.inv(*tri[0], *tri[1])[2], rel=1e-12)
    # Below one square metre: 0.5 x 0.5 px of ~0.88 x 0.89 m.
    tiny = [[LON0, LAT0], [LON0 + 0.5 * DLON, LAT0],
            [LON0 + 0.5 * DLON, LAT0 - 0.5 * DLAT], [LON0, LAT0 - 0.5 * DLAT]]
    assert polygon_area_m2(tiny) == pytest.approx(geod_area(tiny), rel=1e-9)
    assert polygon_area_m2(tiny) < 0.25
    # A hole larger than its exterior leaves nothing, not a negative area.
    assert polygon_area_m2(tiny, [tri]) == 0.0
    assert isinstance(geo._GEOD, Geod)
    assert geo._GEOD.initstring == Geod(ellps='WGS84').initstring
