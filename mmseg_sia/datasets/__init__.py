from .sia import (SIADataset, index_images, index_label_files,
                  read_split_file)
from .sia_boundary import SIABuildingBoundaryDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'SIADataset', 'SIABuildingBoundaryDataset', 'index_images',
    'index_label_files', 'read_split_file'
]
