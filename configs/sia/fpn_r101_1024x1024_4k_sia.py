# The seed's Semantic FPN R101 recipe under the name of the design card; the
# full config is fpn_r101_1xb8-4k_sia-512x1024.py (mmseg's naming).
_base_ = './fpn_r101_1xb8-4k_sia-512x1024.py'
