"""Streamed window inference averages overlapping logits (issue 14).

Averaging cannot change an argmax or a sigmoid threshold of 0.5 (both are
invariant to scaling the logits by the positive window count), so these
tests use a one-channel model with threshold 0.3: a logit of -0.5 in every
window gives sigmoid(-0.5) = 0.378 > 0.3 (foreground) when averaged, but a
sum of -1.0 where two windows overlap gives sigmoid(-1) = 0.269 < 0.3.
The masks are compared with mmseg's own ``mode='slide'`` inference for
exact equality.
"""
import os

import cv2
import numpy as np
import pytest
import torch

from mmseg_sia.apis import segment_image, window_grid
from mmseg_sia.testing import (blocks_image, calibrated_tiny_model,
                               tiny_segmentor_config)


def build(tmp_path, binary, seed=0):
    cfg = tmp_path / ('binary.py' if binary else 'three.py')
    cfg.write_text(tiny_segmentor_config(2, threshold=0.3) if binary else
                   tiny_segmentor_config(3))
    model = calibrated_tiny_model(str(cfg), seed)
    return model, str(cfg)


@pytest.fixture(scope='module')
def binary_model(tmp_path_factory):
    return build(tmp_path_factory.mktemp('binary'), binary=True, seed=1)[0]


@pytest.fixture(scope='module')
def three_class_model(tmp_path_factory):
    model = build(tmp_path_factory.mktemp('three'), binary=False)[0]
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=1.0)
    return model


def mmseg_slide(model, img, tmp_path):
    from mmseg.apis import inference_model
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, img)
    return inference_model(model, path).pred_sem_seg.data[0].numpy()


def test_overlaps_are_averaged_not_summed(binary_model, tmp_path):
    model = binary_model
    torch.nn.init.zeros_(model.decode_head.conv_seg.weight)
    torch.nn.init.constant_(model.decode_head.conv_seg.bias, -0.5)
    img = blocks_image(100, 130, 3)
    # Windows at rows 0, 32, 52 and columns 0, 32, 64, 82: every pixel from
    # row 32 or column 32 on is covered by 2 to 4 windows.
    assert window_grid(100, 48, 32) == [0, 32, 52]
    assert window_grid(130, 48, 32) == [0, 32, 64, 82]
    ours = segment_image(model, img, batch_size=3)
    # Every window says -0.5 everywhere: the mean is -0.5 everywhere, and
    # sigmoid(-0.5) = 0.378 > 0.3.
    np.testing.assert_array_equal(ours, np.ones((100, 130), np.uint8))
    np.testing.assert_array_equal(ours, mmseg_slide(model, img, tmp_path))
    # A logit of -1: sigmoid(-1) = 0.269 < 0.3, background everywhere.
    torch.nn.init.constant_(model.decode_head.conv_seg.bias, -1.0)
    np.testing.assert_array_equal(segment_image(model, img),
                                  np.zeros((100, 130), np.uint8))


# Columns are closed SUM_BLOCK at a time: 4,096 (all at once here) and 7
# (pieces that windows and batches straddle).
@pytest.mark.parametrize('block', [4096, 7])
@pytest.mark.parametrize('shape,batch', [((100, 130), 3), ((70, 49), 1)])
def test_binary_threshold_model_equals_mmseg_slide(binary_model, tmp_path,
                                                   shape, batch, block,
                                                   monkeypatch):
    from mmseg_sia.apis import segment
    monkeypatch.setattr(segment, 'SUM_BLOCK', block)
    model = binary_model
    torch.manual_seed(1)
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=0.3)
    # Centre the logits near logit(0.3) = -0.85, where sums and means of
    # overlapping windows fall on different sides of the threshold.
    torch.nn.init.constant_(model.decode_head.conv_seg.bias, -0.85)
    img = blocks_image(*shape, seed=shape[0])
    ours = segment_image(model, img, batch_size=batch)
    ref = mmseg_slide(model, img, tmp_path)
    np.testing.assert_array_equal(ours, ref)
    assert 0.05 < ours.mean() < 0.95


@pytest.mark.parametrize('block', [4096, 7])
@pytest.mark.parametrize('shape,batch', [((100, 130), 3), ((70, 49), 1)])
def test_three_class_model_equals_mmseg_slide(three_class_model, tmp_path,
                                              shape, batch, block,
                                              monkeypatch):
    from mmseg_sia.apis import segment
    monkeypatch.setattr(segment, 'SUM_BLOCK', block)
    model = three_class_model
    img = blocks_image(*shape, seed=shape[0])
    ours = segment_image(model, img, batch_size=batch)
    ref = mmseg_slide(model, img, tmp_path)
    np.testing.assert_array_equal(ours, ref)
    assert len(np.unique(ours)) > 1


@pytest.mark.parametrize('block', [4096, 5])
def test_windows_overlapping_by_more_than_half_equal_mmseg_slide(
        three_class_model, tmp_path, block, monkeypatch):
    """Stride 12 under 48-pixel windows: the sums kept for the next row of
    windows (36 rows) start below rows the row before kept too."""
    from mmengine.config import ConfigDict

    from mmseg_sia.apis import segment
    monkeypatch.setattr(segment, 'SUM_BLOCK', block)
    model = three_class_model
    old = model.test_cfg
    model.test_cfg = ConfigDict(mode='slide', crop_size=(48, 48),
                                stride=(12, 12))
    try:
        img = blocks_image(100, 130, seed=5)
        ours = segment_image(model, img, batch_size=3)
        ref = mmseg_slide(model, img, tmp_path)
    finally:
        model.test_cfg = old
    np.testing.assert_array_equal(ours, ref)
    assert len(np.unique(ours)) > 1


@pytest.mark.parametrize('in_file', [True, False])
@pytest.mark.parametrize('seed', range(4))
def test_row_sums_equal_a_whole_plane_of_sums(seed, in_file, monkeypatch):
    """_RowSums against summing every window into one plane of the image's
    size (what mmseg does), on random logits: the same class ids, bit for
    bit, with windows skipped, batches of any size, grids whose last step
    is short, and pieces of closed columns that batches straddle; the sums
    kept for the next row in a file (the CPU's way) or in one tensor."""
    from mmseg_sia.apis import segment
    rng = np.random.default_rng(seed)
    height, width = rng.integers(30, 90, 2)
    wh, ww = rng.integers(8, 30, 2)
    sh, sw = rng.integers(3, wh + 1), rng.integers(3, ww + 1)
    monkeypatch.setattr(segment, 'SUM_BLOCK', int(rng.integers(3, 40)))
    ys = window_grid(height, wh, sh)
    xs = window_grid(width, ww, sw)
    wh, ww = min(wh, height), min(ww, width)
    plane = torch.zeros((3, height, width))
    got = np.empty((height, width), np.uint8)
    shared = max([wh - (b - a) for a, b in zip(ys, ys[1:])], default=0)
    sums = segment._RowSums(
        3, wh, width, 'cpu', lambda block, y, a, b: segment._class_ids(block),
        rows=shared, in_file=in_file)
    assert (sums.kept.file is not None) == in_file
    batch = int(rng.integers(1, 5))
    for i, y in enumerate(ys):
        sums.start(y, (ys[i + 1] if i + 1 < len(ys) else height) - y)
        run = [x for x in xs if rng.random() < 0.7]  # the others skipped
        for j in range(0, len(run), batch):
            starts = run[j:j + batch]
            logits = torch.from_numpy(
                rng.normal(size=(len(starts), 3, wh, ww)).astype(np.float32))
            for k, x in enumerate(starts):
                plane[:, y:y + wh, x:x + ww] += logits[k]
            sums.add(starts, logits)
            sums.close(run[j + batch] if j + batch < len(run) else width)
        sums.close(width)
        rows = sums.finish()
        got[y:y + len(rows)] = rows
    sums.release()
    np.testing.assert_array_equal(got, plane.argmax(0).numpy())


def _held_bytes(sums):
    # The floats _RowSums holds in memory: its open columns' sums (their
    # whole storage, views included) and a plane of kept sums, if any.
    held = 0
    if sums.open is not None:
        held += sums.open.untyped_storage().nbytes()
    if sums.kept.plane is not None:
        held += sums.kept.plane.untyped_storage().nbytes()
    return held


@pytest.mark.parametrize('in_file', [True, False])
def test_row_sums_hold_no_floats_of_the_width_on_the_cpu(in_file):
    """On the CPU the sums kept for the next row go to a file: what is held
    in memory is the same at 3,000 and 12,000 columns (a window-high band
    of the open columns); kept in a tensor, it grows with the width."""
    from mmseg_sia.apis import segment
    rng = np.random.default_rng(7)
    wh, sh, batch = 32, 24, 4
    most = {}
    for width in (3000, 12000):
        ys, xs = window_grid(80, wh, sh), window_grid(width, wh, sh)
        sums = segment._RowSums(3, wh, width, 'cpu',
                                lambda s, y, a, b: segment._class_ids(s),
                                rows=wh - sh, in_file=in_file)
        held = 0
        for i, y in enumerate(ys):
            sums.start(y, (ys[i + 1] if i + 1 < len(ys) else 80) - y)
            for j in range(0, len(xs), batch):
                starts = xs[j:j + batch]
                logits = torch.from_numpy(rng.normal(
                    size=(len(starts), 3, wh, wh)).astype(np.float32))
                sums.add(starts, logits)
                held = max(held, _held_bytes(sums))
                sums.close(xs[j + batch] if j + batch < len(xs) else width)
                held = max(held, _held_bytes(sums))
            sums.close(width)
            sums.finish()
        if in_file:
            # One record of 3 x 8 floats a column.
            assert sums.kept.file.size == \
                width * 3 * (wh - sh) * 4
        sums.release()
        most[width] = held
    if in_file:
        assert most[12000] == most[3000]
        # A window-high band of a batch's columns and the next, at most.
        assert most[3000] <= 3 * wh * 2 * (wh + (batch - 1) * sh) * 4
    else:
        assert most[12000] - most[3000] == 3 * (wh - sh) * 9000 * 4


def test_a_full_disk_while_keeping_sums_says_what_failed(monkeypatch):
    import errno

    from mmseg_sia.apis import segment

    def full(*args):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'pwrite', full)
    sums = segment._RowSums(3, 8, 50, 'cpu',
                            lambda s, y, a, b: segment._class_ids(s), rows=4)
    sums.start(0, 4)
    sums.add([0], torch.zeros((1, 3, 8, 8)))
    with pytest.raises(OSError, match='could not keep the sums kept .* '
                       'temporary file in .*No space left') as info:
        sums.close(50)
    assert info.value.errno == errno.ENOSPC
    sums.release()
