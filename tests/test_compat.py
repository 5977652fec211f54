"""Runtime fixes applied by ``import mmseg_sia`` (issue 2, scope 2)."""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mmseg_sia import compat

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


needs_lite = pytest.mark.skipif(
    compat.has_mmcv_ext(),
    reason='full mmcv is installed: its compiled ops are used, not ours')


@needs_lite
def test_submodule_imports_name_the_op():
    """``from mmcv.ops.nms import batched_nms`` as mmdet writes it."""
    with pytest.raises(ModuleNotFoundError,
                       match=r'mmcv\.ops\.nms needs the compiled ops of full '
                       'mmcv'):
        from mmcv.ops.nms import batched_nms  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match=r'mmcv\.ops\.roi_align'):
        import mmcv.ops.roi_align  # noqa: F401


def test_ccnet_head_runs_and_attends_along_row_and_column():
    from mmcv.ops import CrissCrossAttention
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    attn = CrissCrossAttention(16)
    attn.gamma.scale.data.fill_(1.0)
    x = torch.randn(1, 16, 6, 7)
    out = attn(x)
    assert out.shape == x.shape
    # A change at (2, 3) reaches only row 2 and column 3 in one pass.
    y = x.clone()
    y[0, :, 2, 3] += 5.0
    changed = (attn(y) - out).abs().sum(1)[0] > 1e-6
    expected = torch.zeros(6, 7, dtype=torch.bool)
    expected[2, :] = True
    expected[:, 3] = True
    assert torch.equal(changed, expected)
    head = MODELS.build(
        dict(type='CCHead', in_channels=16, channels=8, num_classes=3,
             recurrence=2))
    logits = head([torch.randn(2, 16, 8, 8)])
    assert logits.shape == (2, 3, 8, 8)


def test_sigmoid_focal_loss_clamps_like_the_kernel():
    """Beyond about +-87 the kernel's logs stop at log(FLT_MIN)."""
    log_flt_min = float(np.log(np.float32(np.finfo(np.float32).tiny)))
    assert log_flt_min == pytest.approx(-87.3365, abs=1e-4)
    logits = torch.tensor([[90.0, -90.0, 20.0, 1.0]], requires_grad=True)
    target = torch.tensor([1])
    loss = compat.sigmoid_focal_loss(logits, target, 2.0, 0.25, None, 'none')
    # Column 0: negative, p == 1 in float32 -> 0.75 * 87.34 = 65.50.
    # Column 1: positive, p == 0 -> 0.25 * 87.34 = 21.83.
    # Column 2: negative, p rounds to 1 in float32 as in the kernel.
    p3 = 1 / (1 + np.exp(-1.0))
    expected = [-0.75 * log_flt_min, -0.25 * log_flt_min,
                -0.75 * log_flt_min, -0.75 * p3**2 * np.log(1 - p3)]
    np.testing.assert_allclose(loss.detach().numpy()[0], expected,
                               rtol=1e-5)
    loss.sum().backward()
    # The kernel's backward: negatives -(1-a) p^g (g (1-p) log(1-p) - p).
    g3 = -0.75 * p3**2 * (2 * (1 - p3) * np.log(1 - p3) - p3)
    np.testing.assert_allclose(logits.grad.numpy()[0],
                               [0.75, -0.25, 0.75, g3], rtol=1e-5)


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


def test_only_known_warnings_are_silenced():
    import subprocess
    import sys
    code = """
import warnings
import mmseg_sia
import mmcv.cnn
from mmseg.models.builder import build_loss
build_loss(dict(type='CrossEntropyLoss'))
warnings.warn('an unrelated warning stays')
"""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'an unrelated warning stays' in proc.stderr
    assert 'build_loss' not in proc.stderr
    assert 'MultiScaleDeformableAttention' not in proc.stderr
