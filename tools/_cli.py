"""What tools/train.py and tools/test.py share, cheap to import.

``--help`` must answer at once, so nothing here imports torch, mmseg or the
plugin; they are imported when a command really runs.
"""
import argparse
import sys
from typing import Callable, NoReturn


class LazyDictAction(argparse.Action):
    """mmengine's ``DictAction``, imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        DictAction(self.option_strings, self.dest)(parser, namespace, values,
                                                   option_string)


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    print(f'error: {message}', file=sys.stderr)
    sys.exit(code)


def run_main(main: Callable[[], None]) -> None:
    """Run ``main``; a user's mistake is one line on stderr, not a traceback.

    Exit code 2 for a command that cannot start (a missing file, an option
    this machine cannot honour), 1 for a checkpoint that cannot be used.
    Anything else is a bug and keeps its traceback.
    """
    try:
        main()
    except FileNotFoundError as e:
        fail(str(e), 2)
    except Exception as e:
        from mmseg_sia.checkpoint import (CheckpointMismatchError,
                                          UnsafeCheckpointError)
        from mmseg_sia.runner import UsageError
        if isinstance(e, UsageError):
            fail(str(e), 2)
        if isinstance(e, (CheckpointMismatchError, UnsafeCheckpointError)):
            fail(str(e), 1)
        raise
