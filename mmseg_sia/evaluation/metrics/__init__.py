"""Metrics the plugin registers in ``mmseg.registry.METRICS``."""
from .building_f1 import BuildingF1Metric
from .road_ccq import RoadCCQMetric, road_skeleton_counts

__all__ = ['BuildingF1Metric', 'RoadCCQMetric', 'road_skeleton_counts']
