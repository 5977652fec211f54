"""Boundary-aware buildings: the band of LoadPolygonAnnotations and the
post-processing into instances."""
import json

import numpy as np
import pytest
from mmseg.registry import TRANSFORMS

from mmseg_sia.datasets.transforms.loading import boundary_band
from mmseg_sia.instances import (InstanceMasks, building_instances,
                                 match_instances, polygon_instances)


def rect(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)


def write_label_file(path, buildings=(), roads=()):
    """An AIHub label file with rectangles ``(x0, y0, x1, y1)``."""
    features = []
    for key, boxes in (('building_imcoords', buildings),
                       ('road_imcoords', roads)):
        for box in boxes:
            coords = ','.join(f'{v:g}' for v in rect(*box).ravel()) + ','
            props = {'building_imcoords': 'EMPTY', 'road_imcoords': 'EMPTY',
                     'object_imcoords': 'EMPTY', 'type_id': '2',
                     'type_name': 'x'}
            props[key] = coords
            features.append({'type': 'Feature', 'properties': props,
                             'geometry': {'type': 'Polygon',
                                          'coordinates': [[[0, 0, 0]]]}})
    path.write_text(json.dumps({'type': 'FeatureCollection',
                                'features': features}), encoding='utf-8')
    return str(path)


def load(paths, shape, **kwargs):
    transform = TRANSFORMS.build(dict(type='LoadPolygonAnnotations', **kwargs))
    results = transform(dict(label_paths=paths, ori_shape=shape))
    return results['gt_seg_map']


def ring(seg, r0, r1, c0, c1, value, width=1):
    """Set the ``width``-pixel ring of rows r0..r1-1, columns c0..c1-1."""
    seg[r0:r1, c0:c1] = value
    seg[r0 + width:r1 - width, c0 + width:c1 - width] = 0


def test_band_of_touching_buildings_by_hand():
    # A: pixels rows 2-7, columns 2-7; B: rows 2-7, columns 8-13 (they share
    # the edge x = 8). Width 1: the outer ring of each 6 x 6 square.
    band = boundary_band([rect(2, 2, 8, 8), rect(8, 2, 14, 8)], (12, 16), 1)
    ring_a = np.zeros((12, 16), np.uint8)
    ring(ring_a, 2, 8, 2, 8, 1)
    ring_b = np.zeros_like(ring_a)
    ring(ring_b, 2, 8, 8, 14, 1)
    assert (band == ((ring_a | ring_b) > 0)).all()
    # Width 2: a 2-pixel ring, so a 2 x 2 core is left in each square.
    band2 = boundary_band([rect(2, 2, 8, 8)], (12, 16), 2)
    assert band2.sum() == 36 - 4
    assert not band2[4:6, 4:6].any()
    assert boundary_band([rect(2, 2, 8, 8)], (12, 16), 0).sum() == 0


def test_band_not_along_tile_edge():
    # A building cut by the left and top tile edges: band only on its
    # right and bottom sides inside the tile.
    band = boundary_band([rect(-5, -5, 4, 4)], (10, 10), 1)
    want = np.zeros((10, 10), bool)
    want[0:4, 3] = True
    want[3, 0:4] = True
    assert (band == want).all()


def test_load_polygon_annotations_paints_band(tmp_path):
    path = write_label_file(tmp_path / 'a.json',
                            buildings=[(2, 2, 8, 8), (8, 2, 14, 8)],
                            roads=[(0, 9, 16, 11)])
    plain = load([path], (12, 16))
    seg = load([path], (12, 16), boundary_width=1)
    want = plain.copy()
    want[2:8, [2, 7, 8, 13]] = 3
    want[[2, 7], 2:14] = 3
    assert (seg == want).all()
    # Default boundary label: one more than the largest class id (3 here,
    # 2 for buildings only).
    only = load([path], (12, 16), class_map={'building_imcoords': 1},
                boundary_width=1)
    assert set(np.unique(only)) == {0, 1, 2}
    assert (only[9:11] == 0).all()  # roads not drawn: background
    # 255 makes the band ignored in training.
    ignored = load([path], (12, 16), boundary_width=1, boundary_label=255)
    assert (ignored[seg == 3] == 255).all()


def test_band_keeps_roads_over_buildings(tmp_path):
    # A road crossing a building: road wins (default priority), and the band
    # is painted only where the building shows.
    path = write_label_file(tmp_path / 'b.json', buildings=[(2, 2, 10, 10)],
                            roads=[(0, 5, 12, 7)])
    seg = load([path], (12, 12), boundary_width=1, boundary_label=4)
    assert (seg[5:7] == 2).all()
    assert seg[2, 2] == 4 and seg[3, 3] == 1 and seg[4, 2] == 4
    assert 4 not in seg[5:7]


def test_boundary_options_validated_and_repr():
    with pytest.raises(ValueError, match='boundary_width'):
        TRANSFORMS.build(
            dict(type='LoadPolygonAnnotations', boundary_width=-1))
    with pytest.raises(ValueError, match='boundary_label'):
        TRANSFORMS.build(
            dict(type='LoadPolygonAnnotations', boundary_label=256))
    with pytest.raises(ValueError, match='boundary_keys'):
        TRANSFORMS.build(
            dict(type='LoadPolygonAnnotations',
                 class_map={'road_imcoords': 2}, boundary_width=2))
    text = repr(TRANSFORMS.build(
        dict(type='LoadPolygonAnnotations', boundary_width=2)))
    for part in ('boundary_width=2', 'boundary_label=3',
                 "boundary_keys=('building_imcoords',)"):
        assert part in text


def test_instances_from_boundary_labels(tmp_path):
    # Two touching 6 x 6 buildings and a lone 4 x 4 one, drawn with a band.
    path = write_label_file(tmp_path / 'c.json',
                            buildings=[(2, 2, 8, 8), (8, 2, 14, 8),
                                       (2, 12, 6, 16)])
    seg = load([path], (20, 20), class_map={'building_imcoords': 1},
               boundary_width=1, boundary_label=2)
    # Connected components of the building class (band ignored): the cores,
    # 4 x 4, 4 x 4 and 2 x 2.
    cores = building_instances(seg, building_label=1)
    assert cores.count == 3
    assert sorted(cores.areas.tolist()) == [4, 16, 16]
    # Boundary-aware: the band goes back to its building.
    inst = building_instances(seg, building_label=1, boundary_label=2)
    assert inst.count == 3
    assert sorted(inst.areas.tolist()) == [16, 36, 36]
    assert inst.labels[2, 7] == inst.labels[4, 4]
    assert inst.labels[2, 8] == inst.labels[4, 10]
    assert inst.labels[2, 7] != inst.labels[2, 8]
    # Without the band the touching pair is one instance.
    plain = load([path], (20, 20), class_map={'building_imcoords': 1})
    merged = building_instances(plain)
    assert merged.count == 2
    assert sorted(merged.areas.tolist()) == [16, 72]
    # The instances match the polygons exactly.
    polys = polygon_instances(
        [rect(2, 2, 8, 8), rect(8, 2, 14, 8), rect(2, 12, 6, 16)], (20, 20))
    assert match_instances(inst, polys) == (3, 0, 0)
    # The merged pair (72 px) still matches one of the two 36-px buildings
    # at IoU 36 / 72 = 0.5: TP 2, FP 0, FN 1.
    assert match_instances(merged, polys) == (2, 0, 1)


def test_instances_small_building_all_band_and_min_area():
    seg = np.zeros((10, 10), np.uint8)
    seg[1:3, 1:3] = 2            # a building too small to keep a core
    seg[5:9, 5:9] = 2
    seg[6:8, 6:8] = 1            # a normal one
    inst = building_instances(seg, 1, 2)
    assert inst.count == 2 and sorted(inst.areas.tolist()) == [4, 16]
    assert building_instances(seg, 1, 2, min_area=5).count == 1
    # max_expand limits how far the band is given back; band pixels out of
    # reach next to a core stay background (the lone small building stays).
    assert building_instances(seg, 1, 2, max_expand=0).areas.tolist() == \
        [4, 4]
    diag = np.zeros((4, 4), np.uint8)
    diag[0, 0] = diag[1, 1] = 1
    assert building_instances(diag, connectivity=4).count == 2
    assert building_instances(diag, connectivity=8).count == 1
    with pytest.raises(ValueError,
                       match=r'2-D class map, got shape \(2, 2, 2\)'):
        building_instances(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match='connectivity must be 4 or 8, got 6'):
        building_instances(diag, connectivity=6)
    masks = InstanceMasks.from_labels(inst.labels)
    assert masks.count == 2 and masks.areas.tolist() == inst.areas.tolist()


def test_max_expand_counts_growth_steps():
    """A 2 x 2 core in a band 3 pixels thick (8-connected growth grows a
    square ring per step): 4, 16, 36 and 64 pixels after 0 to 3 steps."""
    seg = np.zeros((12, 12), np.uint8)
    seg[2:10, 2:10] = 2
    seg[5:7, 5:7] = 1
    areas = [building_instances(seg, 1, 2, connectivity=8,
                                max_expand=k).areas.tolist()
             for k in (0, 1, 2, 3, None)]
    assert areas == [[4], [16], [36], [64], [64]]
    # 4-connected growth is a diamond: 4 + 8 after one step, + 12 after two.
    assert building_instances(seg, 1, 2, connectivity=4,
                              max_expand=1).areas.tolist() == [12]
    assert building_instances(seg, 1, 2, connectivity=4,
                              max_expand=2).areas.tolist() == [24]


def test_band_blobs_without_core():
    # Only band pixels: each blob is a building of its own, ids from 1.
    seg = np.zeros((8, 8), np.uint8)
    seg[0:2, 0:2] = 2
    seg[5:8, 4:8] = 2
    inst = building_instances(seg, 1, 2)
    assert inst.count == 2 and inst.areas.tolist() == [4, 12]
    np.testing.assert_array_equal(inst.labels[0:2, 0:2], 1)
    np.testing.assert_array_equal(inst.labels[5:8, 4:8], 2)
    # Two band pixels touching at a corner: one blob with 8-connectivity,
    # two with 4.
    diag = np.zeros((4, 4), np.uint8)
    diag[1, 1] = diag[2, 2] = 2
    assert building_instances(diag, 1, 2, connectivity=8).count == 1
    assert building_instances(diag, 1, 2, connectivity=4).count == 2


def test_band_blob_out_of_reach_stays_background():
    """With max_expand=0 nothing grows. A band blob that touches a core
    (here only at a corner, which counts with 8-connectivity) was only out
    of reach: background. A blob touching nothing is a building."""
    seg = np.zeros((8, 8), np.uint8)
    seg[0:2, 0:2] = 1            # core
    seg[2, 2] = 2                # band pixel diagonal to the core
    seg[6:8, 6:8] = 2            # lone band blob
    inst = building_instances(seg, 1, 2, connectivity=8, max_expand=0)
    assert inst.count == 2 and inst.areas.tolist() == [4, 4]
    assert inst.labels[2, 2] == 0
    np.testing.assert_array_equal(inst.labels[6:8, 6:8], 2)
    # With 4-connectivity the diagonal pixel touches nothing: a building.
    inst = building_instances(seg, 1, 2, connectivity=4, max_expand=0)
    assert inst.count == 3 and inst.labels[2, 2] == 2
    # The touching blob first in raster order (label 1 of the band blobs).
    seg = np.zeros((8, 8), np.uint8)
    seg[0, 3] = 2                # next to the core's (0, 2); band label 1
    seg[0:2, 0:3] = 1
    seg[6:8, 6:8] = 2            # lone (label 2)
    inst = building_instances(seg, 1, 2, max_expand=0)
    assert inst.count == 2 and inst.labels[0, 3] == 0


def test_polygon_instances_by_hand():
    # Pixel centres (c + 0.5, r + 0.5) with x + y < 4: c + r <= 2, 6 px.
    tri = np.array([[0, 0], [4, 0], [0, 4]], float)
    two_points = np.array([[1, 1], [3, 3]], float)
    outside = np.array([[20, 20], [25, 20], [25, 25]], float)
    low = np.array([[2, 15], [6, 15], [6, 20], [2, 20]], float)  # rows 15-19
    inst = polygon_instances([two_points, tri, outside, low, tri + 0.25],
                             (30, 10))
    # The 2-point and the outside polygon are left out; the others kept in
    # order, whatever comes before them.
    assert inst.count == 3
    # Shifted by a quarter pixel: c + r + 1 < 4.5, c + r <= 3: 10 px.
    assert inst.areas.tolist() == [6, 20, 10]
    (r0, c0), mask = [(b[0].start, b[1].start) for b in inst.boxes][0], \
        inst.masks[0]
    assert (r0, c0) == (0, 0)
    assert mask[:4, :4].astype(int).tolist() == [[1, 1, 1, 0], [1, 1, 0, 0],
                                                 [1, 0, 0, 0], [0, 0, 0, 0]]
    full = np.zeros((30, 10), bool)
    full[inst.boxes[1]] = inst.masks[1]
    expected = np.zeros((30, 10), bool)
    expected[15:20, 2:6] = True
    np.testing.assert_array_equal(full, expected)


def test_min_area_renumbers_the_instance_map():
    seg = np.zeros((6, 8), np.uint8)
    seg[0:2, 0:2] = 1        # 4 px, id 1
    seg[0, 5] = 1            # 1 px, id 2
    seg[4:6, 3:8] = 1        # 10 px, id 3
    inst = building_instances(seg, 1, min_area=4)
    assert inst.count == 2 and inst.areas.tolist() == [4, 10]
    assert inst.labels.dtype == np.int32 and inst.areas.dtype == np.int64
    expected = np.zeros((6, 8), np.int32)
    expected[0:2, 0:2] = 1
    expected[4:6, 3:8] = 2
    np.testing.assert_array_equal(inst.labels, expected)
    assert building_instances(seg, 1, min_area=5).areas.tolist() == [10]
    assert building_instances(seg, 1, min_area=11).count == 0
    assert building_instances(seg, 1).areas.dtype == np.int64


def test_instance_masks_from_a_map_with_gaps():
    labels = np.zeros((4, 6), np.int32)
    labels[0, 0:2] = 1
    labels[3, 4:6] = 3       # no instance 2
    masks = InstanceMasks.from_labels(labels)
    assert masks.count == 2 and masks.areas.tolist() == [2, 2]
    assert masks.boxes[1] == (slice(3, 4), slice(4, 6))
    assert masks.shape == (4, 6)
