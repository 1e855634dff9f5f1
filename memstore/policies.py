"""Admission and eviction policies for stores of fixed-size slots.

A policy is a small stateless object. Given what the store holds (an :class:`Occupancy`) and a batch's labels,
``place`` returns for each incoming item the slot it goes to, or -1 to skip it, exactly as if the items
arrived one at a time. Slots ``[0, size)`` are occupied; a slot equal to the current size appends. All
randomness comes from the ``generator`` argument. What a policy remembers between batches (how many items
were offered, per class and per task) is the store's stream state, passed in the occupancy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from .errors import InvalidInputError

__all__ = ["Occupancy", "Policy", "Reservoir", "ClassBalanced", "Ring", "PerTask", "POLICIES", "policy_from_config"]

#: Policy classes by ``policy_id``.
POLICIES: dict[str, type[Policy]] = {}

SKIP = -1


@dataclass(frozen=True)
class Occupancy:
    """A snapshot of a store for its policy: capacity, occupied prefix, stream counts and lazy label reads."""

    capacity: int
    size: int
    seen: int
    seen_per_class: Tensor
    seen_per_task: Tensor | None
    read_labels: Callable[[], Tensor]
    read_tasks: Callable[[], Tensor | None]


class Policy(ABC):
    """Decides where each incoming item goes."""

    policy_id: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.policy_id:
            POLICIES[cls.policy_id] = cls

    @abstractmethod
    def place(self, occ: Occupancy, y: Tensor, task: int | None, generator: torch.Generator) -> Tensor:
        """Slots (int64, one per item of ``y``) in [0, capacity), or -1 for items not admitted."""

    def check(self, *, capacity: int, num_tasks: int | None) -> None:
        """Raise if this policy cannot run on a store of this shape."""

    def check_write(self, task: int | None) -> None:
        """Raise if a write with this task argument cannot be placed."""

    def get_config(self) -> dict[str, Any]:
        return {"id": self.policy_id, **asdict(self)}  # type: ignore[call-overload]


def _append_then(occ: Occupancy, count: int) -> tuple[Tensor, int]:
    """Slots for the items that fit in free space (appended in order), and how many items that covers."""
    free = min(occ.capacity - occ.size, count)
    slots = torch.full((count,), SKIP, dtype=torch.int64)
    slots[:free] = torch.arange(occ.size, occ.size + free)
    return slots, free


@dataclass(frozen=True)
class Reservoir(Policy):
    """Vitter's algorithm R: after ``s`` items, each has probability ``capacity / s`` of being held."""

    policy_id: ClassVar[str] = "reservoir"

    def place(self, occ: Occupancy, y: Tensor, task: int | None, generator: torch.Generator) -> Tensor:
        slots, free = _append_then(occ, y.shape[0])
        rest = y.shape[0] - free
        if rest:
            seen_before = occ.seen + free + torch.arange(rest, dtype=torch.float64)
            draw = torch.rand(rest, generator=generator, dtype=torch.float64)
            pick = (draw * (seen_before + 1)).floor().to(torch.int64)  # uniform in [0, seen_before]
            slots[free:] = torch.where(pick < occ.capacity, pick, SKIP)
        return slots


@dataclass(frozen=True)
class Ring(Policy):
    """FIFO: every item is admitted and replaces the oldest."""

    policy_id: ClassVar[str] = "ring"

    def place(self, occ: Occupancy, y: Tensor, task: int | None, generator: torch.Generator) -> Tensor:
        slots, free = _append_then(occ, y.shape[0])
        slots[free:] = (occ.seen + free + torch.arange(y.shape[0] - free)) % occ.capacity
        return slots


def _random_choice(candidates: Tensor, generator: torch.Generator) -> int:
    return int(candidates[torch.randint(candidates.numel(), (1,), generator=generator)])


@dataclass(frozen=True)
class ClassBalanced(Policy):
    """Class-balanced reservoir (Chrysakis & Moens, 2020): evict from the largest class.

    When full, an item of a class that is not among the largest replaces a random item of a largest class;
    an item of a largest class replaces a random item of its own class with probability
    ``held_c / seen_c`` (reservoir within the class), and is skipped otherwise.
    """

    policy_id: ClassVar[str] = "class_balanced"

    def place(self, occ: Occupancy, y: Tensor, task: int | None, generator: torch.Generator) -> Tensor:
        labels = torch.full((occ.capacity,), SKIP, dtype=torch.int64)
        labels[: occ.size] = occ.read_labels()
        held = torch.bincount(labels[: occ.size], minlength=occ.seen_per_class.numel())
        seen = occ.seen_per_class.clone()
        size, slots = occ.size, torch.full((y.shape[0],), SKIP, dtype=torch.int64)
        for k, label in enumerate(y.tolist()):
            seen[label] += 1
            slot = self._slot(labels[:size], held, seen, label, size, occ.capacity, generator)
            if slot == SKIP:
                continue
            if slot == size:
                size += 1
            else:
                held[labels[slot]] -= 1
            held[label] += 1
            labels[slot] = label
            slots[k] = slot
        return slots

    @staticmethod
    def _slot(labels: Tensor, held: Tensor, seen: Tensor, label: int, size: int, capacity: int,
              generator: torch.Generator) -> int:
        if size < capacity:
            return size
        largest = held.max()
        if held[label] < largest:
            victim_class = _random_choice(torch.nonzero(held == largest).flatten(), generator)
            return _random_choice(torch.nonzero(labels == victim_class).flatten(), generator)
        pick = int(torch.randint(int(seen[label]), (1,), generator=generator))
        if pick >= int(held[label]):
            return SKIP
        return _random_choice(torch.nonzero(labels == label).flatten(), generator)


@dataclass(frozen=True)
class PerTask(Policy):
    """GEM's memory: an equal share ``capacity // num_tasks`` per task, keeping each task's most recent items."""

    policy_id: ClassVar[str] = "per_task"

    def check(self, *, capacity: int, num_tasks: int | None) -> None:
        if num_tasks is None:
            raise InvalidInputError("PerTask needs a store built with num_tasks")
        if capacity < num_tasks:
            raise InvalidInputError(f"PerTask needs a capacity of at least one item per task: {capacity} < {num_tasks}")

    def check_write(self, task: int | None) -> None:
        if task is None:
            raise InvalidInputError("PerTask admission needs write(..., task=t)")

    def place(self, occ: Occupancy, y: Tensor, task: int | None, generator: torch.Generator) -> Tensor:
        assert task is not None and occ.seen_per_task is not None
        tasks = occ.read_tasks()
        assert tasks is not None
        quota = occ.capacity // occ.seen_per_task.numel()
        own = torch.nonzero(tasks == task).flatten().tolist()  # ascending slot order = arrival order
        seen, size = int(occ.seen_per_task[task]), occ.size
        slots = torch.empty(y.shape[0], dtype=torch.int64)
        for k in range(y.shape[0]):
            if len(own) < quota:
                own.append(size)
                slots[k], size = size, size + 1
            else:
                slots[k] = own[seen % quota]
            seen += 1
        return slots


def policy_from_config(config: dict[str, Any]) -> Policy:
    """The policy a config describes (its ``id`` names the class)."""
    try:
        cls = POLICIES[config["id"]]
    except KeyError as exc:
        raise ValueError(f"unknown policy config {config!r}") from exc
    return cls(**{k: v for k, v in config.items() if k != "id"})
