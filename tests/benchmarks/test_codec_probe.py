"""benchmarks.codec_probe: what a dVAE's reconstructions give away to a classifier."""

from __future__ import annotations

import json

from benchmarks.codec_probe import main, probe


def test_an_untrained_dvae_on_digits_gives_reconstructions_a_classifier_cannot_use(capsys) -> None:
    # no step: a random dVAE's four-latent reconstructions carry almost no class, real digits do
    untrained = probe("digits", 4, 2, 2, False, steps=0, items=600, tests=300)
    assert untrained.on_reconstructions < 40 < untrained.new_classes_mixed
    assert 0 < untrained.l1 < 1 and untrained.old_classes_mixed < 40
    main(["--dataset", "digits", "--latents", "4", "--code-side", "2", "--steps", "0", "--items", "600",
          "--tests", "300"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["on_reconstructions"] == untrained.on_reconstructions and printed["ranges"] is False

