"""The store to pick at each budget: highest mean on common seeds, ties by a paired test, the difference to raw."""

from __future__ import annotations

import json

import pytest

from benchmarks.runner import CellResult
from benchmarks.store_choice import choice_table, choices, gains_over_raw, main, read_cells, write_gain_plot
from learners import AccuracyMatrix

RAW = [0.50, 0.60, 0.55, 0.52, 0.58, 0.61]


def cell(store: str, seed: int, accuracy: float, images: int = 10, learner: str = "er") -> CellResult:
    config = {"dataset": "digits", "learner": learner, "store": store, "budget": {"images": images, "bits": None},
              "seed": seed}
    return CellResult(config, AccuracyMatrix.from_rows([[accuracy]], [10]), accuracy, 7 * images, 100 * images,
                      100 * images, 0.1)


def runs(store: str, accuracies: list[float], images: int = 10, first_seed: int = 0) -> list[CellResult]:
    return [cell(store, first_seed + s, a, images) for s, a in enumerate(accuracies)]


def test_picks_the_best_store_and_its_paired_gain_over_raw() -> None:
    gains = [0.10, 0.12, 0.09, 0.11, 0.10, 0.13]
    results = runs("raw", RAW) + runs("jpeg", [r + g for r, g in zip(RAW, gains)])
    (pick,) = choices(results)
    assert (pick.store, pick.seeds, pick.tied) == ("jpeg", 6, ())
    assert pick.accuracy == pytest.approx(100 * (sum(RAW) + sum(gains)) / 6)
    assert pick.versus_raw.mean == pytest.approx(100 * sum(gains) / 6) and pick.versus_raw.wins == 6
    assert pick.versus_raw.t_two_sided < 1e-4 and pick.items == 70


def test_a_store_within_noise_of_the_pick_is_tied_and_a_worse_one_is_not() -> None:
    noise = [0.03, -0.02, 0.01, -0.03, 0.02, 0.00]  # mean +0.0017: the pick by a hair, not beyond noise
    results = runs("raw", RAW) + runs("lossless", [r + 0.1 for r in RAW])
    results += runs("recollection", [r + 0.1 + n for r, n in zip(RAW, noise)])
    (pick,) = choices(results)
    assert pick.store == "recollection" and pick.tied == ("lossless",)
    row = choice_table([pick]).splitlines()[2]
    assert row.startswith("| 10 img | `recollection` |") and row.endswith("| `lossless` |")


def test_stores_are_compared_on_common_seeds_leaving_out_one_with_too_few() -> None:
    # jpeg's three seeds are its best; ranked on its own seeds it would look better than it is
    results = runs("raw", RAW) + runs("lossless", [r + 0.05 for r in RAW]) + runs("jpeg", [0.9, 0.9, 0.9])
    (pick,) = choices(results, min_seeds=5)
    assert pick.store == "lossless" and pick.seeds == 6
    (pick,) = choices(results, min_seeds=3)
    assert pick.store == "jpeg" and pick.seeds == 3  # on seeds 0-2 every store is compared


def test_ranked_on_common_seeds_tested_on_every_seed_a_pair_shares() -> None:
    results = runs("raw", RAW) + runs("lossless", [r + 0.05 for r in RAW]) + runs("jpeg", RAW[:5])
    (pick,) = choices(results)
    assert (pick.store, pick.seeds) == ("lossless", 5)  # ranked on the five seeds jpeg ran
    assert pick.versus_raw.seeds == 6 and pick.versus_raw.mean == pytest.approx(5)


def test_a_constant_difference_has_no_test_and_a_tie_at_zero() -> None:
    results = runs("raw", RAW) + runs("jpeg", [r + 0.1 for r in RAW]) + runs("lossless", [r + 0.1 for r in RAW])
    (pick,) = choices(results)
    assert pick.versus_raw.std == 0 and pick.versus_raw.mean == pytest.approx(10)
    assert pick.tied == (({"jpeg", "lossless"} - {pick.store}).pop(),)  # equal on every seed: a tie
    assert "(6/6) |" in choice_table([pick])
    rounded = runs("raw", RAW) + runs("jpeg", [r + 0.1 for r in RAW])
    rounded += runs("lossless", [(r + 0.1) * (1 + 1e-14) for r in RAW])  # above jpeg by float rounding only
    (pick,) = choices(rounded)
    assert (pick.store, pick.tied) == ("lossless", ("jpeg",))


def test_budgets_in_increasing_bits_and_only_the_stores_and_learner_named() -> None:
    results = runs("raw", RAW, images=50) + runs("raw", RAW, images=10) + runs("jpeg", [0.9] * 6, images=10)
    results += [cell("raw", s, 0.99, learner="naive") for s in range(6)]
    assert [c.budget for c in choices(results)] == ["10 img", "50 img"]
    assert [c.store for c in choices(results, stores=("raw",))] == ["raw", "raw"]
    with pytest.raises(ValueError, match="recorded: \\['jpeg', 'raw'\\]"):
        choices(results, stores=("lossless",))
    with pytest.raises(ValueError, match="min_seeds"):
        choices(results, min_seeds=1)


def test_the_command_reads_a_runner_folder(tmp_path, capsys) -> None:
    cells = tmp_path / "grid" / "cells"
    cells.mkdir(parents=True)
    for i, result in enumerate(runs("raw", RAW) + runs("jpeg", [r + 0.1 for r in RAW])):
        (cells / f"{i}.json").write_text(json.dumps(result.to_json()))
    assert len(read_cells(tmp_path / "grid")) == 12
    main([str(tmp_path / "grid"), "--stores", "raw,jpeg", "--plot", str(tmp_path / "gains.png")])
    out = capsys.readouterr().out
    assert out.startswith("### grid") and "| 10 img | `jpeg` | " in out
    assert (tmp_path / "gains.png").is_file()
    with pytest.raises(SystemExit):
        main([str(tmp_path)])  # no cells there


def test_gains_over_raw_per_store_with_confidence_intervals(tmp_path) -> None:
    gains = [0.10, 0.12, 0.09, 0.11, 0.10, 0.13]
    results = runs("raw", RAW) + runs("jpeg", [r + g for r, g in zip(RAW, gains)])
    results += runs("raw", RAW, images=50) + runs("jpeg", RAW, images=50) + runs("lossless", RAW[:4], images=50)
    found = gains_over_raw(results)
    assert list(found) == ["jpeg"]  # lossless shares four seeds with raw: fewer than five
    small, large = found["jpeg"]
    assert (small.budget, large.budget) == ("10 img", "50 img") and large.difference.mean == 0
    assert small.half_width == pytest.approx(2.5706 * small.difference.std / 6 ** 0.5, rel=1e-4)
    write_gain_plot([("a", found), ("b", found)], tmp_path / "gains.png")
    assert (tmp_path / "gains.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no panels"):
        write_gain_plot([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_refuses_two_cells_of_one_store_budget_and_seed() -> None:
    with pytest.raises(ValueError, match="two cells of er on 'raw' at 10 img, seed 0"):
        choices(runs("raw", RAW) + runs("raw", RAW[:1]))


def test_stores_for_one_folder_replace_the_stores_named_for_all(tmp_path, capsys) -> None:
    for name, other in (("grey", "recollection"), ("colour", "recollection:warmup_steps=5000")):
        cells = tmp_path / name / "cells"
        cells.mkdir(parents=True)
        for i, result in enumerate(runs("raw", RAW) + runs(other, [r + 0.2 for r in RAW])):
            (cells / f"{i}.json").write_text(json.dumps(result.to_json()))
    main([str(tmp_path / "grey"), str(tmp_path / "colour"), "--stores", "raw,recollection",
          "--stores-for", "colour", "raw,recollection:warmup_steps=5000"])
    grey, colour = capsys.readouterr().out.split("### colour")
    assert "| 10 img | `recollection` | " in grey
    assert "| 10 img | `recollection:warmup_steps=5000` | " in colour
    with pytest.raises(SystemExit):
        main([str(tmp_path / "grey"), "--stores-for", "colour", "raw"])  # a folder not given
