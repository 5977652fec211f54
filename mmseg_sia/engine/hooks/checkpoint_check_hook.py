"""Refuse to evaluate a checkpoint that does not hold the model's weights."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...checkpoint import check_checkpoint_fits


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Check the checkpoint the Runner loads against its model.

    mmengine loads ``load_from`` with ``strict=False``: weights the checkpoint
    lacks keep their random initial values and are only listed in the log,
    so a wrong or empty checkpoint is evaluated as if it were right.
    ``tools/test.py`` adds this hook, which stops the run instead with
    :class:`~mmseg_sia.checkpoint.CheckpointMismatchError` naming the file.
    Training does not use it: fine-tuning from a checkpoint with another
    head is normal there.

    Args:
        checkpoint (str, optional): The checkpoint's name for messages.
            Defaults to the runner's ``load_from``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, checkpoint: str | None = None) -> None:
        self.checkpoint = checkpoint

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise when ``checkpoint`` does not fit ``runner.model``."""
        name = self.checkpoint or getattr(runner, '_load_from', None) or \
            '<checkpoint>'
        config_name = getattr(runner.cfg, 'filename', None) or 'the config'
        check_checkpoint_fits(runner.model, checkpoint, str(name),
                              f'config {config_name}')

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(checkpoint={self.checkpoint!r})'
