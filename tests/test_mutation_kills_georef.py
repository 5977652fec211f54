"""Georeference values that mutation testing found unpinned (issue 14).

References: pyproj's ``Transformer`` (bounds with its own densification)
and values written out by hand.
"""
import json

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Transformer

from mmseg_sia.georef import (Georef, GeorefError, parse_crs, read_meta_file,
                              resolve_georef, transform_points)

KOREA = CRS.from_epsg(5186)
LONLAT = CRS.from_epsg(4326)


def meta_georef(width=1000, height=800, res=0.5, path='m.json'):
    return Georef(KOREA, Affine(res, 0, 200000.0, 0, -res, 550000.0), width,
                  height, 'meta', path)


def test_description_by_hand():
    g = meta_georef()
    assert g.to_dict() == dict(
        crs='EPSG:5186', transform=[0.5, 0.0, 200000.0, 0.0, -0.5, 550000.0],
        width=1000, height=800, source='meta', path='m.json')
    bare = Georef(None, Affine(2.0, 0, 10.0, 0, -2.0, 20.0), 3, 4,
                  'worldfile')
    assert bare.to_dict() == dict(crs=None,
                                  transform=[2.0, 0.0, 10.0, 0.0, -2.0, 20.0],
                                  width=3, height=4, source='worldfile',
                                  path=None)


def test_bounds_in_its_own_crs_and_in_lon_lat():
    g = meta_georef()
    assert g.bounds() == (200000.0, 549600.0, 200500.0, 550000.0)
    assert g.bounds(KOREA) == (200000.0, 549600.0, 200500.0, 550000.0)
    # A 500 km image centred on the projection's central meridian (x =
    # 200 km): its northern edge curves, highest at its middle, which is
    # the 11th of 21 points an edge (pyproj densifies with 19 points between
    # the corners).
    big = Georef(KOREA, Affine(500.0, 0, -50000.0, 0, -500.0, 550000.0),
                 1000, 800, 'meta', 'm.json')
    tr = Transformer.from_crs(KOREA, LONLAT, always_xy=True)
    want = tr.transform_bounds(-50000.0, 150000.0, 450000.0, 550000.0,
                               densify_pts=19)
    assert big.bounds(LONLAT) == pytest.approx(want, rel=1e-13, abs=1e-12)
    # Not the bounds of the corners alone.
    lon, lat = tr.transform([-50000.0, 450000.0, 450000.0, -50000.0],
                            [550000.0, 550000.0, 150000.0, 150000.0])
    assert max(lat) < want[3] - 1e-3


def test_rings_back_to_pixels():
    g = meta_georef()
    rings = [np.array([[200000.0, 550000.0], [200010.0, 549990.0],
                       [200000.0, 549990.0]]),
             np.array([[200250.0, 549800.0], [200251.0, 549800.0],
                       [200251.0, 549799.5], [200250.0, 549799.5]])]
    back = g.rings_to_pixel(rings)
    assert [r.tolist() for r in back] == [
        [[0, 0], [20, 20], [0, 20]],
        [[500, 400], [502, 400], [502, 401], [500, 401]]]
    assert g.rings_to_pixel([]) == []
    lonlat = [transform_points(r, KOREA, LONLAT) for r in rings]
    again = g.rings_to_pixel(lonlat, LONLAT)
    for a, b in zip(again, back):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_errors_name_the_file_and_field():
    e = GeorefError(None, 'is odd')
    assert str(e) == 'georeference: is odd'
    assert (e.path, e.field, e.reason) == (None, None, 'is odd')
    e = GeorefError('a.tif', 'is odd', 'crs')
    assert str(e) == "a.tif, field 'crs': is odd"
    assert (e.path, e.field, e.reason) == ('a.tif', 'crs', 'is odd')
    with pytest.raises(GeorefError,
                       match=r'^m\.json: image size must be positive, got '
                       r'0 x 5$'):
        meta_georef(0, 5)
    with pytest.raises(GeorefError,
                       match=r'^m\.json: image size must be positive, got '
                       r'5 x 0$'):
        meta_georef(5, 0)
    assert meta_georef(1, 1).shape == (1, 1)
    with pytest.raises(GeorefError,
                       match=r'^m\.json: affine transform is degenerate: '
                       r'\(0\.5, 1\.0, 200000\.0, 0\.25, 0\.5, 550000\.0\)$'):
        Georef(KOREA, Affine(0.5, 1.0, 200000.0, 0.25, 0.5, 550000.0), 4, 4,
               'meta', 'm.json')
    bare = Georef(None, Affine(2.0, 0, 10.0, 0, -2.0, 20.0), 3, 4,
                  'worldfile', 'w.png')
    with pytest.raises(GeorefError,
                       match=r"^w\.png, field 'crs': the image has no CRS; "
                       r'its bounds cannot be given in EPSG:4326$'):
        bare.bounds(LONLAT)
    with pytest.raises(GeorefError,
                       match=r"^w\.png, field 'crs': the image has no CRS "
                       r'\(worldfile georeference\) and the polygons are in '
                       r'EPSG:4326: name the image CRS \(a \.prj file, or '
                       r'the `crs` setting\)$'):
        bare.map_to_pixel([[127.0, 37.5]], LONLAT)
    # Latitude 95: pyproj's own check refuses it (not an infinite result).
    with pytest.raises(GeorefError,
                       match=r"^x\.json, field 'crs': cannot transform "
                       r'coordinates from EPSG:4326 to EPSG:5186 \(.*Invalid '
                       r'latitude'):
        transform_points([[0.0, 95.0]], LONLAT, KOREA, 'x.json')
    with pytest.raises(GeorefError,
                       match=r"^p\.json, field 'crs': is not a CRS: 3\.5$"):
        parse_crs(3.5, 'p.json', 'crs')


def test_meta_record_and_size_check(tmp_path):
    record = dict(img_id='A_1.tif', img_width=4, img_height=3,
                  img_resolution=0.5, img_coordinate='EPSG:5186',
                  coordinates='200000.25, 549999.75')
    path = tmp_path / 'A_META.json'
    path.write_text(json.dumps([record]))
    m = read_meta_file(str(path))
    assert (m['img_id'], m['width'], m['height'], m['resolution'], m['x'],
            m['y']) == ('A_1.tif', 4, 3, 0.5, 200000.25, 549999.75)
    assert m['crs'] == KOREA
    record['img_id'] = 7
    path.write_text(json.dumps([record]))
    assert read_meta_file(str(path))['img_id'] is None
    with pytest.raises(GeorefError,
                       match=rf"^{path}, field 'img_width': gives 4 x 3 "
                       r'pixels but the image has 4 x 5$'):
        resolve_georef(meta_path=str(path), shape=(5, 4))
    import cv2
    img = tmp_path / 'img.png'
    cv2.imwrite(str(img), np.zeros((3, 5, 3), np.uint8))
    with pytest.raises(GeorefError,
                       match=rf"^{path}, field 'img_width': gives 4 x 3 "
                       rf'pixels but the image {img} has 5 x 3$'):
        resolve_georef(image_path=str(img), meta_path=str(path),
                       shape=(3, 5, 3))
