"""Which store to pick at each budget, read off recorded cells: the library's purpose as one table per stream.

Cells of one seed share the stream and the model's init, so stores are compared on the same seeds. At each budget
the stores compared are those with cells for one common set of at least ``min_seeds`` seeds (a store with fewer
seeds than the others is left out rather than shrink that set below it), and the pick is the store of highest mean
accuracy over that set. Beside it: its paired difference to RawStore, and the stores it does not beat beyond noise
(two-sided paired t-test, p ≥ ``alpha``), each test on every seed the two stores share, which may be more than the
common set: a pick with ties is a choice among equals, not a winner.

    python -m benchmarks.store_choice docs/results/cells/frontier-split-mnist [more folders]
        [--stores raw,lossless,jpeg:quality=auto,recollection] [--learner er] [--min-seeds 5] [--alpha 0.05]
        [--stores-for FOLDER STORES] [--plot choosing.png]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from .paired import PairedDifference, paired_difference
from .parameters import split_names
from .report import cells_by_seed
from .runner import CellResult

__all__ = ["Choice", "Gain", "choice_table", "choices", "gains_over_raw", "read_cells", "write_gain_plot"]

#: the stores a user picks among when none are named: every item store at its defaults
DEFAULT_STORES = ("raw", "lossless", "jpeg", "jpeg:quality=auto", "recollection", "recollection:entropy=true")


@dataclass(frozen=True)
class Choice:
    """The store to pick at one budget, and how sure that pick is."""

    budget: str
    budget_bits: int
    store: str
    accuracy: float  # mean over the seeds the stores were ranked on, in points
    std: float
    seeds: int
    items: float  # mean items held
    versus_raw: PairedDifference | None  # None when the pick is raw or raw is not ranked at this budget
    tied: tuple[str, ...]  # stores the pick does not beat beyond noise


def read_cells(folder: str | Path) -> list[CellResult]:
    """Every cell JSON of a runner output folder (``folder`` itself or its ``cells/``)."""
    folder = Path(folder)
    cells = folder / "cells" if (folder / "cells").is_dir() else folder
    paths = sorted(cells.glob("*.json"))
    if not paths:
        raise ValueError(f"{folder}: no cell JSON files")
    return [CellResult.from_json(json.loads(path.read_text())) for path in paths]


def _runs(results: Sequence[CellResult], learner: str) -> dict[tuple[str, str], dict[int, CellResult]]:
    """``{(budget label, store): {seed: cell}}`` of one learner's cells of stores."""
    return {(budget, store): cells for (name, budget, store), cells in cells_by_seed(results).items()
            if name == learner}


def _accuracies(cells: dict[int, CellResult]) -> dict[int, float]:
    return {seed: 100 * cell.accuracy for seed, cell in cells.items()}


def _paired(a: dict[int, float], b: dict[int, float]) -> PairedDifference:
    """``a − b`` on their common seeds (at least 2)."""
    return paired_difference({"a": a, "b": b}, "a", "b")


def _beaten(best: dict[int, float], other: dict[int, float], alpha: float) -> bool:
    """Whether ``best`` is above ``other`` beyond noise on their common seeds (a constant gain counts)."""
    d = _paired(best, other)
    return d.mean > 0 and (d.wins == d.seeds if d.std == 0 else d.t_two_sided < alpha)


def _on_common_seeds(by_store: dict[str, dict[int, CellResult]], min_seeds: int) -> dict[str, dict[int, CellResult]]:
    """The stores with cells for one common set of at least ``min_seeds`` seeds, each cut to that set; stores with
    the fewest seeds are left out until the set is large enough (none may remain)."""
    stores = sorted(by_store, key=lambda store: -len(by_store[store]))
    while stores:
        seeds = set.intersection(*(set(by_store[store]) for store in stores))
        if len(seeds) >= min_seeds:
            return {store: {seed: by_store[store][seed] for seed in sorted(seeds)} for store in stores}
        stores.pop()
    return {}


def _choice(budget: str, ranked: dict[str, dict[int, CellResult]], every: dict[str, dict[int, CellResult]],
            alpha: float) -> Choice:
    """The pick among ``ranked`` (cut to common seeds); its tests run on every seed each pair shares in ``every``."""
    means = {store: statistics.fmean(_accuracies(cells).values()) for store, cells in ranked.items()}
    store = max(means, key=means.__getitem__)
    cells, best = ranked[store], _accuracies(every[store])
    versus_raw = _paired(best, _accuracies(every["raw"])) if store != "raw" and "raw" in ranked else None
    tied = tuple(sorted(other for other in ranked
                        if other != store and not _beaten(best, _accuracies(every[other]), alpha)))
    values = [100 * cell.accuracy for cell in cells.values()]
    return Choice(budget, round(statistics.fmean(c.budget_bits for c in cells.values())), store, means[store],
                  statistics.stdev(values), len(values), statistics.fmean(c.items for c in cells.values()),
                  versus_raw, tied)


def _by_budget(results: Sequence[CellResult], stores: Sequence[str] | None,
               learner: str) -> dict[str, dict[str, dict[int, CellResult]]]:
    """``{budget label: {store: {seed: cell}}}`` of ``learner`` on ``stores`` (None: all); ValueError if none."""
    runs = _runs(results, learner)
    recorded = sorted({store for _, store in runs})
    if not recorded or (stores is not None and not set(stores) & set(recorded)):
        raise ValueError(f"no cells of learner {learner!r} on the stores named; recorded: {recorded or 'none'}")
    budgets: dict[str, dict[str, dict[int, CellResult]]] = {}
    for (budget, store), cells in runs.items():
        if stores is None or store in stores:
            budgets.setdefault(budget, {})[store] = cells
    return budgets


def choices(results: Sequence[CellResult], *, stores: Sequence[str] | None = DEFAULT_STORES, learner: str = "er",
            min_seeds: int = 5, alpha: float = 0.05) -> list[Choice]:
    """One :class:`Choice` per budget, in increasing bits, among ``stores`` (None: every store recorded), compared on
    a common set of at least ``min_seeds`` seeds."""
    if min_seeds < 2 or not 0 < alpha < 1:
        raise ValueError(f"min_seeds must be at least 2 and alpha in (0, 1), got {min_seeds}, {alpha}")
    budgets = _by_budget(results, stores, learner)
    ranked = {budget: _on_common_seeds(by_store, min_seeds) for budget, by_store in budgets.items()}
    picked = [_choice(budget, ranked[budget], every, alpha) for budget, every in budgets.items() if ranked[budget]]
    return sorted(picked, key=lambda c: c.budget_bits)


@dataclass(frozen=True)
class Gain:
    """A store's paired difference to RawStore at one budget."""

    budget: str
    budget_bits: int
    difference: PairedDifference

    @property
    def half_width(self) -> float:
        """Half the 95 % confidence interval of the mean difference (Student's t)."""
        d = self.difference
        return float(stats.t.ppf(0.975, d.seeds - 1)) * d.std / math.sqrt(d.seeds)


def gains_over_raw(results: Sequence[CellResult], *, stores: Sequence[str] | None = DEFAULT_STORES,
                   learner: str = "er", min_seeds: int = 5) -> dict[str, list[Gain]]:
    """``{store: gains in increasing bits}``: each store's paired difference to raw wherever the two share at least
    ``min_seeds`` seeds."""
    gains: dict[str, list[Gain]] = {}
    for budget, by_store in _by_budget(results, stores, learner).items():
        raw = _accuracies(by_store.get("raw", {}))
        for store, cells in by_store.items():
            if store != "raw" and len(set(cells) & set(raw)) >= min_seeds:
                bits = round(statistics.fmean(c.budget_bits for c in cells.values()))
                gains.setdefault(store, []).append(Gain(budget, bits, _paired(_accuracies(cells), raw)))
    return {store: sorted(points, key=lambda g: g.budget_bits) for store, points in sorted(gains.items())}


def write_gain_plot(panels: Sequence[tuple[str, dict[str, list[Gain]]]], path: str | Path) -> None:
    """One panel per stream: each store's paired gain over raw against the budget (log bits), 95 % intervals."""
    if not panels:
        raise ValueError("no panels to draw: give at least one (title, gains) pair")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 2 if len(panels) in (2, 4) else min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.6 * rows), squeeze=False)
    stores = sorted({store for _, gains in panels for store in gains})
    colours = {store: f"C{i}" for i, store in enumerate(stores)}
    for ax, (title, gains) in zip(axes.flat, panels):
        for store, points in gains.items():
            ax.errorbar([g.budget_bits for g in points], [g.difference.mean for g in points],
                        yerr=[g.half_width for g in points], marker="o", capsize=3, color=colours[store], label=store)
        ticks = sorted({(g.budget_bits, g.budget) for points in gains.values() for g in points})
        ax.set_xscale("log")
        ax.set_xticks([bits for bits, _ in ticks], [label for _, label in ticks], fontsize="small", rotation=45)
        ax.minorticks_off()
        ax.axhline(0, color="gray", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("accuracy − raw's (points)")
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[s], marker="o", label=s) for s in stores]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(stores), 4), fontsize="small",
               title="paired gain over RawStore at equal bits; bars: 95 % confidence interval of the mean")
    fig.tight_layout(rect=(0, 0.12 if rows == 1 else 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _versus(d: PairedDifference | None) -> str:
    if d is None:
        return "—"
    p = "" if math.isnan(d.t_two_sided) else f", p {d.t_two_sided:.2g}"
    return f"{d.mean:+.1f} ± {d.std:.1f} ({d.wins}/{d.seeds}{p})"


def choice_table(picks: Sequence[Choice], alpha: float = 0.05) -> str:
    """Markdown: one row per budget (a line saying so when no budget has enough seeds)."""
    if not picks:
        return "No budget has enough seeds of the stores named.\n"
    lines = ["| budget | pick | accuracy % (seeds) | items held | pick − raw (mean ± std, seeds won, p) "
             f"| not beaten beyond noise (paired p ≥ {alpha:g}) |", "|---|---|---:|---:|---:|---|"]
    for c in picks:
        tied = ", ".join(f"`{store}`" for store in c.tied) or "none"
        lines.append(f"| {c.budget} | `{c.store}` | {c.accuracy:.1f} ± {c.std:.1f} ({c.seeds}) | {c.items:,.0f} "
                     f"| {_versus(c.versus_raw)} | {tied} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_choice", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="runner output folders, or their cells/ folders")
    parser.add_argument("--stores", default=",".join(DEFAULT_STORES),
                        help="comma list of store specs to choose among, or 'all' (default: the item stores at "
                             "their defaults)")
    parser.add_argument("--stores-for", nargs=2, action="append", default=[], metavar=("FOLDER", "STORES"),
                        help="use STORES instead of --stores for the folder named FOLDER (repeatable): for cells "
                             "recorded under another spec of the same store")
    parser.add_argument("--learner", default="er")
    parser.add_argument("--min-seeds", type=int, default=5, help="leave out stores with fewer seeds (default 5)")
    parser.add_argument("--alpha", type=float, default=0.05, help="the paired test's level for a tie (default 0.05)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw each store's paired gain over raw, one panel per folder, into this PNG")
    args = parser.parse_args(argv)
    overrides = dict(args.stores_for)
    unknown = set(overrides) - {name for folder in args.folders for name in (str(folder), folder.name)}
    if unknown:
        parser.error(f"--stores-for names folders not given: {', '.join(sorted(unknown))}")
    if args.plot is not None and (args.plot.is_dir() or not args.plot.parent.is_dir()):
        parser.error(f"--plot {args.plot}: name a picture file in an existing folder (e.g. choosing.png)")
    panels = []
    for folder in args.folders:
        named = overrides.get(str(folder), overrides.get(folder.name, args.stores))
        stores = None if named == "all" else split_names(named)
        try:
            results = read_cells(folder)
            picks = choices(results, stores=stores, learner=args.learner, min_seeds=args.min_seeds, alpha=args.alpha)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"### {folder.name}\n\n{choice_table(picks, args.alpha)}")
        panels.append((folder.name, gains_over_raw(results, stores=stores, learner=args.learner,
                                                   min_seeds=args.min_seeds)))
    if args.plot is not None:
        write_gain_plot(panels, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
