from .landcover import SIALandCoverDataset
from .sia import (SIADataset, index_images, index_label_files,
                  read_split_file)
from .sia_boundary import SIABuildingBoundaryDataset
from .transforms import *  # noqa: F401,F403
from .vector import SIAVectorDataset

__all__ = [
    'SIADataset', 'SIABuildingBoundaryDataset', 'SIALandCoverDataset',
    'SIAVectorDataset', 'index_images', 'index_label_files', 'read_split_file'
]
