"""Stabilisation(anchor_weight): the weight of the stored-code term in the online dVAE's step (decision 0041)."""

from __future__ import annotations

import torch

from memstore import Budget, RecollectionStore, Stabilisation
from memstore.codecs.dvae import DVAECodec
from memstore.testing import random_items, state_equal

TINY = {"latents": 5, "classes": 3}


def items(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return random_items(n, (1, 8, 8), 10, torch.Generator().manual_seed(seed))


def _anchored_step(weight: float | None) -> dict[str, torch.Tensor]:
    """The dVAE's weights after one step on the same batch and noise: with the stored-code term at ``weight``, or
    without the term (None)."""
    codec = DVAECodec((1, 8, 8), **TINY, code_side=4, seed=0)
    x, _ = items(6)
    codes = torch.from_numpy(codec.encode(x[:3]))
    anchored = None if weight is None else (codes, x[3:])
    codec.train_step(x, torch.Generator().manual_seed(1), anchored=anchored, anchor_weight=weight or 0.0)
    return {k: v.clone() for k, v in codec.model.state_dict().items()}


def test_anchor_weight_scales_the_stored_code_term() -> None:
    assert state_equal(_anchored_step(0.0), _anchored_step(None))  # weight 0: the reconstruction alone
    assert not state_equal(_anchored_step(1.0), _anchored_step(None))
    assert not state_equal(_anchored_step(10.0), _anchored_step(1.0))


def test_the_store_passes_its_anchor_weight_to_every_anchored_step() -> None:
    settings = Stabilisation(steps=1, batch_size=4, refresh=False, anchor_every=4, anchor_weight=7.5)
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, stabilisation=settings)
    weights: list[tuple[bool, float]] = []
    real = store.codec.train_step
    store.codec.train_step = lambda x, g, anchored=None, anchor_weight=1.0: (  # type: ignore[method-assign]
        weights.append((anchored is not None, anchor_weight)) or real(x, g, anchored, anchor_weight))
    for seed in range(3):
        store.write(*items(4, seed=seed))
    assert weights == [(False, 7.5), (True, 7.5), (True, 7.5)]  # the first write comes before any anchor
