"""benchmarks.speed's checked numpy reservoir: it refuses what RawStore refuses and keeps a reservoir of the
capacity (the timings are the benchmark's, recorded in docs/results.md)."""

from __future__ import annotations

import pytest
import torch

from benchmarks.speed import ITEM_SHAPE, CheckedNumpyReservoir, run_size, stream


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1e-3, 1.0000001])
def test_the_checked_numpy_reservoir_refuses_values_outside_the_unit_interval(bad: float) -> None:
    buffer = CheckedNumpyReservoir(5, ITEM_SHAPE)
    x, y = stream(1, 3)
    x[1, 0, 3, 4] = bad
    with pytest.raises(ValueError, match="finite and in"):
        buffer.add_data(x, y)
    assert buffer.seen == 0


def test_the_checked_numpy_reservoir_refuses_labels_out_of_range() -> None:
    x, _ = stream(1, 2)
    with pytest.raises(ValueError, match="labels"):
        CheckedNumpyReservoir(5, ITEM_SHAPE).add_data(x, torch.tensor([0, 10]))


def test_the_checked_numpy_reservoir_holds_its_capacity_of_exact_items() -> None:
    buffer = CheckedNumpyReservoir(4, ITEM_SHAPE)
    x, y = stream(6, 2)
    for i in range(0, 12, 2):
        buffer.add_data(x[i:i + 2], y[i:i + 2])
    items, labels = buffer.get_data(8)
    assert buffer.seen == 12 and items.shape == (8, *ITEM_SHAPE) and items.dtype == torch.float32
    kept = {(round(float(item.sum()), 3), int(label)) for item, label in zip(x, y)}
    drawn = {(round(float(item.sum()), 3), int(label)) for item, label in zip(items, labels)}
    assert drawn <= kept and len(drawn) <= 4  # 8 draws from a reservoir of 4


def test_a_size_row_times_every_buffer() -> None:
    row = run_size(20, 4, steps=10, rounds=1)
    for name in ("memstore", "memstore_without_input_checks", "mammoth_style", "vectorised_uint8", "checked_numpy"):
        assert row[f"{name}_us_per_step"] > 0
    assert row["checked_numpy_ratio_to_mammoth_style"] > 0


def test_the_policy_benchmark_times_every_policy_on_a_full_store(tmp_path) -> None:
    import json

    from benchmarks.policy_speed import POLICIES, full_store, main

    store = full_store(POLICIES["class_balanced"], 1500)
    assert len(store) == 1500 and store.ledger().charged(store.budget) == store.budget.bits
    main(["--capacities", "30", "--steps", "5", "--rounds", "1", "--out", str(tmp_path / "p.json")])
    (row,) = json.loads((tmp_path / "p.json").read_text())["rows"]
    assert row["capacity"] == 30 and all(row[f"{name}_us_per_step"] > 0 for name in POLICIES)


def test_the_speed_record_names_the_processor_it_ran_on(tmp_path) -> None:
    import json

    from benchmarks.speed import main

    threads = torch.get_num_threads()
    try:  # the benchmark times on one thread; the rest of the suite keeps its own
        main(["--sizes", "20x4", "--steps", "5", "--rounds", "1", "--out", str(tmp_path / "s.json")])
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["provenance"]["cpu"] and record["provenance"]["torch_threads"] == 1
    assert [row["capacity"] for row in record["rows"]] == [20]
