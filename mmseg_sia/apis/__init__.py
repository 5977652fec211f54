"""Python API for inference with mmseg-sia models."""
