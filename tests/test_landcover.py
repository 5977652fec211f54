"""AIHub's land-cover layout: pairing, exact labels, class maps, bad input."""
import copy
import re
import json
import os
import os.path as osp
import sys
import shutil
import warnings

import numpy as np
import pytest
import shapely
from mmengine.config import Config
from mmseg.registry import DATASETS
from pyproj import Transformer
from shapely.geometry import shape

from mmseg_sia.datasets import SIALandCoverDataset
from mmseg_sia.datasets.landcover import meta_key
from mmseg_sia.georef import GeorefError
from mmseg_sia.labels import (LabelFileError, SIALabelWarning,
                              polygon_coverage)
from mmseg_sia.maplabels import (LANDCOVER_BUILDING_ROAD, SIAMapLabelWarning,
                                 read_map_label_file)

HERE = osp.dirname(__file__)
LC = osp.join(HERE, 'data', 'landcover', 'lc')
PREFIX = dict(img_path='TS_AP25_512픽셀', seg_map_path='TL_AP25_512픽셀_Json',
              meta_path='TL_AP25_512픽셀_Meta')
PIPELINE = [dict(type='LoadImageFromFile'),
            dict(type='LoadPolygonAnnotations')]
CONFIG_DIR = osp.join(HERE, '..', 'configs')


def dataset(root=LC, **kwargs):
    kwargs.setdefault('pipeline', PIPELINE)
    return SIALandCoverDataset(data_root=root, data_prefix=dict(PREFIX),
                               **kwargs)


def reference_map(label_path, meta_path, class_map, priority=(2, 1),
                  size=96):
    """Pixel centres in map coordinates tested against the polygons with
    shapely; the centre of pixel (r, c) is the META's point moved by
    (c * res, -r * res)."""
    with open(meta_path, 'rb') as f:
        raw = f.read()
    text = raw.decode('utf-16') if raw[:2] == b'\xff\xfe' else \
        raw.decode('cp949')
    meta = json.loads(text)[0]
    x0, y0 = (float(v) for v in meta['coordinates'].split(','))
    res = meta['img_resolution']
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    xs, ys = x0 + cols * res, y0 - rows * res
    with open(label_path, encoding='utf-8') as f:
        features = json.load(f)['features']
    seg = np.zeros((size, size), np.uint8)
    ranks = {c: i for i, c in enumerate(reversed(priority))}
    order = [(class_map[f['properties']['ANN_CD']], shape(f['geometry']))
             for f in features if class_map.get(f['properties']['ANN_CD'])]
    # Lowest priority first: the last drawn wins.
    order.sort(key=lambda item: (ranks.get(item[0], -1), item[0]))
    for class_id, geom in order:
        seg[shapely.contains_xy(geom, xs, ys)] = class_id
    return seg


def stems():
    return sorted(f[:-4] for f in os.listdir(osp.join(LC, PREFIX['img_path'])))


def paths_of(stem):
    key = stem[:-5] + '_META_1024' if stem.endswith('_1024') else \
        stem + '_META'
    return (osp.join(LC, PREFIX['seg_map_path'], stem + '.json'),
            osp.join(LC, PREFIX['meta_path'], key + '.json'))


def test_meta_key():
    assert meta_key('X_FGT_META') == 'X_FGT'
    assert meta_key('X_FGT_META_1024') == 'X_FGT_1024'
    assert meta_key('X_FGT') is None


def test_pairs_images_labels_and_meta_files():
    ds = dataset(pipeline=[])
    assert len(ds) == 3
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len(stems()) == 3
    for info, stem in zip(infos, stems(), strict=True):
        label, meta = paths_of(stem)
        assert info['img_path'].endswith(stem + '.tif')
        assert info['map_labels']['paths'] == [label]
        assert info['map_labels']['meta_path'] == meta
        assert info['label_paths'] == []
    assert ds.metainfo['classes'] == ('background', 'building', 'road')


def test_labels_exact_against_pixel_centres_in_map_coordinates():
    ds = dataset()
    checked = 0
    for i, stem in enumerate(stems()):
        seg = ds[i]['gt_seg_map']
        ref = reference_map(*paths_of(stem), LANDCOVER_BUILDING_ROAD)
        np.testing.assert_array_equal(seg, ref)
        assert set(np.unique(seg)) == {0, 1, 2}
        checked += 1
    assert checked == 3


def test_full_class_set_config_and_training_pipeline():
    cfg = Config.fromfile(osp.join(
        CONFIG_DIR, 'sia', 'fpn_r18_sia-landcover-full-tiny.py'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(data_root=LC, data_prefix=PREFIX, ann_file='')
    ds = DATASETS.build(ds_cfg)
    classes = ds.metainfo['classes']
    assert len(classes) == 13 and len(ds.metainfo['palette']) == 13
    assert cfg.model.decode_head.num_classes == 13
    class_map = ds_cfg['class_map']
    assert class_map[10] == classes.index('building')
    sample = ds[0]
    assert tuple(sample['inputs'].shape[1:]) == tuple(cfg.crop_size)
    assert sample['data_samples'].gt_sem_seg.data.max() < 13
    # The full map drawn alone, against the reference.
    raw = dataset(class_map=class_map, metainfo=dict(
        classes=classes, palette=ds.metainfo['palette']),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadPolygonAnnotations', priority=None)])
    seg = raw[0]['gt_seg_map']
    ref = reference_map(*paths_of(stems()[0]), class_map, priority=())
    np.testing.assert_array_equal(seg, ref)
    assert len(np.unique(seg)) >= 4


def test_building_road_config_builds():
    cfg = Config.fromfile(osp.join(
        CONFIG_DIR, 'sia', 'fpn_r18_sia-landcover-tiny.py'))
    ds_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    ds_cfg.update(data_root=LC, data_prefix=PREFIX, ann_file='')
    ds = DATASETS.build(ds_cfg)
    assert ds.metainfo['classes'] == ('background', 'building', 'road')
    assert ds[1]['data_samples'].gt_sem_seg.data.unique().tolist() == [0, 1,
                                                                        2]


@pytest.mark.parametrize('chunk', [None, 64])
def test_rasterizer_fills_rings_even_odd_against_shapely_and_matplotlib(
        chunk, monkeypatch):
    """A polygon given as exterior + holes: pixel centres inside the
    exterior and no hole, as shapely and matplotlib's even-odd Path say
    (chunk 64 forces the rasterizer's chunked and parity paths)."""
    import mmseg_sia.labels as labels
    from matplotlib.path import Path
    if chunk:
        monkeypatch.setattr(labels, '_CHUNK', chunk)
    rng = np.random.default_rng(3)
    size = 64
    cols, rows = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    centres = np.column_stack([cols.ravel(), rows.ravel()])
    with_holes = 0
    for _ in range(12):
        outer = shapely.Point(rng.uniform(10, 54, 2)).buffer(
            rng.uniform(8, 30), 4)
        holes = [shapely.Point(rng.uniform(0, 64, 2)).buffer(
            rng.uniform(2, 8), 3) for _ in range(3)]
        poly = shapely.set_precision(
            outer.difference(shapely.union_all(holes)), 1e-3)
        polys, paths = [], []
        for part in shapely.get_parts(poly):
            rings = [np.asarray(part.exterior.coords)[:-1]] + [
                np.asarray(r.coords)[:-1] for r in part.interiors]
            polys.append(rings)
            paths.append([Path(np.vstack([r, r[:1]]), closed=True)
                          for r in rings])
        mine = polygon_coverage(polys, size, size)
        np.testing.assert_array_equal(
            mine, shapely.contains_xy(poly, cols, rows))
        # Even-odd by matplotlib: a centre is in a part when it is inside
        # an odd number of the part's rings; parts are united.
        by_path = np.zeros(size * size, bool)
        for rings in paths:
            odd = np.zeros(size * size, bool)
            for ring in rings:
                odd ^= ring.contains_points(centres)
            by_path |= odd
        np.testing.assert_array_equal(mine.ravel(), by_path)
        with_holes += any(len(p) > 1 for p in polys)
    assert with_holes >= 6
    # A polygon of one ring, an (N, 2) list of points and a list of rings
    # mixed in one call; a ring list of one ring is the ring.
    square = np.array([[8.0, 8.0], [40.0, 8.0], [40.0, 40.0], [8.0, 40.0]])
    hole = square[::-1] * 0.5 + 12
    a = polygon_coverage([[square, hole]], size, size)
    b = polygon_coverage([square], size, size) & ~polygon_coverage(
        [hole], size, size)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        polygon_coverage([[square]], size, size),
        polygon_coverage([square.tolist()], size, size))
    with pytest.raises(ValueError, match=r'polygon 1 has a NaN'):
        polygon_coverage([square, [square, hole * np.nan]], size, size)


def copy_layout(tmp_path):
    root = tmp_path / 'lc'
    shutil.copytree(LC, root)
    return root


def test_image_without_meta_names_it(tmp_path):
    root = copy_layout(tmp_path)
    os.remove(osp.join(root, PREFIX['meta_path'],
                       'LC_GS_AP25_34801025_007_2019_FGT_META.json'))
    with pytest.raises(FileNotFoundError,
                       match=r'1 image\(s\) have no META file .*'
                       r'LC_GS_AP25_34801025_007_2019_FGT\.tif'):
        dataset(root=str(root))


def write_label(root, stem, collection):
    path = osp.join(root, PREFIX['seg_map_path'], stem + '.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(collection, f, ensure_ascii=False)
    return path


def first(root):
    stem = stems()[0]
    label, _ = paths_of(stem)
    with open(label, encoding='utf-8') as f:
        return stem, json.load(f)


def test_bad_features_warn_by_name_and_strict_raises(tmp_path):
    root = copy_layout(tmp_path)
    stem, data = first(root)
    data['features'][2]['geometry'] = None
    data['features'][4]['geometry']['type'] = 'LineString'
    data['features'][5]['geometry']['coordinates'][0][0] = [[1, 2], [3, 4]]
    del data['features'][6]['properties']['ANN_CD']
    path = write_label(root, stem, data)
    with pytest.warns(SIAMapLabelWarning,
                      match=r'skipped 4 of 8 features that cannot be drawn '
                      r"\(feature 2: has no geometry \(null\); 4: geometry "
                      r"type 'LineString' is not Polygon or MultiPolygon; 5: "
                      r'a ring has fewer than 3 distinct points \(2\); 6: has '
                      r"no property 'ANN_CD'\)") as record:
        label = read_map_label_file(path)
    assert path in str(record[0].message)
    assert sorted({p.feature for p in label.polygons}) == [0, 1, 3, 7]
    with pytest.raises(LabelFileError,
                       match=r'feature 2: has no geometry'):
        read_map_label_file(path, strict=True)
    ds = dataset(root=str(root), pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPolygonAnnotations', strict=True)])
    with pytest.raises(LabelFileError, match=r'_006_2019_FGT.json, feature 2'):
        ds[0]


def test_unknown_code_and_pixel_label_file_are_never_silent(tmp_path):
    root = copy_layout(tmp_path)
    stem, data = first(root)
    data['features'][0]['properties']['ANN_CD'] = 70  # older packaging
    write_label(root, stem, data)
    ds = dataset(root=str(root))
    with pytest.warns(SIAMapLabelWarning,
                      match=r'_006_2019_FGT.json: class values not in the '
                      r'class map, not drawn: 70 \(1 polygon\)'):
        ds[0]
    # A label file of the first release (pixel polygons in *_imcoords,
    # footprint as geometry) given to the land-cover dataset.
    aihub = osp.join(HERE, 'data', 'sia', 'labels', 'building',
                     'BLD00001_PS3_K3A_NIA0001.json')
    shutil.copy(aihub, osp.join(root, PREFIX['seg_map_path'], stem + '.json'))
    with pytest.warns(SIALabelWarning,
                      match=r"skipped 3 of 3 features .*feature 0: has no "
                      r"property 'ANN_CD'"):
        ds[0]


def test_label_crs_member_other_than_meta_is_reprojected(tmp_path):
    root = copy_layout(tmp_path)
    stem, data = first(root)
    to_5179 = Transformer.from_crs(5186, 5179, always_xy=True)
    for feature in data['features']:
        geom = shapely.transform(
            shape(feature['geometry']),
            lambda p: np.column_stack(to_5179.transform(p[:, 0], p[:, 1])))
        feature['geometry'] = shapely.geometry.mapping(geom)
    data['crs'] = {'type': 'name', 'properties': {'name': 'EPSG:5179'}}
    write_label(root, stem, data)
    seg = dataset(root=str(root))[0]['gt_seg_map']
    ref = reference_map(*paths_of(stem), LANDCOVER_BUILDING_ROAD)
    # Straight edges in EPSG:5179 are not exactly straight in EPSG:5186.
    assert (seg == ref).mean() >= 0.9995
    data['crs'] = {'type': 'name', 'properties': {'name': 'EPSG:0'}}
    path = write_label(root, stem, data)
    with pytest.raises(GeorefError,
                       match=rf"{path}, field 'crs': names no known CRS"):
        dataset(root=str(root))[0]


def test_meta_size_differs_from_image(tmp_path):
    root = copy_layout(tmp_path)
    meta = osp.join(root, PREFIX['meta_path'],
                    'LC_GS_AP25_34801025_006_2019_FGT_META.json')
    with open(meta, 'rb') as f:
        record = json.loads(f.read().decode('cp949'))
    record[0]['img_width'] = 512
    with open(meta, 'wb') as f:
        f.write(json.dumps(record, ensure_ascii=False).encode('cp949'))
    with pytest.raises(GeorefError, match=r"_META.json, field 'img_width': "
                       r'gives 512 x 96 pixels but the image .* has 96 x 96'):
        dataset(root=str(root))[0]


def test_class_map_checked():
    with pytest.raises(ValueError, match=r'class id 5 of 30 is not one of the '
                       r'3 classes'):
        dataset(class_map={10: 1, 30: 5})
    with pytest.raises(ValueError, match=r"class id of 10 must be an integer"):
        dataset(class_map={10: 'building'})


def test_string_codes_and_no_warning_on_clean_files():
    ds = dataset(class_map={'10': 1, '30': 2, **{
        str(k): 0 for k in LANDCOVER_BUILDING_ROAD if k not in (10, 30)}})
    with warnings.catch_warnings():
        warnings.simplefilter('error', SIALabelWarning)
        seg = ds[0]['gt_seg_map']
    ref = reference_map(*paths_of(stems()[0]), LANDCOVER_BUILDING_ROAD)
    np.testing.assert_array_equal(seg, ref)


def aihub_root(tmp_path, files):
    """A first-release layout with one image and the given label files."""
    root = tmp_path / 'sia'
    (root / 'images').mkdir(parents=True)
    (root / 'labels').mkdir()
    src = osp.join(HERE, 'data', 'sia', 'images',
                   'BLD00001_PS3_K3A_NIA0001.png')
    shutil.copy(src, root / 'images' / 'T1.png')
    for name, content in files.items():
        target = root / 'labels' / name
        target.parent.mkdir(exist_ok=True)
        if isinstance(content, str) and osp.isfile(content):
            shutil.copy(content, target)
        else:
            target.write_text(json.dumps(content), encoding='utf-8')
    return str(root)


OBJECT_ONLY = {'type': 'FeatureCollection', 'features': [{
    'type': 'Feature', 'geometry': {'type': 'Polygon', 'coordinates': [
        [[127.0, 37.5, 0], [127.1, 37.5, 0], [127.1, 37.4, 0]]]},
    'properties': {'object_imcoords': '1,1,5,1,5,5,1,5',
                   'building_imcoords': 'EMPTY', 'road_imcoords': 'EMPTY',
                   'image_id': 'T1.png'}}]}


def sia_sample(root, class_map=None):
    from mmseg_sia.datasets import SIADataset
    ds = SIADataset(data_root=root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadPolygonAnnotations', class_map=class_map)])
    return ds[0]


def test_object_only_file_warns_in_the_pipeline(tmp_path):
    root = aihub_root(tmp_path, {'T1.json': OBJECT_ONLY})
    with pytest.warns(SIALabelWarning,
                      match=r'T1.json: has features but no polygon the '
                      r'reader can use \(1 features: 1 with object_imcoords;'
                      r' 1 Polygon geometries in lon/lat'):
        sample = sia_sample(root)
    assert not sample['gt_seg_map'].any()


def test_land_cover_file_given_to_sia_dataset_warns(tmp_path):
    label, _ = paths_of(stems()[0])
    root = aihub_root(tmp_path, {'T1.json': label})
    with pytest.warns(SIALabelWarning,
                      match=r'T1.json: has features but no polygon .*8 '
                      r'features: 2 MultiPolygon, 6 Polygon geometries in map '
                      r'coordinates; 8 with ANN_CD \(land-cover labels'):
        sia_sample(root)


def test_the_readers_themselves_say_why_a_file_draws_nothing(tmp_path):
    """One place gives the warning: the reading functions, so the dataset,
    the tools and any other caller get it."""
    from mmseg_sia.labels import read_label_file
    root = aihub_root(tmp_path, {'T1.json': OBJECT_ONLY})
    path = osp.join(root, 'labels', 'T1.json')
    why = (r'has features but no polygon the reader can use \(1 features: '
           r'1 with object_imcoords; 1 Polygon geometries in lon/lat')
    with pytest.warns(SIALabelWarning, match=r'T1.json: ' + why) as seen:
        label = read_label_file(path)
    assert len([w for w in seen if 'T1.json' in str(w.message)]) == 1
    assert re.match(why, label.unusable)
    with warnings.catch_warnings():
        warnings.simplefilter('error', SIALabelWarning)
        assert re.match(why, read_label_file(path, warn=False).unusable)
    # A first-release file read as land cover: every feature skipped, and
    # what the file holds is named too.
    with pytest.warns(SIAMapLabelWarning, match=r"skipped 1 of 1 features "
                      r"that cannot be drawn \(feature 0: has no property "
                      r"'ANN_CD'\)"):
        label = read_map_label_file(path)
    assert re.match(why, label.unusable)


def test_convert_and_stats_list_files_that_draw_nothing(tmp_path):
    from mmseg_sia.dataset_tools import convert_labels, dataset_stats
    root = aihub_root(tmp_path, {'T1.json': OBJECT_ONLY})
    summary = convert_labels(root, str(tmp_path / 'masks'), progress=False)
    assert [(osp.basename(f), w.startswith('has features but no polygon'))
            for f, w in summary.warnings] == [('T1.json', True)]
    assert 'object_imcoords' in summary.format()
    stats = dataset_stats(root, progress=False)
    assert stats.warnings['warning'].str.contains(
        'no polygon the reader can use').tolist() == [True]


def test_road_file_for_a_building_only_task_is_fine(tmp_path):
    road = osp.join(HERE, 'data', 'sia', 'labels', 'road',
                    'BLD00001_PS3_K3A_NIA0001.json')
    root = aihub_root(tmp_path, {'road/T1.json': road})
    with warnings.catch_warnings():
        warnings.simplefilter('error', SIALabelWarning)
        sia_sample(root, class_map={'building_imcoords': 1})


def test_check_dataset_reports_files_without_usable_polygons(tmp_path):
    from mmseg_sia.dataset_tools import check_dataset
    label, _ = paths_of(stems()[0])
    root = aihub_root(tmp_path, {'building/T1.json': OBJECT_ONLY,
                                 'road/T1.json': label})
    report = check_dataset(root, progress=False)
    rows = report.rows[report.rows['check'] == 'no-polygon']
    assert sorted(osp.basename(osp.dirname(f)) for f in rows['file']) == [
        'building', 'road']
    assert rows['severity'].tolist() == ['warning', 'warning']
    assert rows['problem'].str.contains('object_imcoords').any()
    assert rows['problem'].str.contains('ANN_CD').any()
    assert report.num_warnings >= 2


def test_check_dataset_on_the_land_cover_layout(tmp_path):
    import importlib.util
    from mmseg_sia.dataset_tools import check_dataset
    root = copy_layout(tmp_path)
    layout = dict(img_dir=PREFIX['img_path'], label_dir=PREFIX['seg_map_path'],
                  img_suffix='.tif', progress=False)
    clean = check_dataset(str(root), meta_dir=PREFIX['meta_path'], **layout)
    assert clean.rows.empty, clean.format()
    assert (clean.images, clean.label_files, clean.features) == (3, 3, 24)
    # Break one META file, one label feature, one code, drop one META.
    meta_dir = osp.join(root, PREFIX['meta_path'])
    with open(osp.join(meta_dir, 'LC_GS_AP25_34801025_006_2019_FGT_META.json'),
              'wb') as f:
        f.write(json.dumps([{'img_width': 96}]).encode('cp949'))
    os.remove(osp.join(meta_dir, 'LC_GS_AP25_34801025_007_2019_FGT_META.json'))
    stem, data = first(root)
    data['features'][3]['geometry'] = None
    data['features'][5]['properties']['ANN_CD'] = 70
    write_label(root, stem, data)
    report = check_dataset(str(root), meta_dir=PREFIX['meta_path'], **layout)
    got = {(c, osp.basename(f), None if pd_isna(n) else int(n), p)
           for c, f, n, p in zip(report.rows['check'], report.rows['file'],
                                 report.rows['feature'],
                                 report.rows['problem'])}
    assert got == {
        ('meta-file', 'LC_GS_AP25_34801025_006_2019_FGT_META.json', None,
         "field 'img_height': missing"),
        ('image-without-meta', 'LC_GS_AP25_34801025_007_2019_FGT.tif', None,
         'no META file LC_GS_AP25_34801025_007_2019_FGT_META.json'),
        ('feature', stem + '.json', 3, 'has no geometry (null)'),
        ('class-value', stem + '.json', 5,
         'ANN_CD 70 is not a documented land-cover code'),
    }
    # The command line: errors give exit status 1.
    tools = osp.join(HERE, '..', 'tools')
    if tools not in sys.path:  # as when run as a script (tools/_cli.py)
        sys.path.insert(0, tools)
    spec = importlib.util.spec_from_file_location(
        'check_tool', osp.join(tools, 'check_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(root), '--meta-dir', PREFIX['meta_path'],
                      '--img-dir', PREFIX['img_path'], '--label-dir',
                      PREFIX['seg_map_path'], '--img-suffix', '.tif',
                      '--no-progress']) == 1


def pd_isna(value):
    import pandas as pd
    return pd.isna(value)


def test_convert_labels_on_the_land_cover_layout(tmp_path):
    import cv2
    from mmseg_sia.dataset_tools import convert_labels
    out = tmp_path / 'masks'
    summary = convert_labels(
        LC, str(out), img_dir=PREFIX['img_path'],
        label_dir=PREFIX['seg_map_path'], meta_dir=PREFIX['meta_path'],
        img_suffix='.tif', progress=False)
    assert summary.ok and summary.written == 3, summary.format()
    assert set(summary.polygons) == {'building', 'road'}
    assert summary.polygons['building'] > 0 and summary.polygons['road'] > 0
    for stem in stems():
        mask = cv2.imread(str(out / (stem + '.png')), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(
            mask, reference_map(*paths_of(stem), LANDCOVER_BUILDING_ROAD))
    # A tile without META fails by name; the others are written.
    root = copy_layout(tmp_path)
    os.remove(osp.join(root, PREFIX['meta_path'],
                       'LC_GS_AP25_34801025_007_2019_FGT_META.json'))
    summary = convert_labels(
        str(root), str(tmp_path / 'm2'), img_dir=PREFIX['img_path'],
        label_dir=PREFIX['seg_map_path'], meta_dir=PREFIX['meta_path'],
        img_suffix='.tif', progress=False)
    assert summary.written == 2
    assert len(summary.errors) == 1
    assert re.search(r'_007_2019_FGT.tif: has no META file',
                     summary.errors[0][1])


def test_dataset_stats_on_the_land_cover_layout(tmp_path):
    from mmseg_sia.dataset_tools import dataset_stats
    stats = dataset_stats(
        LC, img_dir=PREFIX['img_path'], label_dir=PREFIX['seg_map_path'],
        meta_dir=PREFIX['meta_path'], img_suffix='.tif', plots=False,
        progress=False)
    assert stats.errors.empty
    pixels = stats.pixels[stats.pixels['split'] == 'all'].set_index('class')
    # The pixel counts are those of the reference maps.
    ref = sum(np.bincount(
        reference_map(*paths_of(s), LANDCOVER_BUILDING_ROAD).ravel(),
        minlength=3) for s in stems())
    assert [int(pixels.loc[c, 'pixels']) for c in
            ('background', 'building', 'road')] == ref.tolist()
    types = stats.polygon_types
    assert set(types['type_name']) == {'10 building', '30 road'}


def test_make_splits_and_browse_on_the_land_cover_layout(tmp_path):
    from mmseg_sia.dataset_tools import browse_dataset, make_splits
    root = copy_layout(tmp_path)
    result = make_splits(
        str(root), img_dir=PREFIX['img_path'],
        label_dir=PREFIX['seg_map_path'], meta_dir=PREFIX['meta_path'],
        img_suffix='.tif', val_ratio=0.34, group_by_scene=False,
        progress=False)
    assert not result.excluded
    assert sorted(result.train + result.val) == stems()
    # Every tile holds both building and road polygons.
    assert set(result.strata['content']) == {'both'}
    written = browse_dataset(
        str(tmp_path / 'pics'), data_root=str(root), num=3,
        img_dir=PREFIX['img_path'], label_dir=PREFIX['seg_map_path'],
        img_suffix='.tif', meta_dir=PREFIX['meta_path'], progress=False)
    assert len(written) == 3
    import cv2
    for path in written:
        stem = osp.splitext(osp.basename(path))[0]
        pic = cv2.imread(path)[..., ::-1]
        ref = reference_map(*paths_of(stem), LANDCOVER_BUILDING_ROAD)
        # Image and labels side by side above a legend: as many
        # building-coloured pixels as the reference has building pixels.
        assert pic.shape[1] >= 2 * 96
        tiles = pic[:96]
        assert (tiles == [128, 128, 0]).all(-1).sum() == (ref == 1).sum()
    # Config mode goes through the dataset of the land-cover config.
    written = browse_dataset(
        str(tmp_path / 'cfg'), data_root=LC, phase='val', num=2,
        config=osp.join(CONFIG_DIR, 'sia', 'fpn_r18_sia-landcover-tiny.py'),
        progress=False)
    assert len(written) == 2


def test_meta_files_in_the_labels_folder_and_images_without_labels(
        tmp_path, monkeypatch):
    import mmengine.logging
    messages = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    root = copy_layout(tmp_path)
    labels = osp.join(root, PREFIX['seg_map_path'])
    for name in os.listdir(osp.join(root, PREFIX['meta_path'])):
        shutil.move(osp.join(root, PREFIX['meta_path'], name), labels)
    os.remove(osp.join(labels, stems()[2] + '.json'))
    prefix = dict(PREFIX, meta_path=PREFIX['seg_map_path'])
    ds = SIALandCoverDataset(data_root=str(root), data_prefix=prefix,
                             pipeline=PIPELINE)
    logged = '\n'.join(messages)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [len(i['map_labels']['paths']) for i in infos] == [1, 1, 0]
    assert all(i['map_labels']['meta_path'] for i in infos)
    assert re.search(r'1 image\(s\) have no label file .* train as all '
                     r'background: .*_008_2019_FGT_1024\.tif', logged)
    np.testing.assert_array_equal(
        ds[0]['gt_seg_map'],
        reference_map(*paths_of(stems()[0]), LANDCOVER_BUILDING_ROAD))


def test_split_files_resolve_alike_in_the_three_datasets(tmp_path):
    """One split-file resolution: a hand-edited line with spaces around the
    stem finds its image in every dataset, in the file's order; a stem
    without image is named with the file."""
    from mmseg_sia.datasets import SIADataset, SIAVectorDataset
    sia_root = osp.join(HERE, 'data', 'sia')
    geo_root = osp.join(HERE, 'data', 'landcover', 'geo')
    sia_stem = sorted(os.listdir(osp.join(sia_root, 'images')))[0][:-4]
    cases = [
        (lambda f: dataset(ann_file=f, pipeline=[]), stems()[::-1][:2]),
        (lambda f: SIADataset(data_root=sia_root, ann_file=f, pipeline=[]),
         [sia_stem]),
        (lambda f: SIAVectorDataset(
            vector_file='footprints.gpkg', attribute='kind',
            class_map={'building': 1, 'road': 2}, data_root=geo_root,
            data_prefix=dict(img_path='images'), ann_file=f, pipeline=[]),
         ['scene_1', 'scene_0']),
    ]
    for k, (build, wanted) in enumerate(cases):
        split = tmp_path / f'split{k}.txt'
        split.write_text(''.join(f'  {s} \n' for s in wanted))
        ds = build(str(split))
        assert [osp.splitext(osp.basename(ds.get_data_info(i)['img_path']))[0]
                for i in range(len(ds))] == wanted
        split.write_text(f'{wanted[0]}\nNOPE_42\n')
        with pytest.raises(FileNotFoundError,
                           match=r"1 stem\(s\) of split file .*split"
                           rf"{k}\.txt have no image .*<stem>\.\w+: 'NOPE_42'"):
            build(str(split))


def test_meta_lookup_lists_the_release_folder_once(tmp_path, monkeypatch):
    """find_meta_file (tools/infer.py's lookup) lists the folder above a
    part's image folder once, not once per image."""
    import mmseg_sia.georef as georef
    images = tmp_path / '01.원천데이터' / 'TS_P'
    metas = tmp_path / '02.라벨링데이터' / 'TL_P_Meta'
    images.mkdir(parents=True)
    metas.mkdir(parents=True)
    names = ['A', 'B', 'C']
    for n in names:
        (images / f'{n}.tif').write_bytes(b'')
        (metas / f'{n}_META.json').write_text('[]')
    listed = []
    real = os.listdir
    monkeypatch.setattr(georef.os, 'listdir',
                        lambda p='.': listed.append(str(p)) or real(p))
    georef._folder_names.cache_clear()
    found = [georef.find_meta_file(str(images / f'{n}.tif')) for n in names]
    assert [osp.basename(f) for f in found] == [f'{n}_META.json'
                                                for n in names]
    assert listed == [str(tmp_path)]


def test_drawing_reads_the_coordinates_of_drawn_classes_only(tmp_path):
    """Fields, forests and water are not drawn with the building/road map,
    so their coordinates are not read for drawing; the map, the warning
    about codes not in the class map and strict mode are as before."""
    from affine import Affine
    from pyproj import CRS
    from mmseg_sia.georef import Georef
    from mmseg_sia.maplabels import rasterize_map_label_files

    def feature(code, ring):
        return {'type': 'Feature', 'properties': {'ANN_CD': code},
                'geometry': {'type': 'Polygon', 'coordinates': [ring]}}

    box = [[1, 1], [9, 1], [9, 7], [1, 7]]
    path = tmp_path / 'x.json'
    path.write_text(json.dumps({'type': 'FeatureCollection', 'features': [
        feature(10, box), feature(60, [[0, 0], ['a', 0], [5, 5]]),
        feature(999, box)]}))
    label = read_map_label_file(str(path), only={10, 30}, warn=False)
    assert [p.feature for p in label.polygons] == [0]
    assert label.values == {10: 1, 60: 1, 999: 1} and label.unread == 2
    assert label.skipped == [] and label.unusable is None
    georef = Georef(CRS.from_epsg(5186), Affine(1, 0, 0, 0, -1, 8), 10, 8,
                    'meta')
    with pytest.warns(SIAMapLabelWarning, match=r"x.json: class values not "
                      r"in the class map, not drawn: 999 \(1 polygon\)"):
        seg, _ = rasterize_map_label_files([str(path)], georef,
                                           LANDCOVER_BUILDING_ROAD)
    expected = np.zeros((8, 10), np.uint8)
    expected[1:7, 1:9] = 1
    np.testing.assert_array_equal(seg, expected)
    with pytest.raises(LabelFileError, match=r'x.json, feature 1: a ring '
                       r'position is not a list of numbers'):
        rasterize_map_label_files([str(path)], georef,
                                  LANDCOVER_BUILDING_ROAD, strict=True)
