"""``python -m benchmarks.grid_timing``: wall time of one 40-cell grid run serially, on ``--jobs 2`` local worker
processes and on a 2-worker Dask ``LocalCluster`` (issue 19's grid number); checks the three agree cell for cell.

The grid: the default config's digits stream, ER, stores raw, lossless, jpeg and jpeg:quality=auto, budgets of 10
and 50 images, seeds 0-4 (40 cells of about a second each, so the numbers include each executor's start-up).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from .configs import CONFIGS
from .executors import cell_executor
from .runner import BudgetSpec, run_grid

GRID = dataclasses.replace(CONFIGS["default"], stores=("raw", "lossless", "jpeg", "jpeg:quality=auto"),
                           learners=("er",), budgets=(BudgetSpec(images=10), BudgetSpec(images=50)),
                           seeds=(0, 1, 2, 3, 4))


def timed(**executor_options: object) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        with cell_executor(**executor_options) as executor:
            run = run_grid(GRID, Path(out), progress=False, executor=executor)
        return time.perf_counter() - start, [r.accuracy for r in run.results]


def main(argv: list[str] | None = None) -> None:
    import argparse

    import torch
    from distributed import LocalCluster

    parser = argparse.ArgumentParser(prog="python -m benchmarks.grid_timing", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)  # no options: --help says what runs, anything else is refused before it runs

    torch.set_num_threads(1)  # as the CLI's default --threads 1, and as each worker runs: the same arithmetic
    assert len(GRID.cells()) == 40
    serial, reference = timed(jobs=1)
    print(f"serial            {serial:6.1f} s")
    jobs, accuracies = timed(jobs=2)
    print(f"--jobs 2          {jobs:6.1f} s  (same numbers: {accuracies == reference})")
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        dask, accuracies = timed(scheduler=cluster.scheduler_address)
        print(f"LocalCluster (2)  {dask:6.1f} s  (same numbers: {accuracies == reference}; cluster start excluded)")


if __name__ == "__main__":
    main()
