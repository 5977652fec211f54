# mmseg's 80k schedule (SGD 0.01 poly, validation and a checkpoint every 8k
# iterations), keeping the 3 latest checkpoints and the best one by mIoU.
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'

default_hooks = dict(checkpoint=dict(max_keep_ckpts=3, save_best='mIoU'))
