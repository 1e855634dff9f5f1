"""``python -m benchmarks.scale``: memory against the budget and against the items held, and a store of millions of
codes on local disk (issue 17).

``memory``: for each store, in a fresh interpreter (spawned), the resident set size (``VmRSS``) after ``import
memstore``, after building the store with a budget of ``--budget-images`` raw images, and after writing
``--items`` random MNIST-shaped items in batches of 10 (a replay learner's writes). The RecollectionStore trains
by its defaults (Algorithm 1, one step per item). Torch builds part of its machinery lazily, the first time a
store makes an optimiser (``torch.optim`` imports ``torch._dynamo``); the same interpreter measures that first
(an Adam over one parameter) and reports it as ``torch_lazy_mib``, a cost of the process rather than of the store.

``disk``: a RecollectionStore whose working copy is a local folder (``path=``) is filled to ``--items`` codes
(training off, ``Stabilisation(steps=0)``: the fill measures storage, encoding included), in writes of 10,000;
at each checkpoint (10,000 codes, then ×10) the RSS and the median of ``--draws`` ``sample(10)`` calls.

``save``: in a fresh interpreter, a RawStore whose working copy is a local folder is filled with ``--items`` items
(writes of 10,000, the items admitted whole), then saved, then opened into a second working folder
(``memstore.open(target, path=...)``): the peak RSS each step adds above the RSS before it (``VmHWM``, reset before
each step), its time, and the bytes saved. A store saved whole would add at least its payload.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .arguments import choice_list, output_file, positive_int, refusing_bad_input

SHAPE = (1, 28, 28)
MIB = 1 << 20


def rss_mib() -> float:
    """This process's resident set size in MiB (Linux: ``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration) as exc:
        raise SystemExit(f"benchmarks.scale reads VmRSS from /proc/self/status (Linux only): {exc}") from exc
    return int(line.split()[1]) / 1024


@dataclass(frozen=True)
class MemoryRow:
    """One store's RSS in MiB: after import, and added by torch's lazy machinery, construction and the items."""

    store: str
    budget_images: int
    items: int
    import_mib: float
    torch_lazy_mib: float
    construct_mib: float
    held_mib: float
    seconds: float


@dataclass(frozen=True)
class DiskRow:
    """A RecollectionStore on local disk at ``items`` codes: RSS, the median ``sample(10)`` and the fill rate."""

    items: int
    rss_mib: float
    sample_ms: float
    write_items_per_s: float
    disk_mib: float


@dataclass(frozen=True)
class SaveRow:
    """A RawStore on local disk: its payload, and what saving it and opening it into a new working path add to the
    peak RSS (MiB) and take (s)."""

    items: int
    payload_mib: float
    rss_before_mib: float
    save_peak_mib: float
    save_seconds: float
    open_peak_mib: float
    open_seconds: float
    saved_mib: float


def peak_rss_mib() -> float:
    """This process's peak resident set size since the last :func:`reset_peak` (``VmHWM``), in MiB."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024


def reset_peak() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux: ``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def save_row(items: int) -> SaveRow:
    """Run in a fresh interpreter: fill a RawStore on disk, save it, open it into a new working path."""
    import memstore

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        store = make_store("raw", items, path=Path(folder) / "work")
        generator = torch.Generator().manual_seed(0)
        for start in tqdm(range(0, items, 10_000), desc="writes of 10,000", leave=False, file=sys.stderr):
            store.write(*random_batch(min(10_000, items - start), generator))
        steps = {}
        for name, step in (("save", lambda: store.save(Path(folder) / "saved")),
                           ("open", lambda: memstore.open(Path(folder) / "saved", path=Path(folder) / "opened"))):
            before = rss_mib()
            reset_peak()
            began = time.perf_counter()
            opened = step()
            steps[name] = (round(peak_rss_mib() - before, 1), round(time.perf_counter() - began, 1), before)
        assert len(opened) == items
        saved = sum(f.stat().st_size for f in (Path(folder) / "saved").rglob("*") if f.is_file()) / MIB
        return SaveRow(items, round(items * 784 / MIB, 1), round(steps["save"][2], 1), *steps["save"][:2],
                       *steps["open"][:2], round(saved, 1))


def random_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random MNIST-shaped items on the 1/255 grid and their labels."""
    return torch.randint(0, 256, (n, *SHAPE), generator=generator).float() / 255, torch.randint(0, 10, (n,),
                                                                                                 generator=generator)


def make_store(name: str, budget_images: int, **options: Any) -> Any:
    from memstore import Budget, JPEGStore, RawStore, RecollectionStore

    budget = Budget.images(budget_images, SHAPE, 10)
    kinds: dict[str, Callable[[], Any]] = {
        "raw": lambda: RawStore(budget, SHAPE, 10, seed=0, **options),
        "jpeg": lambda: JPEGStore(budget, SHAPE, 10, seed=0, quality=50, **options),
        "recollection": lambda: RecollectionStore(budget, SHAPE, 10, seed=0, **options),
    }
    return kinds[name]()


def memory_row(name: str, budget_images: int, items: int) -> MemoryRow:
    """Run in a fresh interpreter: RSS deltas of one store (see the module docstring)."""
    torch.set_num_threads(1)
    import memstore  # noqa: F401  (the baseline includes the library)

    start = rss_mib()
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    lazy = rss_mib()
    store = make_store(name, budget_images)
    built = rss_mib()
    generator, began = torch.Generator().manual_seed(0), time.perf_counter()
    for _ in tqdm(range(items // 10), desc=f"{name}: writes of 10", leave=False, file=sys.stderr):
        store.write(*random_batch(10, generator))
    return MemoryRow(name, budget_images, len(store), round(start, 1), round(lazy - start, 1), round(built - lazy, 1),
                     round(rss_mib() - lazy, 1), round(time.perf_counter() - began, 1))


def disk_rows(items: int, draws: int, latents: int | None, classes: int | None) -> list[DiskRow]:
    """Fill a RecollectionStore on local disk to ``items`` codes; a row at 10,000 codes and every ×10."""
    from memstore import Stabilisation

    torch.set_num_threads(1)
    checkpoints = [n for n in (10**k for k in range(4, 10)) if n < items] + [items]
    rows, generator, spent = [], torch.Generator().manual_seed(0), 0.0
    with tempfile.TemporaryDirectory() as folder:
        store = make_store("recollection", max(items, 10) // 10, latents=latents, classes=classes,
                           stabilisation=Stabilisation(steps=0, anchor_every=0), path=folder)
        x, y = random_batch(10_000, generator)
        with tqdm(total=items, desc="codes written", unit="item", file=sys.stderr) as progress:
            for checkpoint in checkpoints:
                while len(store) < checkpoint:
                    n = min(10_000, checkpoint - len(store))
                    began = time.perf_counter()
                    store.write(x[:n], y[:n])
                    spent += time.perf_counter() - began
                    progress.update(n)
                draw = torch.Generator().manual_seed(1)
                times = []
                for _ in range(draws):
                    began = time.perf_counter()
                    store.sample(10, generator=draw)
                    times.append(time.perf_counter() - began)
                disk = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / MIB
                rows.append(DiskRow(len(store), round(rss_mib(), 1), round(1000 * statistics.median(times), 3),
                                    round(len(store) / spent), round(disk, 3)))
    return rows


def table(rows: list[Any]) -> str:
    fields = list(asdict(rows[0]))
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    return "\n".join([*lines, *("| " + " | ".join(str(v) for v in asdict(row).values()) + " |" for row in rows)])


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("memory", "disk", "save"))
    parser.add_argument("--stores", type=choice_list(("raw", "jpeg", "recollection")), default="raw,jpeg,recollection",
                        help="memory: comma list (raw, jpeg, recollection)")
    parser.add_argument("--budget-images", type=positive_int, default=10_000_000,
                        help="memory: the budget in raw images")
    parser.add_argument("--items", type=positive_int, default=None,
                        help="items written (memory: 20,000; disk: 10,000,000; save: 1,000,000)")
    parser.add_argument("--draws", type=positive_int, default=200, help="disk: sample(10) calls timed per checkpoint")
    parser.add_argument("--latents", type=positive_int, default=None, help="disk: c (default: the budget's design)")
    parser.add_argument("--classes", type=positive_int, default=None, help="disk: l (with --latents)")
    parser.add_argument("--out", type=output_file, default=None, help="write the rows here as JSON")
    args = parser.parse_args(argv)
    if (args.latents is None) != (args.classes is None):
        parser.error("give --latents and --classes together, or neither")
    if args.kind == "memory":
        items = 20_000 if args.items is None else args.items
        with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
            rows = [pool.apply(memory_row, (name, args.budget_images, items)) for name in args.stores]
    elif args.kind == "save":
        with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
            rows = [pool.apply(save_row, (1_000_000 if args.items is None else args.items,))]
    else:
        rows = disk_rows(10_000_000 if args.items is None else args.items, args.draws, args.latents, args.classes)
    print(table(rows))
    if args.out is not None:
        # imported here: a spawned memory worker imports this module, and must not pay for the runner's imports
        from .provenance import machine, provenance

        # each measuring process sets one thread: both records of the count say so, not this parent's count
        made = {**provenance(), **machine("cpu"), "threads": 1, "torch_threads": 1}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        arguments = vars(args) | {"out": str(args.out), "stores": ",".join(args.stores)}  # as recorded before
        args.out.write_text(json.dumps({"kind": args.kind, "arguments": arguments,
                                        "provenance": made, "rows": [asdict(row) for row in rows]},
                                       indent=1) + "\n")


if __name__ == "__main__":
    main()
