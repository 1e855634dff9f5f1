"""Generative replay from a :class:`memstore.GenerativeStore` (Shin et al. 2017; the replay loop of DGM, Fig. 1).

Per stream batch of task t::

    replay = store.sample(replay_size)         generated items of every class learned in tasks < t, labelled by the
                                               condition (the store learns a task only at end_task)
    loss   = CE(model(x), y) + CE(model(replay.x), replay.y)
    store.write(x, y)                          held transiently for the store's end_task (never charged)
    ...
    end_task() ─▶ store.end_task(TaskContext(t, model)) trains the generator on the task's batches

In DGM itself the task solver is the AC-GAN discriminator's auxiliary head, trained inside ``end_task`` on the real
current data and generated earlier classes (``GenerativeStore.discriminator``); this learner is memstore's split of
the same loop: any task model, trained online, replaying from the store
(docs/decisions/0017-dgm-solver-and-store-split.md).
"""

from __future__ import annotations

import torch
from torch import nn

from memstore import Batch, MemoryStore

from .base import Learner

__all__ = ["GenerativeReplay"]


class GenerativeReplay(Learner):
    """Online SGD on the stream batch plus ``replay_size`` generated samples of the classes the store has learned."""

    def __init__(self, model: nn.Module, store: MemoryStore, *, lr: float, replay_size: int = 10,
                 generator: torch.Generator | None = None) -> None:
        if store is None:
            raise ValueError("GenerativeReplay needs a store")
        super().__init__(model, store, lr=lr, replay_size=replay_size, generator=generator)

    def replay(self) -> Batch | None:
        assert self.store is not None
        if self.replay_size == 0 or not self.store.can_sample:
            return None
        batch = self.store.sample(self.replay_size, generator=self.generator)
        return batch if len(batch) else None
