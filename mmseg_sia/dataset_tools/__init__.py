"""Functions behind the dataset tools in ``tools/``."""
