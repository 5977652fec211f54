"""No checkpoint source runs code from the file (issue 9, items 1, 2 and 6).

Each hostile checkpoint is a real pickle whose ``__reduce__`` would create a
marker file when unpickled by the full unpickler. Every entry point a user
or a config can reach is tried; the marker must never appear and the error
must name the file.
"""
import hashlib
import os
import os.path as osp
import pathlib

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

from mmseg_sia.checkpoint import (CheckpointMismatchError,
                                  UnsafeCheckpointError, load_weights_only)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAMPLE_CFG = osp.join(REPO, 'configs', 'sia', 'fpn_r18_sia-sample.py')
EVIL_URL = 'https://checkpoints.invalid/models/evil.pth'


class _Payload:
    """Unpickling this with the full unpickler creates ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path), ))


def _write_evil(path, marker):
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': _Payload(marker)},
               path)
    return path


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'PWNED'
    yield path
    assert not path.exists(), 'code in a checkpoint was executed'


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of this test's own."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    folder = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True)
    return folder


def test_the_payload_really_runs_without_weights_only(tmp_path):
    """The hostile file is real: the full unpickler runs it."""
    marker = tmp_path / 'ran'
    path = _write_evil(tmp_path / 'evil.pth', marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_local_file_is_refused(tmp_path, marker):
    path = _write_evil(tmp_path / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth.*not loaded'):
        CheckpointLoader.load_checkpoint(str(path))


def test_environment_switch_does_not_turn_it_off(tmp_path, marker,
                                                 monkeypatch):
    path = _write_evil(tmp_path / 'evil.pth', marker)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        CheckpointLoader.load_checkpoint(str(path))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        load_weights_only(path)


def test_url_from_a_poisoned_hub_cache_is_refused(hub, marker):
    _write_evil(hub / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth'):
        CheckpointLoader.load_checkpoint(EVIL_URL)


def test_url_through_mmengine_helpers_is_refused(hub, marker):
    from mmengine.runner import load_checkpoint
    from mmengine.utils.dl_utils import load_url
    _write_evil(hub / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*not loaded'):
        load_url(EVIL_URL)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*not loaded'):
        load_checkpoint(torch.nn.Linear(1, 1), EVIL_URL)


def test_cached_url_with_good_weights_loads(hub):
    weights = {'w': torch.arange(4.0)}
    torch.save(weights, hub / 'good.pth')
    loaded = CheckpointLoader.load_checkpoint(
        'https://checkpoints.invalid/good.pth')
    torch.testing.assert_close(loaded['w'], weights['w'])


def test_hash_in_the_file_name_is_checked(hub, tmp_path):
    torch.save({'w': torch.ones(2)}, tmp_path / 'tmp.pth')
    data = (tmp_path / 'tmp.pth').read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:8]
    (hub / f'model-{digest}.pth').write_bytes(data)
    url = f'https://checkpoints.invalid/model-{digest}.pth'
    assert CheckpointLoader.load_checkpoint(url)['w'].sum() == 2
    # The same bytes under another hash: a swapped cache file.
    wrong = 'deadbeef' if digest != 'deadbeef' else 'beefdead'
    (hub / f'model-{wrong}.pth').write_bytes(data)
    with pytest.raises(ValueError, match=f'model-{wrong}.pth.*does not match'):
        CheckpointLoader.load_checkpoint(
            f'https://checkpoints.invalid/model-{wrong}.pth')


def test_open_mmlab_scheme_is_refused(hub, marker):
    """``model.pretrained=open-mmlab://...`` as every zoo config writes."""
    from mmengine.runner.checkpoint import get_external_models
    url = get_external_models()['resnet50_v1c']
    name = osp.basename(url)
    _write_evil(hub / name, marker)
    # The cached file is not the published one: its hash does not match.
    with pytest.raises(ValueError, match='does not match the hash'):
        CheckpointLoader.load_checkpoint('open-mmlab://resnet50_v1c')


def test_open_mmlab_without_hash_still_weights_only(hub, marker, monkeypatch):
    from mmengine.runner import checkpoint as ckpt
    monkeypatch.setattr(ckpt, 'get_external_models',
                        lambda: {'toy': EVIL_URL})
    _write_evil(hub / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*not loaded'):
        CheckpointLoader.load_checkpoint('open-mmlab://toy')


def test_pretrained_in_a_config_is_refused(hub, marker):
    from mmseg.registry import MODELS
    _write_evil(hub / 'evil.pth', marker)
    cfg = Config.fromfile(SAMPLE_CFG)
    cfg.model.pretrained = EVIL_URL
    model = MODELS.build(cfg.model)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*not loaded'):
        model.init_weights()


def test_init_segmentor_refuses_a_url(hub, marker):
    from mmseg_sia.apis import init_segmentor
    _write_evil(hub / 'evil.pth', marker)
    with pytest.raises(Exception, match='evil.pth.*not loaded'):
        init_segmentor(SAMPLE_CFG, EVIL_URL)


def _runner(cfg):
    from mmseg_sia.runner import _build_runner
    return _build_runner(cfg)


def test_load_from_and_resume_from_url_are_refused(hub, marker, tmp_path):
    from mmseg_sia.runner import make_train_config
    _write_evil(hub / 'evil.pth', marker)
    cfg = make_train_config(SAMPLE_CFG, work_dir=str(tmp_path / 'a'),
                            cfg_options={'load_from': EVIL_URL})
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*not loaded'):
        _runner(cfg).load_or_resume()
    # --resume with a last_checkpoint file that holds a URL.
    work = tmp_path / 'b'
    work.mkdir()
    (work / 'last_checkpoint').write_text(EVIL_URL)
    cfg = make_train_config(SAMPLE_CFG, work_dir=str(work), resume=True)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*not loaded'):
        _runner(cfg).load_or_resume()


def test_test_tool_refuses_a_url(hub, marker, tmp_path):
    from mmseg_sia.runner import make_test_config, test
    _write_evil(hub / 'evil.pth', marker)
    cfg = make_test_config(SAMPLE_CFG, EVIL_URL, work_dir=str(tmp_path))
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        test(cfg)


def test_test_tool_refuses_a_checkpoint_without_the_weights(tmp_path):
    from mmseg_sia.runner import make_test_config, test
    empty = tmp_path / 'empty.pth'
    torch.save({'state_dict': {}, 'meta': {}}, empty)
    cfg = make_test_config(SAMPLE_CFG, str(empty), work_dir=str(tmp_path))
    with pytest.raises(CheckpointMismatchError,
                       match=r'empty\.pth lacks \d+ of the \d+ weights'):
        test(cfg)


def test_test_tool_refuses_weights_of_another_shape(tmp_path):
    from mmseg.registry import MODELS

    from mmseg_sia.runner import make_test_config, test
    cfg = Config.fromfile(SAMPLE_CFG)
    cfg.model.decode_head.num_classes = 5
    state = MODELS.build(cfg.model).state_dict()
    path = tmp_path / 'five.pth'
    torch.save({'state_dict': state}, path)
    cfg = make_test_config(SAMPLE_CFG, str(path), work_dir=str(tmp_path))
    with pytest.raises(CheckpointMismatchError,
                       match='five.pth does not fit.*different number of '
                       'classes'):
        test(cfg)


def test_checkpoint_check_hook_is_registered():
    from mmseg.registry import HOOKS
    hook = HOOKS.build(dict(type='CheckpointCheckHook', checkpoint='x.pth'))
    assert repr(hook) == "CheckpointCheckHook(checkpoint='x.pth')"


def test_no_marker_left_in_the_working_folder():
    assert not os.path.exists('PWNED')


def test_tools_print_one_line_errors_with_exit_codes(tmp_path):
    import subprocess
    import sys
    empty = tmp_path / 'empty.pth'
    torch.save({'state_dict': {}}, empty)
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', SAMPLE_CFG, str(empty),
         '--work-dir', str(tmp_path)], cwd=REPO, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: checkpoint') and 'empty.pth lacks' in last
    assert 'Traceback' not in proc.stderr
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', SAMPLE_CFG, '--amp'], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    if not torch.cuda.is_available():
        assert proc.returncode == 2
        assert proc.stderr.strip() == ('error: --amp needs a CUDA GPU: '
                                       "mmengine's AmpOptimWrapper does not "
                                       'run on the CPU')
