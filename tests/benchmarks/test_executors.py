"""The grid on worker processes and on a real Dask LocalCluster gives the serial run's numbers, cell for cell."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.configs import CONFIGS
from benchmarks.executors import cell_executor
from benchmarks.runner import BudgetSpec, run_grid

pytestmark = pytest.mark.usefixtures("one_thread")  # the serial run's arithmetic, as each worker's

GRID = dataclasses.replace(CONFIGS["default"], stores=("raw", "jpeg"), learners=("er",),
                           budgets=(BudgetSpec(images=10),), seeds=(0, 1))


def numbers(run) -> list[tuple]:
    return [(r.config["store"], r.config["seed"], r.accuracy, r.matrix) for r in run.results]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    return numbers(run_grid(GRID, tmp_path_factory.mktemp("serial"), progress=False))


def test_worker_processes_match_the_serial_run(serial: list[tuple], tmp_path: Path) -> None:
    with cell_executor(jobs=2) as executor:
        run = run_grid(GRID, tmp_path, progress=False, executor=executor)
    assert run.computed == 4 and numbers(run) == serial
    with cell_executor(jobs=2) as executor:  # the same files: everything resumes
        again = run_grid(GRID, tmp_path, progress=False, executor=executor)
    assert again.computed == 0 and again.skipped == 4 and numbers(again) == serial


def test_a_dask_local_cluster_matches_the_serial_run(serial: list[tuple], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="the cluster extra (Dask distributed) is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        with cell_executor(scheduler=cluster.scheduler_address) as executor:
            run = run_grid(GRID, tmp_path, progress=False, executor=executor)
    assert run.computed == 4 and numbers(run) == serial


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="jobs"):
        with cell_executor(jobs=0):
            pass
