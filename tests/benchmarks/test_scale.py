"""benchmarks.scale at toy sizes: the memory rows come from a spawned interpreter, the disk rows from a store that
really keeps its codes in the folder (the numbers themselves are the benchmark's, recorded in docs/results.md)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import scale


def test_memory_rows_are_measured_in_a_fresh_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    scale.main(["memory", "--stores", "raw,jpeg", "--items", "30", "--budget-images", "1000", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [(row["store"], row["items"]) for row in rows] == [("raw", 30), ("jpeg", 30)]
    assert all(row["import_mib"] > 0 and row["held_mib"] >= row["construct_mib"] - 1 for row in rows)


def test_disk_rows_follow_the_codes_written(tmp_path: Path) -> None:
    rows = scale.disk_rows(1_500, draws=3, latents=5, classes=3)
    assert [row.items for row in rows] == [1_500]
    assert rows[0].sample_ms > 0 and rows[0].write_items_per_s > 0
    assert rows[0].disk_mib * (1 << 20) >= 1_500 * 10 / 8  # 5 codes of 2 bits each, at least, are on disk


def test_save_rows_save_and_reopen_the_whole_store(tmp_path: Path) -> None:
    out = tmp_path / "save.json"
    scale.main(["save", "--items", "2500", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["provenance"]["threads"] == saved["provenance"]["torch_threads"] == 1  # the measuring processes'
    (row,) = saved["rows"]
    assert row["items"] == 2500 and row["payload_mib"] == round(2500 * 784 / (1 << 20), 1)
    assert row["saved_mib"] >= row["payload_mib"] and row["save_peak_mib"] >= 0 and row["open_seconds"] > 0
