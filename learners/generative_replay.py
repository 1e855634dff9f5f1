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
from memstore.checks import check_real
from memstore.errors import InvalidInputError

from .base import Learner
from .metrics import TaskScore, score

__all__ = ["DGMSolver", "GenerativeReplay"]


class GenerativeReplay(Learner):
    """Online SGD on the stream batch plus ``replay_size`` generated samples of the classes the store has learned."""

    def __init__(self, model: nn.Module, store: MemoryStore, *, lr: float, replay_size: int = 10,
                 generator: torch.Generator | None = None) -> None:
        if store is None:
            raise InvalidInputError("GenerativeReplay needs a store")
        super().__init__(model, store, lr=lr, replay_size=replay_size, generator=generator)
        self.seen = torch.zeros(store.num_classes, dtype=torch.bool)

    def observe(self, x: Tensor, y: Tensor, task: int | None = None):
        step = super().observe(x, y, task)  # checks the batch before anything learns from it
        self.seen[y.unique()] = True
        return step

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

    ``holdout`` > 0 is the released code's protocol: a ``holdout`` share of every task's data (drawn from
    ``generator``) is kept by the learner as validation data and never trained on; ``end_task`` hands the store the
    rest and the validation data of every task so far, and the store keeps the discriminator that scores best on
    it (``TaskContext.validation``). The kept items are the protocol's model selection, not memory: never charged,
    never replayed.
    """

    def __init__(self, store: GenerativeStore, *, holdout: float = 0.0,
                 generator: torch.Generator | None = None) -> None:
        require(store, ClassifiesWithDiscriminator, "DGMSolver")
        holdout = check_real("holdout", holdout, low=0, high=1, open_high=True)
        if holdout and generator is None:
            raise InvalidInputError("a holdout needs a generator to draw it")
        self.store, self.holdout, self.generator = store, float(holdout), generator
        self.seen = torch.zeros(store.num_classes, dtype=torch.bool)
        self._task = 0
        self._batches: list[tuple[Tensor, Tensor]] = []
        self.validation: Batch | None = None

    def observe(self, x: Tensor, y: Tensor, task: int | None = None) -> None:
        """Hand the batch to the store (it trains at :meth:`end_task`), or hold it when a holdout is drawn."""
        self.store.check_write(x, y, task)
        self._task = self._task if task is None else task
        self.seen[y.unique()] = True
        if self.holdout:
            self._batches.append((x.detach().clone(), y.detach().clone()))
        else:
            self.store.write(x, y, task=task)

    def end_task(self, task: int | None = None) -> None:
        finished = self._task if task is None else task
        self.store.end_task(self._context(finished))
        self._task = finished + 1

    def _context(self, task: int) -> TaskContext:
        if not self.holdout or not self._batches:
            return TaskContext(task=task)
        x, y = torch.cat([b[0] for b in self._batches]), torch.cat([b[1] for b in self._batches])
        self._batches = []
        order = torch.randperm(x.shape[0], generator=self.generator)
        held, kept = order[: int(self.holdout * x.shape[0])], order[int(self.holdout * x.shape[0]):]
        old = self.validation
        self.validation = Batch(x[held], y[held]) if old is None else Batch(torch.cat([old.x, x[held]]),
                                                                             torch.cat([old.y, y[held]]))
        return TaskContext(task=task, x=x[kept], y=y[kept], validation=self.validation)

    def score(self, x: Tensor, y: Tensor) -> TaskScore:
        classifier = self.store.discriminator
        return score(classifier, x, y, seen=self.seen, logits=classifier.classify)
