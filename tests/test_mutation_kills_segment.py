"""Windows and image input of streamed segmentation that mutation testing
found unpinned (issue 14). Values by hand; mmseg's own 'slide' positions
are checked in ``tests/test_inference.py``."""
from types import SimpleNamespace

import numpy as np
import pytest

from mmseg_sia.apis.segment import (DEFAULT_WINDOW, ImageReadError,
                                    _resolve_windows, load_image, window_grid)


def model(**test_cfg):
    return SimpleNamespace(test_cfg=test_cfg or None)


@pytest.mark.parametrize('m, window, stride, overlap, want', [
    # No slide settings: the default window, a quarter overlapping.
    (model(), None, None, None, ((1024, 1024), (768, 768))),
    (SimpleNamespace(), None, None, None, ((1024, 1024), (768, 768))),
    (model(mode='whole'), None, None, None, ((1024, 1024), (768, 768))),
    # The model's slide window and stride.
    (model(mode='slide', crop_size=(512, 256), stride=(384, 200)), None,
     None, None, ((512, 256), (384, 200))),
    # A slide window with an overlap of our own (or a stride of our own).
    (model(mode='slide', crop_size=(512, 256), stride=(384, 200)), None,
     None, 12, ((512, 256), (500, 244))),
    (model(mode='slide', crop_size=(512, 256), stride=(384, 200)), None,
     100, None, ((512, 256), (100, 100))),
    # Non-square windows: a quarter of each side by default.
    (model(), (40, 100), None, None, ((40, 100), (30, 75))),
    (model(), (41, 103), None, (1, 2), ((41, 103), (40, 101))),
    (model(), 1, None, 0, ((1, 1), (1, 1))),
])
def test_windows_and_strides_by_hand(m, window, stride, overlap, want):
    assert _resolve_windows(m, window, stride, overlap) == want
    assert DEFAULT_WINDOW == 1024


@pytest.mark.parametrize('window, stride, overlap, message', [
    (0, None, None, r'^window must be a positive int or \(h, w\), got '
     r'\(0, 0\)$'),
    ((8, 8, 8), None, None, r'^window must be a positive int or \(h, w\), '
     r'got \(8, 8, 8\)$'),
    (8, 0, None, r'^stride must be a positive int or \(h, w\), got '
     r'\(0, 0\)$'),
    (8, 4, 2, r'^give stride or overlap, not both$'),
    (8, None, 8, r'^overlap \(8, 8\) must be >= 0 and smaller than the '
     r'window \(8, 8\)$'),
    (8, None, -1, r'^overlap \(-1, -1\) must be >= 0'),
    (8, 9, None, r'^stride \(9, 9\) larger than the window \(8, 8\) would '
     r'leave pixels unpredicted$'),
])
def test_window_errors_word_for_word(window, stride, overlap, message):
    with pytest.raises(ValueError, match=message):
        _resolve_windows(model(), window, stride, overlap)


def test_window_grid_by_hand():
    assert window_grid(10, 4, 3) == [0, 3, 6]
    assert window_grid(11, 4, 3) == [0, 3, 6, 7]
    assert window_grid(1, 1, 1) == [0]
    assert window_grid(5, 1, 1) == [0, 1, 2, 3, 4]
    # A window larger than the image: one window, whatever the stride.
    assert window_grid(2, 4, 1) == [0]
    assert window_grid(3, 8, 2) == [0]


def test_arrays_as_mmseg_takes_them():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    img, path = load_image(gray)
    assert path is None and img.shape == (2, 3, 3)
    assert (img == gray[..., None]).all()
    rgba = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    img, _ = load_image(rgba)
    np.testing.assert_array_equal(img, rgba[..., :3])
    img, _ = load_image(rgba, channel_order='rgb')
    np.testing.assert_array_equal(img, rgba[..., 2::-1])
    for bad in (np.zeros((2, 3, 5), np.uint8), np.zeros((2, 3, 2), np.uint8),
                np.zeros((2, 3, 3, 1), np.uint8)):
        with pytest.raises(ValueError,
                           match=r'^image array must be \(H, W\), '
                           r'\(H, W, 3\) or \(H, W, 4\), got '
                           rf'{re_shape(bad.shape)}$'):
            load_image(bad)


def re_shape(shape):
    return str(tuple(shape)).replace('(', r'\(').replace(')', r'\)')


def test_files_that_cannot_be_decoded(tmp_path):
    for name, data in (('empty.png', b''), ('junk.png', b'not an image')):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageReadError,
                           match=rf'^{path}: cannot be decoded as an image '
                           r'\(empty, truncated or not an image format '
                           r'OpenCV reads\)$'):
            load_image(str(path))


def fake_model(**dp):
    import torch
    base = dict(channel_conversion=False, _enable_normalize=True,
                mean=torch.tensor([1.0, 2.0, 3.0]).view(-1, 1, 1),
                std=torch.tensor([2.0, 4.0, 8.0]).view(-1, 1, 1),
                test_cfg=None, pad_val=7)
    base.update(dp)
    return SimpleNamespace(data_preprocessor=SimpleNamespace(**base))


def test_preprocessing_as_the_data_preprocessor_by_hand():
    """Channel flip, mean/std and padding of mmseg's SegDataPreProcessor,
    written out for a 1 x 2 x 3 batch (values b, g, r = 10, 20, 40)."""
    import torch

    from mmseg_sia.apis.segment import _preprocess
    batch = np.zeros((1, 2, 3, 3), np.uint8)
    batch[..., 0], batch[..., 1], batch[..., 2] = 10, 20, 40
    cpu = torch.device('cpu')
    x, size = _preprocess(fake_model(), batch, cpu)
    assert size == (2, 3) and x.shape == (1, 3, 2, 3)
    assert x[0, :, 0, 0].tolist() == [(10 - 1) / 2, (20 - 2) / 4,
                                      (40 - 3) / 8]
    x, _ = _preprocess(fake_model(channel_conversion=True), batch, cpu)
    assert x[0, :, 1, 2].tolist() == [(40 - 1) / 2, (20 - 2) / 4,
                                      (10 - 3) / 8]
    x, _ = _preprocess(fake_model(_enable_normalize=False), batch, cpu)
    assert x[0, :, 0, 0].tolist() == [10, 20, 40]
    # Padded (after normalising) with pad_val to the size divisor, and to at
    # least the test size first.
    x, size = _preprocess(fake_model(test_cfg=dict(size_divisor=4)), batch,
                          cpu)
    assert size == (2, 3) and x.shape == (1, 3, 4, 4)
    assert (x[0, :, 2:] == 7).all() and (x[0, :, :, 3] == 7).all()
    assert x[0, 0, 1, 2] == 4.5
    x, _ = _preprocess(fake_model(test_cfg=dict(size=(5, 6), size_divisor=4)),
                       batch, cpu)
    assert x.shape == (1, 3, 8, 8)
    x, _ = _preprocess(fake_model(test_cfg=dict(size=(5, 2))), batch, cpu)
    assert x.shape == (1, 3, 5, 3)
    # Not a 3-channel batch: never flipped.
    one = np.full((1, 2, 2, 1), 9, np.uint8)
    x, _ = _preprocess(fake_model(channel_conversion=True,
                                  _enable_normalize=False), one, cpu)
    assert x.shape == (1, 1, 2, 2) and (x == 9).all()


@pytest.mark.parametrize('seed', range(12))
def test_numpy_batches_are_the_torch_preprocessing_bit_for_bit(seed):
    """On the CPU the batches are made in numpy beside the model
    (_prepare): every float equals _preprocess' on stacked windows, for
    random statistics, channel conversion or not, normalising or not,
    padding to a divisor or a test size, and windows at any column."""
    import torch

    from mmseg_sia.apis.segment import _numpy_stats, _prepare, _preprocess
    rng = np.random.default_rng(seed)
    mean = torch.tensor(rng.uniform(0, 200, 3).astype(np.float32))
    std = torch.tensor(rng.uniform(0.3, 90, 3).astype(np.float32))
    dp = dict(channel_conversion=bool(seed % 2),
              _enable_normalize=seed % 4 != 3,
              mean=mean.view(-1, 1, 1), std=std.view(-1, 1, 1),
              test_cfg=[None, dict(size_divisor=32),
                        dict(size=(70, 90))][seed % 3],
              pad_val=int(rng.integers(0, 256)))
    model = fake_model(**dp)
    stats = _numpy_stats(model.data_preprocessor, torch.device('cpu'))
    assert stats is not None
    h, width = int(rng.integers(5, 80)), int(rng.integers(60, 300))
    ww = int(rng.integers(1, 64))
    strip = rng.integers(0, 256, (h, width, 3), dtype=np.uint8)
    starts = sorted(rng.integers(0, width - ww + 1,
                                 int(rng.integers(1, 5))).tolist())
    want, size = _preprocess(
        model, np.stack([strip[:, x:x + ww] for x in starts]),
        torch.device('cpu'))
    got, got_size = _prepare(model.data_preprocessor, stats,
                             [strip[:, x:x + ww] for x in starts])
    assert got_size == size == (h, ww)
    assert got.dtype == np.float32 and got.shape == tuple(want.shape)
    assert torch.equal(torch.from_numpy(got), want)


def test_numpy_batches_only_for_float32_statistics_on_the_cpu():
    import torch

    from mmseg_sia.apis.segment import _numpy_stats
    cpu = torch.device('cpu')
    mean, std = _numpy_stats(fake_model().data_preprocessor, cpu)
    assert mean.tolist() == [[[1.0]], [[2.0]], [[3.0]]]
    assert std.dtype == np.float32 and std.shape == (3, 1, 1)
    assert _numpy_stats(fake_model(_enable_normalize=False)
                        .data_preprocessor, cpu) == (None, None)
    # float64 statistics make float64 batches in torch: left to torch.
    model64 = fake_model(mean=torch.zeros(3, 1, 1, dtype=torch.float64))
    assert _numpy_stats(model64.data_preprocessor, cpu) is None
    # A model off the CPU: the uint8 batch goes to the device.
    assert _numpy_stats(fake_model().data_preprocessor,
                        torch.device('meta')) is None


def test_batch_size_must_be_positive():
    from mmseg_sia.apis.segment import segment_image
    segmentor = SimpleNamespace(encode_decode=None)
    with pytest.raises(ValueError, match=r'^batch_size must be >= 1, got 0$'):
        segment_image(segmentor, np.zeros((4, 4, 3), np.uint8), batch_size=0)


def two_class_model(tmp_path, crop, stride):
    """A tiny 2-class (softmax, two output channels) FCN with slide windows
    ``crop`` / ``stride``, its batch-norm statistics taken from an image."""
    import torch

    from mmseg_sia.testing import calibrated_tiny_model, tiny_segmentor_config
    cfg = tmp_path / f'two_{crop}_{stride}.py'
    cfg.write_text(tiny_segmentor_config(2, crop=crop, stride=stride))
    model = calibrated_tiny_model(str(cfg), 0, 64)
    torch.nn.init.normal_(model.decode_head.conv_seg.weight, std=1.0)
    return model


@pytest.mark.parametrize('crop, stride, shape', [
    (16, 15, (40, 37)),   # one row of each window kept for the next
    (16, 1, (18, 19)),    # windows one row apart
])
def test_two_class_model_and_tight_strides_equal_mmseg_slide(
        tmp_path, crop, stride, shape):
    """A two-channel softmax head (argmax, not the sigmoid of channel 0),
    with strides that keep one row between window rows and move one row at
    a time: the same mask as mmseg's own slide inference."""
    import cv2
    from mmseg.apis import inference_model

    from mmseg_sia.apis import segment_image
    from mmseg_sia.testing import blocks_image
    model = two_class_model(tmp_path, crop, stride)
    img = blocks_image(*shape, seed=7)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, img)
    ref = inference_model(model, path).pred_sem_seg.data[0].numpy()
    ours = segment_image(model, img, batch_size=2)
    np.testing.assert_array_equal(ours, ref)
    assert 0 < ours.mean() < 1


def test_more_array_and_window_checks():
    with pytest.raises(ValueError,
                       match=r'^image array must be uint8, got float64$'):
        load_image(np.zeros((2, 2, 3)))
    # Default overlap of an odd window: a quarter, rounded down.
    assert _resolve_windows(model(), (41, 103), None, None) == \
        ((41, 103), (31, 78))
    with pytest.raises(ValueError, match=r'^stride \(9, 4\) larger than the '
                       r'window \(8, 8\)'):
        _resolve_windows(model(), 8, (9, 4), None)
    with pytest.raises(ValueError, match=r'^stride \(4, 9\) larger than the '
                       r'window \(8, 8\)'):
        _resolve_windows(model(), 8, (4, 9), None)


def stub_segmentor(channels, heads=None, crop=16, stride=12):
    """A segmentor whose logits are worked out from each window: the
    window's pixels plus ramps across the window (so the averaging of
    overlapping windows shows), or, with ``heads``, the pixels alone. It
    keeps every window it is given (``inputs``)."""
    import torch

    class Head(torch.nn.Module):

        def __init__(self, out_channels, threshold):
            super().__init__()
            self.out_channels, self.threshold = out_channels, threshold

    class Stub(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(1))
            self.data_preprocessor = SimpleNamespace()
            self.test_cfg = dict(mode='slide', crop_size=(crop, crop),
                                 stride=(stride, stride))
            self.out_channels = channels
            if heads is None:
                self.decode_head = Head(channels, 0.5 if channels == 1
                                        else None)
            else:
                self.decode_head = torch.nn.ModuleList(
                    [Head(c, t) for c, t in heads])
            self.inputs = []

        def encode_decode(self, inputs, metas):
            self.inputs += list(inputs.permute(0, 2, 3, 1).to(
                torch.uint8).numpy())
            b, g, r = inputs[:, 0], inputs[:, 1], inputs[:, 2]
            h, w = inputs.shape[2:]
            if heads is not None:
                return ((g - 128) / 32)[:, None]
            u = torch.linspace(0, 1, w)[None, None, :]
            v = torch.linspace(0, 1, h)[None, :, None]
            if channels == 1:
                return ((b + g + r) / 384 - 1 + u - v)[:, None]
            return torch.stack([r / 255 + u, g / 255 + v, b / 255 + 0.6],
                               dim=1)

    return Stub()


def random_rgb(h, w, seed=3):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def write_masked_tif(path, rgb, valid):
    """A 3-band GeoTIFF (red, green, blue) with an internal mask band."""
    import rasterio
    from affine import Affine
    h, w = valid.shape
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, 'w', driver='GTiff', width=w, height=h,
                           count=3, dtype='uint8', crs='EPSG:5186',
                           transform=Affine(0.5, 0, 200000.0, 0, -0.5,
                                            550000.0)) as ds:
            ds.write(rgb.transpose(2, 0, 1))
            ds.write_mask(valid.astype(np.uint8) * 255)


@pytest.mark.parametrize('channels', [3, 1])
def test_raster_scene_with_nodata_equals_the_array(tmp_path, channels):
    """A 40 x 56 raster with masked areas: its valid pixels get the classes
    of the same pixels given as an array, every masked pixel 255, the
    windows without a valid pixel are not run, and progress counts them as
    done."""
    from mmseg_sia.apis import segment_image
    from mmseg_sia.apis.raster import RasterReader
    h, w = 40, 56
    rgb = random_rgb(h, w)
    valid = np.ones((h, w), bool)
    valid[:20, 22:] = False    # top right
    valid[22:, :28] = False    # bottom left
    valid[30, 45] = valid[5, 3] = valid[39, 55] = False
    tif = str(tmp_path / 'scene.tif')
    write_masked_tif(tif, rgb, valid)
    # Window rows start at 0, 12, 24 and columns at 0, 12, 24, 36, 40.
    # Not run: rows 0-15 x columns 24-39, 36-51, 40-55 and rows 24-39 x
    # columns 0-15, 12-27 (no valid pixel).
    run = [(0, 0), (0, 12), (12, 0), (12, 12), (12, 24), (12, 36),
           (12, 40), (24, 24), (24, 36), (24, 40)]
    array_model = stub_segmentor(channels)
    want = segment_image(array_model, rgb, channel_order='rgb',
                         batch_size=2)
    assert len(array_model.inputs) == 15
    assert np.unique(want[valid]).tolist() == list(range(max(channels, 2)))
    model = stub_segmentor(channels)
    calls = []
    with RasterReader(tif) as reader:
        mask = segment_image(model, reader, batch_size=2,
                             progress=lambda *a: calls.append(a))
    assert mask.shape == (h, w) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask[valid], want[valid])
    assert (mask[~valid] == 255).all()
    bgr = rgb[..., ::-1]
    assert len(model.inputs) == len(run)
    for (y, x), window in zip(run, model.inputs):
        np.testing.assert_array_equal(window, bgr[y:y + 16, x:x + 16])
    # Windows passed over count as they are reached: three at the end of
    # the first row (reported then), two before the fifth pass.
    assert calls == [(2, 15), (5, 15), (7, 15), (9, 15), (10, 15),
                     (14, 15), (15, 15)]


@pytest.mark.parametrize('model_channels', [1, None])
def test_the_last_of_several_decode_heads_decides(model_channels):
    """A cascade of decode heads (mmseg's CascadeEncoderDecoder): the
    classes and the threshold are the last head's. Pixels alone decide
    here, so the mask is sigmoid((g - 128) / 32) > 0.6, by hand."""
    from mmseg_sia.apis import segment_image
    model = stub_segmentor(1, heads=[(5, 0.9), (4, 0.1), (1, 0.6)])
    if model_channels is None:
        del model.out_channels
    img = random_rgb(20, 30, seed=5)
    mask = segment_image(model, img, batch_size=3)
    g = img[..., 1].astype(np.float64)
    want = 1 / (1 + np.exp(-(g - 128) / 32)) > 0.6
    np.testing.assert_array_equal(mask, want)
    assert 0.2 < want.mean() < 0.8


def test_a_file_that_cannot_be_read(tmp_path, monkeypatch):
    """A file that exists but cannot be read (no read permission; as root,
    which reads anyway, the read is made to fail)."""
    import errno
    import os
    path = tmp_path / 'locked.png'
    path.write_bytes(b'\x89PNG')
    if os.geteuid() == 0:
        def refuse(file, *args, **kwargs):
            raise PermissionError(errno.EACCES, 'Permission denied',
                                  str(file))

        monkeypatch.setattr(np, 'fromfile', refuse)
    else:
        path.chmod(0)
    with pytest.raises(ImageReadError,
                       match=rf'^{path}: cannot be read \(Permission '
                       r'denied\)$'):
        load_image(str(path))


def test_rows_streamed_from_an_rgb_array():
    """``iter_segment_rows`` takes the channel order as ``segment_image``
    does (BGR by default), and yields bands that follow each other: with
    windows 16 / 12 over 20 rows, the windows start at rows 0 and 4, so
    rows 0-3 are done when the second window row starts."""
    from mmseg_sia.apis import segment_image
    from mmseg_sia.apis.segment import iter_segment_rows
    model = stub_segmentor(3)
    rgb = random_rgb(20, 30, seed=11)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    want = segment_image(model, bgr)
    assert np.unique(want).tolist() == [0, 1, 2]
    for bands in (list(iter_segment_rows(model, rgb, channel_order='rgb')),
                  list(iter_segment_rows(model, bgr))):
        assert [(y, rows.shape) for y, rows in bands] == [(0, (4, 30)),
                                                          (4, (16, 30))]
        np.testing.assert_array_equal(np.vstack([r for _, r in bands]),
                                      want)
