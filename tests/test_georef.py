"""The shared georeference core: sources, order, map -> pixel, bad input."""
import json
import warnings
import os.path as osp

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from pyproj import CRS, Geod, Transformer
from rasterio.warp import transform as gdal_transform

from mmseg_sia.geo import footprint_transform, read_footprint
from mmseg_sia.georef import (Georef, GeorefError, footprint_georef,
                              parse_crs, read_meta_file, read_meta_georef,
                              read_raster_georef, resolve_georef)

HERE = osp.dirname(__file__)
LC = osp.join(HERE, 'data', 'landcover', 'lc', 'TL_AP25_512픽셀_Meta')
META_CP949 = osp.join(LC, 'LC_GS_AP25_34801025_006_2019_FGT_META.json')
META_UTF16 = osp.join(LC, 'LC_GS_AP25_34801025_007_2019_FGT_META.json')

GOOD_META = {
    'img_id': 'x.tif', 'img_title': '토지피복', 'img_width': 32,
    'img_height': 16, 'img_resolution': 0.25, 'img_coordinate': 5186,
    'coordinates': '200000.125, 550000.875'}


def write_meta(tmp_path, record=None, encoding='cp949', raw=None,
               name='m_META.json'):
    path = tmp_path / name
    if raw is None:
        raw = json.dumps([GOOD_META if record is None else record],
                         ensure_ascii=False).encode(encoding)
    path.write_bytes(raw)
    return str(path)


def test_committed_meta_files_in_cp949_and_utf16():
    with open(META_CP949, 'rb') as f:
        raw = f.read()
    raw.decode('cp949')
    with pytest.raises(UnicodeDecodeError):
        raw.decode('utf-8')  # the Korean text is really cp949
    assert open(META_UTF16, 'rb').read(2) == b'\xff\xfe'
    for path, x in ((META_CP949, 200123.25), (META_UTF16, 200171.25)):
        ref = read_meta_georef(path)
        assert ref.source == 'meta' and ref.path == path
        assert ref.crs == CRS.from_epsg(5186)
        assert (ref.width, ref.height) == (96, 96)
        # `coordinates` is the centre of the upper-left pixel.
        assert ref.transform @ (0.5, 0.5) == (x, 551987.75)
        assert ref.transform @ (96, 96) == (x - 0.25 + 48, 551987.75 + .25
                                            - 48)


def test_meta_origin_is_half_a_pixel_from_the_given_centre(tmp_path):
    ref = read_meta_georef(write_meta(tmp_path))
    assert ref.transform == Affine(0.25, 0, 200000.0, 0, -0.25, 550001.0)
    assert ref.pixel_to_map([[0.5, 0.5]]).tolist() == [[200000.125,
                                                        550000.875]]
    back = ref.map_to_pixel([[200000.125, 550000.875], [200008, 549997.0]])
    np.testing.assert_allclose(back, [[0.5, 0.5], [32, 16]], atol=1e-9)


def test_meta_utf8_and_bom_variants(tmp_path):
    for raw in (json.dumps([GOOD_META]).encode('utf-8'),
                b'\xef\xbb\xbf' + json.dumps([GOOD_META],
                                             ensure_ascii=False).encode(),
                json.dumps([GOOD_META], ensure_ascii=False).encode('utf-16')):
        meta = read_meta_file(write_meta(tmp_path, raw=raw))
        assert meta['width'] == 32 and meta['x'] == 200000.125


@pytest.mark.parametrize('raw,match', [
    (b'\xff\x00\x80\x81 not text', r'not text in UTF-8, cp949/EUC-KR'),
    ('[{"img_width": 3,'.encode('cp949'), r'META file is not valid JSON'),
    (b'{"img_width": 3}', r'META file is dict; expected a list'),
    (b'[]', r'META file is an empty list'),
    (b'[1, 2]', r'META file is a list of int'),
])
def test_meta_files_that_cannot_be_read(tmp_path, raw, match):
    path = write_meta(tmp_path, raw=raw)
    with pytest.raises(GeorefError, match=match) as info:
        read_meta_georef(path)
    assert str(info.value).startswith(path)


@pytest.mark.parametrize('field', ['img_width', 'img_height',
                                   'img_resolution', 'img_coordinate',
                                   'coordinates'])
def test_meta_missing_field_is_named(tmp_path, field):
    record = {k: v for k, v in GOOD_META.items() if k != field}
    path = write_meta(tmp_path, record)
    with pytest.raises(GeorefError,
                       match=rf"^{path}, field '{field}': missing$"):
        read_meta_georef(path)


@pytest.mark.parametrize('field,value,match', [
    ('img_coordinate', 999999, r"'img_coordinate': names no known CRS: "
     r'999999'),
    ('img_coordinate', 'Bessel?', r"'img_coordinate': names no known CRS"),
    ('img_width', 0, r"'img_width': must be a positive number"),
    ('img_width', 12.5, r"'img_width': must be a whole number"),
    ('img_resolution', 'abc', r"'img_resolution': is not a number"),
    ('img_resolution', float('nan'), r"'img_resolution': must be a positive"),
    ('coordinates', '200000.125', r"'coordinates': must be the string"),
    ('coordinates', [1.0, 2.0], r"'coordinates': must be the string"),
    ('coordinates', '1, y', r"'coordinates': must be the string"),
])
def test_meta_bad_fields_are_named(tmp_path, field, value, match):
    record = dict(GOOD_META, **{field: value})
    path = write_meta(tmp_path, record, encoding='utf-8')
    with pytest.raises(GeorefError, match=match) as info:
        read_meta_georef(path)
    assert str(info.value).startswith(path)


def test_meta_numbers_as_strings_are_read(tmp_path):
    record = dict(GOOD_META, img_width='32', img_coordinate='EPSG:5186')
    ref = read_meta_georef(write_meta(tmp_path, record))
    assert ref.width == 32 and ref.crs.to_epsg() == 5186


def write_geotiff(path, crs='EPSG:32652', transform=None, size=(20, 30)):
    transform = transform or Affine(0.5, 0, 322000.0, 0, -0.5, 4160000.0)
    with rasterio.open(path, 'w', driver='GTiff', width=size[0],
                       height=size[1], count=1, dtype='uint8', crs=crs,
                       transform=transform) as ds:
        ds.write(np.zeros((1, size[1], size[0]), np.uint8))
    return str(path)


def test_raster_sources(tmp_path):
    tif = write_geotiff(tmp_path / 'a.tif')
    ref = read_raster_georef(tif)
    assert ref.source == 'raster' and ref.crs == CRS.from_epsg(32652)
    assert (ref.width, ref.height) == (20, 30)
    assert ref.transform == Affine(0.5, 0, 322000.0, 0, -0.5, 4160000.0)

    png = tmp_path / 'w.png'
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(png)
    assert read_raster_georef(str(png)) is None
    # A world file gives the centre of the upper-left pixel, like META.
    (tmp_path / 'w.pgw').write_text('0.5\n0\n0\n-0.5\n200000.25\n500000.75\n')
    ref = read_raster_georef(str(png))
    assert ref.source == 'worldfile' and ref.crs is None
    assert ref.transform @ (0.5, 0.5) == (200000.25, 500000.75)
    (tmp_path / 'w.prj').write_text(CRS.from_epsg(5186).to_wkt('WKT1_ESRI'))
    assert read_raster_georef(str(png)).crs.to_epsg() == 5186

    bad = tmp_path / 'bad.tif'
    bad.write_bytes(b'not a tiff')
    with pytest.raises(GeorefError, match=r'bad.tif: cannot be opened as a '
                       'raster'):
        read_raster_georef(str(bad))


def test_resolve_order_raster_meta_footprint(tmp_path, sia_root):
    meta = write_meta(tmp_path, encoding='utf-8')
    tif = write_geotiff(tmp_path / 'a.tif', size=(32, 16))
    assert resolve_georef(tif, meta).source == 'raster'
    plain = tmp_path / 'p.tif'
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(plain)
    assert resolve_georef(str(plain), meta, shape=(16, 32)).source == 'meta'
    with pytest.raises(GeorefError, match=r"field 'img_width': gives 32 x 16 "
                       r'pixels but the image .*p.tif has 40 x 16'):
        resolve_georef(str(plain), meta, shape=(16, 40))
    label = osp.join(sia_root, 'labels', 'building',
                     'BLD00001_PS3_K3A_NIA0001.json')
    ref = resolve_georef(str(plain), None, label, shape=(64, 64))
    assert ref.source == 'footprint' and ref.crs.to_epsg() == 4326
    assert resolve_georef(str(plain), None, None, shape=(64, 64)) is None


def test_footprint_georef_is_the_footprint_fit(sia_root):
    label = osp.join(sia_root, 'labels', 'building',
                     'BLD00001_PS3_K3A_NIA0001.json')
    ref = footprint_georef(label, 64, 64)
    fit = footprint_transform(read_footprint(label), 64, 64)
    pts = np.array([[0, 0], [64, 0], [10.5, 33.25]])
    np.testing.assert_array_equal(ref.pixel_to_map(pts),
                                  fit.pixel_to_lonlat(pts))
    np.testing.assert_allclose(ref.map_to_pixel(fit.pixel_to_lonlat(pts)),
                               pts, atol=1e-6)


def test_map_to_pixel_reprojects_like_gdal():
    t = Affine(0.5, 0, 322000.0, 0, -0.5, 4160000.0)
    ref = Georef(CRS.from_epsg(32652), t, 100, 80, 'raster')
    rng = np.random.default_rng(0)
    pix = rng.uniform(0, 100, (50, 2))
    utm = np.array([t @ tuple(p) for p in pix])
    # The same points in Korea 2000 (EPSG:5186) and lon/lat, by GDAL.
    for epsg in (5186, 4326):
        xs, ys = gdal_transform('EPSG:32652', f'EPSG:{epsg}', utm[:, 0],
                                utm[:, 1])
        back = ref.map_to_pixel(np.column_stack([xs, ys]),
                                CRS.from_epsg(epsg))
        np.testing.assert_allclose(back, pix, atol=1e-6)
    rings = ref.rings_to_pixel([utm[:3], utm[3:7]])
    np.testing.assert_allclose(np.concatenate(rings), pix[:7], atol=1e-9)
    assert [len(r) for r in rings] == [3, 4]
    lon_lat = Transformer.from_crs(32652, 4326, always_xy=True)
    minx, miny, maxx, maxy = ref.bounds(CRS.from_epsg(4326))
    lon, lat = lon_lat.transform(322000.0, 4160000.0)
    assert minx <= lon <= maxx and miny <= lat <= maxy


def test_map_to_pixel_errors():
    t = Affine(0.5, 0, 0, 0, -0.5, 100)
    bare = Georef(None, t, 10, 10, 'worldfile', path='x.png')
    with pytest.raises(GeorefError, match=r"x.png, field 'crs': the image has "
                       r'no CRS \(worldfile georeference\) and the polygons '
                       r'are in EPSG:5186'):
        bare.map_to_pixel([[1, 2]], CRS.from_epsg(5186))
    assert bare.map_to_pixel([[0.5, 99.5]]).tolist() == [[1.0, 1.0]]
    with pytest.raises(GeorefError, match=r'affine transform is degenerate'):
        Georef(None, Affine(0, 0, 0, 0, 0, 0), 10, 10, 'meta')
    with pytest.raises(ValueError, match=r'source must be one of'):
        Georef(None, t, 10, 10, 'guess')
    # A CRS without a transformation to the image's (an engineering CRS).
    local = CRS.from_wkt(
        'ENGCRS["site",EDATUM["site datum"],CS[Cartesian,2],'
        'AXIS["x",east,LENGTHUNIT["metre",1]],'
        'AXIS["y",north,LENGTHUNIT["metre",1]]]')
    utm = Georef(CRS.from_epsg(32652), t, 10, 10, 'raster', path='y.tif')
    with pytest.raises(GeorefError, match=r"y.tif, field 'crs': cannot "
                       r'transform coordinates from site to EPSG:32652'):
        utm.map_to_pixel([[1, 2]], local)


def test_parse_crs_spellings_and_errors():
    for value in (5186, '5186', 'EPSG:5186', 'urn:ogc:def:crs:EPSG::5186',
                  {'type': 'name',
                   'properties': {'name': 'urn:ogc:def:crs:EPSG::5186'}}):
        assert parse_crs(value).to_epsg() == 5186
    with pytest.raises(GeorefError, match=r"f.json, field 'crs': is not a "
                       r'named CRS'):
        parse_crs({'type': 'link'}, 'f.json', 'crs')
    with pytest.raises(GeorefError, match=r"field 'crs': is not a CRS: True"):
        parse_crs(True, 'f.json', 'crs')
    with pytest.raises(GeorefError, match=r'names no known CRS: .EPSG:1.'):
        parse_crs('EPSG:1', 'f.json', 'crs')


def test_find_meta_file_in_the_release_layout(tmp_path):
    from mmseg_sia.georef import find_meta_file, image_georef
    ts = tmp_path / 'Training' / '01.원천데이터' / 'TS_AP25_1024픽셀'
    tl = tmp_path / 'Training' / '02.라벨링데이터' / 'TL_AP25_1024픽셀_Meta'
    ts.mkdir(parents=True)
    tl.mkdir(parents=True)
    img = ts / 'X_FGT_1024.tif'
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(img)
    assert find_meta_file(img) is None
    assert image_georef(img) is None
    meta = write_meta(tl, name='X_FGT_META_1024.json')
    assert find_meta_file(img) == meta
    assert find_meta_file(img, str(tmp_path)) is None
    ref = image_georef(img, shape=(16, 32))
    assert ref.source == 'meta' and ref.path == meta
    # Beside the image, it is found first.
    near = write_meta(ts, name='X_FGT_1024_META.json')
    assert find_meta_file(img) == near


def test_lonlat_transform_matches_pyproj_at_the_corners():
    from mmseg_sia.georef import lonlat_transform
    t = Affine(0.25, 0, 200000.0, 0, -0.25, 550000.0)
    ref = Georef(CRS.from_epsg(5186), t, 1024, 512, 'meta', 'm.json')
    fit = lonlat_transform(ref)
    to_ll = Transformer.from_crs(5186, 4326, always_xy=True)
    pix = np.array([[0, 0], [1024, 0], [1024, 512], [0, 512], [300, 200]])
    lon, lat = to_ll.transform(*(ref.pixel_to_map(pix).T))
    got = fit.pixel_to_lonlat(pix)
    # Within a centimetre (1e-7 degrees) over the tile: the projection is
    # affine to that precision at this scale.
    np.testing.assert_allclose(got, np.column_stack([lon, lat]), atol=1e-7)
    assert fit.source == 'm.json' and fit.residual_m < 0.01
    with pytest.raises(GeorefError, match=r"w.png, field 'crs': has no CRS"):
        lonlat_transform(Georef(None, t, 10, 10, 'worldfile', 'w.png'))


@pytest.mark.parametrize('epsg,x0,y0', [(32652, 300000.0, 4200000.0),
                                         (5186, 200000.0, 600000.0)])
def test_lonlat_transform_is_exact_over_a_large_scene(epsg, x0, y0):
    """A 20,000-pixel scene at 0.55 m: one affine map fitted to the corners
    is off by metres inside it; the points are mapped exactly instead."""
    from mmseg_sia.georef import lonlat_transform
    n = 20000
    ref = Georef(CRS.from_epsg(epsg), Affine(0.55, 0, x0, 0, -0.55, y0), n,
                 n, 'raster', 'scene.tif')
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no misfit warning either
        fit = lonlat_transform(ref)
    grid = np.linspace(0, n, 9)
    pix = np.array([(x, y) for x in grid for y in grid])
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    want = np.column_stack(to_ll.transform(*(ref.pixel_to_map(pix).T)))
    got = fit.pixel_to_lonlat(pix)
    _, _, dist = Geod(ellps='WGS84').inv(got[:, 0], got[:, 1], want[:, 0],
                                         want[:, 1])
    assert dist.max() < 1e-6  # metres
    # What the corners' affine fit alone gives: metres off mid-scene.
    affine_only = pix @ fit.matrix[:, :2].T + fit.matrix[:, 2]
    _, _, off = Geod(ellps='WGS84').inv(affine_only[:, 0], affine_only[:, 1],
                                        want[:, 0], want[:, 1])
    assert off.max() > 3.0
    np.testing.assert_allclose(fit.lonlat_to_pixel(want), pix, atol=1e-6)


def test_import_mmseg_sia_leaves_the_gis_stack_unloaded():
    import subprocess
    import sys
    code = ('import sys, mmseg_sia; print(sorted(m for m in ("rasterio", '
            '"pyproj", "shapely", "pyogrio") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300,
                         cwd=osp.dirname(HERE)).stdout.strip()
    assert out.splitlines()[-1] == '[]'
