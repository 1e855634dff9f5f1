"""``python -m benchmarks``: run a benchmark grid, print its markdown table, write CSV, markdown and plot.

With no arguments it runs the embedded default (``default`` in configs.py: a small frontier on digits).
``--config NAME`` starts from a paper config instead; every other flag overrides one field of the config.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from memstore.nn import usable_device

from .configs import CONFIGS, DEFAULT_CONFIG, FRONTIER_CONFIG
from .datasets import DATASETS, load_dataset
from .executors import cell_executor
from .frontier_report import frontier_table
from .parameters import parameters_of, split_names
from .report import write_report
from .runner import Grid, check_cells, run_cell, run_grid
from .settings import SETTING_HELP
from .specs import LEARNERS, SETTINGS, STORES, BudgetSpec, MLPSpec
from .streams import STREAMS

__all__ = ["build_parser", "config_name", "grid_from_args", "main", "parse_flags", "parse_seeds"]


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-19"`` -> 0..19; ``"0,3,5"`` -> (0, 3, 5); ranges and lists combine: ``"0-4,10"``."""
    seeds: list[int] = []
    expected = f"seeds as non-negative ints, ranges and commas (0-19, 0,3,5 or 0-4,10), got {text!r}"
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and (not high.isdigit() or int(high) < int(low))):
            raise argparse.ArgumentTypeError(expected)
        seeds.extend(range(int(low), int(high) + 1) if high else [int(low)])
    return tuple(seeds)




def _optional_count(text: str) -> int | None:
    return None if text.lower() in ("all", "none") else int(text)


def build_parser() -> argparse.ArgumentParser:
    settings = "\n".join(f"  {name:<16} {text}" for name, text in SETTING_HELP.items())
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"settings (--setting):\n{settings}\n\nFlags left out take the config's value "
                                       f"(the default config: {DEFAULT_CONFIG}).")
    p.add_argument("job", nargs="?", choices=["frontier"],
                   help="frontier: every item store at equal bits on Split MNIST (the frontier-split-mnist config)")
    p.add_argument("--config", default=None, choices=sorted(CONFIGS), help="named grid to start from")
    p.add_argument("--list-configs", action="store_true", help="print the named configs and exit")
    p.add_argument("--list-specs", action="store_true",
                   help="print every store and learner with the parameters it takes (name:key=value,...) and exit")
    p.add_argument("--dataset", choices=sorted(DATASETS),
                   help="digits (embedded), colour (synthetic 3x32x32), photos (crops of photographs, 3x32x32), "
                        "mnist, mnist-inverted, colour-mnist or fashion-mnist (from --data-root)")
    p.add_argument("--data-root", help="folder holding MNIST/raw/* (default: $MEMSTORE_DATA, else a shared/data "
                                       "folder beside the checkout)")
    p.add_argument("--stream", choices=sorted(STREAMS), help="split, permuted or rotated")
    p.add_argument("--examples-per-task", type=_optional_count, default=argparse.SUPPRESS,
                   help="training images per task, or 'all'")
    p.add_argument("--test-cap", type=_optional_count, default=argparse.SUPPRESS, help="cap per task test set")
    p.add_argument("--num-tasks", type=int, help="tasks of a permuted/rotated stream")
    p.add_argument("--setting", choices=sorted(SETTINGS), help="protocol setting (listed below; default: the config's)")
    p.add_argument("--lr", type=float, help="learning rate (overrides the setting's)")
    p.add_argument("--hidden", help="MLP hidden widths, e.g. 400,400")
    p.add_argument("--stores", type=split_names,
                   help=f"comma list of {sorted(STORES)}, each with optional parameters: lossless:codec=png,level=6")
    p.add_argument("--budgets", help="comma list: 500 (raw images) or 40000bits")
    p.add_argument("--learners", type=split_names, help=f"comma list of {sorted(LEARNERS)}")
    p.add_argument("--seeds", type=parse_seeds, help="e.g. 0-19 or 0,1,2")
    p.add_argument("--out", type=Path, help="output folder (default results/, or results/<config> for a named one)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (per worker with --jobs; default 1)")
    p.add_argument("--jobs", type=int, default=1,
                   help="cells run at once in local worker processes (default 1: in this process)")
    p.add_argument("--scheduler", default=None,
                   help="run the cells on the Dask distributed cluster at this address (tcp://HOST:PORT)")
    p.add_argument("--device", default="cpu",
                   help="where store networks compute, e.g. cuda (recollections' dVAE; the learner stays on the CPU)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--recompute", action="store_true",
                   help="run every cell again, replacing finished ones (after a code change: cells are keyed "
                        "by config)")
    p.add_argument("--keep-stores", action="store_true",
                   help="also save each computed cell's trained store as OUT/cells/<cell>.store (memstore.open)")
    return p


def parse_flags(text: str) -> argparse.Namespace:
    """The ``python -m benchmarks`` flags in ``text``, as another script's option names runner cells
    (``benchmarks.cell_cost --cell``, ``benchmarks.lease --job``); ValueError saying what the runner refuses."""
    parser = build_parser()
    parser.exit_on_error = False
    try:
        args, unknown = parser.parse_known_args(shlex.split(text))
    except argparse.ArgumentError as exc:
        raise ValueError(f"{text!r} are not flags of python -m benchmarks ({exc})") from None
    except SystemExit:  # an error argparse reports only by exiting, after printing it
        raise ValueError(f"{text!r} are not flags of python -m benchmarks") from None
    if unknown:
        raise ValueError(f"python -m benchmarks does not take {unknown} ({text!r})")
    return args


_MNIST_LAYOUT = (
    "MNIST is read in torchvision's layout: ROOT/MNIST/raw/train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (or their .gz files). On a machine with internet,\n"
    "torchvision.datasets.MNIST(ROOT, download=True) writes them; then pass --data-root ROOT or set MEMSTORE_DATA."
)


def _stream_from_args(grid: Grid, args: argparse.Namespace) -> object:
    kind = args.stream or grid.stream.name
    stream = grid.stream if kind == grid.stream.name else STREAMS[kind]()
    changes: dict[str, object] = {}
    for name in ("examples_per_task", "test_cap"):
        if hasattr(args, name):
            changes[name] = getattr(args, name)
    if args.num_tasks is not None:
        if "num_tasks" not in {f.name for f in dataclasses.fields(stream)}:  # Split has a method of that name
            raise ValueError(f"--num-tasks does not apply to the {kind} stream (it has one task per class group)")
        changes["num_tasks"] = args.num_tasks
    return dataclasses.replace(stream, **changes)


def config_name(args: argparse.Namespace) -> str:
    """The config the arguments name: ``frontier`` → the frontier config, else ``--config``, else the default."""
    return FRONTIER_CONFIG if args.job == "frontier" else args.config or DEFAULT_CONFIG


def grid_from_args(args: argparse.Namespace) -> Grid:
    """The named config with every given flag applied."""
    grid = CONFIGS[config_name(args)]
    setting = SETTINGS[args.setting] if args.setting else grid.setting
    if args.lr is not None:
        setting = dataclasses.replace(setting, lr=args.lr)
    changes: dict[str, object] = {"stream": _stream_from_args(grid, args), "setting": setting}
    if args.dataset:
        changes["dataset"] = args.dataset
    if args.hidden:
        widths = args.hidden.split(",")
        if not all(w.strip().isdigit() and int(w) > 0 for w in widths):
            raise ValueError(f"--hidden takes positive layer widths separated by commas (400,400), got {args.hidden!r}")
        changes["model"] = MLPSpec(tuple(int(w) for w in widths))
    budgets = tuple(BudgetSpec.parse(b) for b in args.budgets.split(",")) if args.budgets else grid.budgets
    changes["budgets"] = budgets
    # a point runs only when the flags that name stores, learners or budgets name its own too (a point off the
    # grid's budgets, ARM's and DGM's 0 bits, is not filtered by --budgets); a name that only the points running use
    # is not crossed
    points = tuple(p for p in grid.points if (not args.stores or p.store in args.stores)
                   and (not args.learners or p.learner in args.learners)
                   and (p.budget not in grid.budgets or p.budget in budgets))
    changes["points"] = points
    if args.stores:
        changes["stores"] = tuple(s for s in args.stores if s in grid.stores or s not in {p.store for p in points})
    if args.learners:
        changes["learners"] = tuple(n for n in args.learners
                                    if n in grid.learners or n not in {p.learner for p in points})
    if args.seeds:
        changes["seeds"] = args.seeds
    return dataclasses.replace(grid, **changes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.job == "frontier" and args.config not in (None, FRONTIER_CONFIG):
        parser.error(f"frontier is the {FRONTIER_CONFIG} config; drop --config {args.config}")
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive int, got {args.jobs}")
    if args.threads < 1:
        parser.error(f"--threads must be a positive int, got {args.threads}")
    args.config = config_name(args)
    if args.list_specs:
        for kind, registry in (("store", STORES), ("learner", LEARNERS)):
            for name in sorted(registry):
                print(f"{kind} {name}: {parameters_of(registry[name]) or '(no parameters)'}")
        return 0
    if args.list_configs:
        for name, grid in CONFIGS.items():
            print(f"{name}: {grid.dataset} {grid.stream.name}, setting {grid.setting.name}, {len(grid.cells())} cells")
        return 0
    try:
        grid = grid_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        usable_device(args.device)
    except ValueError as exc:
        print(f"error: --{exc}", file=sys.stderr)
        return 2
    try:
        load_dataset(grid.dataset, args.data_root)  # before any folder is made: a missing data set is a usage error
    except FileNotFoundError as exc:
        print(f"error: {exc}\n{_MNIST_LAYOUT}", file=sys.stderr)
        return 2
    out = args.out or (Path("results") if args.config == DEFAULT_CONFIG else Path("results") / args.config)
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file; name a folder (it holds cells/ and the reports)", file=sys.stderr)
        return 2
    try:  # every spec's values, checked by building one cell of each before any runs or any folder is made
        check_cells([c for c in grid.cells() if args.recompute or not (out / "cells" / f"{c.key}.json").exists()],
                    data_root=args.data_root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    with cell_executor(args.jobs, args.scheduler) as executor:
        run = run_grid(grid, out, data_root=args.data_root, progress=not args.no_progress,
                       run=functools.partial(run_cell, device=args.device), keep_stores=args.keep_stores,
                       recompute=args.recompute, executor=executor, threads=args.threads)
    files = write_report(run.results, out)
    print(files.table)
    if "raw" in grid.stores and len(grid.stores) > 1:  # a frontier: every store beside RawStore, seed by seed
        frontier = out / "frontier.md"
        frontier.write_text("# Frontier\n\n" + frontier_table(run.results))
        print(frontier_table(run.results))
        print(f"wrote {frontier}")
    print(f"{run.computed} cells computed, {run.skipped} found finished")
    print(f"wrote {files.csv}, {files.markdown}, {files.plot}")
    return 0
