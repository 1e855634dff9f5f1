"""The prepared accelerator script (benchmarks.lease): jobs in lanes under a deadline, and its record."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks.lease import PLAN, Job, main, run_jobs


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


COMMANDS = {"quick": _python("pass"), "slow": _python("import time; time.sleep(120)"),
            "broken": _python("raise SystemExit(3)")}


def _run(jobs: list[Job], seconds: float, lanes: int) -> dict[str, tuple[str, int | None]]:
    outcomes = run_jobs(jobs, lambda job: COMMANDS[job.flags], seconds=seconds, lanes=lanes, poll=0.05)
    assert [o.label for o in outcomes] == [job.label for job in jobs]
    return {o.label: (o.status, o.returncode) for o in outcomes}


def test_jobs_finish_fail_or_stop_at_the_deadline():
    jobs = [Job("a", "quick", 0.01), Job("b", "slow", 0.01), Job("c", "broken", 0.01)]
    got = _run(jobs, seconds=4, lanes=3)
    assert got["a"] == ("finished", 0)
    assert got["b"][0] == "stopped at the deadline" and got["b"][1] != 0
    assert got["c"] == ("failed", 3)


def test_a_job_whose_estimate_does_not_fit_is_not_started_and_a_shorter_one_takes_its_place():
    got = _run([Job("long", "slow", 10.0), Job("short", "quick", 0.01)], seconds=3, lanes=1)
    assert got == {"long": ("not started", None), "short": ("finished", 0)}


def test_lanes_bound_the_jobs_at_once():
    got = _run([Job("first", "slow", 0.01), Job("second", "quick", 0.01)], seconds=2, lanes=1)
    assert got["first"][0] == "stopped at the deadline"
    assert got["second"] == ("not started", None)


def test_the_plan_is_valid_runner_flags(capsys):
    assert main(["--out", "unused", "--device", "cpu", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(PLAN) and all("--device cpu" in line for line in lines)


@pytest.mark.parametrize("job", ["nolabel", "a=--config default@0", "a=@1", "a b=--config default@1",
                                 "a=--config nope@1", "a=--config default --bogus@1", "a=--config default --out x@1"])
def test_bad_jobs_are_refused_before_anything_runs(job, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "out"), "--device", "cpu", "--job", job])
    assert stop.value.code == 2
    assert not (tmp_path / "out").exists()


def test_a_label_twice_is_refused(tmp_path):
    job = "a=--config default --stores raw --seeds 0@1"
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--device", "cpu", "--job", job, "--job", job])


def test_a_lease_records_its_cells_and_its_machine(tmp_path):
    flags = "--config default --stores raw --learners er --budgets 10 --seeds 0"
    assert main(["--out", str(tmp_path), "--device", "cpu", "--minutes", "5", "--job", f"tiny={flags}@0.5",
                 "--job", f"later={flags}@60"]) == 0
    record = json.loads((tmp_path / "lease.json").read_text())
    tiny, later = record["jobs"]
    assert tiny["status"] == "finished" and len(tiny["cells"]) == 1
    cell = json.loads((tmp_path / "tiny" / "cells" / tiny["cells"][0]).read_text())
    assert cell["accuracy"] is not None
    assert later["status"] == "not started" and later["cells"] == []
    assert record["provenance"]["machine"] and "commit" in record["provenance"]
