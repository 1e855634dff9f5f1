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
from torch import Tensor, nn

from memstore import Batch, GenerativeStore, MemoryStore, TaskContext
from memstore.capabilities import ClassifiesWithDiscriminator, require

from .base import Learner
from .metrics import TaskScore, score

__all__ = ["DGMSolver", "GenerativeReplay"]


class GenerativeReplay(Learner):
    """Online SGD on the stream batch plus ``replay_size`` generated samples of the classes the store has learned."""

    def __init__(self, model: nn.Module, store: MemoryStore, *, lr: float, replay_size: int = 10,
                 generator: torch.Generator | None = None) -> None:
        if store is None:
            raise ValueError("GenerativeReplay needs a store")
        super().__init__(model, store, lr=lr, replay_size=replay_size, generator=generator)
        self.seen = torch.zeros(store.num_classes, dtype=torch.bool)

    def observe(self, x: Tensor, y: Tensor, task: int | None = None):
        self.seen[y.unique()] = True
        return super().observe(x, y, task)

    def score(self, x: Tensor, y: Tensor) -> TaskScore:
        """Predictions among the classes observed so far (the single head over Y^t that DGM scores), counted."""
        return score(self.model, x, y, seen=self.seen)

    def replay(self) -> Batch | None:
        assert self.store is not None
        if self.replay_size == 0 or not self.store.can_sample:
            return None
        batch = self.store.sample(self.replay_size, generator=self.generator)
        return batch if len(batch) else None


class DGMSolver:
    """DGM's own solver: the store's AC-GAN discriminator's class head, which :class:`~memstore.GenerativeStore`
    trains in ``end_task`` on the task's real data and generated earlier classes. This learner trains no model of its
    own; it hands the stream to the store and scores the head among the classes observed so far::

        observe(x, y, t) ──▶ store.write (held for the task)     end_task(t) ──▶ store.end_task: AC-GAN + head
        score(x, y) ──▶ argmax of store.discriminator.classify(x) over the classes seen
    """

    def __init__(self, store: GenerativeStore) -> None:
        require(store, ClassifiesWithDiscriminator, "DGMSolver")
        self.store = store
        self.seen = torch.zeros(store.num_classes, dtype=torch.bool)
        self._task = 0

    def observe(self, x: Tensor, y: Tensor, task: int | None = None) -> None:
        """Hand the batch to the store (it trains at :meth:`end_task`)."""
        self._task = self._task if task is None else task
        self.seen[y.unique()] = True
        self.store.write(x, y, task=task)

    def end_task(self, task: int | None = None) -> None:
        finished = self._task if task is None else task
        self.store.end_task(TaskContext(task=finished))
        self._task = finished + 1

    def score(self, x: Tensor, y: Tensor) -> TaskScore:
        classifier = self.store.discriminator
        return score(classifier, x, y, seen=self.seen, logits=classifier.classify)
