"""What the command lines of the dataset tools share once their arguments
are parsed: exit statuses and the wording of errors.

The tools in ``tools/`` parse their arguments with the standard library only
(``--help`` answers without importing mmseg, torch or numpy) and import this
module afterwards.

Exit statuses, the same for every tool:

* 0: done, nothing wrong with the data;
* 1: done, but the data has errors (each listed by file);
* 2: bad usage, or the tool itself could not run (a missing data root, an
  output that exists without ``--overwrite``, an unexpected failure), as
  ``argparse`` does for bad arguments.
"""
from __future__ import annotations

import re
import sys
import traceback
from typing import Callable

__all__ = ['EXIT_OK', 'EXIT_DATA_ERRORS', 'EXIT_FAILURE', 'run_tool',
           'cli_message']

EXIT_OK = 0
EXIT_DATA_ERRORS = 1
EXIT_FAILURE = 2
EXIT_INTERRUPTED = 130

_API_OVERWRITE = re.compile(
    r'pass overwrite=True(, or --overwrite on the command line,)?')


def cli_message(error: BaseException) -> str:
    """An exception's message in command-line words (``--overwrite`` rather
    than ``overwrite=True``)."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f'{error.filename}: {error.strerror}'
    else:
        text = str(error) or type(error).__name__
    return _API_OVERWRITE.sub('pass --overwrite', text)


def run_tool(body: Callable[[], int]) -> int:
    """Run a tool's work and turn what goes wrong into an exit status.

    Args:
        body (Callable[[], int]): Does the work; returns 0 or 1 (data
            errors).

    Returns:
        int: The exit status: ``body``'s, 2 when it raised (the message, or
        for an unexpected error its traceback, goes to stderr), 130 on
        Ctrl-C.
    """
    try:
        return body()
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, ValueError, KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        if isinstance(message, BaseException):
            message = cli_message(message)
        print(f'error: {message}', file=sys.stderr)
        return EXIT_FAILURE
    except Exception:  # a bug: show where, and do not pass for bad data
        traceback.print_exc()
        print('error: the tool failed (traceback above); this is not a '
              'problem of the data', file=sys.stderr)
        return EXIT_FAILURE
