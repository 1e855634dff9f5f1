"""Reports of a grid: per-cell CSV, a markdown table of mean ± std per configuration, a storage-vs-accuracy plot."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .runner import CellResult
from .specs import BudgetSpec

__all__ = [
    "Summary", "ReportFiles", "cells_by_seed", "format_bits", "markdown_table", "summarise", "write_csv", "write_plot",
    "write_report",
]

_CSV_FIELDS = [
    "dataset", "stream", "setting", "metric", "learner", "store", "budget", "seed", "accuracy", "average_accuracy",
    "retention", "forgetting", "learning_accuracy", "items", "bits_charged", "budget_bits", "seconds", "distortion",
    "model_bits", "class_mean_accuracy",
]  # fmt: skip


@dataclass(frozen=True)
class Summary:
    """One configuration over its seeds (accuracies in percent)."""

    dataset: str
    stream: str
    setting: str
    metric: str
    learner: str
    store: str
    budget: str
    budget_bits: int
    items: float
    bits_charged: float
    mean: float
    std: float
    forgetting: float
    seeds: int
    learning_accuracy: float = math.nan  # mean over seeds of Riemer et al.'s LA (a[j][j] averaged over tasks), in %
    distortion: float = math.nan  # mean round-trip L1 over seeds; nan for stores that keep no items
    model_bits: float = math.nan  # mean over seeds of the store's models (ledger().models); nan: not recorded

    @property
    def ci(self) -> float:
        """2 sigma / sqrt(n): the "±" MIR and ARM print (a confidence interval, not a standard deviation)."""
        return 2 * self.std / math.sqrt(self.seeds) if self.seeds > 1 else math.nan


def _row(result: CellResult) -> dict[str, object]:
    data = result.to_json()
    config = result.config
    budget = config["budget"]
    label = "-" if budget is None else BudgetSpec(**budget).label
    return {
        "dataset": config["dataset"],
        "stream": config["stream"]["kind"],
        "setting": config["setting"]["name"],
        "metric": config["setting"]["metric"].lower(),
        "learner": config["learner"],
        "store": config["store"] or "-",
        "budget": label,
        "seed": config["seed"],
        **{k: data.get(k) for k in _CSV_FIELDS[8:]},
    }


def write_csv(results: Sequence[CellResult], path: Path) -> None:
    """One line per cell."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        writer.writerows(_row(r) for r in results)


def _mean_known(values) -> float:
    """The mean of the values recorded (None: not recorded); nan when none was."""
    known = [float(v) for v in values if v is not None]
    return statistics.fmean(known) if known else math.nan


def format_bits(value: float) -> str:
    """A mean bit count for a table; '-' when it was not recorded (nan)."""
    return "-" if math.isnan(value) else f"{value:.0f}"


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def cells_by_seed(results: Sequence[CellResult]) -> dict[tuple[str, str, str], dict[int, CellResult]]:
    """``{(learner, budget label, store): {seed: cell}}`` of the cells that ran a store: the seed-by-seed runs that
    paired comparisons of stores read. ValueError if two cells share all four (a folder mixing protocols or data
    sets)."""
    runs: dict[tuple[str, str, str], dict[int, CellResult]] = {}
    for result in results:
        config = result.config
        if config.get("store") is None:
            continue
        key, seed = (config["learner"], BudgetSpec(**config["budget"]).label, config["store"]), int(config["seed"])
        if seed in runs.setdefault(key, {}):
            raise ValueError(f"two cells of {key[0]} on {key[2]!r} at {key[1]}, seed {seed}: compare folders that "
                             "hold one protocol and data set each")
        runs[key][seed] = result
    return runs


def summarise(results: Sequence[CellResult]) -> list[Summary]:
    """Group cells by everything but the seed, in first-seen order."""
    groups: dict[tuple, list[dict[str, object]]] = {}
    for result in results:
        row = _row(result)
        key = tuple(row[k] for k in ("dataset", "stream", "setting", "metric", "learner", "store", "budget"))
        groups.setdefault(key, []).append(row)
    summaries = []
    for key, rows in groups.items():
        acc = [100 * float(r["accuracy"]) for r in rows]  # type: ignore[arg-type]
        forget = [100 * float(r["forgetting"]) for r in rows]  # type: ignore[arg-type]
        distortions = [float(r["distortion"]) for r in rows if r["distortion"] is not None]  # type: ignore[arg-type]
        summaries.append(
            Summary(
                *key,
                budget_bits=int(rows[0]["budget_bits"]),  # type: ignore[arg-type]
                items=statistics.fmean(float(r["items"]) for r in rows),  # type: ignore[arg-type]
                bits_charged=statistics.fmean(float(r["bits_charged"]) for r in rows),  # type: ignore[arg-type]
                mean=statistics.fmean(acc),
                std=_std(acc),
                forgetting=statistics.fmean(forget),
                seeds=len(rows),
                learning_accuracy=statistics.fmean(100 * float(r["learning_accuracy"]) for r in rows),  # type: ignore
                distortion=statistics.fmean(distortions) if distortions else math.nan,
                model_bits=_mean_known(r["model_bits"] for r in rows),
            )
        )
    return summaries


def markdown_table(summaries: Sequence[Summary]) -> str:
    """Mean ± std (and MIR's 2σ/√n) per configuration, with items held, their round-trip L1 and bits."""
    head = (
        "| dataset | stream | setting | learner | store | budget | items held | distortion (L1) "
        "| bits charged / budget | model bits | accuracy % (mean ± std) | 2σ/√n | forgetting % | learning accuracy % "
        "| seeds |\n"
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {s.dataset} | {s.stream} | {s.setting} | {s.learner} | {s.store} | {s.budget} | {s.items:g} "
        f"| {'-' if math.isnan(s.distortion) else f'{s.distortion:.4f}'} "
        f"| {s.bits_charged:.0f} / {s.budget_bits} | {format_bits(s.model_bits)} | {s.mean:.1f} ± {s.std:.1f} "
        f"| {'—' if math.isnan(s.ci) else f'{s.ci:.1f}'} | {s.forgetting:.1f} | {s.learning_accuracy:.1f} "
        f"| {s.seeds} |"
        for s in summaries
    ]
    metrics = sorted({s.metric for s in summaries})
    note = "\naccuracy = " + "; ".join(metrics) + " (see the setting column)\n" if metrics else ""
    return head + "\n".join(lines) + "\n" + note


def write_plot(summaries: Sequence[Summary], path: Path) -> None:
    """x: bits (log scale); y: accuracy; one line per store/learner/setting; memoryless learners as dashed lines;
    a store that keeps no items but a model (ARM's, DGM's) as one marker at the model's bits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.6, 4.6))
    lines: dict[tuple[str, str, str], list[Summary]] = {}
    for s in summaries:
        lines.setdefault((s.store, s.learner, s.setting), []).append(s)
    for (store, learner, setting), points in lines.items():
        label = f"{learner} ({setting})" if store == "-" else f"{learner} + {store} ({setting})"
        if all(p.budget_bits == 0 for p in points) and points[0].model_bits > 0:  # a point (nan > 0 is False)
            ax.errorbar([points[0].model_bits], [points[0].mean], yerr=[points[0].std], marker="s", capsize=3,
                        linestyle="none", label=f"{label}, at its model's bits")
            continue
        if store == "-" or all(p.budget_bits == 0 for p in points):
            ax.axhline(points[0].mean, linestyle="--", color="gray", label=label)
            continue
        points = sorted(points, key=lambda p: p.budget_bits)
        xs = [p.budget_bits for p in points]
        ax.errorbar(xs, [p.mean for p in points], yerr=[p.std for p in points], marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("memory budget (bits); points: the bits of the model kept")
    ax.set_ylabel("accuracy (%): " + ", ".join(sorted({s.metric for s in summaries})))
    title = ", ".join(sorted({f"{s.dataset} {s.stream}" for s in summaries}))
    ax.set_title(f"storage vs accuracy: {title}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", title="error bars: ±1 std over seeds", title_fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclass(frozen=True)
class ReportFiles:
    csv: Path
    markdown: Path
    plot: Path
    table: str


def write_report(results: Sequence[CellResult], out_dir: str | Path) -> ReportFiles:
    """Write ``results.csv``, ``results.md`` and ``results.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarise(results)
    table = markdown_table(summaries)
    files = ReportFiles(out / "results.csv", out / "results.md", out / "results.png", table)
    write_csv(results, files.csv)
    files.markdown.write_text("# Results\n\n" + table)
    write_plot(summaries, files.plot)
    return files
