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


@pytest.mark.filterwarnings("ignore::memstore.distortion.CollapseWarning")
def test_a_budget_that_holds_part_of_the_stream_compares_each_held_code_with_its_own_image() -> None:
    report = held_and_fresh("digits", 5, 0, "recollection:latents=40,classes=2,steps=0", classify=True)
    assert sum(report["held_items"]) < 1347  # of the stream's images
    assert len(report["held_items"]) == 5 and all(n > 0 for n in report["held_items"])  # a reservoir: every task
    assert report["held"] == report["written"]  # no step taken: the decoder never moved
    # ... so each held code is its own original's round trip, if the original is the right one
    assert report["held"] == report["fresh_of_held"] and report["held"] != report["fresh"]
    assert report["mlp_on_held"] == report["mlp_on_written"] == report["mlp_on_fresh"] != report["mlp_on_real"]


def test_other_stores_and_entropy_coded_ones_too_small_for_the_stream_are_refused() -> None:
    with pytest.raises(ValueError, match="not a store of dVAE codes"):
        held_and_fresh("digits", 200, 0, "raw")
    with pytest.raises(ValueError, match="holds the stream"):  # its codes move between slots
        held_and_fresh("digits", 1, 0, "recollection:entropy=true,latents=4,classes=2,steps=0")


@pytest.mark.filterwarnings("ignore::memstore.distortion.CollapseWarning")
def test_an_entropy_coded_store_that_holds_the_stream_is_compared_slot_by_slot() -> None:
    report = held_and_fresh("digits", 200, 0, "recollection:entropy=true,latents=4,classes=2,steps=0",
                            examples_per_task=20)
    assert report["held_items"] == [20] * 5
    assert report["held"] == report["written"] == report["fresh_of_held"] == report["fresh"]


@pytest.mark.filterwarnings("ignore::memstore.distortion.CollapseWarning")
def test_classify_trains_the_probe_mlps_on_the_held_recollections() -> None:
    report = held_and_fresh("digits", 200, 0, "recollection:latents=4,classes=2,steps=0", examples_per_task=60,
                            classify=True)
    assert len(report["held"]) == 5
    # four binary latents of a random dVAE carry almost no class; the real images and the newest task's do
    assert max(report["mlp_on_held"], report["mlp_on_fresh"]) < 40 < report["mlp_on_real"]
    assert report["mixed_old_classes"] < 40 < report["mixed_newest_two"]


@pytest.mark.filterwarnings("ignore::memstore.distortion.CollapseWarning")
def test_expected_items_stream_is_the_length_of_the_stream_the_codes_come_from() -> None:
    report = held_and_fresh("digits", 200, 0, "recollection:expected_items=stream,steps=0")
    assert sum(report["held_items"]) == 1347  # designed for the whole stream, and holding it
