"""The held-out information of online codes under richer models (benchmarks.online_entropy)."""

from __future__ import annotations

import numpy as np

from benchmarks.online_entropy import held_out_bits, online_codes


def test_a_label_or_a_parent_that_determines_a_latent_takes_its_bits_away() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 4000)
    free = rng.integers(0, 4, 4000)
    codes = np.stack([labels, free, free], axis=1)  # latent 0 is the label, latent 2 copies latent 1
    bits = held_out_bits(codes, labels, 4)
    assert abs(bits.marginal - 6.0) < 0.05  # three uniform latents of four values
    assert abs(bits.given_label - 4.0) < 0.05  # latent 0 costs nothing given the label
    assert abs(bits.given_best_earlier_latent - 4.0) < 0.05  # latent 2 costs nothing given latent 1


def test_online_codes_are_every_stream_item_as_the_store_holds_it() -> None:
    codes, labels, l1 = online_codes(5, 3, seed=0, dataset="digits", examples_per_task=30)
    assert codes.shape == (150, 5) and codes.min() >= 0 and codes.max() < 3
    assert labels.shape == (150,) and sorted(set(labels.tolist())) == list(range(10)) and 0 < l1 < 1
