from .checkpoint_check_hook import CheckpointCheckHook

__all__ = ['CheckpointCheckHook']
