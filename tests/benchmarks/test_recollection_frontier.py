"""The frontier script keeps the points of other (c, l) when it refits some."""

from __future__ import annotations

from benchmarks.recollection_frontier import merge_points


def point(label: str, bits: int, l1: float) -> dict:
    return {"label": label, "bits_per_image_no_header": bits, "l1_distortion": l1}


def test_a_refit_point_replaces_its_label_and_keeps_the_others_in_bit_order() -> None:
    earlier = [point("(6,20)", 30, 0.08), point("(38,2)", 38, 0.06), point("(48,10)", 192, 0.04)]
    merged = merge_points(earlier, [point("(48,10)", 192, 0.02), point("(1,2)", 1, 0.13)])
    assert [(p["label"], p["l1_distortion"]) for p in merged] == [
        ("(1,2)", 0.13), ("(6,20)", 0.08), ("(38,2)", 0.06), ("(48,10)", 0.02)]
    assert merge_points([], []) == []
