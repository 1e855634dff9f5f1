"""The frontier table: every store at each budget beside RawStore, with the seed-by-seed paired difference.

Cells of one grid share a stream and a model init per seed, so a store's accuracy minus RawStore's at the same
budget, learner and seed is a paired measurement. One row per (learner, budget, store): items held, distortion,
accuracy mean ± std, and the paired difference to the reference store (mean ± std, seeds won, two-sided paired t-test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .paired import paired_difference
from .report import cells_by_seed, format_bits, summarise
from .runner import CellResult

__all__ = ["frontier_table"]


def _paired(runs: dict[int, float], reference: dict[int, float]) -> str:
    if len(set(runs) & set(reference)) < 2:
        return "—"
    d = paired_difference({"store": runs, "reference": reference}, "store", "reference")
    if d.std == 0:  # a constant difference: no test to run
        return f"{d.mean:+.1f} (all {d.seeds} seeds)"
    return f"{d.mean:+.1f} ± {d.std:.1f} ({d.wins}/{d.seeds}, p {d.t_two_sided:.2g})"


def frontier_table(results: Sequence[CellResult], reference: str = "raw") -> str:
    """Markdown: per learner and budget, every store's row with its paired difference to ``reference``."""
    by_seed = {key: {seed: 100 * cell.accuracy for seed, cell in cells.items()}
               for key, cells in cells_by_seed(results).items()}
    lines = [f"| learner | budget | store | items held | distortion (L1) | model bits | accuracy % | vs {reference} "
             "(mean ± std, seeds won, p) |", "|---|---|---|---:|---:|---:|---:|---:|"]
    rows = sorted((s for s in summarise(results) if s.store != "-"), key=lambda s: (s.learner, s.budget_bits))
    for s in rows:
        base = by_seed.get((s.learner, s.budget, reference))
        versus = "—" if s.store == reference or base is None else _paired(by_seed[(s.learner, s.budget, s.store)],
                                                                          base)
        distortion = "-" if math.isnan(s.distortion) else f"{s.distortion:.4f}"
        lines.append(f"| {s.learner} | {s.budget} | {s.store} | {s.items:.0f} | {distortion} "
                     f"| {format_bits(s.model_bits)} "
                     f"| {s.mean:.1f} ± {s.std:.1f} | {versus} |")
    return "\n".join(lines) + "\n"
