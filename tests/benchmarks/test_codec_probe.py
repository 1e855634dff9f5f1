"""benchmarks.codec_probe: what a dVAE's reconstructions give away to a classifier."""

from __future__ import annotations

import json

from benchmarks.codec_probe import main, probe


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

