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


def test_entropy_point_codes_the_same_codes_under_a_fitted_model() -> None:
    import torch

    from benchmarks.recollection_frontier import entropy_point
    from memstore.nn import DiscreteVAE, DVAEConfig

    model = DiscreteVAE(DVAEConfig((1, 8, 8), 16, 4), torch.Generator().manual_seed(0))
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    point = entropy_point(model, x, {"label": "(16,4)", "c": 16, "l": 4, "bits_per_image_no_header": 32,
                                     "l1_distortion": 0.1, "epochs": 0, "seed": 0})
    assert point["bits_per_image_no_header"] >= 32  # every item is at least one 32-bit word
    assert point["information_bits"] <= point["bits_per_image_no_header"] and point["model_bits"] == 16 * 4 * 16
    expected = (32 + 4) / (point["bits_per_image_no_header"] + point["length_field_bits"] + 4 + 16 * 4 * 16 / 40)
    assert abs(point["items_vs_fixed_width"] - expected) < 1e-9 and point["l1_distortion"] == 0.1
