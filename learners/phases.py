"""A phase-based learner for N-phase class-incremental protocols (LwF/iCaRL style), as Mnemonics Training uses it.

Unlike the online one-pass learners of ``base.py``, each phase brings a whole labelled set ``D_i`` of new classes and
the model trains on it for several epochs. Phase ``i`` (Liu et al. §4.2–4.3)::

    E_{0:i-1} = store.sample(all)                         the exemplars kept so far (old classes)
    for epoch: for batch of D_i ∪ E_{0:i-1}:             model level, eq. 5–6
        L_all = λ·CE(Θ_i(x)[seen], y) + (1−λ)·KD_τ(Θ_i(x)[old], Θ_{i−1}(x)[old])     λ = 0.5, τ = 2
        Θ_i ← Θ_i − α₁ ∇L_all                           SGD, momentum 0.9, weight decay 5e-4, α₁ ÷10 at 1/2 and 3/4
    store.end_task(TaskContext(i, Θ_i, D_i))             exemplar level: select / optimise E_i, adjust E_{0:i-1}
    if i > 0: fine-tune Θ_i on E_i ∪ Ẽ_{0:i-1}          class-balanced: the store keeps m per class

The head is single (one output per class of the whole stream) and grows by masking: logits of classes not yet seen
are excluded from the loss and from predictions. ``KD_τ`` is :func:`learners.lwf.distillation_loss` on the old
classes' logits (those Θ_{i−1} was trained on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import MemoryStore, TaskContext
from memstore.checks import LR_MAX, WEIGHT_MAX, check_fields, check_int, check_real
from memstore.errors import InvalidInputError

from .lwf import distillation_loss, frozen_copy
from .metrics import TaskScore, score

__all__ = ["PhaseConfig", "PhaseLearner", "PhaseReport", "ScoresByClassMeans"]


@runtime_checkable
class ScoresByClassMeans(Protocol):
    """A learner that can also classify by its exemplars' class means (iCaRL's NME), which the runner records
    beside the head's accuracy."""

    def score_class_means(self, x: Tensor, y: Tensor) -> TaskScore: ...


@dataclass(frozen=True)
class PhaseConfig:
    """Model-level settings: ``epochs`` per phase on ``D_i ∪ E`` (SGD at ``lr``, divided by 10 at 1/2 and 3/4 of the
    epochs), eq. 5's ``lam`` and ``temperature``, and the class-balanced fine-tuning (``finetune_epochs`` at
    ``finetune_lr``; 0 epochs turns it off)."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lam: float = 0.5
    temperature: float = 2.0
    finetune_epochs: int = 10
    finetune_lr: float = 0.01
    finetune_batch_size: int = 32

    def __post_init__(self) -> None:
        check_fields(self, check_int, "epochs", "finetune_epochs", low=0)
        check_fields(self, check_int, "batch_size", "finetune_batch_size", low=1)
        check_fields(self, check_real, "lam", low=0, high=1)
        check_fields(self, check_real, "temperature", low=0, high=WEIGHT_MAX, open_low=True)
        check_fields(self, check_real, "lr", "finetune_lr", low=0, high=LR_MAX, open_low=True)


@dataclass(frozen=True)
class PhaseReport:
    """What one phase did: its classes, the exemplars it trained beside, the last epoch's mean loss."""

    phase: int
    classes: tuple[int, ...]
    replayed: int
    loss: float
    exemplars: int


class PhaseLearner:
    """Trains ``model`` phase by phase on new classes plus the store's exemplars; the store picks the exemplars."""

    def __init__(self, model: nn.Module, store: MemoryStore, num_classes: int, *, config: PhaseConfig | None = None,
                 generator: torch.Generator | None = None) -> None:
        MemoryStore.check_generator(generator)
        self.model, self.store, self.num_classes = model, store, num_classes
        self.config = PhaseConfig() if config is None else config
        self.generator = torch.Generator().manual_seed(0) if generator is None else generator
        self.seen = torch.zeros(num_classes, dtype=torch.bool)
        self.old_model: nn.Module | None = None
        self.phase = 0
        self._pending: list[tuple[Tensor, Tensor]] = []

    # -- the stream interface the benchmarks' runner drives -----------------------------------------------------------

    def observe(self, x: Tensor, y: Tensor, task: int | None = None) -> None:
        """Collect a batch of the current phase's data ``D_i``; nothing trains until :meth:`end_task`."""
        if task is not None and task != self.phase:
            raise InvalidInputError(f"phase {self.phase} is open; a batch of task {task} cannot join it")
        self.store.check_items(x)
        self.store.check_labels(y, int(x.shape[0]))
        self._pending.append((x.detach(), y.detach()))

    def end_task(self, task: int | None = None) -> PhaseReport:
        """Learn the phase from every batch observed since the last one (:meth:`learn_phase`)."""
        if task is not None and task != self.phase:
            raise InvalidInputError(f"phase {self.phase} is open; cannot end task {task}")
        if not self._pending:
            raise InvalidInputError(f"phase {self.phase} observed no data")
        x, y = (torch.cat(parts) for parts in zip(*self._pending, strict=True))
        self._pending = []
        return self.learn_phase(x, y)

    def score(self, x: Tensor, y: Tensor) -> TaskScore:
        """Predictions among the classes seen so far (the growing head), counted."""
        return score(self.model, x, y, seen=self.seen)

    def score_class_means(self, x: Tensor, y: Tensor) -> TaskScore:
        """iCaRL's nearest-mean-of-exemplars classifier (Rebuffi et al. 2017, Alg. 1), counted: each item goes to the
        class whose exemplars' mean L2-normalised penultimate feature (renormalised) is nearest to its own. Classes
        with no exemplar take no prediction. Reads the store with a generator of its own, so scoring draws nothing
        from the learner's stream."""
        from memstore.stores.exemplar_selection import penultimate_features

        exemplars = self.store.sample(len(self.store), generator=torch.Generator().manual_seed(0))
        if y.numel() == 0 or exemplars.y.numel() == 0:
            return TaskScore(0, int(y.numel()))
        classes = torch.unique(exemplars.y)
        feats = F.normalize(penultimate_features(self.model, exemplars.x), dim=1)
        means = F.normalize(torch.stack([feats[exemplars.y == c].mean(0) for c in classes.tolist()]), dim=1)
        query = F.normalize(penultimate_features(self.model, x), dim=1)
        predicted = classes[torch.cdist(query, means).argmin(dim=1)]
        return TaskScore(int((predicted == y).sum()), int(y.numel()))

    # -- the phase ------------------------------------------------------------------------------------------------

    def learn_phase(self, x: Tensor, y: Tensor) -> PhaseReport:
        """Train on phase data ``(x, y)``, hand it to the store, fine-tune on the exemplars: one whole phase."""
        report = self.train_phase(x, y)
        self.consolidate(x, y)
        return report

    def train_phase(self, x: Tensor, y: Tensor) -> PhaseReport:
        """Model level (eq. 5–6): ``epochs`` over ``D_i ∪ E_{0:i-1}`` with distillation from the previous model."""
        old_classes = torch.nonzero(self.seen).flatten()
        self.seen[torch.unique(y)] = True
        replay = self.store.sample(len(self.store), generator=self.generator)
        train_x, train_y = torch.cat([x, replay.x]), torch.cat([y, replay.y])
        config = self.config
        optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
        milestones = [config.epochs // 2, (3 * config.epochs) // 4]
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [m for m in milestones if m > 0], gamma=0.1)
        loss = float("nan")
        for _ in range(config.epochs):
            loss = self._epoch(train_x, train_y, optimizer, config.batch_size,
                               lambda logits, bx, by: self.phase_loss(logits, bx, by, old_classes))
            schedule.step()
        return PhaseReport(self.phase, tuple(torch.unique(y).tolist()), len(replay), loss, len(self.store))

    def consolidate(self, x: Tensor, y: Tensor) -> None:
        """Exemplar level: ``store.end_task`` with the phase data, then class-balanced fine-tuning (phases > 0)."""
        self.store.end_task(TaskContext(task=self.phase, model=self.model, x=x, y=y))
        if self.phase > 0 and self.config.finetune_epochs:
            self.finetune()
        self.old_model = frozen_copy(self.model)
        self.phase += 1

    def finetune(self) -> None:
        """Fine-tune on the stored exemplars only (every class has the same count), plain CE on seen classes."""
        exemplars = self.store.sample(len(self.store), generator=self.generator)
        optimizer = torch.optim.SGD(self.model.parameters(), lr=self.config.finetune_lr, momentum=self.config.momentum)
        for _ in range(self.config.finetune_epochs):
            self._epoch(exemplars.x, exemplars.y, optimizer, self.config.finetune_batch_size,
                        lambda logits, bx, by: F.cross_entropy(self.masked(logits), by))

    # -- losses and predictions ---------------------------------------------------------------------------------------

    def masked(self, logits: Tensor) -> Tensor:
        """Logits with the classes not yet seen masked out (the growing head)."""
        return logits.masked_fill(~self.seen.to(logits.device), float("-inf"))

    def phase_loss(self, logits: Tensor, x: Tensor, y: Tensor, old_classes: Tensor) -> Tensor:
        """Eq. 5: ``λ·CE + (1−λ)·KD_τ`` on the old classes' logits (CE alone in phase 0)."""
        ce = F.cross_entropy(self.masked(logits), y)
        if self.old_model is None or old_classes.numel() == 0:
            return ce
        with torch.no_grad():
            old_logits = self.old_model(x)[:, old_classes]
        kd = distillation_loss(logits[:, old_classes], old_logits, self.config.temperature)
        return self.config.lam * ce + (1.0 - self.config.lam) * kd

    @torch.no_grad()
    def predict(self, x: Tensor, *, batch_size: int = 1000) -> Tensor:
        """Predicted classes among those seen so far."""
        was_training = self.model.training
        self.model.eval()
        predictions = [self.masked(self.model(x[s:s + batch_size])).argmax(dim=1)
                       for s in range(0, int(x.shape[0]), batch_size)]
        self.model.train(was_training)
        return torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.int64)

    def accuracy(self, x: Tensor, y: Tensor) -> float:
        """Fraction of ``(x, y)`` predicted right (among seen classes); NaN for no items."""
        if y.numel() == 0:
            return float("nan")
        return float((self.predict(x) == y).float().mean())

    def _epoch(self, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer, batch_size: int, loss_fn) -> float:
        """One shuffled pass; returns the mean batch loss."""
        self.model.train()
        order = torch.randperm(int(y.shape[0]), generator=self.generator)
        total, batches = 0.0, 0
        for start in range(0, order.numel(), batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(self.model(x[rows]), x[rows], y[rows])
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        return total / max(batches, 1)

