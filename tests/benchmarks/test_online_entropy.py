"""The held-out information of online codes under richer models (benchmarks.online_entropy)."""

from __future__ import annotations

import numpy as np

from benchmarks.online_entropy import held_out_bits


def test_a_label_or_a_parent_that_determines_a_latent_takes_its_bits_away() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 4000)
    free = rng.integers(0, 4, 4000)
    codes = np.stack([labels, free, free], axis=1)  # latent 0 is the label, latent 2 copies latent 1
    bits = held_out_bits(codes, labels, 4)
    assert abs(bits["marginal"] - 6.0) < 0.05  # three uniform latents of four values
    assert abs(bits["given_label"] - 4.0) < 0.05  # latent 0 costs nothing given the label
    assert abs(bits["given_best_earlier_latent"] - 4.0) < 0.05  # latent 2 costs nothing given latent 1
