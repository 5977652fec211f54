# SegFormer MiT-B5, roads only: 2 classes (background, road); buildings are
# not drawn, so they count as background. See
# segformer-dice-focal-lovasz-cutout_mit-b5_1xb8-80k_sia-road-512x512.py for
# the loss recipe that published the best road IoU on this dataset.
_base_ = [
    '../_base_/models/segformer_mit-b5_sia.py',
    '../_base_/datasets/sia-road_512x512.py',
]

model = dict(decode_head=dict(num_classes=2))
