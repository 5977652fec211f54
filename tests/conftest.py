import os.path as osp

import pytest

import mmseg_sia  # noqa: F401  (registers the plugin, applies compat fixes)

DATA_ROOT = osp.join(osp.dirname(__file__), 'data', 'sia')


@pytest.fixture
def sia_root() -> str:
    """The committed tiny dataset written by ``tests/data/sia/data.py``."""
    return DATA_ROOT


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build registry objects in mmseg's scope, as mmseg's Runner does."""
    from mmengine.registry import DefaultScope
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    name = 'sia-tests'
    if not DefaultScope.check_instance_created(name):
        DefaultScope.get_instance(name, scope_name='mmseg')
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield
