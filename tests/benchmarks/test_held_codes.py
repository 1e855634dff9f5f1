"""benchmarks.held_codes: held codes against their originals at the end of a digits stream."""

from __future__ import annotations

import pytest

from benchmarks.held_codes import held_and_fresh
from memstore.distortion import CollapseWarning


def test_an_untrained_dvae_holds_codes_that_decode_as_a_fresh_round_trip() -> None:
    with pytest.warns(CollapseWarning):  # four binary latents of a random dVAE are no better than the mean image
        report = held_and_fresh("digits", 200, 0, "recollection:latents=4,classes=2,steps=0")
    assert len(report["held"]) == 5  # Split digits: five tasks
    # no step taken: the decoder never moved away from the stored codes
    assert report["held"] == report["written"] == report["fresh"]
    assert 0 < report["mean_image"] < max(report["held"])


def test_a_budget_that_cannot_hold_the_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="larger --budget"):
        held_and_fresh("digits", 1, 0, "recollection:latents=4,classes=2,steps=0")
    with pytest.raises(ValueError, match="not a store of dVAE codes"):
        held_and_fresh("digits", 200, 0, "raw")


@pytest.mark.filterwarnings("ignore::memstore.distortion.CollapseWarning")
def test_classify_trains_the_probe_mlps_on_the_held_recollections() -> None:
    report = held_and_fresh("digits", 200, 0, "recollection:latents=4,classes=2,steps=0", examples_per_task=60,
                            classify=True)
    assert len(report["held"]) == 5
    # four binary latents of a random dVAE carry almost no class; the real images and the newest task's do
    assert max(report["mlp_on_held"], report["mlp_on_fresh"]) < 40 < report["mlp_on_real"]
    assert report["mixed_old_classes"] < 40 < report["mixed_newest_two"]
