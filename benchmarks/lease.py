"""``python -m benchmarks.lease``: the one prepared script for an accelerator lease (issues 15 and 16).

A lease gives a session one GPU for about ten minutes of compute in one command. Cells are the unit of work: the
runner writes a cell's JSON when the cell finishes, so a cell stopped at the deadline leaves nothing and one that
finished is kept, whatever else happens. The script runs :data:`PLAN`, cells the CPU can hardly afford: DGM's A10
under the released code's settings at 5 epochs a task (issue 16), DGMw and both DGMa mask placements, seeds 0 to 2,
in that order. On this project's 2-core CPU one such cell takes 1.3 hours or more (seed 0, session 37).

Each job is one ``python -m benchmarks`` command with ``--device DEVICE``, run as its own process group with its own
output folder and log (``OUT/<label>/``), up to ``--lanes`` at once, in order. A job starts only while its estimated
minutes fit in what is left before the deadline (a later, shorter job may start in its place). At the deadline every
running job is stopped: all at once, SIGTERM, then SIGKILL after a grace period, so the lease ends within
``--minutes``. ``OUT/lease.json`` records the machine, then, per job, its command, its outcome, its wall seconds and
the cells it wrote, so the next plan starts from measured times instead of estimates::

    MEMSTORE_COMMIT=<the session's HEAD> python -m benchmarks.lease --out "$OUT" --minutes 9

(``MEMSTORE_COMMIT`` names the code in every cell's provenance: the accelerator's copy of the tree has no git
history of its own.) ``--dry-run`` lists the jobs and exits; ``--job LABEL=FLAGS@MINUTES`` (repeatable) replaces
the plan.

Not in the plan: the Riemer 200-image recollection cells (issue 15). 20,000 single-example steps at (139, 8) take at
least 6 minutes alone on an H200 and, at the 40 % speed a shared GPU gave each process, about 15 beside others: no
10-minute command finishes one, and a stopped cell leaves nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from .arguments import device, positive_int, positive_real, refusing_bad_input
from .provenance import machine, provenance

__all__ = ["PLAN", "Job", "Outcome", "main", "run_jobs"]

_DGM_A10 = ("--config dgm-split-mnist --learners dgm:holdout=0.15 "
            "--stores {store}:settings=released,passes=5{extra} --seeds {seed}")
_DGM_VARIANTS = (("dgmw", "dgmw", ""), ("dgma_hat", "dgma", ",mask_activations=true"), ("dgma", "dgma", ""))
_RESERVED = ("device", "out", "data_root", "threads", "jobs", "scheduler")  # the lease sets or forbids these


@dataclass(frozen=True)
class Job:
    """One ``python -m benchmarks`` command (``flags``, without ``--device`` or ``--out``) and its estimated
    minutes on an accelerator shared with the other lanes."""

    label: str
    flags: str
    minutes: float

    def __post_init__(self) -> None:
        if not self.label.isidentifier() or not self.flags.strip() or not 0 < self.minutes < float("inf"):
            raise ValueError(f"a job is a plain label, runner flags and minutes > 0, got {self!r}")

    @classmethod
    def parse(cls, text: str) -> Job:
        """``LABEL=FLAGS@MINUTES``, the form ``--job`` takes."""
        label, _, rest = text.partition("=")
        flags, _, minutes = rest.rpartition("@")
        try:
            return cls(label, flags.strip(), positive_real(minutes))
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected LABEL=FLAGS@MINUTES (LABEL a plain name, MINUTES > 0), "
                                             f"got {text!r}") from None


#: Estimates from session 12's H200 probe (docs/results.md, "What a cell costs on an accelerator"): one DGM pass over
#: a task took 2-4 s alone, so 10 tasks at 5 epochs about 3 minutes alone, and about 6 beside three other jobs.
PLAN: tuple[Job, ...] = tuple(
    Job(f"{label}_a10_5ep_s{seed}", _DGM_A10.format(store=store, extra=extra, seed=seed), 6.0)
    for seed in (0, 1, 2) for label, store, extra in _DGM_VARIANTS)

Status = Literal["finished", "failed", "stopped at the deadline", "not started"]


@dataclass(frozen=True)
class Outcome:
    """What became of one job: ``status`` and, for a job that started, its exit code and wall seconds."""

    label: str
    command: tuple[str, ...]
    minutes: float
    status: Status
    returncode: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class _Running:
    process: subprocess.Popen
    started: float


def _kill_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _stop_all(running: dict[int, _Running], grace: float) -> dict[int, int]:
    """SIGTERM to every job's process group at once, SIGKILL to what is left after ``grace`` seconds; exit codes."""
    for job in running.values():
        _kill_group(job.process, signal.SIGTERM)
    end = time.monotonic() + grace
    codes = {}
    for index, job in running.items():
        try:
            codes[index] = job.process.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(job.process, signal.SIGKILL)
            codes[index] = job.process.wait()
        _kill_group(job.process, signal.SIGKILL)  # workers the job left behind
    return codes


def _start(argv: list[str], log: Path | None) -> subprocess.Popen:
    if log is None:
        return subprocess.Popen(argv, start_new_session=True)
    with open(log, "w") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(argv, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)


def run_jobs(jobs: Sequence[Job], command: Callable[[Job], list[str]], *, seconds: float, lanes: int,
             grace: float = 10.0, log: Callable[[Job], Path | None] = lambda job: None,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
             poll: float = 1.0) -> list[Outcome]:
    """Run ``command(job)`` for the jobs, ``lanes`` at once and in order, each in its own process group with its
    output in ``log(job)`` (None: inherited), starting a job only while its estimate fits in what is left of
    ``seconds - grace``, and stopping every job still running then (module docstring)."""
    deadline = clock() + seconds - grace
    waiting, running, outcomes = list(range(len(jobs))), {}, {}

    def outcome(index: int, status: Status, code: int | None = None) -> None:
        job, took = jobs[index], None if index not in running else round(clock() - running[index].started, 1)
        outcomes[index] = Outcome(job.label, tuple(command(job)), job.minutes, status, code, took)

    try:
        while True:
            for index in [i for i in waiting if jobs[i].minutes * 60 <= deadline - clock()][:lanes - len(running)]:
                waiting.remove(index)
                running[index] = _Running(_start(command(jobs[index]), log(jobs[index])), clock())
            if not running:  # nothing left that fits in the time left
                break
            sleep(max(0.0, min(poll, deadline - clock())))
            for index in [i for i, job in running.items() if job.process.poll() is not None]:
                _kill_group(running[index].process, signal.SIGKILL)  # workers the job left behind
                code = running[index].process.returncode
                outcome(index, "finished" if code == 0 else "failed", code)
                del running[index]
            if running and clock() >= deadline:
                for index, code in _stop_all(running, grace).items():
                    outcome(index, "stopped at the deadline", code)
                running.clear()
    finally:
        _stop_all(running, grace=0.0)  # an exception or a signal: no job outlives the lease
    for index in waiting:
        outcome(index, "not started")
    return [outcomes[i] for i in range(len(jobs))]


def _refused(jobs: Sequence[Job]) -> str | None:
    """Why the jobs cannot run (a label twice, flags the lease sets, flags that select no cell), checked before any
    starts; None if they can."""
    from .cli import build_parser, grid_from_args, parse_flags

    labels = [job.label for job in jobs]
    if len(set(labels)) != len(labels):
        return f"every job needs its own label (its output folder), got {labels}"
    defaults = build_parser()
    for job in jobs:
        try:
            parsed = parse_flags(job.flags)
            reserved = [name for name in _RESERVED if getattr(parsed, name) != defaults.get_default(name)]
            if reserved:
                return f"job {job.label}: {', '.join(reserved)} are the lease's to set, not a job's ({job.flags!r})"
            if not grid_from_args(parsed).cells():
                return f"job {job.label} selects no cell: {job.flags!r}"
        except (ValueError, KeyError) as exc:
            return f"job {job.label}: {exc}"
    return None


def _cells(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "cells").glob("*.json")) if (folder / "cells").is_dir() else []


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # run_jobs' finally stops the jobs


@refusing_bad_input
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lease", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the jobs' cells and lease.json ($OUT)")
    p.add_argument("--device", type=device, default="cuda", help="where the jobs' networks compute (default cuda)")
    p.add_argument("--minutes", type=positive_real, default=9.0,
                   help="the lease's length, counted from when the first job starts (default 9)")
    p.add_argument("--lanes", type=positive_int, default=4, help="jobs at once (default 4)")
    p.add_argument("--grace", type=positive_real, default=10.0,
                   help="seconds a stopped job gets to exit before SIGKILL (default 10)")
    p.add_argument("--job", type=Job.parse, action="append", help="LABEL=FLAGS@MINUTES, replacing the plan")
    p.add_argument("--data-root", help="passed to every job: the folder holding MNIST/raw/*")
    p.add_argument("--dry-run", action="store_true", help="print the jobs and exit")
    args = p.parse_args(argv)
    jobs = tuple(args.job or PLAN)
    problem = _refused(jobs)
    if problem:
        p.error(problem)

    def command(job: Job) -> list[str]:
        return [sys.executable, "-m", "benchmarks", *shlex.split(job.flags), "--device", args.device,
                "--out", str(args.out / job.label), "--threads", "1", "--no-progress",
                *(["--data-root", args.data_root] if args.data_root else [])]

    if args.dry_run:
        for job in jobs:
            print(f"{job.minutes:5.1f} min  {shlex.join(command(job))}")
        return 0
    for job in jobs:
        (args.out / job.label).mkdir(parents=True, exist_ok=True)
    where = {**provenance(), **machine(args.device)}
    before = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        outcomes = run_jobs(jobs, command, seconds=60 * args.minutes, lanes=args.lanes, grace=args.grace,
                            log=lambda job: args.out / job.label / "log.txt")
    finally:
        signal.signal(signal.SIGTERM, before)
    record = {"provenance": where, "minutes": args.minutes, "lanes": args.lanes,
              "jobs": [{**asdict(o), "cells": _cells(args.out / o.label)} for o in outcomes]}
    (args.out / "lease.json").write_text(json.dumps(record, indent=1) + "\n")
    for o in outcomes:
        print(f"{o.label}: {o.status}" + (f" after {o.seconds:.0f} s" if o.seconds is not None else ""))
    return 0 if all(o.status != "failed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
