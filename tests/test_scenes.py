"""Whole scenes as georeferenced rasters: windowed reading, COG mask,
GeoPackage and GeoJSON outputs, bad input (issue 11).

Small GeoTIFFs are made here with rasterio; the tiny random model and the
tool loader come from ``test_inference``.
"""
import collections
import os
import os.path as osp
import re

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.features import rasterize

from mmseg_sia.apis import segment_image
from mmseg_sia.apis.raster import RasterError, RasterReader, parse_stretch
from test_inference import blocks_image, load_tool, model, tiny  # noqa: F401

H, W = 80, 96  # larger than the tiny model's 48-pixel windows: seams

#: A transform per CRS (upper-left corner, pixel size, rotation-free).
TRANSFORMS = {
    'EPSG:32652': Affine(0.55, 0, 320000.0, 0, -0.55, 4160000.0),
    'EPSG:5186': Affine(0.5, 0, 200000.0, 0, -0.5, 550000.0),
    'EPSG:4326': Affine(5e-6, 0, 127.02, 0, -5e-6, 37.54),
}


def rgb_image(seed=0):
    return np.ascontiguousarray(blocks_image(H, W, seed)[..., ::-1])


def write_rgb(path, crs='EPSG:32652', rgb=None, tiled=True):
    rgb = rgb_image() if rgb is None else rgb
    with rasterio.open(path, 'w', driver='GTiff', height=H, width=W,
                       count=3, dtype='uint8', crs=crs,
                       transform=TRANSFORMS[crs], tiled=tiled,
                       blockxsize=32, blockysize=32) as ds:
        ds.write(rgb.transpose(2, 0, 1))
    return str(path)


def uint16_scene(border=16):
    """4 bands (blue, green, red, near-infrared) of uint16 values, and the
    validity: a nodata (0) border ``border`` pixels wide on the left and top.
    """
    rgb = rgb_image(1).astype(np.uint16) * 9 + 300
    nir = np.full((H, W), 2000, np.uint16)
    data = np.stack([rgb[..., 2], rgb[..., 1], rgb[..., 0], nir])
    valid = np.ones((H, W), bool)
    valid[:, :border] = False
    valid[:border, :] = False
    data[:, ~valid] = 0
    return data, valid


def write_uint16(path, crs='EPSG:5186'):
    data, valid = uint16_scene()
    with rasterio.open(path, 'w', driver='GTiff', height=H, width=W, count=4,
                       dtype='uint16', crs=crs, transform=TRANSFORMS[crs],
                       nodata=0, tiled=True, blockxsize=32,
                       blockysize=32) as ds:
        ds.write(data)
        ds.colorinterp = [rasterio.enums.ColorInterp.blue,
                          rasterio.enums.ColorInterp.green,
                          rasterio.enums.ColorInterp.red,
                          rasterio.enums.ColorInterp.undefined]
    return str(path), data, valid


def run_tool(tiny, inputs, out, *extra):
    args = [tiny['config'], tiny['checkpoint']] + [str(i) for i in inputs] + \
        ['--out-dir', str(out), '--no-progress'] + list(extra)
    return load_tool().main(args)


def percent_stretch(data, valid, lo=2, hi=98):
    """Independent reference of the default stretch: per band, the LO and HI
    percentiles of the valid pixels (numpy) to 0 and 255."""
    out = []
    for band in data:
        a, b = np.percentile(band[valid].astype(np.float64), [lo, hi])
        out.append(np.clip(np.rint((band.astype(np.float64) - a) *
                                   (255 / (b - a))), 0, 255))
    return np.stack(out).astype(np.uint8)


def gpkg_mask(path, layers=('building', 'road'), ids=(1, 2)):
    """Rasterize the GeoPackage's polygons back onto the raster grid."""
    import pyogrio
    with rasterio.open(path.replace('.gpkg', '_mask.tif')) as ds:
        transform, shape = ds.transform, ds.shape
    out = np.zeros(shape, np.uint8)
    for layer, cid in zip(layers, ids):
        frame = pyogrio.raw.read(path, layer=layer)
        geoms = shapely.from_wkb(frame[2])
        if len(geoms):
            burned = rasterize([(g, 1) for g in geoms], out_shape=shape,
                               transform=transform, dtype='uint8')
            assert not (out.astype(bool) & burned.astype(bool)).any()
            out[burned == 1] = cid
    return out


@pytest.mark.parametrize('crs', sorted(TRANSFORMS))
def test_rgb_scene_outputs_in_its_crs(tiny, model, tmp_path, crs):
    tif = write_rgb(tmp_path / 'scene.tif', crs)
    out = tmp_path / 'out'
    assert run_tool(tiny, [tif], out) == 0
    # The mask: what the streamed inference gives on the same RGB pixels
    # (channel order kept), in the scene's grid, as a COG with the palette.
    expected = segment_image(model, rgb_image(), channel_order='rgb')
    mask_path = str(out / 'scene_mask.tif')
    with rasterio.open(mask_path) as ds:
        assert ds.crs == CRS.from_user_input(crs)
        assert ds.transform == TRANSFORMS[crs]
        assert (ds.height, ds.width, ds.count) == (H, W, 1)
        assert ds.dtypes[0] == 'uint8' and ds.nodata == 255
        assert ds.compression.name.lower() == 'deflate'
        assert ds.profile['tiled']
        assert ds.colormap(1)[1] == (128, 128, 0, 255)
        assert ds.colormap(1)[2] == (128, 64, 128, 255)
        assert ds.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG'
        mask = ds.read(1)
    np.testing.assert_array_equal(mask, expected)
    assert {1, 2} <= set(np.unique(mask).tolist())
    assert not (out / 'scene_overlay.png').exists()
    # GeoPackage polygons in the scene's CRS give the mask back exactly.
    import pyogrio
    gpkg = str(out / 'scene.gpkg')
    assert [n for n, _ in pyogrio.list_layers(gpkg)] == ['building', 'road']
    info = pyogrio.read_info(gpkg, layer='building')
    assert CRS.from_user_input(info['crs']) == CRS.from_user_input(crs)
    assert {'area_m2', 'perimeter_m'} <= set(info['fields'])
    np.testing.assert_array_equal(gpkg_mask(gpkg), mask)
    # Seamless across windows: one polygon per 4-connected region of the
    # whole mask (OpenCV's labelling), e.g. regions crossing window edges.
    import cv2
    for layer, cid in (('building', 1), ('road', 2)):
        regions = cv2.connectedComponents((mask == cid).astype(np.uint8),
                                          connectivity=4)[0] - 1
        assert pyogrio.read_info(gpkg, layer=layer)['features'] == regions
    # GeoJSON: RFC 7946 lon/lat, counter-clockwise exteriors, inside the
    # scene's bounds as pyproj gives them.
    import json
    doc = json.loads((out / 'scene.geojson').read_text())
    to_ll = Transformer.from_crs(crs, 'EPSG:4326', always_xy=True)
    t = TRANSFORMS[crs]
    xs, ys = zip(*[t @ p for p in [(0, 0), (W, 0), (W, H), (0, H)]])
    lon, lat = to_ll.transform(xs, ys)
    box = shapely.box(min(lon), min(lat), max(lon), max(lat)).buffer(1e-7)
    assert doc['features']
    for feature in doc['features']:
        poly = shapely.geometry.shape(feature['geometry'])
        assert poly.exterior.is_ccw and all(not r.is_ccw
                                            for r in poly.interiors)
        assert box.contains(poly)
    # The summary names the CRS.
    import pandas as pd
    row = pd.read_csv(out / 'summary.csv').iloc[0]
    assert row['crs'] == crs and row['status'] == 'ok'


def test_uint16_nodata_scene(tiny, model, tmp_path):
    tif, data, valid = write_uint16(tmp_path / 'k3a.tif')
    out = tmp_path / 'out'
    calls = []
    original = type(model).encode_decode

    assert run_tool(tiny, [tif], out) == 0
    with rasterio.open(out / 'k3a_mask.tif') as ds:
        assert ds.crs == CRS.from_epsg(5186)
        assert ds.transform == TRANSFORMS['EPSG:5186']
        mask = ds.read(1)
    # Nodata is 255, and no polygon covers it.
    assert (mask[~valid] == 255).all() and (mask[valid] != 255).all()
    back = gpkg_mask(str(out / 'k3a.gpkg'))
    assert (back[~valid] == 0).all()
    np.testing.assert_array_equal(back[valid], mask[valid])
    # The colour interpretation picks bands 3, 2, 1 (red, green, blue); the
    # default 2-98 % stretch of the valid pixels maps them to 8 bit.
    rgb = percent_stretch(data[[2, 1, 0]], valid).transpose(1, 2, 0)
    expected = segment_image(model, rgb, channel_order='rgb')
    np.testing.assert_array_equal(mask[valid], expected[valid])
    # Windows entirely nodata are not run through the model.
    with RasterReader(tif) as reader:
        def spy(self, inputs, metas):
            calls.append(len(inputs))
            return original(self, inputs, metas)
        type(model).encode_decode = spy
        try:
            again = segment_image(model, reader, window=16, stride=16)
        finally:
            type(model).encode_decode = original
    assert sum(calls) == (H // 16) * (W // 16) - (H // 16 + W // 16 - 1)
    assert (again[~valid] == 255).all()


def test_bands_and_stretch_options(tiny, model, tmp_path):
    tif, data, valid = write_uint16(tmp_path / 'k3a.tif')
    with RasterReader(tif, bands=[1, 2, 3], stretch='fixed:0,2600') as r:
        bgr, ok = r.read_rows(10, 30)
    # Bands 1, 2, 3 are red, green, blue: the BGR strip is 3, 2, 1.
    ref = np.clip(np.rint(data[[2, 1, 0], 10:30] * (255 / 2600)), 0, 255)
    np.testing.assert_array_equal(bgr, ref.transpose(1, 2, 0))
    np.testing.assert_array_equal(ok, valid[10:30])
    with RasterReader(tif, stretch='minmax') as r:
        lo = data[:3][:, valid].min(axis=1)[::-1]
        hi = data[:3][:, valid].max(axis=1)[::-1]
        assert r.ranges == [(float(a), float(b)) for a, b in zip(lo, hi)]
    assert parse_stretch('percent:1,99') == ('percent', (1.0, 99.0))
    for bad in ('percent:50,10', 'fixed:1', 'gamma', 'none:2'):
        with pytest.raises(ValueError, match='--stretch'):
            parse_stretch(bad)
    with pytest.raises(RasterError, match=r'k3a\.tif: --bands 1,2,5: band 5 '
                       r'out of range \(the raster has 4'):
        RasterReader(tif, bands=[1, 2, 5])
    grey = tmp_path / 'grey.tif'
    with rasterio.open(grey, 'w', driver='GTiff', height=8, width=8, count=1,
                       dtype='uint8') as ds:
        ds.write(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(RasterError, match=r'grey\.tif: has 1 band.*--bands'):
        RasterReader(grey)


@pytest.mark.parametrize('dtype,count,nodata,interleave,bands,mask', [
    ('uint8', 3, 0, 'pixel', None, None),
    ('uint16', 4, 0, 'pixel', None, None),
    ('uint16', 4, 0, 'band', [3, 2, 1], None),
    ('int16', 4, -9999, 'pixel', [1, 1, 1], None),
    ('uint16', 2, 65535, 'pixel', [2, 1, 2], None),
    ('uint8', 5, 0, 'band', [5, 1, 3], None),  # five bands: GDAL's mask
    ('float32', 3, 0, 'pixel', None, None),  # float: GDAL's mask
    ('uint16', 3, None, 'pixel', None, None),  # no mask at all
    ('uint8', 3, None, 'pixel', None, 'internal'),  # an internal mask
])
def test_validity_is_gdal_dataset_mask(tmp_path, dtype, count, nodata,
                                       interleave, bands, mask):
    """The reader's valid pixels are rasterio's ``dataset_mask`` (which
    integer nodata rasters get without it, from the bands read), however
    the strips fall on the raster's blocks; the BGR values too."""
    rng = np.random.default_rng(count)
    h, w = 150, 170
    if np.issubdtype(np.dtype(dtype), np.integer):
        data = rng.integers(0, 4, (count, h, w)).astype(dtype)
    else:
        data = rng.random((count, h, w)).astype(dtype)
    if nodata is not None:
        # A nodata border in every band, and nodata in one band or another
        # here and there (valid: any band with data).
        data[:, :20] = nodata
        data[:, :, :12] = nodata
        data[rng.integers(0, count, (h, w)), np.arange(h)[:, None],
             np.arange(w)] = nodata
    path = str(tmp_path / 'v.tif')
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(
            path, 'w', driver='GTiff', height=h, width=w, count=count,
            dtype=dtype, nodata=nodata, tiled=True, blockxsize=64,
            blockysize=64, interleave=interleave,
            transform=TRANSFORMS['EPSG:32652'], crs='EPSG:32652') as ds:
        ds.write(data)
        if mask:
            ds.write_mask((rng.random((h, w)) < 0.7).astype(np.uint8) * 255)
    with rasterio.open(path) as ds:
        want = ds.dataset_mask() > 0
        rgb = ds.read(bands or [1, 2, 3])
    assert 0 < want.mean() <= 1
    with RasterReader(path, bands, stretch='none') as r:
        got = [r.read_rows(y, min(h, y + 48)) for y in range(0, h - 12, 36)]
    for y, (bgr, ok) in zip(range(0, h - 12, 36), got):
        np.testing.assert_array_equal(ok, want[y:y + 48])
        ref = np.clip(np.rint(rgb[::-1, y:y + 48]), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(bgr, ref.transpose(1, 2, 0))


def test_bad_scenes_reported_and_the_run_goes_on(tiny, tmp_path, capsys):
    good = write_rgb(tmp_path / 'good.tif')
    broken = tmp_path / 'broken.tif'
    broken.write_bytes(b'II*\x00 not really a tiff')
    out = tmp_path / 'out'
    assert run_tool(tiny, [broken, good], out) == 1
    err = capsys.readouterr().err
    assert 'broken.tif' in err and 'cannot be opened' in err
    assert (out / 'good_mask.tif').exists() and (out / 'good.gpkg').exists()
    assert not any(n.startswith('broken') for n in os.listdir(out))
    # A band out of range: error naming the file and option.
    out2 = tmp_path / 'out2'
    assert run_tool(tiny, [good], out2, '--bands', '1,2,4') == 1
    assert 'good.tif: --bands 1,2,4: band 4 out of range' in \
        capsys.readouterr().err
    assert sorted(os.listdir(out2)) == ['summary.csv']
    assert run_tool(tiny, [good], tmp_path / 'o3', '--stretch', 'x') == 2
    assert '--stretch' in capsys.readouterr().err
    # A CRS pyproj cannot take to lon/lat (a local engineering grid).
    local = tmp_path / 'local.tif'
    wkt = ('LOCAL_CS["site grid",UNIT["metre",1],AXIS["X",EAST],'
           'AXIS["Y",NORTH]]')
    with rasterio.open(local, 'w', driver='GTiff', height=H, width=W,
                       count=3, dtype='uint8',
                       crs=rasterio.crs.CRS.from_wkt(wkt),
                       transform=Affine(1, 0, 0, 0, -1, H)) as ds:
        ds.write(rgb_image().transpose(2, 0, 1))
    out4 = tmp_path / 'out4'
    assert run_tool(tiny, [local, good], out4) == 1
    assert re.search(r'local\.tif, field .crs.: cannot transform coordinates '
                     r'from site grid to EPSG:4326', capsys.readouterr().err)
    assert not any(n.startswith('local') for n in os.listdir(out4))
    assert (out4 / 'good.gpkg').exists()


def test_unwritable_output_folder(tiny, tmp_path, capsys):
    good = write_rgb(tmp_path / 'good.tif')
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    out = blocker / 'out'  # cannot be created, even by root
    assert run_tool(tiny, [good], out, '--formats', 'mask,gpkg') == 1
    err = capsys.readouterr().err
    assert 'FAILED' in err and 'good.tif' in err and str(out) in err
    assert sorted(os.listdir(tmp_path)) == ['a_file', 'good.tif']


def test_two_process_dist_infer_equals_single_process(tiny, tmp_path,
                                                    free_port):
    """tools/dist_infer.sh with 2 CPU processes (gloo): the same files, byte
    for byte (label JSON apart from its ingest_time stamp), one summary."""
    import json
    import subprocess
    import sys

    import cv2
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    src = tmp_path / 'in'
    src.mkdir()
    write_rgb(src / 'a.tif', 'EPSG:32652')
    write_uint16(src / 'b.tif', 'EPSG:5186')
    write_rgb(src / 'c.tif', 'EPSG:4326', rgb_image(3))
    cv2.imwrite(str(src / 'd.png'), blocks_image(40, 40, 4))
    (src / 'e.tif').write_bytes(b'broken')
    single = tmp_path / 'single'
    assert run_tool(tiny, [src], single) == 1
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=repo, PYTHON=sys.executable, PORT=free_port)
    proc = subprocess.run(
        ['bash', osp.join(repo, 'tools', 'dist_infer.sh'), tiny['config'],
         tiny['checkpoint'], '2', str(src), '--out-dir',
         str(tmp_path / 'dist'), '--no-progress'],
        env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert 'e.tif' in out
    names = sorted(os.listdir(single))
    assert names == sorted(os.listdir(tmp_path / 'dist'))
    assert 'a_mask.tif' in names and 'b.gpkg' in names and \
        'd_mask.png' in names
    for name in names:
        one = (single / name).read_bytes()
        two = (tmp_path / 'dist' / name).read_bytes()
        if name.endswith('.json'):
            one, two = (json.loads(b) for b in (one, two))
            for doc in (one, two):
                for f in doc['features']:
                    f['properties'].pop('ingest_time')
        assert one == two, name


def test_mask_cog_has_overviews_palette_and_the_mask(tmp_path):
    from mmseg_sia.apis.raster import save_mask_cog
    from mmseg_sia.georef import Georef
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 3, (700, 1100), dtype=np.uint8)
    mask[:50] = 255
    ref = Georef(CRS.from_epsg(32652), TRANSFORMS['EPSG:32652'], 1100, 700,
                 'raster', 'x.tif')
    reads = []

    def rows(a, b):
        reads.append(b - a)
        return mask[a:b]

    path = str(tmp_path / 'm_mask.tif')
    save_mask_cog(path, rows, 700, 1100, ref, [[0, 0, 0], [128, 128, 0],
                                               [128, 64, 128]])
    assert max(reads) <= 512  # written block row by block row
    with rasterio.open(path) as ds:
        # Halved until one block holds it; nearest neighbour keeps ids.
        assert ds.overviews(1) == [2, 4]
        small = ds.read(1, out_shape=(175, 275))
        assert set(np.unique(small).tolist()) <= {0, 1, 2, 255}
        assert ds.block_shapes == [(512, 512)]
        assert ds.tags(ns='IMAGE_STRUCTURE')['LAYOUT'] == 'COG'
        assert ds.crs == CRS.from_epsg(32652) and ds.nodata == 255
        assert ds.colormap(1)[2] == (128, 64, 128, 255)
        np.testing.assert_array_equal(ds.read(1), mask)
    assert os.listdir(tmp_path) == ['m_mask.tif']
    with pytest.raises(FileExistsError, match=r'already exists.*m_mask\.tif'):
        save_mask_cog(path, rows, 700, 1100, ref, [[0, 0, 0]])


def test_mask_cog_bytes_do_not_depend_on_the_scratch_codec(tmp_path,
                                                           monkeypatch):
    # The scratch GeoTIFF is ZSTD; where GDAL lacks the codec it is DEFLATE
    # (a missing codec is simulated with JPEG XL, which no bundled GDAL
    # writes to a 1-band uint8 GeoTIFF). The COG is DEFLATE either way, its
    # tiles compressed on every core: the same bytes as one uncompressed
    # scratch file copied on one core gives.
    import rasterio.shutil
    from rasterio.enums import Compression

    from mmseg_sia.apis import raster
    from mmseg_sia.georef import Georef
    rng = np.random.default_rng(3)
    mask = (rng.random((900, 1300)) < 0.3).astype(np.uint8)
    mask[rng.random(mask.shape) < 0.05] = 2
    mask[:, :40] = 255
    ref = Georef(CRS.from_epsg(5186), TRANSFORMS['EPSG:5186'], 1300, 900,
                 'raster', 'x.tif')
    palette = [[0, 0, 0], [128, 128, 0], [128, 64, 128]]
    copies = []
    real_copy = rasterio.shutil.copy

    def copy(src, dst, **options):
        with rasterio.open(src) as ds:
            copies.append((ds.compression, options.get('NUM_THREADS')))
        if len(copies) == 3:  # the reference: one thread
            options.pop('NUM_THREADS')
        return real_copy(src, dst, **options)

    monkeypatch.setattr(rasterio.shutil, 'copy', copy)
    made = {}
    for name, codec in (('zstd', raster.SCRATCH_COMPRESSION),
                        ('missing', dict(compress='jxl')),
                        ('none', dict(compress='none'))):
        monkeypatch.setattr(raster, 'SCRATCH_COMPRESSION', codec)
        path = str(tmp_path / f'{name}_mask.tif')
        raster.save_mask_cog(path, lambda a, b: mask[a:b], 900, 1300, ref,
                             palette)
        with open(path, 'rb') as f:
            made[name] = f.read()
    assert [c[0] for c in copies] == [Compression.zstd, Compression.deflate,
                                      None]
    assert copies[0][1] == copies[1][1] == 'ALL_CPUS'
    assert made['zstd'] == made['missing'] == made['none']
    with rasterio.open(tmp_path / 'zstd_mask.tif') as ds:
        assert ds.compression == Compression.deflate
        np.testing.assert_array_equal(ds.read(1), mask)


def test_reading_is_windowed_and_stretch_uses_overviews(model, tmp_path,
                                                        monkeypatch):
    from mmseg_sia.apis import raster
    # Rows of blocks decoded one at a time (512 rows would be the whole of
    # this small scene).
    monkeypatch.setattr(raster, 'READ_ROWS', 32)
    tif, data, valid = write_uint16(tmp_path / 'k.tif')
    with rasterio.open(tif, 'r+') as ds:
        ds.build_overviews([2], rasterio.enums.Resampling.nearest)
    with rasterio.open(tif, overview_level=0) as ov:
        small = ov.read([3, 2, 1])
        ok = ov.dataset_mask() > 0
    from rasterio.io import DatasetReader
    heights = []
    read = DatasetReader.read

    def spy(self, *args, **kwargs):
        window = kwargs.get('window')
        heights.append(None if window is None else window.height)
        return read(self, *args, **kwargs)

    DatasetReader.read = spy
    try:
        with RasterReader(tif) as reader:
            ranges = reader.ranges
            heights.clear()
            segment_image(model, reader)
    finally:
        DatasetReader.read = read
    # Statistics from the overview (40 x 48 pixels here), not the image.
    expected = np.percentile(small[:, ok].astype(np.float64), [2, 98],
                             axis=1).T
    np.testing.assert_allclose(ranges, expected)
    # Inference reads a row of blocks (32 rows) at most at a time, never
    # the scene, and each row once.
    assert heights and max(heights) == 32 and None not in heights
    assert sum(heights) == H


def test_streamed_scene_equals_the_whole_mask_run(tiny, model, tmp_path):
    """infer.py streams a scene (bands of mask rows, never the whole mask);
    its summary and polygons equal those SIAPrediction makes from the whole
    mask, with --simplify and --regularize applied per polygon too; the
    cleaning options, which need the whole mask, still work."""
    import json

    import pandas as pd

    from mmseg_sia.apis import SIAPrediction
    from mmseg_sia.georef import lonlat_transform, read_raster_georef

    tif = write_rgb(tmp_path / 'scene.tif', 'EPSG:32652')
    out = tmp_path / 'out'
    assert run_tool(tiny, [tif], out, '--simplify', '1', '--regularize',
                    '--formats', 'mask,geojson,summary') == 0
    with rasterio.open(out / 'scene_mask.tif') as ds:
        mask = ds.read(1)
    georef = read_raster_georef(tif)
    whole = SIAPrediction(mask=mask, polygons={}, classes=model.dataset_meta[
        'classes'], palette=model.dataset_meta['palette'],
        transform=lonlat_transform(georef), image_path=tif, georef=georef,
        tolerance=1.0, scene=True)
    whole.regularize_buildings()
    row = pd.read_csv(out / 'summary.csv').iloc[0]
    expected = whole.measures()
    for key in ('building_count', 'road_count', 'building_area_px',
                'road_area_px', 'road_length_px'):
        assert row[key] == expected[key], key
    for key in ('building_area_m2', 'road_area_m2', 'road_length_m'):
        assert row[key] == pytest.approx(expected[key], rel=1e-12), key
    doc = json.loads((out / 'scene.geojson').read_text())
    key = lambda f: json.dumps(dict(f, id=None), sort_keys=True)  # noqa
    assert sorted(map(key, doc['features'])) == sorted(
        map(key, whole.to_geojson()['features']))
    assert any('regularized_iou' in f['properties']
               for f in doc['features'])
    # --min-area holds the whole mask: every region left is large enough.
    assert run_tool(tiny, [tif], tmp_path / 'clean', '--min-area', '6',
                    '--formats', 'mask,gpkg') == 0
    import pyogrio
    for layer in ('building', 'road'):
        meta, _, _, fields = pyogrio.raw.read(
            str(tmp_path / 'clean' / 'scene.gpkg'), layer=layer)
        area = dict(zip(meta['fields'], fields))['area_px']
        assert len(area) and (area >= 6).all()


def test_strips_read_in_pieces_equal_one_read(tmp_path, monkeypatch):
    """Overlapping strips, read as RasterReader.read_strips does (the rows
    two strips share and the rest of a row of blocks kept for the next
    strip, new rows one row of blocks at a time, in column chunks, a width
    that is not a whole number of chunks), equal each strip read at once
    with rasterio and stretched the same way, and decode each row of blocks
    once; strips that go back up are refused, naming the file."""
    from rasterio.io import DatasetReader
    from rasterio.windows import Window

    from mmseg_sia.apis import raster
    tif, _, valid = write_uint16(tmp_path / 'c.tif')  # blocks of 32 x 32
    monkeypatch.setattr(raster, 'READ_CHUNK', 64)  # 2 blocks; W = 96
    monkeypatch.setattr(raster, 'READ_ROWS', 32)  # one row of blocks
    windows = []
    read = DatasetReader.read

    def spy(self, *args, **kwargs):
        windows.append(kwargs['window'])
        return read(self, *args, **kwargs)

    monkeypatch.setattr(DatasetReader, 'read', spy)
    strips = [(0, 37), (20, 57), (43, 80)]
    decoded = collections.defaultdict(set)
    chunks = collections.defaultdict(list)
    with RasterReader(tif) as reader, rasterio.open(tif) as ds:
        windows.clear()  # (the stretch's sample)
        for i, x0, x1, bgr, ok in reader.read_strips(strips):
            decoded[i] |= {(w.row_off, w.height) for w in windows}
            # Never more than a chunk of one row of blocks at a time.
            assert all(w.width == x1 - x0 and w.row_off // 32 ==
                       (w.row_off + w.height - 1) // 32 for w in windows)
            windows.clear()
            chunks[i].append((x0, x1, bgr, ok))
        for i, (y0, y1) in enumerate(strips):
            assert [(x0, x1) for x0, x1, _, _ in chunks[i]] == [(0, 64),
                                                                (64, 96)]
            bgr = np.concatenate([c[2] for c in chunks[i]], axis=1)
            ok = np.concatenate([c[3] for c in chunks[i]], axis=1)
            win = Window(0, y0, W, y1 - y0)
            rgb = reader.to_uint8(read(ds, reader.bands, window=win))
            np.testing.assert_array_equal(bgr, rgb[::-1].transpose(1, 2, 0))
            np.testing.assert_array_equal(ok, valid[y0:y1])
        # Rows 0..80 decoded once each: the second strip is all kept rows.
        assert [sorted(decoded[i]) for i in range(3)] == [
            [(0, 32), (32, 32)], [], [(64, 16)]]
        with pytest.raises(ValueError, match=r'c\.tif: cannot read strip 1, '
                           r'rows 10:30, .* after rows 0:37'):
            reader.read_strips([(0, 37), (10, 30)])
        with pytest.raises(ValueError, match=r'strip 0, rows 70:81, of a '
                           r'raster of 80 rows'):
            reader.read_strips([(70, 81)])


@pytest.mark.parametrize('chunk', [32, 64])
def test_rows_kept_for_the_next_strip_wait_in_a_file(tmp_path, monkeypatch,
                                                     chunk):
    """The rows two strips share and those of a row of blocks decoded
    below a strip wait for the next strip in a temporary file, each chunk
    of columns in its place: the strips equal rasterio's reads of their
    windows, no row of blocks is decoded twice, and numpy allocates nothing
    of the width (traced: about the same peak at 96 and 960 columns while
    the chunks are taken one by one; a strip across the width would be 60
    KB larger)."""
    import tracemalloc

    from rasterio.windows import Window

    from mmseg_sia import fileio
    from mmseg_sia.apis import raster
    monkeypatch.setattr(raster, 'READ_ROWS', 32)
    monkeypatch.setattr(raster, 'READ_CHUNK', chunk)
    kept = []  # bytes in the temporary files when they were closed
    close = fileio.SpillFile.close
    monkeypatch.setattr(fileio.SpillFile, 'close', lambda self: (
        kept.append(self.size), close(self))[1])
    peaks = {}
    for width in (W, 10 * W):
        tif = tmp_path / f'c{width}.tif'
        data = np.random.default_rng(width).integers(
            0, 4000, (4, H, width)).astype(np.uint16)
        data[:, :9, :13] = 0  # nodata
        with rasterio.open(tif, 'w', driver='GTiff', width=width, height=H,
                           count=4, dtype='uint16', tiled=True,
                           blockxsize=32, blockysize=32, nodata=0,
                           crs='EPSG:32652') as ds:
            ds.write(data)
        strips = [(y, y + 16) for y in range(0, H - 16 + 1, 12)]
        decoded = []
        with RasterReader(tif) as reader, rasterio.open(tif) as ds:
            read = reader._read_into
            monkeypatch.setattr(reader, '_read_into', lambda y0, y1, *a: (
                decoded.append((y0, y1)), read(y0, y1, *a))[1])
            parts = collections.defaultdict(list)
            for i, x0, x1, bgr, valid in reader.read_strips(strips):
                parts[i].append((bgr, valid))
            for i, (y, _) in enumerate(strips):
                win = Window(0, y, width, 16)
                rgb = reader.to_uint8(ds.read(reader.bands, window=win))
                np.testing.assert_array_equal(
                    np.concatenate([p[0] for p in parts[i]], axis=1),
                    rgb[::-1].transpose(1, 2, 0))
                np.testing.assert_array_equal(
                    np.concatenate([p[1] for p in parts[i]], axis=1),
                    ds.dataset_mask(window=win) > 0)
        assert kept and kept[-1] > 0
        # Each row of the strips decoded once in each chunk of columns
        # (none below the last strip).
        rows = collections.Counter(r for a, b in decoded for r in range(a, b))
        assert rows == {r: -(-width // chunk)
                        for r in range(strips[-1][1])}
        with RasterReader(tif) as reader:
            tracemalloc.start()
            for _ in reader.read_strips(strips):
                pass
            peaks[width] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peaks[10 * W] < peaks[W] + 16384, peaks


@pytest.mark.parametrize('batch,window,stride,numpy_batches',
                         [(1, 24, 16, True), (2, 32, 20, True),
                          (3, 16, 16, True), (2, 32, 20, False)])
def test_scene_read_in_column_chunks_equals_the_array_run(
        model, tmp_path, monkeypatch, batch, window, stride, numpy_batches):
    """Windows run on a raster whose strips come from a reader thread in
    column chunks (32 columns here: three a strip): the mask equals the one
    the model gives the whole stretched array, with 255 on nodata, and
    every strip's chunks were taken, in order; with the batches made in
    numpy beside the model (a model on the CPU) or by torch on the model's
    thread (what a model on a GPU gets)."""
    from mmseg_sia.apis import raster, segment
    tif, data, valid = write_uint16(tmp_path / 'g.tif')
    monkeypatch.setattr(raster, 'READ_CHUNK', 32)
    made = []
    prepare = segment._prepare

    def count(*args):
        made.append(len(args[2]))
        return prepare(*args)

    monkeypatch.setattr(segment, '_prepare', count)
    if not numpy_batches:
        monkeypatch.setattr(segment, '_numpy_stats',
                            lambda dp, device: None)
    taken = []
    get = segment._Feed.get

    def spy(self):
        chunk = get(self)
        taken.append(chunk[:3])
        return chunk

    monkeypatch.setattr(segment._Feed, 'get', spy)
    with RasterReader(tif) as reader:
        got = segment_image(model, reader, window=window, stride=stride,
                            batch_size=batch)
        rgb = reader.to_uint8(data[[2, 1, 0]]).transpose(1, 2, 0)
    strips = len(segment.window_grid(H, window, stride))
    assert taken == [(i, x, x + 32) for i in range(strips)
                     for x in (0, 32, 64)]
    expected = segment_image(model, np.ascontiguousarray(rgb),
                             window=window, stride=stride, batch_size=batch,
                             channel_order='rgb')
    expected[~valid] = 255
    np.testing.assert_array_equal(got, expected)
    # The array run made all its windows' batches in numpy and the raster
    # run some, or neither did.
    grid = strips * len(segment.window_grid(W, window, stride))
    assert sum(made) > grid if numpy_batches else made == []


@pytest.mark.parametrize('batch,chunk', [(1, 32), (3, 32), (2, 64)])
def test_scene_holds_the_chunks_its_next_windows_need(
        model, tmp_path, monkeypatch, batch, chunk):
    """A raster ten times wider than the windows' reach: the columns of
    the strips held at once (the chunks the windows of the next batch
    need, plus those the reader thread has read ahead) stay within a
    batch's span and a few chunks, whatever the width, and the mask equals
    the array run's."""
    from mmseg_sia.apis import raster, segment
    monkeypatch.setattr(raster, 'READ_CHUNK', chunk)
    width, window, stride = 960, 24, 16
    data = np.random.default_rng(batch).integers(
        0, 4000, (4, H, width)).astype(np.uint16)
    data[:, :, 300:420] = 0  # nodata columns: windows passed over
    tif = tmp_path / 'wide.tif'
    with rasterio.open(tif, 'w', driver='GTiff', height=H, width=width,
                       count=4, dtype='uint16', tiled=True, blockxsize=32,
                       blockysize=32, nodata=0, crs='EPSG:32652',
                       transform=TRANSFORMS['EPSG:32652']) as ds:
        ds.write(data)
    held = []
    pull = segment._StripWindows._pull

    def spy(self, upto):
        pull(self, upto)
        queue = getattr(self.feed, 'queue', None)  # (not the array run)
        held.append(sum(x1 - x0 for x0, x1, _, _ in self.chunks) +
                    (chunk * queue.qsize() if queue else 0))

    monkeypatch.setattr(segment._StripWindows, '_pull', spy)
    with RasterReader(tif) as reader:
        got = segment_image(model, reader, window=window, stride=stride,
                            batch_size=batch)
        rgb = reader.to_uint8(data[[b - 1 for b in reader.bands]])
    span = (batch - 1) * stride + window
    assert 0 < max(held) <= span + (2 + segment.READ_AHEAD) * chunk < width
    expected = segment_image(model, np.ascontiguousarray(
        rgb.transpose(1, 2, 0)), window=window, stride=stride,
        batch_size=batch, channel_order='rgb')
    expected[(data == 0).all(axis=0)] = 255
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_strips_in_any_order_equal_one_read(tmp_path, monkeypatch, seed):
    """Strips of random heights and starts (down, up, inside the rows kept
    for the next strip, past them), blocks of another size, rows of blocks
    decoded several at a time, and blocks taller than RasterReader decodes
    whole: each strip equals rasterio's read of its window."""
    from rasterio.windows import Window

    from mmseg_sia.apis import raster
    rng = np.random.default_rng(seed)
    h, w = 150, 70
    data = rng.integers(1, 4000, (4, h, w)).astype(np.uint16)
    data[:, :, :9] = 0
    tif = str(tmp_path / 'r.tif')
    block = (16, 48, 64)[seed]
    with rasterio.open(tif, 'w', driver='GTiff', height=h, width=w, count=4,
                       dtype='uint16', nodata=0, tiled=True,
                       blockxsize=16, blockysize=block, crs='EPSG:32652',
                       transform=TRANSFORMS['EPSG:32652']) as ds:
        ds.write(data)
    monkeypatch.setattr(raster, 'READ_CHUNK', 32)
    # Rows of blocks decoded one, three (16 -> 48 rows) or all at a time.
    monkeypatch.setattr(raster, 'READ_ROWS', (1, 40, 512)[seed])
    if seed == 2:
        monkeypatch.setattr(raster, 'WHOLE_BLOCK_ROWS', 32)
    y = 0
    strips = []
    for _ in range(25):
        if rng.random() < 0.7:  # the next overlapping strip
            y0 = min(y + int(rng.integers(0, 30)), h - 1)
        else:
            y0 = int(rng.integers(0, h))
        y1 = min(h, y0 + int(rng.integers(1, 60)))
        strips.append((y0, y1))
        y = y0
    with RasterReader(tif, stretch='minmax') as reader, \
            rasterio.open(tif) as ds, reader.gdal_env():
        for y0, y1 in strips:
            bgr, ok = reader.read_rows(y0, y1)
            win = Window(0, y0, w, y1 - y0)
            want = reader.to_uint8(ds.read([1, 2, 3], window=win))
            np.testing.assert_array_equal(bgr,
                                          want[::-1].transpose(1, 2, 0))
            np.testing.assert_array_equal(
                ok, ds.dataset_mask(window=win) > 0)


def test_gdal_cache_is_set_in_bytes_while_a_scene_is_read(
        model, tmp_path, monkeypatch):
    """rasterio passes GDAL_CACHEMAX to GDALSetCacheMax64 in bytes: the
    cache in force while predict_scene reads strips is the reader's (a few
    MB, not a few bytes), the mask writer inside the run leaves it alone,
    and the writer alone limits it to GDAL_CACHE_MB megabytes."""
    from rasterio.env import get_gdal_config

    from mmseg_sia.apis import raster, scene
    tif, _, _ = write_uint16(tmp_path / 'g.tif')
    seen = {'read': [], 'write': []}
    read_into, flush = raster.RasterReader._read_into, \
        raster.MaskCogWriter._flush

    def spy_read(self, *args):
        # In the reader's thread, as each chunk is decoded.
        seen['read'].append((get_gdal_config('GDAL_CACHEMAX'),
                             self.cache_bytes))
        return read_into(self, *args)

    def spy_flush(self, *args):
        seen['write'].append(get_gdal_config('GDAL_CACHEMAX'))
        return flush(self, *args)

    monkeypatch.setattr(raster.RasterReader, '_read_into', spy_read)
    monkeypatch.setattr(raster.MaskCogWriter, '_flush', spy_flush)
    out = tmp_path / 'out'
    scene.predict_scene(model, tif, dict(mask=str(out / 'g_mask.tif')),
                        georef='auto')
    assert seen['read'] and seen['write']
    for cache, need in seen['read']:
        assert cache == need and cache >= 1 << 20
    assert set(seen['write']) == {seen['read'][0][0]}
    seen['write'].clear()
    raster.save_mask_cog(str(tmp_path / 'alone.tif'),
                         lambda a, b: np.zeros((b - a, 40), np.uint8),
                         70, 40, None, [[0, 0, 0]])
    assert set(seen['write']) == {raster.GDAL_CACHE_MB << 20}


def test_what_waits_for_the_next_strip_and_row_goes_beside_the_outputs(
        model, tmp_path, monkeypatch):
    """The rows decoded for the next strip and the sums kept for the next
    row of windows wait in unnamed files in the outputs' folder (a disk
    the user chose, where TMPDIR may be a tmpfs): both are made there, and
    nothing is left there but the outputs."""
    import tempfile

    from mmseg_sia import fileio
    from mmseg_sia.apis import scene
    tif, _, _ = write_uint16(tmp_path / 'g.tif')
    made = []
    real = tempfile.TemporaryFile

    def spy(*args, **kwargs):
        made.append(kwargs.get('dir'))
        return real(*args, **kwargs)

    monkeypatch.setattr(fileio.tempfile, 'TemporaryFile', spy)
    spilled = []
    monkeypatch.setattr(fileio.SpillFile, 'write', lambda self, at, a, w=(
        fileio.SpillFile.write): (spilled.append(self.what), w(self, at, a)))
    out = tmp_path / 'out'
    scene.predict_scene(model, tif, dict(mask=str(out / 'g_mask.tif'),
                                         gpkg=str(out / 'g.gpkg')),
                        georef='auto')
    assert made == [str(out)] * 2
    assert {w.split()[1] for w in spilled} == {'rows', 'sums'}
    assert sorted(p.name for p in out.iterdir()) == ['g.gpkg', 'g_mask.tif']


def test_class_ids_equal_argmax_with_ties_and_nan():
    import torch

    from mmseg_sia.apis.segment import _class_ids
    gen = torch.Generator().manual_seed(3)
    for channels in (2, 3, 5):
        # Small integers: many ties, where the first maximum must win.
        logits = torch.randint(-2, 3, (channels, 17, 23), generator=gen,
                               dtype=torch.int64).float()
        expected = logits.argmax(dim=0).to(torch.uint8)
        assert torch.equal(_class_ids(logits), expected)
        logits[channels - 1, 4, 5] = float('nan')
        assert _class_ids(logits)[4, 5] == channels - 1
        assert torch.equal(_class_ids(logits),
                           logits.argmax(dim=0).to(torch.uint8))
        # In column chunks (23 = 5 + 5 + 5 + 5 + 3): the same, the NaN in
        # one chunk only.
        for chunk in (1, 5, 23, 64):
            assert torch.equal(_class_ids(logits, chunk),
                               logits.argmax(dim=0).to(torch.uint8)), chunk


@pytest.mark.parametrize('where', ['read', 'write'])
def test_scene_error_in_a_worker_thread_stops_the_run(model, tmp_path,
                                                      monkeypatch, where):
    """Strips are read ahead and bands written in threads of their own: an
    error there reaches the caller and leaves no output file."""
    from mmseg_sia.apis import raster, scene
    tif, _, _ = write_uint16(tmp_path / 'e.tif')
    calls = []
    cls, name = (raster.RasterReader, '_read_into') if where == 'read' \
        else (scene.SceneWriter, 'add')
    original = getattr(cls, name)

    def failing(self, *args):
        # The first decode (all the rows of blocks of this small raster at
        # once), or the second band written.
        calls.append(args[0])
        if len(calls) == (1 if where == 'read' else 2):
            raise OSError(f'{where} failed at row {args[0]}')
        return original(self, *args)

    monkeypatch.setattr(cls, name, failing)
    out = tmp_path / 'out'
    out.mkdir()
    paths = dict(mask=str(out / 'e_mask.tif'), gpkg=str(out / 'e.gpkg'),
                 geojson=str(out / 'e.geojson'), json=str(out / 'e.json'))
    with pytest.raises(OSError, match=f'{where} failed at row'):
        scene.predict_scene(model, tif, paths, georef='auto')
    assert list(out.iterdir()) == []
    monkeypatch.setattr(cls, name, original)
    scene.predict_scene(model, tif, paths, georef='auto')
    assert sorted(p.name for p in out.iterdir()) == sorted(
        os.path.basename(p) for p in paths.values())


@pytest.mark.parametrize('tiled', [False, True])
def test_rgb_strips_read_in_pieces_equal_one_read(tmp_path, monkeypatch,
                                                  tiled):
    """An 8-bit RGB raster, striped (blocks as wide as the image) or tiled,
    another seed: the strips RasterReader assembles equal rasterio's reads
    of the same windows."""
    from rasterio.windows import Window

    from mmseg_sia.apis import raster
    monkeypatch.setattr(raster, 'READ_CHUNK', 40)
    tif = write_rgb(tmp_path / 's.tif', rgb=rgb_image(7), tiled=tiled)
    with RasterReader(tif) as reader, rasterio.open(tif) as ds:
        for y0, y1 in [(0, 48), (32, 80), (64, 80), (5, 30)]:
            bgr, ok = reader.read_rows(y0, y1)
            rgb = ds.read([1, 2, 3], window=Window(0, y0, W, y1 - y0))
            np.testing.assert_array_equal(bgr, rgb[::-1].transpose(1, 2, 0))
            assert ok.all()


def test_vrt_mosaic_strips_equal_one_read(tmp_path, monkeypatch):
    """A VRT mosaic of two GeoTIFFs (blocks of 32 rows; the VRT's own are
    128 rows): RasterReader decodes two of the VRT's rows of blocks at a
    time (READ_ROWS 256), and the strips a run reads equal rasterio's
    reads of their windows, under the reader's cache (in bytes)."""
    from rasterio.env import get_gdal_config
    from rasterio.windows import Window

    from mmseg_sia.apis import raster
    from mmseg_sia.apis.segment import window_grid
    rng = np.random.default_rng(4)
    h, w = 400, 64
    data = rng.integers(1, 4000, (4, h, w)).astype(np.uint16)
    t = TRANSFORMS['EPSG:32652']
    sources = {b: '' for b in range(1, 5)}
    for k, x in enumerate((0, 32)):
        name = f'part{k}.tif'
        with rasterio.open(tmp_path / name, 'w', driver='GTiff', height=h,
                           width=32, count=4, dtype='uint16', nodata=0,
                           tiled=True, blockxsize=32, blockysize=32,
                           compress='deflate', crs='EPSG:32652',
                           transform=t * Affine.translation(x, 0)) as ds:
            ds.write(data[:, :, x:x + 32])
        for b in sources:
            sources[b] += (
                f'<SimpleSource><SourceFilename relativeToVRT="1">{name}'
                f'</SourceFilename><SourceBand>{b}</SourceBand><SrcRect '
                f'xOff="0" yOff="0" xSize="32" ySize="{h}"/><DstRect '
                f'xOff="{x}" yOff="0" xSize="32" ySize="{h}"/>'
                '</SimpleSource>')
    vrt = tmp_path / 'mosaic.vrt'
    vrt.write_text(
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>EPSG:32652'
        f'</SRS><GeoTransform>{t.c}, {t.a}, {t.b}, {t.f}, {t.d}, {t.e}'
        '</GeoTransform>' + ''.join(
            f'<VRTRasterBand dataType="UInt16" band="{b}"><NoDataValue>0'
            f'</NoDataValue>{srcs}</VRTRasterBand>'
            for b, srcs in sources.items()) + '</VRTDataset>')
    monkeypatch.setattr(raster, 'READ_CHUNK', 32)
    monkeypatch.setattr(raster, 'READ_ROWS', 256)
    with RasterReader(vrt, stretch='none') as reader, \
            rasterio.open(vrt) as ds:
        assert reader._block[0] == 128 and reader._rows == 256
        with reader.gdal_env():
            # A chunk: one block (64 columns) of 256 rows, 4 x 2 bytes.
            assert get_gdal_config('GDAL_CACHEMAX') == \
                256 * 64 * 8 + (4 << 20)
            for y in window_grid(h, 100, 70):
                bgr, ok = reader.read_rows(y, min(h, y + 100))
                want = ds.read([1, 2, 3], window=Window(0, y, w, len(bgr)))
                np.testing.assert_array_equal(
                    bgr, np.clip(want, 0, 255).astype(np.uint8)[::-1]
                    .transpose(1, 2, 0))
                np.testing.assert_array_equal(
                    ok, ds.dataset_mask(window=Window(0, y, w, len(bgr)))
                    > 0)


@pytest.mark.parametrize('rows_per_strip', [1, 16])
def test_striped_raster_reads_bounded_rows_at_a_time(tmp_path, monkeypatch,
                                                     rows_per_strip):
    """A striped (untiled) raster: its rows of blocks span the width, so
    they are grouped only while a chunk of them holds READ_BYTES at most;
    the strips still equal rasterio's reads."""
    from rasterio.io import DatasetReader

    from mmseg_sia.apis import raster
    rng = np.random.default_rng(rows_per_strip)
    h, w = 200, 300
    data = rng.integers(0, 256, (3, h, w)).astype(np.uint8)
    tif = str(tmp_path / 'striped.tif')
    with rasterio.open(tif, 'w', driver='GTiff', height=h, width=w, count=3,
                       dtype='uint8', crs='EPSG:32652', compress='deflate',
                       blockysize=rows_per_strip,
                       transform=TRANSFORMS['EPSG:32652']) as ds:
        ds.write(data)
    budget = 40 * w * 3  # bytes of 40 rows of all bands
    monkeypatch.setattr(raster, 'READ_BYTES', budget)
    heights = []
    read = DatasetReader.read

    def spy(self, *args, **kwargs):
        heights.append(kwargs['window'].height)
        return read(self, *args, **kwargs)

    monkeypatch.setattr(DatasetReader, 'read', spy)
    with RasterReader(tif) as reader:
        assert reader._block == (rows_per_strip, w)
        assert reader._rows == rows_per_strip * max(1, 40 // rows_per_strip)
        for y in range(0, h, 45):
            bgr, ok = reader.read_rows(y, min(h, y + 60))
            want = data[:, y:y + 60]
            np.testing.assert_array_equal(bgr, want[::-1].transpose(1, 2, 0))
            assert ok.all()
    assert max(heights) <= 40
