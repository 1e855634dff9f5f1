"""Maximally Interfered Retrieval (Aljundi et al. 2019) over any store.

Each step: take a virtual SGD step on the stream batch (:func:`~learners.lookahead.lookahead`), draw ``candidates``
random memory items (50 on MNIST), score each by its loss increase ``CE(theta') - CE(theta)``, and replay the
``replay_size`` (k = 10) highest-scoring ones; the real update is then ER's (mean stream CE + mean replay CE).

With ``replay_past_tasks_only`` the candidates come from earlier tasks only (the official MIR code's filter); without
it, from the whole memory, which is how GMED runs MIR task-free (GMED §5.2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from memstore import Batch, MemoryStore
from memstore.checks import check_int
from memstore.errors import InvalidInputError

from .er import ER
from .lookahead import Lookahead, lookahead

__all__ = ["MIR", "most_interfered"]


def most_interfered(ahead: Lookahead, candidates: Batch, k: int) -> Batch:
    """The ``k`` candidates whose loss rises most under the virtual step (all of them if there are at most ``k``)."""
    scores = ahead.increase(candidates.x, candidates.y)
    top = torch.topk(scores, min(k, len(candidates))).indices
    keys = None if candidates.keys is None else candidates.keys[top]
    soft = None if candidates.soft is None else candidates.soft[top]
    return Batch(candidates.x[top], candidates.y[top], keys, soft)


class MIR(ER):
    """ER whose replay batch is the ``replay_size`` most interfered of ``candidates`` random memory items."""

    def __init__(
        self,
        model: nn.Module,
        store: MemoryStore,
        *,
        lr: float,
        replay_size: int = 10,
        candidates: int = 50,
        replay_past_tasks_only: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        replay_size = check_int("replay_size", replay_size, low=0)
        candidates = check_int("candidates", candidates, low=0)
        if candidates < replay_size:
            raise InvalidInputError(f"candidates ({candidates}) must be at least replay_size ({replay_size})")
        super().__init__(
            model, store, lr=lr, replay_size=replay_size, replay_past_tasks_only=replay_past_tasks_only,
            generator=generator,
        )
        self.candidates = candidates

    def retrieve(self, x: Tensor, y: Tensor) -> Batch | None:
        pool = self.draw(self.candidates)
        if pool is None:
            return None
        return most_interfered(lookahead(self.model, x, y, self.lr), pool, self.replay_size)
