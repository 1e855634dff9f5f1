"""``python -m benchmarks.cell_cost``: what one stream step of a benchmark cell costs on a device, alone and with
other cells beside it, so that a lease on an accelerator can be planned before it starts.

A cell is named by its command-line flags (``--cell "--config frontier-rotated-mnist --stores recollection
--budgets 100 --seeds 2"``; the flags must select one cell). For each device in ``--devices`` the cell is built
(:func:`~benchmarks.runner.build_cell`: its seeded stream, model, store and learner), ``--warm`` batches of its
first task are fed to the learner untimed, then ``--steps`` batches timed (with the device synchronised at both
ends). ``--crowd N`` repeats the first device's measurement in N processes at once, each timing its own steps:
the throughput of a machine running N cells side by side.

The steps timed are the first task's, while the store is filling; a learned store's later steps can cost more
(the recorded frontier cells averaged two to three times the first task's cost per step on the CPU), so the
numbers bound a cell's time from below.

``--dgm-tasks K`` also runs the generative protocol's store end to end on the first device for K tasks at one
pass each (config ``dgm-split-mnist-curve``, DGMa): seconds per task, the solver's accuracy on those tasks, and a
save of the store read back, so that the whole path is checked on that device before a long run depends on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .arguments import device, non_negative_int, output_file, positive_int, refusing_bad_input
from .cli import grid_from_args, parse_flags
from .provenance import machine, provenance
from .runner import CellParts, build_cell
from .specs import Setting

DGM_CELL = "--config dgm-split-mnist-curve --stores dgma:settings=released,passes=1 --seeds 0"


@dataclass(frozen=True)
class StepCost:
    """Milliseconds per stream step of ``cell`` on ``device``; ``processes``: how many cells ran at once."""

    cell: str
    device: str
    processes: int
    steps: int
    ms_per_step: tuple[float, ...]


def _synchronise(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))


def _built(flags: str, device: str) -> tuple[Setting, CellParts]:
    cells = list(grid_from_args(parse_flags(flags)).cells())
    if len(cells) != 1:
        raise SystemExit(f"--cell must select one cell; {flags!r} selects {len(cells)}")
    return cells[0].setting, build_cell(cells[0], device=device)


def step_ms(flags: str, device: str, steps: int, warm: int = 3) -> float:
    """Mean milliseconds of one ``observe`` over ``steps`` batches of the cell's first task, after ``warm``."""
    setting, parts = _built(flags, device)
    task = next(iter(parts.stream))
    batches = task.batches(setting.batch_size)
    task_id = task.index if setting.task_aware else None
    for _ in range(warm):
        parts.learner.observe(*next(batches), task=task_id)
    _synchronise(device)
    start = time.perf_counter()
    for _ in range(steps):
        parts.learner.observe(*next(batches), task=task_id)
    _synchronise(device)
    return 1000 * (time.perf_counter() - start) / steps


def crowded_ms(flags: str, device: str, steps: int, processes: int) -> tuple[float, ...]:
    """:func:`step_ms` in ``processes`` interpreters at once, one result each."""
    command = [sys.executable, "-m", "benchmarks.cell_cost", "--one", "--cell", flags, "--devices", device,
               "--steps", str(steps), "--threads", str(torch.get_num_threads())]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    outputs = [p.communicate()[0] for p in running]
    failed = [p.returncode for p in running if p.returncode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {processes} crowded runs failed (exit codes {failed})")
    return tuple(float(out.strip().splitlines()[-1]) for out in outputs)


def dgm_path(device: str, tasks: int) -> dict[str, object]:
    """The DGM store trained, scored, saved and read back on ``device`` for ``tasks`` tasks at one pass each."""
    import memstore

    setting, parts = _built(DGM_CELL, device)
    seconds = []
    stream = list(parts.stream)[:tasks]
    for task in stream:
        for x, y in task.batches(setting.batch_size):
            parts.learner.observe(x, y, task=task.index)
        _synchronise(device)
        start = time.perf_counter()
        parts.learner.end_task(task.index)
        _synchronise(device)
        seconds.append(time.perf_counter() - start)
    accuracy = [parts.learner.score(t.test_x, t.test_y).accuracy for t in stream]
    with tempfile.TemporaryDirectory() as folder:
        parts.store.save(Path(folder) / "store")
        read_back = len(memstore.open(Path(folder) / "store").sample(8, generator=torch.Generator()).x)
    return {"seconds_per_task": seconds, "accuracy": accuracy, "sampled_after_read_back": read_back}


def one_cell(flags: str) -> str:
    """``--cell``: ``python -m benchmarks`` flags that select exactly one cell, checked before anything is timed."""
    try:
        cells = grid_from_args(parse_flags(flags)).cells()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(cells) != 1:
        raise argparse.ArgumentTypeError(f"--cell must select one cell; {flags!r} selects {len(cells)}")
    return flags


def device_list(text: str) -> tuple[str, ...]:
    """``--devices``: a comma list of devices this machine has."""
    return tuple(device(name) for name in text.split(","))


@refusing_bad_input
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cell_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--cell", type=one_cell, action="append", required=True,
                   help="flags selecting one cell (repeatable)")
    p.add_argument("--devices", type=device_list, default="cpu", help="comma list, e.g. cuda,cpu")
    p.add_argument("--steps", type=positive_int, default=40)
    p.add_argument("--crowd", type=non_negative_int, default=0,
                   help="also time the first cell on the first device in N processes")
    p.add_argument("--dgm-tasks", type=non_negative_int, default=0)
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per process")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a crowd member: print ms only
    p.add_argument("--out", type=output_file, default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    devices = list(args.devices)
    torch.set_num_threads(args.threads)
    if args.one:
        print(step_ms(args.cell[0], devices[0], args.steps), flush=True)
        return 0
    rows = [StepCost(cell, device, 1, args.steps, (step_ms(cell, device, args.steps),))
            for cell in args.cell for device in devices]
    if args.crowd:
        rows.append(StepCost(args.cell[0], devices[0], args.crowd, args.steps,
                             crowded_ms(args.cell[0], devices[0], args.steps, args.crowd)))
    report = {"provenance": {**provenance(), **machine(devices[0])}, "rows": [asdict(row) for row in rows]}
    if args.dgm_tasks:
        report["dgm"] = dgm_path(devices[0], args.dgm_tasks)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
