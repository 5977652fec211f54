"""Installer for the mmseg-sia plugin.

mmcv comes in two builds that install the same ``mmcv`` module: full ``mmcv``
(compiled ops, slow to build from source) and ``mmcv-lite`` (pure Python). The
plugin works with either. A full ``mmcv`` that is already installed is kept;
otherwise ``mmcv-lite`` is required, so that installing never compiles.
"""
import os
import site
import sysconfig
from importlib import metadata

from setuptools import find_packages, setup


def _installed(dist_name: str) -> bool:
    """Whether ``dist_name`` is installed in the environment being installed into.

    pip builds in an isolated environment that hides the target
    site-packages from ``sys.path``, so the target's own folders are searched
    explicitly as well.
    """
    paths = [sysconfig.get_paths()[key] for key in ('purelib', 'platlib')]
    try:
        paths.append(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - some embedded interpreters
        pass
    for path in dict.fromkeys(paths):
        if not os.path.isdir(path):
            continue
        for dist in metadata.distributions(path=[path]):
            if (dist.metadata['Name'] or '').lower() == dist_name:
                return True
    return False


def _mmcv_requirement() -> str:
    if _installed('mmcv'):
        return 'mmcv>=2.1.0,<2.2.0'
    return 'mmcv-lite>=2.1.0,<2.2.0'


def _version() -> str:
    scope: dict = {}
    with open(os.path.join('mmseg_sia', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


with open('README.md', encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='mmseg-sia',
    version=_version(),
    description='MMSegmentation plugin for building and road segmentation '
    'of KOMPSAT-3A satellite tiles (AIHub satellite object reading data)',
    long_description=long_description,
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['mmseg_sia', 'mmseg_sia.*']),
    include_package_data=True,
    install_requires=[
        'mmsegmentation>=1.2.0,<1.3.0',
        'mmengine>=0.10.0,<0.11.0',
        _mmcv_requirement(),
        'opencv-python>=4.5',
        'numpy',
        'pandas',
        'Pillow',
        'matplotlib',
        'tqdm',
        'scikit-image',
        'orjson',
        # The polygon rasterizer's inner loops (mmseg_sia._rasterize).
        'numba',
        # Reading regular GeoJSON label files without a Python object per
        # number (mmseg_sia._geojson).
        'msgspec',
        'pysimdjson',
        'scipy',
        # Georeferenced rasters and vectors (mmseg_sia.georef,
        # mmseg_sia.maplabels, the land-cover and vector datasets, inference
        # measures); imported when first used.
        'rasterio',
        'pyproj',
        'shapely>=2.0',
        'pyogrio',
        'affine',
        # Road networks (mmseg_sia.roads) and their APLS metric.
        'networkx',
        # mmseg imports these without declaring them.
        'ftfy',
        'regex',
        # mmengine 0.10 resolves `mmseg::` config bases with pkg_resources,
        # which setuptools stopped shipping in version 82.
        'setuptools<82',
    ],
    extras_require={
        'tests': ['pytest', 'pytest-xdist'],
    },
    license='Apache-2.0',
    classifiers=[
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Image Recognition',
        'Topic :: Scientific/Engineering :: GIS',
    ],
)
