"""Metrics the plugin registers with mmseg."""
