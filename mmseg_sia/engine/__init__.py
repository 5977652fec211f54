"""Runner hooks of mmseg-sia."""
from .hooks import CheckpointCheckHook

__all__ = ['CheckpointCheckHook']
