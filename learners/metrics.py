"""The accuracy matrix of a continual-learning run and the summaries the papers report.

``a[i][j]`` is the accuracy on task ``j``'s test set after training through task ``i`` (both from 0), as a fraction
in [0, 1]. Four summaries of it:

- :func:`average_accuracy`: the mean over tasks of the final row (Chaudhry et al., 2018; MIR and ARM report this).
- :func:`forgetting`: Chaudhry et al. (2018): the mean over ``j < T-1`` of ``max_{l < T-1} a[l][j] - a[T-1][j]``.
- :func:`retention`: Riemer et al.: accuracy on all tasks' test data pooled after the last task, i.e. the final row
  weighted by each task's test-set size (GMED's "full test set" accuracy on Split MNIST).
- :func:`learning_accuracy`: Riemer et al. (2019, MER) LA: the mean over tasks of ``a[j][j]``, each task's accuracy
  right after it was learned. A low LA with low forgetting is a learner that no longer takes in new tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from memstore.errors import InvalidInputError

__all__ = [
    "AccuracyMatrix", "TaskScore", "average_accuracy", "average_incremental_accuracy", "forgetting",
    "learning_accuracy", "retention", "score",
]


@dataclass(frozen=True)
class TaskScore:
    """Correct predictions out of a test set's size."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else math.nan


@dataclass(frozen=True)
class AccuracyMatrix:
    """``values[i][j]``: accuracy on task ``j`` after training through task ``i``; ``test_sizes[j]``: its test size.

    Rows may be fewer than tasks while a run is in progress; the summaries need all ``T`` rows.
    """

    values: tuple[tuple[float, ...], ...]
    test_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        tasks = len(self.test_sizes)
        if tasks == 0:
            raise InvalidInputError("an accuracy matrix needs at least one task")
        if any(n <= 0 for n in self.test_sizes):
            raise InvalidInputError(f"test sizes must be positive, got {self.test_sizes}")
        if len(self.values) > tasks or any(len(row) != tasks for row in self.values):
            raise InvalidInputError(f"values must be at most {tasks} rows of {tasks} accuracies")

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[float]], test_sizes: Sequence[int] | None = None) -> AccuracyMatrix:
        """Build from nested sequences; equal test sizes when ``test_sizes`` is None."""
        sizes = tuple(test_sizes) if test_sizes is not None else (1,) * len(rows[0])
        return cls(tuple(tuple(float(v) for v in row) for row in rows), tuple(int(n) for n in sizes))

    @property
    def num_tasks(self) -> int:
        return len(self.test_sizes)

    @property
    def complete(self) -> bool:
        return len(self.values) == self.num_tasks

    def with_row(self, row: Sequence[float]) -> AccuracyMatrix:
        """A matrix with one more row (the evaluation after the next task)."""
        return AccuracyMatrix((*self.values, tuple(float(v) for v in row)), self.test_sizes)

    def check_complete(self) -> None:
        """Raise InvalidInputError unless every task has its row (the summaries need the whole run)."""
        if not self.complete:
            raise InvalidInputError(f"the matrix has {len(self.values)} of {self.num_tasks} rows")

    def final_row(self) -> tuple[float, ...]:
        self.check_complete()
        return self.values[-1]

    def average_accuracy(self) -> float:
        return average_accuracy(self)

    def forgetting(self) -> float:
        return forgetting(self)

    def retention(self) -> float:
        return retention(self)

    def learning_accuracy(self) -> float:
        return learning_accuracy(self)

    def average_incremental_accuracy(self) -> float:
        return average_incremental_accuracy(self)


def average_accuracy(matrix: AccuracyMatrix) -> float:
    """Mean over tasks of the accuracies after the last task."""
    row = matrix.final_row()
    return sum(row) / len(row)


def forgetting(matrix: AccuracyMatrix) -> float:
    """Chaudhry et al. (2018): mean over ``j < T-1`` of the best earlier accuracy on ``j`` minus the final one.

    Undefined (NaN) for a single task.
    """
    final = matrix.final_row()
    last = matrix.num_tasks - 1
    if last == 0:
        return math.nan
    drops = [max(matrix.values[i][j] for i in range(last)) - final[j] for j in range(last)]
    return sum(drops) / len(drops)


def learning_accuracy(matrix: AccuracyMatrix) -> float:
    """Riemer et al. (2019, MER) LA: the mean over tasks ``j`` of ``a[j][j]``, the accuracy on each task right after
    training on it."""
    matrix.check_complete()
    return sum(matrix.values[j][j] for j in range(matrix.num_tasks)) / matrix.num_tasks


def retention(matrix: AccuracyMatrix) -> float:
    """Riemer et al.: accuracy on every task's test data pooled, after the last task (weighted by test sizes)."""
    return _pooled(matrix.final_row(), matrix.test_sizes)


def average_incremental_accuracy(matrix: AccuracyMatrix) -> float:
    """Rebuffi et al. (iCaRL), Liu et al. (Mnemonics) Ā: the mean over rows ``i`` of the accuracy on the test data of
    tasks ``0..i`` pooled (weighted by test sizes): after every phase, accuracy on the classes seen so far."""
    matrix.check_complete()
    seen = [_pooled(row[: i + 1], matrix.test_sizes[: i + 1]) for i, row in enumerate(matrix.values)]
    return sum(seen) / len(seen)


def _pooled(accuracies: Sequence[float], sizes: Sequence[int]) -> float:
    """The accuracy on several test sets pooled: their accuracies weighted by their sizes."""
    return sum(acc * n for acc, n in zip(accuracies, sizes, strict=True)) / sum(sizes)


@torch.no_grad()
def score(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000, seen: Tensor | None = None,
          logits: Callable[[Tensor], Tensor] | None = None) -> TaskScore:
    """Count ``model``'s correct argmax predictions on ``(x, y)``, in eval mode, restoring the previous mode.

    ``seen``: a bool mask over the classes; predictions are then among those only (a head that grows with the
    classes seen). ``logits``: what to call instead of ``model`` (e.g. a discriminator's ``classify``)."""
    forward = model if logits is None else logits
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, int(y.shape[0]), batch_size):
        out = forward(x[start : start + batch_size])
        if seen is not None:
            out = out.masked_fill(~seen.to(out.device), float("-inf"))
        correct += int((out.argmax(dim=1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return TaskScore(correct, int(y.shape[0]))
