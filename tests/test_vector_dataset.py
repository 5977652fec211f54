"""GeoTIFFs plus one vector file: polygons per image, reprojection, errors."""
import copy
import re
import os.path as osp
import shutil

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from mmengine.config import Config
from mmseg.registry import DATASETS
from pyproj import Transformer

from mmseg_sia.datasets import SIAVectorDataset
from mmseg_sia.datasets.vector import VectorFileError
from mmseg_sia.georef import GeorefError
from mmseg_sia.maplabels import SIAMapLabelWarning

HERE = osp.dirname(__file__)
GEO = osp.join(HERE, 'data', 'landcover', 'geo')
CLASS_MAP = {'building': 1, 'road': 2}
PIPELINE = [dict(type='LoadImageFromFile', imdecode_backend='pillow'),
            dict(type='LoadPolygonAnnotations')]


def dataset(root=GEO, **kwargs):
    kwargs.setdefault('pipeline', PIPELINE)
    kwargs.setdefault('class_map', CLASS_MAP)
    kwargs.setdefault('attribute', 'kind')
    return SIAVectorDataset(vector_file='footprints.gpkg', data_root=root,
                            data_prefix=dict(img_path='images'), **kwargs)


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def read_gpkg(path):
    _, _, wkb, fields = pyogrio.raw.read(path)
    return shapely.from_wkb(wkb), list(fields[0])


def reference_map(img_path, geoms, kinds):
    """Pixel centres (rasterio's transform, EPSG:32652) reprojected to the
    GeoPackage's EPSG:5186 and tested against its polygons with shapely;
    road over building."""
    with rasterio.open(img_path) as ds:
        t, h, w = ds.transform, ds.height, ds.width
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = t * (cols.ravel(), rows.ravel())
    xs, ys = Transformer.from_crs(32652, 5186, always_xy=True).transform(
        xs, ys)
    seg = np.zeros(h * w, np.uint8)
    for kind in ('building', 'road'):
        for geom, k in zip(geoms, kinds):
            if k == kind:
                seg[shapely.contains_xy(geom, xs, ys)] = CLASS_MAP[kind]
    return seg.reshape(h, w)


def test_each_image_gets_the_polygons_on_it():
    ds = dataset(pipeline=[])
    assert [osp.basename(i['img_path']) for i in infos(ds)] == [
        'scene_0.tif', 'scene_1.tif']
    geoms, kinds = read_gpkg(osp.join(GEO, 'footprints.gpkg'))
    counts = [len(i['map_labels']['polygons']) for i in infos(ds)]
    # The polygon across both tiles is in both; the far one in neither.
    across = geoms[-2]
    parts = [
        sum(1 for _, rings in i['map_labels']['polygons']
            if shapely.Polygon(rings[0], rings[1:]).equals_exact(
                shapely.get_parts(across)[0], 1e-9))
        for i in infos(ds)
    ]
    assert parts == [1, 1]
    assert sum(counts) < 2 * len(shapely.get_parts(geoms).tolist())
    assert infos(ds)[0]['map_labels']['polygons_crs'].to_epsg() == 5186
    assert infos(ds)[0]['map_labels']['georef'].source == 'raster'


def test_labels_match_pixel_centres_reprojected():
    ds = dataset()
    geoms, kinds = read_gpkg(osp.join(GEO, 'footprints.gpkg'))
    for i in range(len(ds)):
        seg = ds[i]['gt_seg_map']
        ref = reference_map(ds.get_data_info(i)['img_path'], geoms, kinds)
        assert seg.shape == (64, 80)
        assert (seg == ref).mean() >= 0.9995
        assert set(np.unique(seg)) == {0, 1, 2}


def test_vector_config_trains_pipeline():
    cfg = Config.fromfile(osp.join(HERE, '..', 'configs', 'sia',
                                   'fpn_r18_sia-vector-tiny.py'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(data_root=GEO)
    ds = DATASETS.build(ds_cfg)
    sample = ds[0]
    assert tuple(sample['inputs'].shape[1:]) == (64, 64)


def test_missing_field_lists_the_fields():
    with pytest.raises(VectorFileError,
                       match=r"footprints.gpkg, field 'class': no such field; "
                       r"the layer has \['kind'\]"):
        dataset(attribute='class')


def test_unknown_values_warn_once(tmp_path):
    with pytest.warns(SIAMapLabelWarning,
                      match=r"values of 'kind' not in the class map, not "
                      r"drawn: 'road' \(4\)"):
        ds = dataset(class_map={'building': 1})
    assert all(v == 'building' for i in infos(ds)
               for v, _ in i['map_labels']['polygons'])


def test_image_without_georeference_is_named(tmp_path):
    root = tmp_path / 'geo'
    shutil.copytree(GEO, root)
    from PIL import Image
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        root / 'images' / 'plain.tif')
    with pytest.raises(GeorefError, match=r'1 image\(s\) have no '
                       r'georeference .*images/plain.tif'):
        dataset(root=str(root))


def test_not_a_vector_file(tmp_path):
    root = tmp_path / 'geo'
    shutil.copytree(GEO, root)
    (root / 'footprints.gpkg').write_bytes(b'garbage')
    with pytest.raises(VectorFileError, match=r'footprints.gpkg: cannot be '
                       r'read as a vector file'):
        dataset(root=str(root))
    with pytest.raises(FileNotFoundError, match=r"vector file .*nothing.gpkg"
                       r"' does not exist"):
        SIAVectorDataset(vector_file='nothing.gpkg', attribute='kind',
                         class_map=CLASS_MAP, data_root=GEO)


def test_points_and_lines_are_skipped_by_name(tmp_path):
    path = tmp_path / 'mixed.geojson'
    geoms = [shapely.box(0, 0, 1, 1), shapely.Point(0, 0),
             shapely.LineString([(0, 0), (1, 1)])]
    pyogrio.raw.write(str(path), geometry=np.array(shapely.to_wkb(geoms),
                                                   dtype=object),
                      field_data=[np.array(['building'] * 3, dtype=object)],
                      fields=['kind'], crs='EPSG:5186',
                      geometry_type='Unknown', driver='GeoJSON')
    from mmseg_sia.datasets.vector import read_vector_polygons
    with pytest.warns(SIAMapLabelWarning,
                      match=r'mixed.geojson: skipped 2 of 3 features .*1: is '
                      r'a Point, not a polygon; 2: is a LineString'):
        kept, values, crs, skipped = read_vector_polygons(str(path), 'kind')
    assert len(kept) == 1 and values == ['building']
    assert crs.to_epsg() == 5186


def test_train_test_infer_tools_on_the_land_cover_config(tmp_path):
    """tools/train.py, tools/test.py and tools/infer.py, as a user runs
    them (the vector config builds the same way: see
    test_vector_config_trains_pipeline)."""
    config = 'fpn_r18_sia-landcover-full-tiny.py'
    import os
    import subprocess
    import sys
    repo = osp.dirname(HERE)
    cfg = osp.join(repo, 'configs', 'sia', config)
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1',
               PYTHONPATH=repo)
    short = ['--cfg-options', 'train_cfg.max_iters=1',
             'train_cfg.val_interval=1',
             'default_hooks.checkpoint.interval=1']

    def run(args):
        proc = subprocess.run([sys.executable] + args, cwd=repo, env=env,
                              capture_output=True, text=True, timeout=500)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        return out

    out = run(['tools/train.py', cfg, '--work-dir', str(tmp_path)] + short)
    assert 'mIoU' in out
    out = run(['tools/test.py', cfg, str(tmp_path / 'iter_1.pth'),
               '--work-dir', str(tmp_path)])
    assert re.search(r'Iter\(test\) \[\d+/\d+\].*mIoU: [\d.]+', out)
    # tools/infer.py places land-cover tiles by their META files.
    images = osp.join('tests', 'data', 'landcover', 'lc', 'TS_AP25_512픽셀')
    run(['tools/infer.py', cfg, str(tmp_path / 'iter_1.pth'),
         osp.join(images, '*.tif'), '--out-dir', str(tmp_path / 'inf'),
         '--no-progress', '--formats', 'geojson,summary'])
    import pandas as pd
    summary = pd.read_csv(tmp_path / 'inf' / 'summary.csv')
    assert summary['georeferenced'].tolist() == [True] * 3
    assert [osp.basename(p) for p in summary['footprint']] == [
        'LC_GS_AP25_34801025_006_2019_FGT_META.json',
        'LC_GS_AP25_34801025_007_2019_FGT_META.json',
        'LC_GS_AP25_34801025_008_2019_FGT_META_1024.json']
    assert summary['footprint'][0].startswith(
        osp.join('tests', 'data', 'landcover', 'lc', 'TL_AP25_512픽셀_Meta'))


def test_unusable_folder_entries_are_logged_by_name(tmp_path):
    from mmengine.logging import MMLogger
    root = tmp_path / 'geo'
    shutil.copytree(GEO, root)
    (root / 'images' / 'gone.tif').symlink_to(tmp_path / 'nowhere.tif')
    logger = MMLogger.get_current_instance()
    seen = []
    handler = type('H', (__import__('logging').Handler, ), {
        'emit': lambda self, record: seen.append(record.getMessage())})()
    logger.addHandler(handler)
    try:
        ds = dataset(root=str(root))
    finally:
        logger.removeHandler(handler)
    assert len(ds) == len(dataset())
    assert any(re.search(r'SIAVectorDataset: left out 1 folder entry that '
                         r'cannot be used \(.*gone\.tif: is a broken '
                         r'symbolic link', m) for m in seen), seen


# --------------------------------------------------------------------------
# The dataset tools on the vector layout (--vector FILE --class-field NAME)
# --------------------------------------------------------------------------
VECTOR = dict(img_suffix='.tif', vector_file='footprints.gpkg',
              attribute='kind', progress=False)


def test_tools_draw_what_the_dataset_draws(tmp_path):
    from mmseg_sia.dataset_tools import (convert_labels, dataset_stats,
                                         make_splits)
    ds = dataset()
    expected = {osp.splitext(osp.basename(ds.get_data_info(i)['img_path']))[0]:
                ds[i]['gt_seg_map'] for i in range(len(ds))}
    summary = convert_labels(GEO, str(tmp_path / 'masks'), **VECTOR)
    assert summary.ok and summary.written == 2, summary.format()
    from PIL import Image
    for stem, seg in expected.items():
        mask = np.asarray(Image.open(tmp_path / 'masks' / f'{stem}.png'))
        np.testing.assert_array_equal(mask, seg)
    stats = dataset_stats(GEO, **VECTOR)
    pixels = stats.pixels.set_index('class')['pixels']
    for class_id, name in enumerate(('background', 'building', 'road')):
        assert pixels[name] == sum(int((s == class_id).sum())
                                   for s in expected.values())
    # The polygon across both tiles counts once on each.
    per_tile = [len(ds.get_data_info(i)['map_labels']['polygons'])
                for i in range(len(ds))]
    assert stats.polygon_types['polygons'].sum() == sum(per_tile)
    assert set(stats.polygon_types['type_name']) == {'building', 'road'}
    result = make_splits(GEO, val_ratio=0.5, group_by_scene=False,
                         split_dir=str(tmp_path / 'splits'), **VECTOR)
    assert sorted(result.train + result.val) == sorted(expected)
    assert result.strata['content'].tolist() == ['both']


def _write_vector(path, geoms, kinds, crs='EPSG:5186'):
    pyogrio.raw.write(
        str(path), geometry=np.array(
            [None if g is None else shapely.to_wkb(g) for g in geoms],
            dtype=object),
        field_data=[np.array(kinds, dtype=object)], fields=['kind'],
        crs=crs, geometry_type='Unknown', driver='GPKG')


def test_check_names_each_bad_vector_entry(tmp_path):
    """Images without georeference or without CRS, features that are not
    polygons or have no geometry, class values not in the class map: each
    named by file (and feature), the other images checked."""
    from PIL import Image
    from mmseg_sia.dataset_tools import check_dataset
    root = tmp_path / 'geo'
    shutil.copytree(GEO, root)
    geoms, kinds = read_gpkg(str(root / 'footprints.gpkg'))
    geoms = list(geoms) + [shapely.Point(0, 0), None,
                           geoms[0], shapely.box(0, 0, 1, 1)]
    kinds = kinds + ['building', 'road', 'tree', None]
    _write_vector(root / 'footprints.gpkg', geoms, kinds)
    # No georeference at all; a world file without .prj (no CRS).
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        root / 'images' / 'plain.tif')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        root / 'images' / 'nocrs.tif')
    (root / 'images' / 'nocrs.tfw').write_text('0.5\n0\n0\n-0.5\n100\n200\n')
    report = check_dataset(str(root), same_size=False,
                           class_map={'building': 1, 'road': 2}, **VECTOR)
    import pandas as pd
    rows = {(r.check, osp.basename(r.file),
             None if pd.isna(r.feature) else int(r.feature)): r.problem
            for r in report.rows.itertuples()}
    vec, n = 'footprints.gpkg', len(kinds) - 4
    assert rows.pop(('feature', vec, n)) == 'is a Point, not a polygon'
    assert re.match(r'has no geometry', rows.pop(('feature', vec, n + 1)))
    assert re.match(r"kind 'tree' is not in the class map",
                    rows.pop(('class-value', vec, n + 2)))
    assert re.match(r'kind None is not in the class map',
                    rows.pop(('class-value', vec, n + 3)))
    assert re.match(r'has no georeference \(no GeoTIFF tags, no world file\)',
                    rows.pop(('image-georef', 'plain.tif', None)))
    assert re.match(r'the image has no CRS \(worldfile georeference\) and '
                    r'the polygons of .*footprints.gpkg are in EPSG:5186: '
                    r'name the image CRS',
                    rows.pop(('vector-crs', 'nocrs.tif', None)))
    assert rows == {}, rows
    assert report.num_errors == 4 and report.images == 4
    assert report.features == len(kinds) and report.label_files == 1


def test_convert_lists_images_it_cannot_place(tmp_path):
    from PIL import Image
    from mmseg_sia.dataset_tools import convert_labels
    root = tmp_path / 'geo'
    shutil.copytree(GEO, root)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        root / 'images' / 'plain.tif')
    summary = convert_labels(str(root), str(tmp_path / 'masks'), **VECTOR)
    assert summary.written == 2 and not summary.ok
    assert len(summary.errors) == 1
    assert re.search(r'images/plain.tif: has no georeference',
                     summary.errors[0][1])


def test_vector_options_are_checked():
    from mmseg_sia.dataset_tools import check_dataset
    with pytest.raises(ValueError, match=r'needs the name of its class '
                       r'field \(--class-field\)'):
        check_dataset(GEO, vector_file='footprints.gpkg', progress=False)
    with pytest.raises(ValueError, match=r'either a META folder .* or a '
                       r'vector file, not both'):
        check_dataset(GEO, meta_dir='meta', **VECTOR)
    with pytest.raises(VectorFileError, match=r"field 'class': no such field;"
                       r" the layer has \['kind'\]"):
        check_dataset(GEO, **dict(VECTOR, attribute='class'))
    with pytest.raises(FileNotFoundError, match=r"vector file .*none.gpkg' "
                       r'does not exist'):
        check_dataset(GEO, **dict(VECTOR, vector_file='none.gpkg'))


def readme_vector_block():
    """The README's example of the tools on the vector layout."""
    readme = osp.join(osp.dirname(HERE), 'README.md')
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    blocks = re.findall(r'```bash\n(.*?)```', text, re.S)
    found = [b for b in blocks if '--vector footprints.gpkg' in b]
    assert len(found) == 1
    return found[0]


def test_readme_vector_example_runs(tmp_path):
    """The README block runs as written (its data is this repository's
    tests/data/landcover/geo, which the README test's copy lacks)."""
    import os
    import subprocess
    repo = osp.dirname(HERE)
    for name in ('tools', 'tests'):
        os.symlink(osp.join(repo, name), tmp_path / name)
    env = dict(os.environ, PYTHONPATH=repo, MPLBACKEND='Agg',
               OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', '-euo', 'pipefail', '-c',
                           readme_vector_block()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'errors: 0, warnings: 0' in out
    assert sorted(os.listdir(tmp_path / 'work_dirs' / 'vector_masks')) == [
        'scene_0.png', 'scene_1.png']
    assert (tmp_path / 'work_dirs' / 'vector_splits' / 'val.txt').read_text() \
        in ('scene_0\n', 'scene_1\n')
