"""``python -m benchmarks.lease``: the one prepared script for an accelerator lease (issues 15 and 16).

A lease gives a session one GPU for about ten minutes of compute in one command. Cells are the unit of work: the
runner writes a cell's JSON when the cell finishes, so a cell stopped at the deadline leaves nothing and one that
finished is kept, whatever else happens. The script runs :data:`PLAN`, the cells the CPU cannot afford, in order of
what they tell:

1. DGM's A10 under the released code's settings (issue 16), which no CPU session has measured;
2. seeds of the Riemer 200-image ER recollection row (issue 15), two CPU-hours each here.

Each job is one ``python -m benchmarks`` command with ``--device DEVICE``, run as its own process with its own
output folder (``OUT/<label>``), up to ``--lanes`` at once. A job starts only while its estimated minutes fit in what
is left before the deadline; at the deadline every running job is stopped. ``OUT/lease.json`` records, per job, its
command, its outcome (``finished``, ``failed``, ``stopped at the deadline``, ``not started``), its wall seconds and the
cells it wrote, with the machine it ran on, so the next plan starts from measured times instead of estimates::

    MEMSTORE_COMMIT=<the session's HEAD> python -m benchmarks.lease --out "$OUT" --minutes 9

(``MEMSTORE_COMMIT`` names the code in every cell's provenance: the accelerator's copy of the tree has no git
history of its own.) ``--dry-run`` lists the plan and exits; ``--job LABEL=FLAGS@MINUTES`` (repeatable) replaces it.
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

from .arguments import device, positive_int, positive_real, refusing_bad_input
from .provenance import machine, provenance

__all__ = ["PLAN", "Job", "Outcome", "main", "run_jobs"]

_RIEMER_200 = ("--config riemer-rotated-200 --learners er --stores "
               "recollection:latents=139,classes=8,steps=1,refresh=true,anchor_every=0,activation=relu --seeds {seed}")
_DGM_A10 = ("--config dgm-split-mnist --learners dgm:holdout=0.15 "
            "--stores {store}:settings=released,passes=5{extra} --seeds {seed}")


@dataclass(frozen=True)
class Job:
    """One ``python -m benchmarks`` command (``flags``, without ``--device`` or ``--out``) and its estimated
    minutes on a shared accelerator."""

    label: str
    flags: str
    minutes: float

    @classmethod
    def parse(cls, text: str) -> Job:
        """``LABEL=FLAGS@MINUTES``, the form ``--job`` takes."""
        label, sep, rest = text.partition("=")
        flags, at, minutes = rest.rpartition("@")
        try:
            estimate = positive_real(minutes)
        except argparse.ArgumentTypeError:
            estimate = None
        if not (sep and at and label.isidentifier() and flags.strip()) or estimate is None:
            raise argparse.ArgumentTypeError(f"expected LABEL=FLAGS@MINUTES (LABEL a plain name, MINUTES > 0), "
                                             f"got {text!r}")
        return cls(label, flags.strip(), estimate)


#: Estimates from session 12's H200 probe (docs/results.md, "What a cell costs on an accelerator"): one DGM pass over
#: a task 2-4 s alone; a Riemer example 17 ms alone at (104, 4), more at (139, 8); sharing the GPU slows each job.
PLAN: tuple[Job, ...] = (
    Job("dgmw_a10_5ep_s0", _DGM_A10.format(store="dgmw", extra="", seed=0), 5.0),
    Job("dgma_hat_a10_5ep_s0", _DGM_A10.format(store="dgma", extra=",mask_activations=true", seed=0), 5.0),
    Job("dgma_a10_5ep_s0", _DGM_A10.format(store="dgma", extra="", seed=0), 5.0),
    Job("riemer200_er_s1", _RIEMER_200.format(seed=1), 8.0),
    Job("riemer200_er_s2", _RIEMER_200.format(seed=2), 8.0),
    Job("dgmw_a10_5ep_s1", _DGM_A10.format(store="dgmw", extra="", seed=1), 5.0),
    Job("dgma_hat_a10_5ep_s1", _DGM_A10.format(store="dgma", extra=",mask_activations=true", seed=1), 5.0),
)


@dataclass(frozen=True)
class Outcome:
    """What became of one job: ``status`` and, for a job that started, its exit code and wall seconds."""

    label: str
    command: tuple[str, ...]
    minutes: float
    status: str
    returncode: int | None = None
    seconds: float | None = None


def _stop(process: subprocess.Popen) -> int:
    """Stop a job and the workers it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait()
    except ProcessLookupError:
        return process.wait()


def run_jobs(jobs: Sequence[Job], command: Callable[[Job], list[str]], *, seconds: float, lanes: int,
             clock: Callable[[], float] = time.monotonic, poll: float = 1.0) -> list[Outcome]:
    """Run ``command(job)`` for the jobs, ``lanes`` at once and in order, starting a job only while its estimate fits
    in what is left of ``seconds`` (a later, shorter job may start in its place), and stopping every running job at
    the deadline."""
    deadline = clock() + seconds
    waiting, running, done = list(jobs), {}, {}
    while True:
        for job in [j for j in waiting if j.minutes * 60 <= deadline - clock()][:lanes - len(running)]:
            waiting.remove(job)
            running[job] = (subprocess.Popen(command(job), start_new_session=True), clock())
        if not running:  # nothing left that fits in the time left
            break
        time.sleep(poll)
        over = clock() >= deadline
        for job, (process, started) in list(running.items()):
            code = _stop(process) if over and process.poll() is None else process.poll()
            if code is None:
                continue
            status = "stopped at the deadline" if over and code != 0 else "finished" if code == 0 else "failed"
            done[job] = Outcome(job.label, tuple(command(job)), job.minutes, status, code, round(clock() - started, 1))
            del running[job]
    return [done.get(job) or Outcome(job.label, tuple(command(job)), job.minutes, "not started") for job in jobs]


def _refused(jobs: Sequence[Job]) -> str | None:
    """Why the jobs cannot run (a label twice, flags that select no cell), checked before any starts; None if they
    can."""
    from .cli import build_parser, grid_from_args

    labels = [job.label for job in jobs]
    if len(set(labels)) != len(labels):
        return f"every job needs its own label (its output folder), got {labels}"
    parser = build_parser()
    parser.exit_on_error = False
    for job in jobs:
        if any(flag in job.flags.split() for flag in ("--device", "--out", "--data-root")):
            return f"job {job.label}: --device, --out and --data-root are the lease's, not a job's ({job.flags!r})"
        try:
            parsed, unknown = parser.parse_known_args(shlex.split(job.flags))
            if unknown:
                return f"job {job.label}: python -m benchmarks does not take {unknown} ({job.flags!r})"
            if not grid_from_args(parsed).cells():
                return f"job {job.label} selects no cell: {job.flags!r}"
        except (argparse.ArgumentError, ValueError, KeyError) as exc:
            return f"job {job.label}: {job.flags!r} are not flags of python -m benchmarks ({exc})"
        except SystemExit:  # the runner's parser has printed what it refused
            return f"job {job.label}: {job.flags!r} are not flags of python -m benchmarks"
    return None


def _cells(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "cells").glob("*.json")) if (folder / "cells").is_dir() else []


@refusing_bad_input
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lease", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the jobs' cells and lease.json ($OUT)")
    p.add_argument("--device", type=device, default="cuda", help="where the jobs' networks compute (default cuda)")
    p.add_argument("--minutes", type=positive_real, default=9.0, help="the deadline, from the start (default 9)")
    p.add_argument("--lanes", type=positive_int, default=len(PLAN), help="jobs at once (default: the whole plan)")
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
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes = run_jobs(jobs, command, seconds=60 * args.minutes, lanes=args.lanes)
    record = {"provenance": {**provenance(), **machine(args.device)}, "minutes": args.minutes, "lanes": args.lanes,
              "jobs": [{**asdict(o), "cells": _cells(args.out / o.label)} for o in outcomes]}
    (args.out / "lease.json").write_text(json.dumps(record, indent=1) + "\n")
    for o in outcomes:
        print(f"{o.label}: {o.status}" + (f" after {o.seconds:.0f} s" if o.seconds is not None else ""))
    return 0 if all(o.status != "failed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
