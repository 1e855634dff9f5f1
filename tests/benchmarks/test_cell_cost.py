"""benchmarks.cell_cost at toy sizes on the CPU (the accelerator's numbers are the benchmark's, in docs/results.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import cell_cost

CELL = "--seeds 0 --budgets 10 --stores raw --learners er"  # the embedded digits config: one cell


def test_steps_are_timed_alone_and_in_a_crowd(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    assert cell_cost.main(["--cell", CELL, "--steps", "2", "--crowd", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    alone, crowd = report["rows"]
    assert (alone["processes"], crowd["processes"]) == (1, 2) and len(crowd["ms_per_step"]) == 2
    assert all(ms > 0 for row in report["rows"] for ms in row["ms_per_step"])
    assert report["provenance"]["device_name"] is None and "dgm" not in report


def test_flags_that_select_more_than_one_cell_are_refused() -> None:
    with pytest.raises(SystemExit, match="selects 2"):
        cell_cost.step_ms("--seeds 0,1 --budgets 10 --stores raw --learners er", "cpu", 1)


@pytest.mark.usefixtures("mnist_root")
def test_the_dgm_path_trains_scores_saves_and_reads_back() -> None:
    result = cell_cost.dgm_path("cpu", tasks=1)
    assert len(result["seconds_per_task"]) == 1 and result["sampled_after_read_back"] == 8
    assert result["accuracy"] == [1.0]  # one class so far: the solver cannot miss
