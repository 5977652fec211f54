import os
import os.path as osp

# One thread per torch/OpenMP process: the suite runs on two xdist workers
# (and their tool subprocesses, which inherit this) on machines with few
# cores, where more threads than cores make every process wait on the others.
os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))

import mmseg_sia  # noqa: F401  (registers the plugin, applies compat fixes)

DATA_ROOT = osp.join(osp.dirname(__file__), 'data', 'sia')


@pytest.fixture
def sia_root() -> str:
    """The committed tiny dataset written by ``tests/data/sia/data.py``."""
    return DATA_ROOT


@pytest.fixture
def free_port() -> str:
    """A TCP port free now, for a torchrun rendezvous: two-process tests
    run side by side on the two xdist workers, and with one fixed port the
    second run could not bind it (EADDRINUSE; an intermittent exit code -6
    of the training test at exit was probably the same collision)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


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


# The longest test files, longest first. pytest-xdist's ``--dist loadfile``
# would otherwise queue files by their number of tests, which starts the
# README run (three tests, four minutes) last, when the other worker has
# little left to do beside it.
LONGEST_FIRST = ('test_readme.py', 'test_tools.py', 'test_vector_dataset.py',
                 'test_benchmarks.py', 'test_roads.py', 'test_scenes.py',
                 'test_apls.py', 'test_checkpoint_security.py')


def pytest_configure(config):
    if hasattr(config.option, 'loadscopereorder'):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = osp.basename(str(item.path))
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(
            LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file is kept
