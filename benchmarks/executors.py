"""Where a grid's cells run: in this process (the default), in local worker processes (``--jobs N``), or on a
Dask ``distributed`` cluster (``--scheduler ADDRESS``).

Cells are independent and seeded, so any executor gives the serial run's numbers cell for cell; the parent
process writes each result file as its cell finishes, so an interrupted run resumes from the same files. Both
parallel executors are ``concurrent.futures.Executor``\\ s: a ``ProcessPoolExecutor`` (spawned workers) and the
executor of a ``distributed.Client``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["cell_executor", "run_with_threads"]


def run_with_threads(run: Callable[..., Any], threads: int, *args: Any, **kwargs: Any) -> Any:
    """``run(*args, **kwargs)`` with torch limited to ``threads`` threads: what a worker process runs per cell."""
    import torch

    torch.set_num_threads(threads)
    return run(*args, **kwargs)


@contextmanager
def cell_executor(jobs: int = 1, scheduler: str | None = None) -> Iterator[concurrent.futures.Executor | None]:
    """None for serial runs; else an executor of ``jobs`` local processes, or of the Dask cluster at ``scheduler``."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise RuntimeError("--scheduler needs Dask's distributed: pip install -e '.[cluster]'") from exc
        with Client(scheduler) as client:
            yield client.get_executor(pure=False)
        return
    if jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs}")
    if jobs == 1:
        yield None
        return
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool
