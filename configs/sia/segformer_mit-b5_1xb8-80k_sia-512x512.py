# SegFormer with a MiT-B5 encoder for the 3-class task (background, building,
# road) on one GPU: batch 8 of 512 x 512 crops, AdamW 6e-5 with a 1.5k-step
# warm-up and poly decay, 80k iterations. Public work on this dataset reports
# building IoU 82.9 with SegFormer MiT-B5 (its own split).
_base_ = [
    '../_base_/models/segformer_mit-b5_sia.py',
    '../_base_/datasets/sia_512x512.py',
]
