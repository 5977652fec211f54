"""Runtime fixes applied by ``import mmseg_sia`` (issue 2, scope 2)."""
import io
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_sia import compat

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_mmseg_models_import_and_optional_ops():
    import mmseg.models  # noqa: F401  (fails on mmcv-lite without the fix)
    from mmseg.models.decode_heads import cc_head, psa_head
    if not compat.has_mmcv_ext():
        # mmseg's optional imports caught ModuleNotFoundError.
        assert cc_head.CrissCrossAttention is None
        assert psa_head.PSAMask is None
        with pytest.raises(ModuleNotFoundError,
                           match='mmcv.ops.RoIAlign needs the compiled ops'):
            from mmcv.ops import RoIAlign  # noqa: F401


def test_point_sample_matches_grid_sample():
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 9, 11)
    pts = torch.rand(2, 17, 2)
    got = compat.point_sample(feat, pts)
    ref = F.grid_sample(feat, pts.unsqueeze(2) * 2 - 1,
                        align_corners=False).squeeze(3)
    torch.testing.assert_close(got, ref)
    assert got.shape == (2, 3, 17)
    # A point at a cell centre reads that cell exactly.
    centre = torch.tensor([[[(4 + 0.5) / 11, (2 + 0.5) / 9]]])
    torch.testing.assert_close(
        compat.point_sample(feat[:1], centre)[0, :, 0], feat[0, :, 2, 4])


def test_sigmoid_focal_loss_matches_the_kernel_formula():
    torch.manual_seed(0)
    logits = torch.randn(6, 3, requires_grad=True)
    target = torch.tensor([0, 1, 2, 3, 1, 0])  # 3 == num_classes: negative
    gamma, alpha = 2.0, 0.25
    p = logits.detach().sigmoid()
    expected = torch.zeros(6, 3)
    for n in range(6):
        for c in range(3):
            if target[n] == c:
                expected[n, c] = -alpha * (1 - p[n, c])**gamma * torch.log(
                    p[n, c])
            else:
                expected[n, c] = -(1 - alpha) * p[n, c]**gamma * torch.log(
                    1 - p[n, c])
    got = compat.sigmoid_focal_loss(logits, target, gamma, alpha, None,
                                    'none')
    torch.testing.assert_close(got.detach(), expected)
    mean = compat.sigmoid_focal_loss(logits, target, gamma, alpha)
    torch.testing.assert_close(mean.detach(), expected.sum() / 6)
    mean.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_mmengine_checkpoint_content_loads_weights_only(tmp_path):
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub.get_instance('sia-compat-test')
    hub.update_scalar('train/loss', np.float32(0.5))
    hub.update_scalar('train/lr', 0.01)
    checkpoint = {
        'meta': {'epoch': 0, 'iter': 10, 'seed': np.int64(3),
                 'dataset_meta': {'classes': ('a', 'b')}},
        'state_dict': {'w': torch.ones(2)},
        'message_hub': hub.state_dict(),
        'extra': np.arange(4, dtype=np.float64),
        'dtype': np.dtype('float32'),
    }
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    loaded = torch.load(path)  # torch >= 2.6: weights_only=True by default
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert float(buf.current()) == pytest.approx(0.5)
    np.testing.assert_array_equal(loaded['extra'], np.arange(4))


class _Evil:

    def __reduce__(self):
        return (print, ('this must not run',))


def test_weights_only_stays_on_for_other_globals(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'x': _Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match='print|_Evil'):
        torch.load(path, weights_only=True)


def test_mmseg_config_bases_resolve_without_pkg_resources():
    from mmengine.config import Config
    from mmengine.utils import get_installed_path, is_installed
    assert is_installed('mmsegmentation') and is_installed('mmseg')
    assert not is_installed('surely-not-a-package-xyz')
    path = get_installed_path('mmseg')
    assert osp.isdir(osp.join(path, '.mim', 'configs'))
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'sia', 'fpn_r101_1024x1024_4k_sia.py'))
    assert cfg.model.backbone.depth == 101
    assert cfg.default_scope == 'mmseg'


def test_working_full_mmcv_is_never_shadowed():
    """With a loadable mmcv._ext the real mmcv.ops stays (run apart)."""
    import subprocess
    import sys

    # A stand-in for full mmcv: a loadable mmcv._ext and its own mmcv.ops.
    code = """
import sys, types
import mmcv
sys.modules['mmcv._ext'] = types.ModuleType('mmcv._ext')
ops = types.ModuleType('mmcv.ops')
ops.marker = 'real-ops'
ops.point_sample = ops.sigmoid_focal_loss = lambda *a, **k: None
ops.__getattr__ = lambda name: None
sys.modules['mmcv.ops'] = ops
import mmseg_sia
from mmseg_sia import compat

print(compat.has_mmcv_ext(), sys.modules['mmcv.ops'].marker,
      '__mmseg_sia_lite__' in vars(sys.modules['mmcv.ops']))
"""
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == ['True', 'real-ops', 'False']
