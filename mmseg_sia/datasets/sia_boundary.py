"""The boundary-aware building variant of the AIHub dataset."""
from mmseg.registry import DATASETS

from .sia import SIADataset


@DATASETS.register_module()
class SIABuildingBoundaryDataset(SIADataset):
    """:class:`SIADataset` with the classes of a boundary-aware building model.

    Classes: 0 background, 1 building, 2 building boundary (roads count as
    background). Use it with ``LoadPolygonAnnotations(class_map=
    {'building_imcoords': 1}, boundary_width=..., boundary_label=2)``.
    ``SIADataset`` accepts only subsets of its own class names in
    ``metainfo``, so the boundary class needs this subclass.
    """

    METAINFO = dict(
        classes=('background', 'building', 'boundary'),
        palette=[[0, 0, 0], [128, 128, 0], [255, 255, 255]])
