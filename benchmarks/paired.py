"""Paired comparisons over seeds: runs with equal seeds share the stream and the model's init, so the difference of
two learners is measured seed by seed (GMED's claim "ER+GMED beats ER" is a paired claim).

``python -m benchmarks.paired results/gmed-split --pair er-gmed:alpha=5,beta=0.01:er`` prints one
markdown row per pair; an arm is a learner, or ``learner@store`` where a folder holds one learner on several stores
(``--pair er@recollection:latents=104,classes=4,steps=1,refresh=true,anchor_every=0:er@raw``). Each row gives
mean ± std of the per-seed difference (accuracy points), seeds won, paired t-test p (one- and two-sided) and
Wilcoxon signed-rank p (one-sided, from 6 pairs on).
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

__all__ = ["PairedDifference", "accuracies_by_seed", "markdown_rows", "paired_difference", "split_pair"]

_MIN_WILCOXON = 6  # below this the exact signed-rank test cannot reach p < 0.05 one-sided
_EQUAL = 1e-9  # accuracy points: differences closer than this are float rounding


@dataclass(frozen=True)
class PairedDifference:
    """``a − b`` over the seeds both learners finished (accuracy in points). A difference that is the same on every
    seed has no test: its ``std`` is 0 and its p values are NaN."""

    a: str
    b: str
    seeds: int
    mean: float
    std: float
    wins: int
    t_one_sided: float
    t_two_sided: float
    wilcoxon_one_sided: float | None


def accuracies_by_seed(cells_dir: str | Path, metric: str = "accuracy") -> dict[str, dict[int, float]]:
    """``{arm: {seed: accuracy %}}`` from a runner's cell JSON files, an arm being ``learner@store`` (``learner`` for
    cells without a store); one cell per arm and seed. ``metric``: the cell field compared (``accuracy``, the
    setting's metric, or ``class_mean_accuracy`` for learners that also classify by class means)."""
    table: dict[str, dict[int, float]] = {}
    for path in sorted(Path(cells_dir).glob("*.json")):
        cell = json.loads(path.read_text())
        config = cell["config"]
        arm = config["learner"] if config.get("store") is None else f"{config['learner']}@{config['store']}"
        seed = int(config["seed"])
        if seed in table.setdefault(arm, {}):
            raise ValueError(f"{cells_dir}: two cells for learner {arm!r}, seed {seed} (other budgets or protocols "
                             "in the same folder?); compare folders that hold one cell per arm and seed")
        if cell.get(metric) is None:
            raise ValueError(f"{path.name} records no {metric!r}")
        table[arm][seed] = 100 * float(cell[metric])
    return table


def _arm(table: dict[str, dict[int, float]], name: str) -> str:
    """``name`` itself, or the one ``name@store`` arm of ``table``."""
    if name in table:
        return name
    matches = [arm for arm in table if arm.split("@", 1)[0] == name]
    if len(matches) > 1:
        raise KeyError(f"{name!r} ran on several stores; name one of {sorted(matches)}")
    if not matches:
        raise KeyError(f"no cells for {name!r}; have {sorted(table)}")
    return matches[0]


def split_pair(table: dict[str, dict[int, float]], pair: str) -> tuple[str, str]:
    """``A:B`` cut at the colon that leaves an arm on both sides (store specs have colons of their own)."""
    cuts = [(pair[:i], pair[i + 1:]) for i, ch in enumerate(pair) if ch == ":"]
    known = [cut for cut in cuts if all(_is_arm(table, side) for side in cut)]
    if len(known) != 1:
        raise ValueError(f"--pair {pair!r}: want A:B with A and B arms of {sorted(table)}")
    return known[0]


def _is_arm(table: dict[str, dict[int, float]], name: str) -> bool:
    try:
        _arm(table, name)
    except KeyError:
        return False
    return True


def paired_difference(table: dict[str, dict[int, float]], a: str, b: str) -> PairedDifference:
    """Compare arm ``a`` with ``b`` (a learner, or ``learner@store``) on their common seeds (at least two)."""
    runs_a, runs_b = table[_arm(table, a)], table[_arm(table, b)]
    seeds = sorted(set(runs_a) & set(runs_b))
    if len(seeds) < 2:
        raise ValueError(f"{a} and {b} share {len(seeds)} seed(s); a paired test needs at least 2")
    first, second = [runs_a[s] for s in seeds], [runs_b[s] for s in seeds]
    diffs = [x - y for x, y in zip(first, second, strict=True)]
    wins = sum(d > _EQUAL for d in diffs)
    if max(diffs) - min(diffs) < _EQUAL:  # constant up to float rounding: no test to run
        return PairedDifference(a, b, len(seeds), statistics.fmean(diffs), 0.0, wins, math.nan, math.nan, None)
    t_two = float(stats.ttest_rel(first, second).pvalue)
    t_one = float(stats.ttest_rel(first, second, alternative="greater").pvalue)
    wilcoxon = (float(stats.wilcoxon(diffs, alternative="greater").pvalue)
                if len(seeds) >= _MIN_WILCOXON else None)
    return PairedDifference(a, b, len(seeds), statistics.fmean(diffs), statistics.stdev(diffs), wins, t_one, t_two,
                            wilcoxon)


def markdown_rows(label: str, differences: Sequence[PairedDifference]) -> str:
    """Rows of the results page's paired table (header included)."""
    lines = [("| stream | difference | paired seeds | mean ± std of the difference | seeds won "
             "| t-test p, one-sided | t-test p, two-sided | Wilcoxon p, one-sided |"),
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for d in differences:
        wilcoxon = "—" if d.wilcoxon_one_sided is None else f"{d.wilcoxon_one_sided:.2g}"
        lines.append(f"| {label} | {d.a} − {d.b} | {d.seeds} | {d.mean:+.2f} ± {d.std:.2f} | {d.wins}/{d.seeds} "
                     f"| {_p(d.t_one_sided)} | {_p(d.t_two_sided)} | {wilcoxon} |")
    return "\n".join(lines)


def _p(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2g}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a runner output folder (its cells/ holds one JSON per cell)")
    parser.add_argument("--pair", action="append", required=True, metavar="A:B",
                        help="arms to compare, A − B (learner or learner@store)")
    parser.add_argument("--label", default=None, help="first column (default: the folder's name)")
    parser.add_argument("--metric", default="accuracy", choices=("accuracy", "class_mean_accuracy"),
                        help="what is compared (class_mean_accuracy: iCaRL's class-mean classifier, phase learners)")
    args = parser.parse_args(argv)
    cells = args.results if args.results.name == "cells" else args.results / "cells"
    if not cells.is_dir() or not any(cells.glob("*.json")):
        parser.error(f"no cells in {cells} (the runner writes one JSON per cell to OUT/cells)")
    table = accuracies_by_seed(cells, args.metric)
    try:
        pairs = [split_pair(table, p) for p in args.pair]
    except ValueError as exc:
        parser.error(str(exc))
    print(markdown_rows(args.label or args.results.name, [paired_difference(table, a, b) for a, b in pairs]))


if __name__ == "__main__":
    main()
