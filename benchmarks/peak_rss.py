"""The peak resident memory of a command, and not of the benchmark that runs
it (Linux).

``ru_maxrss`` of a child (``os.wait4``, or ``getrusage`` in the child) is
not only the child's own: when a process execs, the kernel folds the peak
of the memory image it leaves into the new program's ``ru_maxrss``, and a
child made by ``subprocess`` (``vfork``, then ``exec``) leaves its parent's
image, whose peak is the parent's all-time peak. So a benchmark that trained
a model or held a scene before starting ``tools/infer.py`` read its own peak
as the tool's whenever it was the larger (a child doing nothing but
``pass`` reported 1,526 MiB after its parent had touched 1.5 GB and freed
it). Two clean readings:

* :func:`run_measured`: the command is started by a small launcher process
  that forks it and reports its ``wait4`` usage; the image the command
  leaves at its exec is the launcher's (about 10 MiB).
* :func:`own_peak_mib` in the child itself: ``VmHWM`` of
  ``/proc/self/status``, the peak of its current memory image only.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Sequence, Tuple

#: Forks the command, waits for it and writes its usage to argv[1]; exits
#: with its exit status.
LAUNCHER = '''
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], 'w') as f:
    f.write(f'{usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime}')
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
'''


def run_measured(cmd: Sequence[str], **popen) -> Tuple[int, float, float,
                                                       float]:
    """Run ``cmd`` (``subprocess.Popen`` keyword arguments allowed) and
    return its exit status, wall seconds, peak RSS in MiB and CPU seconds
    (user + system, its waited-for children included)."""
    with tempfile.NamedTemporaryFile('r', suffix='.usage') as report:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, '-c', LAUNCHER, report.name, *cmd], **popen)
        proc.wait()
        wall = time.perf_counter() - start
        text = report.read().split()
    if len(text) != 3:  # the launcher itself failed
        return proc.returncode or 1, wall, float('nan'), float('nan')
    maxrss, user, system = text
    return proc.returncode, wall, int(maxrss) / 1024, float(user) + \
        float(system)


def own_peak_mib() -> float:
    """This process' peak RSS since its exec, in MiB (``VmHWM``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmHWM in /proc/self/status')


if __name__ == '__main__':  # a check: the parent's peak does not leak in
    import numpy as np
    block = np.ones(512 << 20, np.uint8)
    del block
    naive = subprocess.Popen([sys.executable, '-c', 'pass'])
    _, _, usage = os.wait4(naive.pid, 0)
    code, _, clean, _ = run_measured([sys.executable, '-c', 'pass'])
    print(f'after a 512 MiB peak here: a child of "pass" by wait4 '
          f'{usage.ru_maxrss / 1024:.0f} MiB, through the launcher '
          f'{clean:.0f} MiB (exit {code})')
