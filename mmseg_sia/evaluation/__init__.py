"""Metrics the plugin registers with mmseg."""
from .metrics import (APLSMetric, APLSResult, BuildingF1Metric, RoadCCQMetric,
                      apls_score, road_skeleton_counts)

__all__ = ['APLSMetric', 'APLSResult', 'apls_score', 'BuildingF1Metric',
           'RoadCCQMetric', 'road_skeleton_counts']
