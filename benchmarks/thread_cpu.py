"""Run a Python script and print, at its exit, the CPU time of its threads.

    python benchmarks/thread_cpu.py tools/infer.py CONFIG CHECKPOINT ...

Each Python thread's CPU time (``time.thread_time`` as it ends) is added
up by the thread's name without its pool number (``sia-write_0`` ->
``sia-write``); the main thread's is read at exit, and what the process
spent besides (``time.process_time`` less all of those) is the threads
Python did not start: OpenMP's and the libraries' own. The figures go to
standard error as lines ``thread-cpu NAME SECONDS``, after the script's
output.

Python 3.11 does not give threads their names in the operating system, so
``/proc`` cannot tell the threads of ``tools/infer.py`` apart from outside;
this wrapper counts them from inside, changing nothing else in the run.
"""
from __future__ import annotations

import atexit
import collections
import os
import runpy
import sys
import threading
import time

_CPU: collections.Counter = collections.Counter()
_LOCK = threading.Lock()
_RUN = threading.Thread._bootstrap_inner


def _counted(self) -> None:
    try:
        _RUN(self)
    finally:
        name = self.name.rsplit('_', 1)[0] if self.name[-1:].isdigit() \
            else self.name
        with _LOCK:
            _CPU[name] += time.thread_time()


def _report() -> None:
    _CPU['main'] += time.thread_time()
    total = time.process_time()
    lines = [f'thread-cpu {name} {seconds:.3f}'
             for name, seconds in _CPU.most_common()]
    lines.append(f'thread-cpu other {total - sum(_CPU.values()):.3f}')
    lines.append(f'thread-cpu process {total:.3f}')
    print('\n'.join(lines), file=sys.stderr, flush=True)


def parse(text: str) -> dict:
    """``{name: seconds}`` from a run's output (its ``thread-cpu`` lines)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == 'thread-cpu':
            out[parts[1]] = float(parts[2])
    return out


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit('usage: thread_cpu.py SCRIPT [ARGS...]')
    threading.Thread._bootstrap_inner = _counted
    atexit.register(_report)
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
    runpy.run_path(sys.argv[0], run_name='__main__')


if __name__ == '__main__':
    main()
