"""Metrics the plugin registers in ``mmseg.registry.METRICS``."""
from .apls import APLSMetric, APLSResult, apls_score
from .building_f1 import BuildingF1Metric
from .road_ccq import RoadCCQMetric, road_skeleton_counts

__all__ = ['APLSMetric', 'APLSResult', 'apls_score', 'BuildingF1Metric',
           'RoadCCQMetric', 'road_skeleton_counts']
