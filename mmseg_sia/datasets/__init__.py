from .sia import SIADataset, index_label_files
from .sia_boundary import SIABuildingBoundaryDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['SIADataset', 'SIABuildingBoundaryDataset', 'index_label_files']
