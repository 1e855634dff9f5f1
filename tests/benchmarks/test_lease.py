"""The prepared accelerator script (benchmarks.lease): jobs in lanes under a deadline, and its record."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from benchmarks.lease import PLAN, Job, main, run_jobs


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


COMMANDS = {
    "quick": _python("pass"),
    "slow": _python("import time; time.sleep(120)"),
    "broken": _python("raise SystemExit(3)"),
    "stubborn": _python("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"),
}


class FakeTime:
    """A clock that moves only when the lease sleeps: a poll of ``dt`` seconds takes a tenth of a second of real
    time, so a deadline counts polls, and a quick job has many real seconds to finish before it."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        time.sleep(0.1)
        self.now += dt


def _run(jobs: list[Job], seconds: float, lanes: int, grace: float = 1.0) -> dict[str, tuple[str, int | None]]:
    fake = FakeTime()
    outcomes = run_jobs(jobs, lambda job: COMMANDS[job.flags], seconds=seconds, lanes=lanes, grace=grace,
                        clock=fake.clock, sleep=fake.sleep)
    assert [o.label for o in outcomes] == [job.label for job in jobs]
    return {o.label: (o.status, o.returncode) for o in outcomes}


def test_jobs_finish_fail_or_stop_at_the_deadline():
    got = _run([Job("a", "quick", 0.1), Job("b", "slow", 0.1), Job("c", "broken", 0.1)], seconds=200, lanes=3)
    assert got == {"a": ("finished", 0), "b": ("stopped at the deadline", -15), "c": ("failed", 3)}


def test_a_job_that_ignores_the_stop_is_killed_after_the_grace():
    assert _run([Job("s", "stubborn", 0.1)], seconds=100, lanes=1, grace=0.5) == {"s": ("stopped at the deadline", -9)}


def test_a_job_whose_estimate_does_not_fit_is_not_started_and_a_shorter_one_takes_its_place():
    got = _run([Job("long", "slow", 10.0), Job("short", "quick", 0.1)], seconds=200, lanes=1)
    assert got == {"long": ("not started", None), "short": ("finished", 0)}


def test_lanes_bound_the_jobs_at_once():
    got = _run([Job("first", "slow", 0.1), Job("second", "quick", 0.1)], seconds=60, lanes=1)
    assert got == {"first": ("stopped at the deadline", -15), "second": ("not started", None)}


def test_workers_a_finished_job_left_behind_are_stopped(tmp_path):
    pid_file = tmp_path / "pid"
    spawn = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
             f"open({str(pid_file)!r}, 'w').write(str(p.pid))")
    COMMANDS["spawner"] = _python(spawn)
    try:
        assert _run([Job("p", "spawner", 0.1)], seconds=100, lanes=1) == {"p": ("finished", 0)}
    finally:
        del COMMANDS["spawner"]
    pid = int(pid_file.read_text())
    for _ in range(50):  # the killed worker is reaped by init, not at once
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the job's worker {pid} outlived the lease")


def test_the_plan_is_valid_runner_flags(capsys, tmp_path):
    assert main(["--out", str(tmp_path), "--device", "cpu", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(PLAN) and all("--device cpu" in line for line in lines)


@pytest.mark.parametrize("job", ["nolabel", "a=--config default@0", "a=@1", "a b=--config default@1",
                                 "a=--config nope@1", "a=--config default --bogus@1", "a=--config default --out x@1",
                                 "a=--config default --out=x@1", "a=--config default --threads 4@1"])
def test_bad_jobs_are_refused_before_anything_runs(job, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "out"), "--device", "cpu", "--job", job])
    assert stop.value.code == 2
    assert not (tmp_path / "out").exists()


def test_a_label_twice_is_refused(tmp_path):
    job = "a=--config default --stores raw --seeds 0@1"
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "out"), "--device", "cpu", "--job", job, "--job", job])
    assert stop.value.code == 2 and not (tmp_path / "out").exists()


def test_a_lease_records_its_cells_its_logs_and_its_machine(tmp_path):
    flags = "--config default --stores raw --learners er --budgets 10 --seeds 0"
    assert main(["--out", str(tmp_path), "--device", "cpu", "--minutes", "5", "--job", f"tiny={flags}@0.5",
                 "--job", f"later={flags}@60"]) == 0
    record = json.loads((tmp_path / "lease.json").read_text())
    tiny, later = record["jobs"]
    assert tiny["status"] == "finished" and len(tiny["cells"]) == 1
    assert json.loads((tmp_path / "tiny" / "cells" / tiny["cells"][0]).read_text())["accuracy"] is not None
    assert "1 cells computed" in (tmp_path / "tiny" / "log.txt").read_text()
    assert later["status"] == "not started" and later["cells"] == []
    assert record["provenance"]["machine"] and "commit" in record["provenance"]


def test_a_job_that_fails_makes_the_lease_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMSTORE_DATA", str(tmp_path / "no-mnist-here"))
    flags = "--config frontier-split-mnist --stores raw --learners er --budgets 10 --seeds 0"
    assert main(["--out", str(tmp_path / "out"), "--device", "cpu", "--job", f"nodata={flags}@0.5"]) == 1
    record = json.loads((tmp_path / "out" / "lease.json").read_text())
    assert record["jobs"][0]["status"] == "failed"
    assert "MNIST" in (tmp_path / "out" / "nodata" / "log.txt").read_text()
