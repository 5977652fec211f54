from .sia import SIADataset, index_label_files
from .transforms import *  # noqa: F401,F403

__all__ = ['SIADataset', 'index_label_files']
