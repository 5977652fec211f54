# Short name for the seed's Semantic FPN R101 recipe:
#   python tools/train.py configs/sia/fpn_r101_sia.py
_base_ = './fpn_r101_1xb8-4k_sia-512x1024.py'
