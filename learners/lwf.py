"""LwF-style distillation (Li & Hoiem 2016/2017), single head, task-aware.

At each task boundary (``end_task``) the learner snapshots the model (frozen: no gradients, eval mode). Afterwards
the loss on a stream batch is ``CE(new(x), y) + weight * KD_T(new(x), old(x))`` with their knowledge-distillation
term at temperature ``T`` (their default 2, weight 1)::

    KD_T = - mean_i sum_c softmax(old(x_i) / T)_c * log softmax(new(x_i) / T)_c

on the *current* inputs: LwF keeps no data. What it keeps instead is the old model, whose bits
:meth:`LwF.model_bits` reports (``memstore.param_bits``: 32 per float32 parameter), as a :class:`KeptModel`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import Batch, MemoryStore, param_bits
from memstore.checks import WEIGHT_MAX, check_real, plain

from .base import Learner

__all__ = ["KeptModel", "LwF", "distillation_loss", "frozen_copy"]


def distillation_loss(new_logits: Tensor, old_logits: Tensor, temperature: float) -> Tensor:
    """Li & Hoiem's KD term: cross-entropy of ``softmax(new / T)`` against the soft targets ``softmax(old / T)``."""
    targets = F.softmax(old_logits.detach() / temperature, dim=1)
    return -(targets * F.log_softmax(new_logits / temperature, dim=1)).sum(dim=1).mean()


@dataclass(frozen=True)
class KeptModel:
    """What LwF stores beyond the task model: a frozen copy (``bits`` of its parameters), taken after ``task``."""

    task: int | None
    parameters: int
    bits: int


class LwF(Learner):
    """Fine-tuning plus distillation from the model as it was at the last task boundary."""

    def __init__(
        self,
        model: nn.Module,
        store: MemoryStore | None = None,
        *,
        lr: float,
        temperature: float = 2.0,
        weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        check_real("temperature", temperature, low=0, high=WEIGHT_MAX, open_low=True)
        check_real("weight", weight, low=0, high=WEIGHT_MAX)
        super().__init__(model, store, lr=lr, replay_size=0, generator=generator)
        self.temperature = plain(temperature)
        self.weight = plain(weight)
        self.old_model: nn.Module | None = None
        self._snapshot_task: int | None = None

    writes_store = False

    def end_task(self, task: int | None = None) -> None:
        finished = self.current_task if task is None else task
        if self.store is not None:  # the store's refusal comes before the snapshot, which it would outlive
            self.store.check_task_context(self._task_context(finished))
        self.old_model = frozen_copy(self.model)
        self._snapshot_task = finished
        super().end_task(task)

    def loss(self, x: Tensor, y: Tensor, replay: Batch | None) -> Tensor:
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        if self.old_model is not None and self.weight:
            with torch.no_grad():
                old = self.old_model(x)
            loss = loss + self.weight * distillation_loss(logits, old, self.temperature)
        return loss

    def remember(self, x: Tensor, y: Tensor) -> None:
        return None  # LwF keeps no data; a store, if given, is left alone

    def model_bits(self) -> KeptModel:
        """The old model's size: 0 before the first boundary."""
        if self.old_model is None:
            return KeptModel(None, 0, 0)
        count = sum(p.numel() for p in self.old_model.parameters())
        return KeptModel(self._snapshot_task, count, param_bits(self.old_model))


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with every parameter frozen (the old model of distillation)."""
    old = copy.deepcopy(model)
    old.eval()
    for p in old.parameters():
        p.requires_grad_(False)
    return old
