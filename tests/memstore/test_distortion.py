"""store.distortion(): the round trip's L1 over recently stored items, the mean image's, and CollapseWarning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from memstore import Budget, CollapseWarning, JPEGStore, LosslessStore, RawStore, RecollectionStore, Stabilisation
from memstore.distortion import DistortionMeter

SHAPE = (1, 12, 12)


def strokes(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright smooth blobs on black, on the 1/255 grid, with labels."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 3, 3, generator=generator)
    fine = torch.nn.functional.interpolate(coarse, size=SHAPE[1:], mode="bilinear", align_corners=False)
    return (fine * (fine > 0.6)).mul(255).round().div(255), torch.randint(0, 4, (n,), generator=generator)


def write_all(store, x: torch.Tensor, y: torch.Tensor) -> None:
    for start in range(0, x.shape[0], 10):
        store.write(x[start:start + 10], y[start:start + 10])


def test_lossless_stores_measure_zero_and_count_what_they_stored() -> None:
    x, y = strokes(60)
    store = LosslessStore(Budget.images(200, SHAPE, 4), SHAPE, 4, seed=0)
    assert store.distortion().items == 0 and store.distortion().l1 == 0.0
    write_all(store, x, y)
    report = store.distortion()
    assert report.items == len(store) == 60 and report.l1 == 0.0 and not report.collapsed
    assert report.mean_image_l1 > 0.05 and float(report) == report.l1


def test_jpeg_distortion_is_the_mean_l1_of_what_it_stored() -> None:
    x, y = strokes(30)
    store = JPEGStore(Budget.images(100, SHAPE, 4), SHAPE, 4, seed=0, quality=20)
    store.write(x, y)
    assert len(store) == 30
    want = float((store.codec.decode(store.codec.encode(x)) - x).abs().mean())
    assert store.distortion().l1 == pytest.approx(want, rel=1e-6) and store.distortion().l1 > 0
    mean_image_l1 = float((torch.zeros(SHAPE) - x).abs().mean())  # the first batch is compared to the empty mean
    assert store.distortion().mean_image_l1 == pytest.approx(mean_image_l1, rel=1e-6)


def test_window_keeps_the_most_recent_items() -> None:
    meter = DistortionMeter((1, 1, 1), window=4)
    x = torch.ones(6, 1, 1, 1) * 0.5
    meter.stored(x, torch.cat([torch.zeros(2, 1, 1, 1), x[2:]]))  # the first two are off by 0.5, the rest exact
    assert meter.report().items == 4 and meter.report().l1 == 0.0


def test_an_untrained_dvae_warns_of_collapse_once() -> None:
    x, y = strokes(700)
    store = RecollectionStore(Budget.images(50, SHAPE, 4), SHAPE, 4, seed=0, stabilisation=Stabilisation(steps=0))
    with pytest.warns(CollapseWarning, match="no better than the mean image") as caught:
        write_all(store, x, y)
    assert len([w for w in caught if issubclass(w.category, CollapseWarning)]) == 1
    assert store.distortion().collapsed and store.distortion().items == 512


def test_a_sound_codec_does_not_warn() -> None:
    x, y = strokes(700)
    store = RawStore(Budget.images(600, SHAPE, 4), SHAPE, 4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        write_all(store, x, y)
    assert not store.distortion().collapsed and np.isclose(store.distortion().l1, 0.0)


def test_deferred_measurement_gives_each_items_own_round_trip_and_copies_its_input() -> None:
    meter, window = DistortionMeter((1, 4, 4), window=8), 8
    generator = torch.Generator().manual_seed(0)
    expected = []
    for step in range(40):  # one-item batches: past the window, items wait in groups of CHECK_EVERY
        x = torch.rand(1, 1, 4, 4, generator=generator)
        round_trip = (x * 3).round() / 3
        expected.append(float(np.abs(round_trip.numpy() - x.numpy()).sum(dtype=np.float32) / np.float32(16)))
        meter.stored(x, round_trip)
        x.fill_(0.5)  # the caller reuses its tensor: what was stored must not change
    report = meter.report()
    assert report.items == window
    assert report.l1 == pytest.approx(float(np.mean(expected[-window:])), rel=1e-6)


def test_asking_for_reports_after_every_batch_does_not_silence_the_collapse_warning() -> None:
    meter = DistortionMeter((1, 4, 4), window=8)
    generator = torch.Generator().manual_seed(0)
    with pytest.warns(CollapseWarning) as caught:
        for step in range(200):
            x = torch.rand(1, 1, 4, 4, generator=generator)
            meter.stored(x, x if step < 20 else 1 - x)  # exact, then worse than the mean image once the window is full
            meter.report()
    assert len([w for w in caught if issubclass(w.category, CollapseWarning)]) == 1 and meter.report().collapsed
