"""Configs and the train/test tools, end to end on the bundled sample.

Each run is short (a couple of iterations) but goes through the same
commands a user types: tools/train.py, tools/test.py, tools/dist_train.sh and
mmseg's own packaged tools.
"""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import MODELS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAMPLE_CFG = osp.join(REPO, 'configs', 'sia', 'fpn_r18_sia-sample.py')
SEED_CFGS = ['fpn_r101_1xb8-4k_sia-512x1024.py', 'fpn_r101_1024x1024_4k_sia.py',
             'fpn_r101_sia.py']
SHORT = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2',
         'default_hooks.logger.interval=1',
         'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0']


def run(args, cwd=REPO, env=None, timeout=400):
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f'{args} exited {proc.returncode}:\n{out[-4000:]}')
    return out


@pytest.mark.parametrize('name', SEED_CFGS + ['fpn_r18_sia-sample.py'])
def test_config_loads_and_builds(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sia', name))
    assert cfg.custom_imports['imports'] == ['mmseg_sia']
    assert cfg.model.decode_head.num_classes == 3
    assert cfg.train_dataloader.dataset.type == 'SIADataset'
    for part in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert 'data_root' in cfg[part]['dataset']
    if 'r101' in name:
        assert cfg.model.backbone.depth == 101
        assert cfg.model.backbone.norm_cfg.type == 'BN'
        assert cfg.train_cfg.max_iters == 4000
        assert cfg.train_cfg.val_interval == 1000
        assert cfg.default_hooks.checkpoint.interval == 1000
        assert cfg.train_dataloader.batch_size == 8
        assert cfg.optim_wrapper.optimizer.lr == 0.01
        assert 'fpn_r101_512x1024_80k_cityscapes' in cfg.load_from
    else:
        assert cfg.load_from is None and cfg.model.pretrained is None
    cfg.model.pretrained = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    for step in cfg.train_dataloader.dataset.pipeline:
        TRANSFORMS.build(step)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Two iterations of the sample config through tools/train.py."""
    work = tmp_path_factory.mktemp('train')
    out = run([sys.executable, 'tools/train.py', SAMPLE_CFG, '--work-dir',
               str(work), '--cfg-options', *SHORT])
    return work, out


def test_train_writes_checkpoint_and_validates(trained):
    work, out = trained
    assert osp.isfile(work / 'iter_2.pth')
    assert 'Iter(train) [2/2]' in out
    assert re.search(r'mIoU: \d', out)
    assert '|  building  |' in out  # per-class table from IoUMetric


def test_test_tool_metrics_masks_and_pictures(trained, tmp_path):
    work, _ = trained
    out = run([sys.executable, 'tools/test.py', SAMPLE_CFG,
               str(work / 'iter_2.pth'), '--work-dir', str(tmp_path),
               '--out', str(tmp_path / 'pred'), '--show-dir',
               str(tmp_path / 'show'), '--cfg-options',
               'test_dataloader.num_workers=0'])
    assert re.search(r'Iter\(test\).*mIoU: \d', out)
    with open(osp.join(REPO, 'data', 'sia_sample', 'splits',
                       'val.txt')) as f:
        stems = [line.strip() for line in f if line.strip()]
    masks = sorted(os.listdir(tmp_path / 'pred'))
    assert masks == sorted(s + '.png' for s in stems)
    import cv2
    mask = cv2.imread(str(tmp_path / 'pred' / masks[0]), cv2.IMREAD_UNCHANGED)
    assert mask.ndim == 2 and set(np.unique(mask)) <= {0, 1, 2}
    pictures = glob.glob(str(tmp_path / 'show' / '**' / '*.png'),
                         recursive=True)
    assert len(pictures) == len(stems)


def test_test_tool_with_test_time_augmentation(trained, tmp_path):
    work, _ = trained
    out = run([sys.executable, 'tools/test.py', SAMPLE_CFG,
               str(work / 'iter_2.pth'), '--tta', '--work-dir',
               str(tmp_path), '--cfg-options', 'test_dataloader.num_workers=0'])
    assert re.search(r'Iter\(test\).*mIoU: \d', out)
    assert 'SegTTAModel' in out


def test_amp_without_gpu_is_a_clear_error():
    import torch
    from mmseg_sia.runner import make_train_config
    if torch.cuda.is_available():
        cfg = make_train_config(SAMPLE_CFG, amp=True)
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        with pytest.raises(RuntimeError, match='--amp needs a CUDA GPU'):
            make_train_config(SAMPLE_CFG, amp=True)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', SAMPLE_CFG,
         str(tmp_path / 'nope.pth')], cwd=REPO, capture_output=True,
        text=True)
    assert proc.returncode != 0
    assert 'nope.pth' in proc.stderr and 'does not exist' in proc.stderr


def test_resume_continues_from_the_last_checkpoint(trained, tmp_path):
    work, _ = trained
    import shutil
    resumed = tmp_path / 'resume'
    shutil.copytree(work, resumed)
    options = [o for o in SHORT if not o.startswith('train_cfg.max_iters')]
    out = run([sys.executable, 'tools/train.py', SAMPLE_CFG, '--work-dir',
               str(resumed), '--resume', '--cfg-options',
               'train_cfg.max_iters=3', *options])
    assert 'resumed epoch: 0, iter: 2' in out
    assert 'Iter(train) [3/3]' in out
    assert 'Iter(train) [1/3]' not in out


def test_checkpoint_loads_in_mmseg_apis(trained):
    work, _ = trained
    import mmseg_sia  # noqa: F401
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    ckpt = str(work / 'iter_2.pth')
    model = init_model(SAMPLE_CFG, ckpt, device='cpu')
    assert model.dataset_meta['classes'] == ('background', 'building', 'road')
    img = sorted(glob.glob(osp.join(REPO, 'data', 'sia_sample', 'images',
                                    '*.png')))[0]
    result = inference_model(model, img)
    assert result.pred_sem_seg.data.shape[-2:] == (256, 256)
    inferencer = MMSegInferencer(model=SAMPLE_CFG, weights=ckpt,
                                 device='cpu')
    pred = inferencer(img)['predictions']
    assert pred.shape == (256, 256)


def test_two_process_training_on_cpu(tmp_path, free_port):
    out = run(['bash', 'tools/dist_train.sh', SAMPLE_CFG, '2', '--work-dir',
               str(tmp_path), '--cfg-options', *SHORT],
              env=dict(PYTHON=sys.executable, PORT=free_port))
    assert 'Distributed training: True' in out
    assert re.search(r"backend': 'gloo'|backend='gloo'", out)
    assert osp.isfile(tmp_path / 'iter_2.pth')


def test_configs_run_through_mmseg_packaged_tools(tmp_path):
    import mmseg
    tools = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')
    short = [o for o in SHORT if 'max_iters' not in o
             and 'val_interval' not in o and 'checkpoint' not in o]
    run([sys.executable, osp.join(tools, 'train.py'), SAMPLE_CFG,
         '--work-dir', str(tmp_path), '--cfg-options',
         'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
         'default_hooks.checkpoint.interval=1', *short])
    out = run([sys.executable, osp.join(tools, 'test.py'), SAMPLE_CFG,
               str(tmp_path / 'iter_1.pth'), '--work-dir', str(tmp_path),
               '--cfg-options', 'test_dataloader.num_workers=0'])
    assert re.search(r'Iter\(test\).*mIoU: \d', out)
