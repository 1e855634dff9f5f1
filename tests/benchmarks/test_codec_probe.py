"""benchmarks.codec_probe: what a dVAE's reconstructions give away to a classifier."""

from __future__ import annotations

import json

from benchmarks.codec_probe import main, probe, probe_jpeg


def test_an_untrained_dvae_on_digits_gives_reconstructions_a_classifier_cannot_use(capsys) -> None:
    # no step: a random dVAE's four-latent reconstructions carry almost no class, real digits do
    untrained = probe("digits", 4, 2, 2, False, steps=0, items=600, tests=300)
    assert untrained.on_reconstructions < 40 < untrained.new_classes_mixed
    assert 0 < untrained.l1 < 1 and untrained.old_classes_mixed < 40
    assert 0 <= untrained.inactive_units < 1  # a fresh decoder: some first-layer channel answers some code
    main(["--dataset", "digits", "--latents", "4", "--code-side", "2", "--steps", "0", "--items", "600",
          "--tests", "300", "--activation", "relu"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["ranges"] is False and printed["activation"] == "relu" and "inactive_units" in printed



def test_jpeg_is_probed_with_the_same_measures_and_better_quality_loses_less(capsys) -> None:
    coarse, fine = (probe_jpeg("digits", q, items=300, tests=200) for q in (5, 95))
    assert fine.l1 < coarse.l1 and fine.coarse_l1 < coarse.coarse_l1 and coarse.inactive_units is None
    assert fine.on_reconstructions > 50  # nearly lossless digits keep their classes
    main(["--dataset", "digits", "--jpeg", "50", "--items", "300", "--tests", "200"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["jpeg"] == 50 and printed["inactive_units"] is None and "coarse_l1" in printed
