"""Worker processes for a scene's writer.

A scene's writer runs in one thread, and most of its work holds Python's
GIL: polygonizing a band through rasterio, measuring and mapping each
polygon, encoding its features. On a GPU the model finishes a megapixel in
about a hundredth of a second, several times less than that thread takes,
so the thread would set the pace. :class:`WriterPool` hands those pure,
per-band and per-polygon steps to processes of their own; the writer keeps
what must happen in order (stitching regions across bands, writing the
files), so the outputs are byte for byte those of a run without it.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Optional

__all__ = ['WriterPool', 'default_writer_processes']

#: Modules the pool's server imports once; each worker is forked from it, so
#: a worker starts in milliseconds and shares those pages with the others.
PRELOAD = ['mmseg_sia.apis.stitching', 'mmseg_sia.apis.vector_output']


class WriterPool:
    """A lazily started pool of processes for a scene writer's work
    (:class:`~mmseg_sia.apis.scene.SceneWriter`).

    The processes are forked from a server process (multiprocessing's
    'forkserver' method) that imports the writer's modules once; nothing is
    forked from the inference process itself, whose model, threads and
    locks a fork would copy. They start with the first job, serve every
    scene of a run and stop at :meth:`close` (or the end of a ``with``
    block). A pool whose process died (killed for memory, say) fails the
    scene it was working for and is started afresh for the next one.

    Args:
        processes (int): Worker processes (at least 1).

    Raises:
        ValueError: When ``processes`` is below 1.
    """

    def __init__(self, processes: int) -> None:
        if int(processes) < 1:
            raise ValueError(f'a writer pool needs at least one process, '
                             f'got {processes}')
        self.processes = int(processes)
        self._executor: Optional[ProcessPoolExecutor] = None

    def _start(self) -> ProcessPoolExecutor:
        import multiprocessing
        context = multiprocessing.get_context('forkserver')
        context.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(self.processes, mp_context=context)

    def submit(self, fn: Callable, *args) -> Future:
        """Run ``fn(*args)`` in a worker (a module-level function whose
        arguments pickle)."""
        if self._executor is None:
            self._executor = self._start()
        try:
            return self._executor.submit(fn, *args)
        except BrokenProcessPool:
            # A worker died during an earlier scene: start the pool again.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            return self._executor.submit(fn, *args)

    def close(self) -> None:
        """Stop the processes (jobs not started are dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> 'WriterPool':
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(processes={self.processes})'


def default_writer_processes(device: str, share: int = 1) -> int:
    """How many writer processes :mod:`tools/infer.py` starts by default.

    None where the model runs on the CPU: there the writer's work already
    takes its CPU time from the model's threads, and processes would add the
    cost of moving bands and polygons between them. Elsewhere (a GPU), up to
    four, leaving two of this process' share of the CPUs to the model's
    feeding and the writer's own thread.

    Args:
        device (str): The model's device ('cpu', 'cuda:0', ...).
        share (int): Processes of this run on the machine (ranks per node),
            among which its CPUs are shared: divided among them unless this
            process may run on fewer CPUs than the machine has (Slurm's
            ``--cpus-per-task`` binds each task to its own). Defaults to 1.

    Returns:
        int: 0 (in the writer's thread) or a number of processes.
    """
    if str(device).split(':')[0] == 'cpu':
        return 0
    machine = os.cpu_count() or 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = machine
    if cpus >= machine:
        cpus //= max(1, share)
    return max(0, min(4, cpus - 2))
