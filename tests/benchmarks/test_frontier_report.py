"""The frontier table pairs every store with RawStore seed by seed at each budget."""

from __future__ import annotations

import pytest

from benchmarks.frontier_report import frontier_table
from benchmarks.runner import CellResult
from learners import AccuracyMatrix


def cell(store: str, seed: int, accuracy: float, images: int = 10) -> CellResult:
    config = {"dataset": "digits", "stream": {"kind": "split"}, "setting": {"name": "mir", "metric": "AVERAGE"},
              "learner": "er", "store": store, "budget": {"images": images, "bits": None}, "seed": seed}
    matrix = AccuracyMatrix.from_rows([[accuracy]], [10])
    return CellResult(config, matrix, accuracy, 12, 100, 100, 0.1, distortion=0.01 if store != "raw" else 0.0)


def test_rows_carry_the_paired_difference_to_raw() -> None:
    results = [cell("raw", s, a) for s, a in enumerate((0.50, 0.60, 0.55))]
    results += [cell("jpeg", s, a) for s, a in enumerate((0.60, 0.65, 0.70))]  # +10, +5, +15
    table = frontier_table(results)
    (jpeg,) = [line for line in table.splitlines() if "| jpeg |" in line]
    assert "| 0.0100 |" in jpeg and "+10.0 ± 5.0 (3/3, p " in jpeg
    (raw,) = [line for line in table.splitlines() if "| raw |" in line]
    assert raw.endswith("| — |")


def test_a_budget_without_raw_or_a_single_seed_has_no_difference() -> None:
    table = frontier_table([cell("jpeg", 0, 0.6, images=50), cell("raw", 0, 0.5), cell("jpeg", 0, 0.7)])
    assert all(line.endswith("| — |") for line in table.splitlines()[2:])


def test_a_constant_difference_is_reported_without_a_test() -> None:
    results = [cell("raw", s, a) for s, a in enumerate((0.50, 0.60, 0.55))]
    results += [cell("jpeg", s, a + 0.1) for s, a in enumerate((0.50, 0.60, 0.55))]
    (jpeg,) = [line for line in frontier_table(results).splitlines() if "| jpeg |" in line]
    assert jpeg.endswith("| +10.0 (all 3 seeds) |")


def test_refuses_two_cells_of_one_store_budget_and_seed() -> None:
    with pytest.raises(ValueError, match="two cells of er on 'raw' at 10 img, seed 0"):
        frontier_table([cell("raw", 0, 0.5), cell("raw", 0, 0.6), cell("jpeg", 0, 0.7)])
