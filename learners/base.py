"""What every learner shares: one online SGD step on a stream batch plus an optional replay batch.

A learner owns a model, a plain SGD optimizer (no momentum, no weight decay) and, optionally, a
:class:`memstore.MemoryStore`. ``observe`` runs the step in a fixed order that subclasses refine through hooks:

1. :meth:`Learner.retrieve` chooses a replay batch (or None); by default it asks :meth:`Learner.replay`, which
   does not see the stream batch (learners that look ahead on it, MIR and GMED, override ``retrieve``);
2. :meth:`Learner.update` computes :meth:`Learner.loss`, back-propagates and steps the optimizer;
3. :meth:`Learner.remember` offers the stream batch to the store, *after* the update (both official codes do this).

With ``phase_data``, the learner also keeps the task in progress's stream batches and hands them to the store at
``end_task`` as ``TaskContext(x=..., y=...)``: the phase data an exemplar store selects from (iCaRL's herding,
Mnemonics). They are the task being learned, held for it only, as the phase protocol holds ``D_i``: never charged.

Learners use only the public store contract (``write``, ``sample``, ``end_task``, ``can_sample``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import Batch, MemoryStore, TaskContext
from memstore.checks import LR_MAX, check_int, check_real, is_int, plain
from memstore.errors import DTypeError, LabelError, NonFiniteError

from .metrics import TaskScore, score

__all__ = ["Learner", "Step"]


@dataclass(frozen=True)
class Step:
    """What one ``observe`` did: the loss it minimised and how many replayed items entered it."""

    loss: float
    replayed: int


class Learner:
    """Online learner: one SGD step per stream batch; subclasses choose the replay batch and the loss.

    ``task`` handling: ``observe(x, y, task=t)`` declares the current task; ``end_task()`` closes it and moves
    to the next one. A learner told nothing (task-free use) writes to its store without task ids.
    """

    #: whether :meth:`remember` writes the stream to the store (false for learners that keep no data)
    writes_store: ClassVar[bool] = True

    def __init__(
        self,
        model: nn.Module,
        store: MemoryStore | None = None,
        *,
        lr: float,
        replay_size: int = 10,
        generator: torch.Generator | None = None,
        one_mean: bool = False,
        phase_data: bool = False,
    ) -> None:
        check_real("lr", lr, low=0, high=LR_MAX, open_low=True)
        lr, replay_size = plain(lr), check_int("replay_size", replay_size, low=0)
        MemoryStore.check_generator(generator)
        self.model = model
        self.store = store
        self.lr = lr
        self.replay_size = replay_size
        self.generator = generator
        self.one_mean = one_mean
        self.phase_data = phase_data
        self._phase_batches: list[tuple[Tensor, Tensor]] = []
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self._task: int | None = None

    def score(self, x: Tensor, y: Tensor) -> TaskScore:
        """The model's argmax predictions on ``(x, y)`` counted (what the benchmarks evaluate)."""
        return score(self.model, x, y)

    @property
    def current_task(self) -> int:
        """The task being learned (0 until told otherwise)."""
        return self._task or 0

    def observe(self, x: Tensor, y: Tensor, task: int | None = None) -> Step:
        """One online step on the stream batch ``(x, y)``, then offer it to the store."""
        self.check_batch(x, y, task)
        if task is not None:
            self._task = int(task)
        replay = self.retrieve(x, y)
        loss = self.update(x, y, replay)
        self.remember(x, y)
        if self.phase_data and self._task is not None:  # task-free use has no end_task to hand them to
            self._phase_batches.append((x.detach().cpu().clone(), y.detach().cpu().clone()))
        return Step(loss=float(loss), replayed=0 if replay is None else len(replay))

    def check_batch(self, x: Tensor, y: Tensor, task: int | None) -> None:
        """Refuse a stream batch, with a typed error, before the model learns anything from it: the checks of the
        write that will follow (the store's and its policy's, under the task id written), or for a learner that
        writes no store the contract's (float32 items, finite; as many int64 labels, non-negative)."""
        if self.store is not None and self.writes_store:  # the store's checks include the task id's
            self.store.check_write(x, y, self._task if task is None else task)
            return
        _task_id(task)
        if not isinstance(x, Tensor) or x.dtype != torch.float32 or x.ndim < 1 or x.is_meta:
            raise DTypeError(f"x must be a float32 tensor of items, got {getattr(x, 'dtype', type(x))}")
        if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.is_meta:
            raise DTypeError(f"y must be an int64 tensor of labels, got {getattr(y, 'dtype', type(y))}")
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteError("x holds NaN or infinite values")
        if y.shape != x.shape[:1] or bool((y < 0).any()):
            raise LabelError(f"y must be {x.shape[0]} non-negative labels, got {y!r}")

    def end_task(self, task: int | None = None) -> None:
        """Close task ``task`` (default: the current one): forward a :class:`TaskContext` to the store."""
        finished = self.current_task if task is None else _task_id(task)
        if self.store is not None:
            self.store.end_task(self._task_context(finished))
        self._phase_batches = []
        self._task = finished + 1

    def _task_context(self, task: int) -> TaskContext:
        """What ``end_task`` hands the store: the task and the model, and with ``phase_data`` the task's batches."""
        if not self._phase_batches:
            return TaskContext(task=task, model=self.model)
        x, y = (torch.cat(parts) for parts in zip(*self._phase_batches))
        return TaskContext(task=task, model=self.model, x=x, y=y)

    # -- hooks ------------------------------------------------------------------------------------------------

    def retrieve(self, x: Tensor, y: Tensor) -> Batch | None:
        """The replay batch for the stream batch ``(x, y)``: :meth:`replay`'s unless a learner looks ahead."""
        return self.replay()

    def replay(self) -> Batch | None:
        """The replay batch for this step; none by default."""
        return None

    def loss(self, x: Tensor, y: Tensor, replay: Batch | None) -> Tensor:
        """mean(stream CE) + mean(replay CE): two means added, as both official codes do (docs/protocols.md); with
        ``one_mean``, one mean over the stream batch and the replayed items together (Riemer et al.'s loss)."""
        if replay is None or not len(replay):
            return F.cross_entropy(self.model(x), y)
        if self.one_mean:
            return F.cross_entropy(self.model(torch.cat([x, replay.x])), torch.cat([y, replay.y]))
        return F.cross_entropy(self.model(x), y) + F.cross_entropy(self.model(replay.x), replay.y)

    def update(self, x: Tensor, y: Tensor, replay: Batch | None) -> Tensor:
        """Compute the loss, back-propagate and take one SGD step; returns the (detached) loss."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, y, replay)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def remember(self, x: Tensor, y: Tensor) -> None:
        """Offer the stream batch to the store (after the update); a no-op without a store."""
        if self.store is not None:
            self.store.write(x, y, task=self._task)


def _task_id(task: object) -> int | None:
    """``task`` as a Python int (NumPy's integers included), or None; LabelError for anything else."""
    if task is not None and (not is_int(task) or task < 0):  # type: ignore[operator]
        raise LabelError(f"task must be a non-negative int or None, got {task!r}")
    return None if task is None else int(task)  # type: ignore[call-overload]
