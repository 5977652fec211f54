"""Models, losses and heads the plugin registers with mmseg."""
