# Boundary-aware buildings: SegFormer MiT-B5, cross-entropy + Dice, 3 classes
# (background, building, boundary). LoadPolygonAnnotations paints a 2-pixel
# band along the inside of every building outline (about 1.1 m at 0.55 m),
# so buildings that touch come out separated in the labels and, after
# training, in the prediction. mmseg_sia.instances.building_instances turns
# the prediction into building instances (count, areas); BuildingF1Metric
# does so by itself when the dataset has a 'boundary' class. Public work on
# this dataset used such a second building stage to split touching buildings.
_base_ = [
    '../_base_/models/segformer_mit-b5_sia.py',
    '../_base_/datasets/sia_512x512.py',
]

# SIABuildingBoundaryDataset is SIADataset with the classes background,
# building and boundary (SIADataset only accepts subsets of its own classes).
# Roads are not drawn, so they count as background.
dataset_type = 'SIABuildingBoundaryDataset'
load_annotations = dict(
    type='LoadPolygonAnnotations',
    class_map={'building_imcoords': 1},
    boundary_width=2,
    boundary_label=2)

model = dict(
    decode_head=dict(
        num_classes=3,
        loss_decode=[
            dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            dict(type='SIADiceLoss', loss_weight=1.0),
        ]))

# The pipelines of sia_512x512.py with these labels.
train_pipeline = [
    load_annotations if step.type == 'LoadPolygonAnnotations' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    load_annotations if step.type == 'LoadPolygonAnnotations' else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(
    dataset=dict(type=dataset_type, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore']),
    # Instances from building cores with the band given back; references
    # from the label polygons (label_paths, packed by the test pipeline).
    dict(type='BuildingF1Metric', boundary_class='boundary'),
]
test_evaluator = val_evaluator
