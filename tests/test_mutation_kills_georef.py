"""Georeference values that mutation testing found unpinned (issue 14).

References: pyproj's ``Transformer`` (bounds with its own densification)
and values written out by hand.
"""
import json

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Transformer

from mmseg_sia import georef
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
                       [200251.0, 549799.5], [200250.0, 549799.5]]),
             np.array([[200100.0, 549900.0], [200100.5, 549900.0],
                       [200100.0, 549899.0]])]
    back = g.rings_to_pixel(rings)
    assert [r.tolist() for r in back] == [
        [[0, 0], [20, 20], [0, 20]],
        [[500, 400], [502, 400], [502, 401], [500, 401]],
        [[200, 200], [201, 200], [200, 202]]]
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


def write_record(tmp_path, name='B_META.json', **changes):
    record = dict(img_id='B.tif', img_width=4, img_height=3,
                  img_resolution=0.5, img_coordinate='EPSG:5186',
                  coordinates='200000.25, 549999.75')
    record.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps([record]))
    return str(path)


@pytest.mark.parametrize('changes, message', [
    (dict(img_height=3.5), r"field 'img_height': must be a whole number of "
     r'pixels, got 3\.5$'),
    (dict(img_width=True), r"field 'img_width': must be a positive number, "
     r'got True$'),
    (dict(coordinates='nan, 5'), r"field 'coordinates': must be the string "
     r'"x, y" \(centre of the upper-left pixel\), got \'nan, 5\'$'),
    (dict(coordinates='5, inf'), r"field 'coordinates': must be the string"),
])
def test_meta_fields_refused_word_for_word(tmp_path, changes, message):
    path = write_record(tmp_path, **changes)
    with pytest.raises(GeorefError, match=rf'^{path}, {message}'):
        read_meta_file(path)


def test_meta_files_that_are_not_a_record_list(tmp_path):
    path = tmp_path / 'L_META.json'
    path.write_text('[5, {"a": 1}]')
    with pytest.raises(GeorefError,
                       match=rf'^{path}: META file is a list of int; expected '
                       r'a list whose first element is an object$'):
        read_meta_file(str(path))
    missing = tmp_path / 'none_META.json'
    with pytest.raises(GeorefError,
                       match=rf'^{missing}: META file cannot be read \(No '
                       r'such file or directory\)$'):
        read_meta_file(str(missing))
    bad = tmp_path / 'bin_META.json'
    bad.write_bytes(b'\x80\xff\xfe[')
    with pytest.raises(GeorefError,
                       match=rf'^{bad}: META file is not text in UTF-8, '
                       r'cp949/EUC-KR or UTF-16 with a byte-order mark: '
                       r'not utf-8 \(byte 0: invalid start byte\); not '
                       r'cp949 \(byte 0: illegal multibyte sequence\)$'):
        read_meta_file(str(bad))
    # UTF-16 with a big-endian byte-order mark is read.
    be = tmp_path / 'be_META.json'
    text = json.dumps([dict(img_id='B.tif', img_width=4, img_height=3,
                            img_resolution=0.5, img_coordinate='EPSG:5186',
                            coordinates='200000.25, 549999.75')])
    be.write_bytes(b'\xfe\xff' + text.encode('utf-16-be'))
    assert read_meta_file(str(be))['width'] == 4


def test_paths_and_sources_of_each_georeference(tmp_path):
    import cv2

    from mmseg_sia.georef import (footprint_georef, image_georef,
                                  lonlat_transform, read_raster_georef)
    png = tmp_path / 'w.png'
    cv2.imwrite(str(png), np.zeros((3, 4, 3), np.uint8))
    (tmp_path / 'w.pgw').write_text('0.5\n0\n0\n-0.5\n200000.25\n549999.75\n')
    ref = read_raster_georef(str(png))
    assert (ref.source, ref.path) == ('worldfile', str(png))
    with pytest.raises(GeorefError,
                       match=rf"^{png}, field 'crs': has no CRS: its pixels "
                       r'cannot be placed in lon/lat \(add a \.prj file\)$'):
        lonlat_transform(ref)
    prj = tmp_path / 'w.prj'
    prj.write_bytes(b'\xff\xfe\x80 not UTF-8')
    with pytest.raises(GeorefError,
                       match=rf"^{prj}: cannot be read \('utf-8'"):
        read_raster_georef(str(png))
    prj.write_text('NOT A CRS')
    with pytest.raises(GeorefError,
                       match=rf"^{prj}, field 'WKT': names no known CRS: "
                       r"'NOT A CRS'"):
        read_raster_georef(str(png))
    prj.write_text(KOREA.to_wkt('WKT1_ESRI'))
    ref = read_raster_georef(str(png))
    assert ref.crs.to_epsg() == 5186 and ref.path == str(png)
    t = lonlat_transform(ref)
    assert t.source == str(png)
    # META beside an image without its own georeference.
    plain = tmp_path / 'B.png'
    cv2.imwrite(str(plain), np.zeros((3, 4, 3), np.uint8))
    meta = write_record(tmp_path)
    ref = image_georef(str(plain), shape=(3, 4))
    assert (ref.source, ref.path) == ('meta', meta)
    assert ref.transform == Affine(0.5, 0, 200000.0, 0, -0.5, 550000.0)
    with pytest.raises(GeorefError, match=r'gives 4 x 3 pixels but the '
                       rf'image {plain} has 5 x 3$'):
        image_georef(str(plain), shape=(3, 5))
    other = tmp_path / 'metas'
    other.mkdir()
    write_record(other, name='C_META.json', img_width=5)
    c = tmp_path / 'C.png'
    cv2.imwrite(str(c), np.zeros((3, 5, 3), np.uint8))
    assert image_georef(str(c), meta_dir=str(other)).width == 5
    # A label footprint on a tile that is not square: width and height kept.
    ring = [[127.0, 37.5], [127.001, 37.5], [127.001, 37.4995],
            [127.0, 37.4995]]
    label = tmp_path / 'L.json'
    label.write_text(json.dumps(dict(type='FeatureCollection', features=[
        dict(type='Feature', geometry=dict(type='Polygon',
                                           coordinates=[ring]),
             properties=dict(building_imcoords='EMPTY'))])))
    ref = resolve_georef(None, None, str(label), shape=(50, 100))
    assert (ref.width, ref.height, ref.path) == (100, 50, str(label))
    assert ref.pixel_to_map([[100, 50]])[0].tolist() == pytest.approx(
        [127.001, 37.4995], abs=1e-12)
    ref = footprint_georef(str(label), 100, 50)
    assert (ref.source, ref.path) == ('footprint', str(label))


def test_bounds_of_a_turned_image_by_hand():
    # Pixel x runs north-east, pixel y south-east: every corner is an
    # extreme of its own.
    g = Georef(KOREA, Affine(1.0, 1.0, 100.0, 1.0, -1.0, 500.0), 10, 4,
               'raster', 'r.tif')
    # Corners (0, 0) -> (100, 500), (10, 0) -> (110, 510),
    # (10, 4) -> (114, 506), (0, 4) -> (104, 496).
    assert g.bounds() == (100.0, 496.0, 114.0, 510.0)


def test_meta_size_check_takes_height_and_width_only(tmp_path):
    meta = write_record(tmp_path)
    assert resolve_georef(meta_path=meta, shape=(3, 4, 3)).width == 4


def test_bad_footprint_of_a_label_names_it(tmp_path):
    from mmseg_sia.geo import FootprintError
    dart = [[127.0, 37.1], [127.1, 37.1], [127.05, 37.09], [127.05, 37.0]]
    label = tmp_path / 'D.json'
    label.write_text(json.dumps(dict(type='FeatureCollection', features=[
        dict(type='Feature', geometry=dict(type='Polygon',
                                           coordinates=[dart]),
             properties=dict(building_imcoords='EMPTY'))])))
    with pytest.raises(FootprintError,
                       match=rf'^{label}: footprint corners do not form a '
                       'north-up quadrilateral'):
        resolve_georef(None, None, str(label), shape=(8, 8))


def test_meta_files_of_validation_parts_and_1024_names(tmp_path,
                                                      monkeypatch):
    import cv2

    from mmseg_sia.georef import find_meta_file
    vs = tmp_path / 'Validation' / '01.원천데이터' / 'VS_AP25_1024픽셀'
    vl = tmp_path / 'Validation' / '02.라벨링데이터' / 'VL_AP25_1024픽셀_Meta'
    vs.mkdir(parents=True)
    vl.mkdir(parents=True)
    img = vs / 'Y2_FGT_1024.png'
    cv2.imwrite(str(img), np.zeros((3, 4, 3), np.uint8))
    meta = write_record(vl, name='Y2_FGT_META_1024.json')
    assert find_meta_file(str(img)) == meta
    # Beside the image folder (no 01/02 split).
    flat = tmp_path / 'flat'
    (flat / 'VS_P').mkdir(parents=True)
    (flat / 'VL_P_Meta').mkdir()
    other = flat / 'VS_P' / 'Z.png'
    cv2.imwrite(str(other), np.zeros((3, 4, 3), np.uint8))
    meta = write_record(flat / 'VL_P_Meta', name='Z_META.json')
    assert find_meta_file(str(other)) == meta
    # A relative image path gives a path relative to the working folder.
    monkeypatch.chdir(flat)
    assert find_meta_file('VS_P/Z.png') == 'VL_P_Meta/Z_META.json'


def test_bounds_with_interior_extremes_on_every_edge():
    """Bounds in another CRS take the extremes inside the edges, not only at
    the corners: pyproj's ``transform_bounds`` with the same densification
    (19 points between the corners) is the reference."""
    # Longitude 0..6, latitude -10..10 (24 x 40 pixels) in UTM zone 31N:
    # easting is largest on the east edge and smallest on the west edge at
    # the equator, the middle of each edge.
    utm = CRS.from_epsg(32631)
    g = Georef(LONLAT, Affine(0.25, 0, 0.0, 0, -0.5, 10.0), 24, 40,
               'raster', 'e.tif')
    tr = Transformer.from_crs(LONLAT, utm, always_xy=True)
    want = tr.transform_bounds(0.0, -10.0, 6.0, 10.0, densify_pts=19)
    assert g.bounds(utm) == pytest.approx(want, rel=1e-13, abs=1e-9)
    x, _ = tr.transform([0.0, 6.0, 6.0, 0.0], [10.0, 10.0, -10.0, -10.0])
    assert want[0] < min(x) - 1000 and want[2] > max(x) + 1000
    # Longitude 125..129, latitude 33..38 in EPSG:5186 (central meridian
    # 127): the parallel of the south edge is lowest in its middle.
    s = Georef(LONLAT, Affine(0.2, 0, 125.0, 0, -0.25, 38.0), 20, 20,
               'raster', 's.tif')
    tr = Transformer.from_crs(LONLAT, KOREA, always_xy=True)
    want = tr.transform_bounds(125.0, 33.0, 129.0, 38.0, densify_pts=19)
    assert s.bounds(KOREA) == pytest.approx(want, rel=1e-13, abs=1e-9)
    _, y = tr.transform([125.0, 129.0, 129.0, 125.0], [38.0, 38.0, 33.0, 33.0])
    assert want[1] < min(y) - 1000


def test_reprojection_errors_name_the_file():
    # Rows beyond the pole: pyproj refuses latitudes over 90.
    polar = Georef(LONLAT, Affine(1.0, 0, 120.0, 0, -1.0, 95.0), 4, 10,
                   'raster', 'polar.tif')
    with pytest.raises(GeorefError,
                       match=r"^polar\.tif, field 'crs': cannot transform "
                       r'coordinates from EPSG:4326 to EPSG:5186 \(.*Invalid '
                       r'latitude'):
        polar.bounds(KOREA)
    from mmseg_sia.georef import lonlat_transform
    far = Georef(KOREA, Affine(1.0, 0, 1e300, 0, -1.0, 550000.0), 4, 4,
                 'raster', 'far.tif')
    with pytest.raises(GeorefError,
                       match=r"^far\.tif, field 'crs': cannot transform "
                       r'coordinates from EPSG:5186 to EPSG:4326 \(.*outside '
                       r'of projection domain'):
        lonlat_transform(far)


def test_non_finite_points_are_refused_by_name():
    """pyproj passes NaN input (and an x of +inf) through without an error
    (its own check refuses the points it cannot place, as latitude 95): the
    check after transforming names the file."""
    for point in ([np.nan, 550000.0], [200000.0, np.nan],
                  [np.inf, 550000.0]):
        with pytest.raises(GeorefError,
                           match=r"^n\.json, field 'crs': coordinates in "
                           r'EPSG:5186 have no place in EPSG:4326 '
                           r'\(non-finite after transforming\)$'):
            transform_points([[200000.0, 550000.0], point], KOREA, LONLAT,
                             'n.json')


def test_raster_crs_pyproj_cannot_read_names_the_file(tmp_path, monkeypatch):
    """A CRS GDAL reads but pyproj does not (made here by refusing every CRS
    in pyproj): the message names the raster and its CRS field."""
    import re

    import rasterio
    from pyproj.exceptions import CRSError

    from mmseg_sia.georef import read_raster_georef
    tif = str(tmp_path / 'odd.tif')
    with rasterio.open(tif, 'w', driver='GTiff', width=4, height=3, count=1,
                       dtype='uint8', crs='EPSG:5186',
                       transform=Affine(0.5, 0, 200000.0, 0, -0.5,
                                        550000.0)) as ds:
        ds.write(np.zeros((1, 3, 4), np.uint8))
    assert read_raster_georef(tif).crs.to_epsg() == 5186

    def refuse(cls, value, **kwargs):
        raise CRSError('refused in this test')

    monkeypatch.setattr(CRS, 'from_user_input', classmethod(refuse))
    georef._crs_from_text.cache_clear()  # CRSs read before are kept
    with pytest.raises(GeorefError,
                       match=rf"^{re.escape(tif)}, field 'crs': names no "
                       r"known CRS: '[A-Z]+\[.*Korea.*\(refused in this "
                       r'test\)$'):
        read_raster_georef(tif)


def test_meta_search_when_the_grandparent_cannot_be_listed(tmp_path,
                                                           monkeypatch):
    """The release's split folders are looked for in the image folder's
    grandparent; when that cannot be listed the other folders are still
    searched, and no META is no error."""
    import os

    import cv2

    from mmseg_sia.georef import find_meta_file
    grand = tmp_path / 'locked'
    (grand / 'src' / 'TS_Q').mkdir(parents=True)
    (grand / 'src' / 'TL_Q_Meta').mkdir()
    img = grand / 'src' / 'TS_Q' / 'K.png'
    cv2.imwrite(str(img), np.zeros((3, 4, 3), np.uint8))
    listdir = os.listdir

    def locked(path='.'):
        if os.fspath(path) == str(grand):
            raise PermissionError(13, 'Permission denied', str(path))
        return listdir(path)

    monkeypatch.setattr(os, 'listdir', locked)
    assert find_meta_file(str(img)) is None
    meta = write_record(grand / 'src' / 'TL_Q_Meta', name='K_META.json')
    assert find_meta_file(str(img)) == meta


@pytest.mark.parametrize('name, transform', [
    ('north-up', Affine(0.5, 0, 200000.0, 0, -0.5, 550000.0)),
    ('south-up', Affine(0.5, 0, 200000.0, 0, 0.5, 549000.0)),
    # Pixel x runs north, pixel y east.
    ('turned 90', Affine(0, 0.5, 200000.0, 0.5, 0, 549000.0)),
    # Pixel x runs north-east, pixel y south-east (1.41 m steps).
    ('turned 45', Affine(1.0, 1.0, 200000.0, 1.0, -1.0, 550000.0)),
])
def test_raster_lonlat_map_of_any_orientation(name, transform):
    """The lon/lat map of a raster keeps its corners in its own pixel order
    (top-left, top-right, bottom-right, bottom-left of the pixel plane),
    whatever way the raster is turned, and its ground steps along x and y
    are those pyproj's ``Geod`` measures between neighbouring pixels."""
    from pyproj import Geod

    from mmseg_sia.georef import lonlat_transform
    g = Georef(KOREA, transform, 100, 40, 'raster', 'r.tif')
    t = lonlat_transform(g)
    assert (t.width, t.height, t.residual_m, t.source) == (100, 40, 0.0,
                                                           'r.tif')
    tr = Transformer.from_crs(KOREA, LONLAT, always_xy=True)
    xy = [transform * p for p in [(0, 0), (100, 0), (100, 40), (0, 40)]]
    lon, lat = tr.transform(*zip(*xy))
    np.testing.assert_allclose(t.corners, np.column_stack([lon, lat]),
                               rtol=0, atol=1e-12)
    # Ground length of one pixel step along x and along y at the centre.
    geod = Geod(ellps='GRS80')
    jac = t.metres_per_pixel()
    centre, right, down = t.pixel_to_lonlat([[50, 20], [51, 20], [50, 21]])
    step_x = geod.inv(*centre, *right)[2]
    step_y = geod.inv(*centre, *down)[2]
    assert np.hypot(*jac[:, 0]) == pytest.approx(step_x, rel=1e-5)
    assert np.hypot(*jac[:, 1]) == pytest.approx(step_y, rel=1e-5)
    side = 2 ** 0.5 if name == 'turned 45' else 0.5
    assert step_x == pytest.approx(side, rel=1e-3)
    assert step_y == pytest.approx(side, rel=1e-3)
    # The affine fit (what the ground steps come from) puts the corners
    # where pyproj does, to 1e-8 degrees (about a millimetre).
    assert t.matrix.shape == (2, 3)
    fitted = np.column_stack([[0, 100, 100, 0], [0, 0, 40, 40],
                              np.ones(4)]) @ t.matrix.T
    np.testing.assert_allclose(fitted, t.corners, rtol=0, atol=1e-8)
    d = t.to_dict()
    assert d['corners'] == t.corners.tolist()
    assert d['affine'] == t.matrix.reshape(-1).tolist()
    assert {k: v for k, v in d.items() if k not in ('corners', 'affine')} \
        == dict(crs='EPSG:4326', residual_m=0.0, source='r.tif',
                source_crs='EPSG:5186',
                geotransform=[transform.c, transform.a, transform.b,
                              transform.f, transform.d, transform.e],
                affine_is_approximate=True)


def test_raster_lonlat_errors_name_the_file():
    from mmseg_sia.georef import lonlat_transform
    t = lonlat_transform(meta_georef(path='r.tif'))
    with pytest.raises(GeorefError,
                       match=r"^r\.tif, field 'crs': cannot transform "
                       r'coordinates from EPSG:5186 to EPSG:4326 \(.*outside '
                       r'of projection domain'):
        t.pixel_to_lonlat([[1e300, 0.0]])
