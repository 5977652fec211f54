"""Metrics the plugin registers with mmseg."""
from .metrics import BuildingF1Metric, RoadCCQMetric, road_skeleton_counts

__all__ = ['BuildingF1Metric', 'RoadCCQMetric', 'road_skeleton_counts']
