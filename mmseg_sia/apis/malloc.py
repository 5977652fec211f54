"""glibc's allocator, set for a long inference run (:func:`tune_malloc`).
"""
from __future__ import annotations

import os

__all__ = ['tune_malloc']


#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8

#: The environment variables through which a user sets them instead.
_MALLOC_ENV = ('MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_MAX_',
               'MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX')


def tune_malloc(keep: int = 512 << 20) -> bool:
    """Have glibc's ``malloc`` reuse freed memory instead of mapping anew.

    A scene run allocates and frees the same large blocks over and over:
    the model's activations (67 MB tensors for a batch of four 512-pixel
    windows through the sample FPN R18), strips, logits, bands. glibc maps
    every block of 32 MB or more (and smaller ones once its mmap threshold
    is fixed) and unmaps it on free, so each allocation costs the kernel a
    fresh zeroed page per 4 KB. Set here: no mapped blocks (``M_MMAP_MAX``
    0), freed memory at the top of the heap kept up to ``keep`` bytes
    (``M_TRIM_THRESHOLD``), and one arena for all threads (``M_ARENA_MAX``
    1; with an arena per thread the reader's, writer's and model's freed
    blocks are kept apart, about 105 MiB more at the peak).

    On the 2-core test machine, a 4,096-pixel scene through the sample
    model took 16.5 s wall with glibc's defaults (6.8 s of it system time),
    23.9 s with a fixed 4 MB mmap threshold (18.3 s system; what
    ``tools/infer.py`` set before), 15.0-15.4 s (2.2-2.5 s system) keeping
    128 MB and 14.1 s (0.7-0.8 s system) keeping 512 MB; a 10,000-pixel
    one 70 s (11.8 s system) keeping 128 MB and 62.6-64.3 s (1.2 s
    system) keeping 512 MB. Below the model's working set the heap's top is
    given back after a batch and faulted in again for the next. The peak
    RSS was the same within run-to-run noise (keeping 128 MB: 1,148-1,200
    MiB at 10,000 and 1,459 MiB at 20,000 pixels; keeping 512 MB:
    1,116-1,230 and 1,426 MiB): the memory kept is reused, not added.

    Process-wide, so it is for command-line tools (``tools/infer.py`` calls
    it first), not libraries; nothing is changed when any of the
    ``MALLOC_*`` variables of these settings is set (the user's choice).

    Args:
        keep (int): Bytes of freed memory at the top of the heap kept for
            reuse. Defaults to 512 MB.

    Returns:
        bool: True when set; False where there is no glibc ``mallopt`` or
        the environment decides.
    """
    if any(name in os.environ for name in _MALLOC_ENV):
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all([mallopt(_M_MMAP_MAX, 0), mallopt(_M_TRIM_THRESHOLD,
                                                   int(keep)),
                mallopt(_M_ARENA_MAX, 1)])
