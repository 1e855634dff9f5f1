"""Continual-learning streams cut from a :class:`~benchmarks.datasets.Dataset`.

- :class:`Split`: class-incremental, single head: tasks {0,1}, {2,3}, ..., {8,9} (``classes_per_task`` consecutive
  classes each). Each task's test set is the test data of its classes.
- :class:`Phases`: the N-phase class-incremental protocol of Mnemonics Training (Liu et al. 2020): a seeded class
  order; phase 0 holds its first ``base_classes`` classes, the other classes share ``phases`` later phases evenly.
- :class:`Permuted`: domain-incremental: one fixed pixel permutation per task over the whole dataset.
- :class:`Rotated`: domain-incremental: task ``k`` of ``K`` rotates every image by an angle drawn uniformly from
  ``[180 k / K, 180 (k + 1) / K]`` degrees (GMED's rule; Riemer Table 1: 20 tasks, 0-180 degrees).

Every random choice (the training subsets and their order, permutations, angles, capped test subsets) comes from the
``torch.Generator`` handed to ``build``: the same seed gives the same stream. A stream spec is a small frozen
dataclass; a new stream kind is a new class with ``name`` and ``build``, not a branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import torch
from torch import Tensor

from .datasets import Dataset

__all__ = ["Permuted", "Phases", "Rotated", "Split", "Stream", "StreamSpec", "STREAMS", "Task"]


@dataclass(frozen=True, eq=False)
class Task:
    """One task: its training examples in stream order and its test set."""

    index: int
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    description: str

    def batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The training examples in stream order, ``batch_size`` at a time (the last batch may be smaller)."""
        for start in range(0, int(self.train_y.shape[0]), batch_size):
            yield self.train_x[start : start + batch_size], self.train_y[start : start + batch_size]

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(int(c) for c in torch.unique(self.train_y))


@dataclass(frozen=True, eq=False)
class Stream:
    """A sequence of tasks over one label space."""

    name: str
    tasks: tuple[Task, ...]
    item_shape: tuple[int, int, int]
    num_classes: int

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    @property
    def train_items(self) -> int:
        """The training examples over every task: the stream's length in items."""
        return sum(int(t.train_y.shape[0]) for t in self.tasks)

    @property
    def test_sizes(self) -> tuple[int, ...]:
        return tuple(int(t.test_y.shape[0]) for t in self.tasks)


class StreamSpec(Protocol):
    """What the runner needs of a stream kind."""

    name: ClassVar[str]
    examples_per_task: int | None

    def build(self, dataset: Dataset, generator: torch.Generator) -> Stream: ...


def _draw(count: int | None, available: int, generator: torch.Generator, what: str) -> Tensor:
    """``count`` distinct positions out of ``available``, in random order (all of them when ``count`` is None)."""
    if count is None:
        count = available
    if count > available:
        raise ValueError(f"{what}: {count} examples requested but only {available} available")
    return torch.randperm(available, generator=generator)[:count]


def _cap(x: Tensor, y: Tensor, cap: int | None, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    if cap is None or cap >= int(y.shape[0]):
        return x, y
    keep = torch.randperm(int(y.shape[0]), generator=generator)[:cap].sort().values
    return x[keep], y[keep]


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


@dataclass(frozen=True)
class Split:
    """Class-incremental Split: task ``t`` holds classes ``t*k .. t*k + k - 1`` (k = ``classes_per_task``);
    ``tasks`` keeps only the first that many (the same draws as the full stream's first tasks). ``per_class`` draws
    that many images of each class instead of ``examples_per_task`` of the task (then None), in one shuffled order:
    with 500 and k = 2 it is ARM's ``mnist5k`` (500 a class from a random 95 % of the training set, which draws the
    same way)."""

    name: ClassVar[str] = "split"
    classes_per_task: int = 2
    examples_per_task: int | None = 1000
    test_cap: int | None = None
    tasks: int | None = field(default=None, metadata={"since": "2026-12-02"})
    per_class: int | None = field(default=None, metadata={"since": "2026-12-02"})

    def __post_init__(self) -> None:
        _check_count("classes_per_task", self.classes_per_task)
        _check_count("examples_per_task", self.examples_per_task)
        _check_count("test_cap", self.test_cap)
        _check_count("tasks", self.tasks)
        _check_count("per_class", self.per_class)
        if self.per_class is not None and self.examples_per_task is not None:
            raise ValueError("give per_class or examples_per_task, not both (examples_per_task=None with per_class)")

    def num_tasks(self, num_classes: int) -> int:
        if num_classes % self.classes_per_task:
            raise ValueError(f"{num_classes} classes do not split into tasks of {self.classes_per_task}")
        every = num_classes // self.classes_per_task
        if self.tasks is not None and self.tasks > every:
            raise ValueError(f"{num_classes} classes make {every} tasks of {self.classes_per_task}, not {self.tasks}")
        return every if self.tasks is None else self.tasks

    def build(self, dataset: Dataset, generator: torch.Generator) -> Stream:
        tasks = tuple(self._task(dataset, t, generator) for t in range(self.num_tasks(dataset.num_classes)))
        return Stream(self.name, tasks, dataset.item_shape, dataset.num_classes)

    def _task(self, dataset: Dataset, t: int, generator: torch.Generator) -> Task:
        classes = torch.arange(t * self.classes_per_task, (t + 1) * self.classes_per_task)
        if self.per_class is None:
            train = torch.nonzero(torch.isin(dataset.train_y, classes)).squeeze(1)
            train = train[_draw(self.examples_per_task, int(train.numel()), generator, f"split task {t}")]
        else:
            parts = [torch.nonzero(dataset.train_y == c).squeeze(1) for c in classes.tolist()]
            train = torch.cat([part[_draw(self.per_class, int(part.numel()), generator, f"split class {c}")]
                               for c, part in zip(classes.tolist(), parts)])
            train = train[torch.randperm(int(train.numel()), generator=generator)]
        test = torch.nonzero(torch.isin(dataset.test_y, classes)).squeeze(1)
        test_x, test_y = _cap(dataset.test_x[test], dataset.test_y[test], self.test_cap, generator)
        label = "classes " + ",".join(str(int(c)) for c in classes)
        return Task(t, dataset.train_x[train], dataset.train_y[train], test_x, test_y, label)


@dataclass(frozen=True)
class Phases:
    """N-phase class-incremental: classes in a random order (from the generator); phase 0 learns the first
    ``base_classes``, phases 1..N the rest, ``ceil(rest / phases)`` each; every training image of a phase's classes
    unless ``examples_per_task`` caps it. Each task's test set is its classes' test data."""

    name: ClassVar[str] = "phases"
    base_classes: int = 5
    phases: int = 5
    examples_per_task: int | None = None
    test_cap: int | None = None

    def __post_init__(self) -> None:
        _check_count("base_classes", self.base_classes)
        _check_count("phases", self.phases)
        _check_count("examples_per_task", self.examples_per_task)
        _check_count("test_cap", self.test_cap)

    def class_groups(self, num_classes: int, generator: torch.Generator) -> list[list[int]]:
        if not self.base_classes + self.phases <= num_classes:
            raise ValueError(f"{self.base_classes} base classes and {self.phases} phases need more than "
                             f"{num_classes} classes")
        order = torch.randperm(num_classes, generator=generator).tolist()
        rest = order[self.base_classes:]
        step = -(-len(rest) // self.phases)
        return [order[: self.base_classes], *[rest[i:i + step] for i in range(0, len(rest), step)]]

    def build(self, dataset: Dataset, generator: torch.Generator) -> Stream:
        tasks = []
        for t, group in enumerate(self.class_groups(dataset.num_classes, generator)):
            classes = torch.tensor(group)
            train = torch.nonzero(torch.isin(dataset.train_y, classes)).squeeze(1)
            train = train[_draw(self.examples_per_task, int(train.numel()), generator, f"phase {t}")]
            test = torch.nonzero(torch.isin(dataset.test_y, classes)).squeeze(1)
            test_x, test_y = _cap(dataset.test_x[test], dataset.test_y[test], self.test_cap, generator)
            label = "classes " + ",".join(map(str, group))
            tasks.append(Task(t, dataset.train_x[train], dataset.train_y[train], test_x, test_y, label))
        return Stream(self.name, tuple(tasks), dataset.item_shape, dataset.num_classes)


@dataclass(frozen=True)
class _Transformed:
    """Shared by the domain-incremental streams: each task transforms a fresh draw of the whole dataset."""

    name: ClassVar[str] = "transformed"
    num_tasks: int = 10
    examples_per_task: int | None = 1000
    test_cap: int | None = None

    def __post_init__(self) -> None:
        _check_count("num_tasks", self.num_tasks)
        _check_count("examples_per_task", self.examples_per_task)
        _check_count("test_cap", self.test_cap)

    def build(self, dataset: Dataset, generator: torch.Generator) -> Stream:
        test_x, test_y = _cap(dataset.test_x, dataset.test_y, self.test_cap, generator)
        transforms = self.transforms(dataset, generator)
        tasks = []
        for t, (transform, label) in enumerate(transforms):
            train = _draw(self.examples_per_task, int(dataset.train_y.numel()), generator, f"{self.name} task {t}")
            train_x, train_y = transform(dataset.train_x[train]), dataset.train_y[train]
            tasks.append(Task(t, train_x, train_y, transform(test_x), test_y, label))
        return Stream(self.name, tuple(tasks), dataset.item_shape, dataset.num_classes)

    def transforms(self, dataset: Dataset, generator: torch.Generator) -> list:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Permuted(_Transformed):
    """Permuted: task ``t`` applies its own random pixel permutation (the same for every channel)."""

    name: ClassVar[str] = "permuted"

    def transforms(self, dataset: Dataset, generator: torch.Generator) -> list:
        pixels = dataset.item_shape[1] * dataset.item_shape[2]
        perms = [torch.randperm(pixels, generator=generator) for _ in range(self.num_tasks)]
        return [(_Permutation(p), f"permutation {t}") for t, p in enumerate(perms)]


@dataclass(frozen=True)
class Rotated(_Transformed):
    """Rotated: task ``k`` of ``K`` rotates by an angle drawn uniformly in ``[span k / K, span (k+1) / K]`` degrees."""

    name: ClassVar[str] = "rotated"
    num_tasks: int = 20
    max_degrees: float = 180.0
    #: "bilinear", or "nearest" (PIL's default, which GEM's MNIST-Rotations used)
    interpolation: str = field(default="bilinear", metadata={"since": "2026-12-02"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {self.interpolation!r}")

    def angles(self, generator: torch.Generator) -> list[float]:
        width = self.max_degrees / self.num_tasks
        offsets = torch.rand(self.num_tasks, generator=generator, dtype=torch.float64)
        return [float((k + offsets[k]) * width) for k in range(self.num_tasks)]

    def transforms(self, dataset: Dataset, generator: torch.Generator) -> list:
        return [(_Rotation(a, self.interpolation), f"rotation {a:.1f}deg") for a in self.angles(generator)]


@dataclass(frozen=True)
class _Permutation:
    perm: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        flat = x.flatten(start_dim=2)[:, :, self.perm]
        return flat.reshape(x.shape).contiguous()


_INTERPOLATIONS = ("bilinear", "nearest")  # torchvision's InterpolationMode names (lower case)


@dataclass(frozen=True)
class _Rotation:
    degrees: float
    interpolation: str = "bilinear"

    def __call__(self, x: Tensor) -> Tensor:
        from torchvision.transforms import InterpolationMode  # the bench extra: only rotated streams need it
        from torchvision.transforms import functional as TF

        mode = InterpolationMode(self.interpolation)
        rotated = TF.rotate(x, self.degrees, interpolation=mode)  # zero padding
        return rotated.clamp_(0.0, 1.0).contiguous()


STREAMS: dict[str, type[Split] | type[Phases] | type[Permuted] | type[Rotated]] = {
    Split.name: Split,
    Phases.name: Phases,
    Permuted.name: Permuted,
    Rotated.name: Rotated,
}
