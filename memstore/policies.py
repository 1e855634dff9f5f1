"""Admission and eviction policies for stores of fixed-size slots.

A policy is a small stateless object. Given what the store holds (an :class:`Occupancy`) and a batch's labels,
``place`` returns for each incoming item the slot it goes to, or -1 to skip it, exactly as if the items
arrived one at a time. Slots ``[0, size)`` are occupied; a slot equal to the current size appends. All
randomness comes from the ``generator`` argument. What a policy remembers between batches (how many items
were offered, per class and per task) is the store's stream state, passed in the occupancy.

Stores of variable-size items (JPEG) place one item at a time with ``capacity`` = the current size when the item
does not fit in the free bits, and ask ``evict`` for further victims until a larger replacement fits
(docs/decisions/0005-variable-size-items.md). ``fixed_slots_only`` policies (PerTask's quota) refuse such stores.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from .class_slots import ClassSlots, add_slot, remove_slot
from .errors import InvalidInputError

__all__ = ["Occupancy", "Policy", "Reservoir", "ClassBalanced", "Ring", "PerTask", "POLICIES", "policy_from_config"]

#: Policy classes by ``policy_id``.
POLICIES: dict[str, type[Policy]] = {}

SKIP = -1
#: up to this many draws Reservoir does its arithmetic on Python ints, above it in numpy (timed at 10 and 128 draws:
#: Python ints 4.4 and 21.5 µs, numpy 5.7 and 7.5 µs)
_FEW_DRAWS = 32


class Occupancy(NamedTuple):
    """A snapshot of a store for its policy: capacity, occupied prefix, stream counts, lazy label reads, and the
    slots of each class for a policy that declares ``uses_class_slots`` (None for the others). Immutable: a named
    tuple, which a store builds on every write in under half a frozen dataclass's time."""

    capacity: int
    size: int
    seen: int
    seen_per_class: np.ndarray
    seen_per_task: np.ndarray | None
    read_labels: Callable[[], np.ndarray]
    read_tasks: Callable[[], np.ndarray | None]
    class_slots: ClassSlots | None = None


class Policy(ABC):
    """Decides where each incoming item goes."""

    policy_id: ClassVar[str] = ""
    #: whether the policy needs a fixed slot count (a quota per task), so cannot run on variable-size items
    fixed_slots_only: ClassVar[bool] = False
    #: whether the store must keep a :class:`~memstore.class_slots.ClassSlots` index for it (``Occupancy.class_slots``)
    uses_class_slots: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("policy_id"):  # only classes that name themselves; subclasses inherit no entry
            POLICIES[cls.policy_id] = cls

    @abstractmethod
    def place(self, occ: Occupancy, y: np.ndarray, task: int | None, generator: torch.Generator) -> list[int]:
        """One slot per label in ``y``, in [0, capacity), or -1 for an item not admitted."""

    def check(self, *, capacity: int, num_tasks: int | None) -> None:
        """Raise if this policy cannot run on a store of this shape."""

    def evict(self, occ: Occupancy, keep: int, generator: torch.Generator) -> int:
        """A further occupied slot, not ``keep``, to free for a larger item: uniform by default."""
        pick = int(torch.randint(occ.size - 1, (1,), generator=generator))
        return pick + (pick >= keep)

    def check_write(self, task: int | None) -> None:
        """Raise if a write with this task argument cannot be placed."""

    def get_config(self) -> dict[str, Any]:
        return {"id": self.policy_id, **asdict(self)}  # type: ignore[call-overload]


def _append_then(occ: Occupancy, count: int) -> tuple[list[int], int]:
    """Slots for the items that fit in free space (appended in order, then -1), and how many items that covers."""
    free = min(occ.capacity - occ.size, count)
    return [*range(occ.size, occ.size + free), *[SKIP] * (count - free)], free


@dataclass(frozen=True)
class Reservoir(Policy):
    """Vitter's algorithm R: after ``s`` items, each has probability ``capacity / s`` of being held."""

    policy_id: ClassVar[str] = "reservoir"

    def place(self, occ: Occupancy, y: np.ndarray, task: int | None, generator: torch.Generator) -> list[int]:
        slots, free = _append_then(occ, y.shape[0])
        rest = y.shape[0] - free
        if not rest:
            return slots
        draws = torch.rand(rest, generator=generator, dtype=torch.float64)
        # item k of the rest draws uniformly in [0, seen + k]: the same float64 product on either path
        seen = occ.seen + free
        if rest <= _FEW_DRAWS:  # plain ints: numpy's per-call cost exceeds the arithmetic on a small batch
            picks = [int(u * (seen + k + 1)) for k, u in enumerate(draws.tolist())]
            slots[free:] = [p if p < occ.capacity else SKIP for p in picks]
        else:
            many = (draws.numpy() * np.arange(seen + 1, seen + rest + 1)).astype(np.int64)
            many[many >= occ.capacity] = SKIP
            slots[free:] = many.tolist()
        return slots


@dataclass(frozen=True)
class Ring(Policy):
    """FIFO: every item is admitted and replaces the oldest."""

    policy_id: ClassVar[str] = "ring"

    def place(self, occ: Occupancy, y: np.ndarray, task: int | None, generator: torch.Generator) -> list[int]:
        slots, free = _append_then(occ, y.shape[0])
        slots[free:] = [(occ.seen + k) % occ.capacity for k in range(free, y.shape[0])]
        return slots


def _random_choice(candidates: np.ndarray, generator: torch.Generator) -> int:
    return int(candidates[int(torch.randint(len(candidates), (1,), generator=generator))])


@dataclass(frozen=True)
class ClassBalanced(Policy):
    """Class-balanced reservoir (Chrysakis & Moens, 2020): evict from the largest class.

    When full, an item of a class that is not among the largest replaces a random item of a largest class;
    an item of a largest class replaces a random item of its own class with probability
    ``held_c / seen_c`` (reservoir within the class), and is skipped otherwise. It reads the store's
    :class:`~memstore.class_slots.ClassSlots`, not its labels: a step costs the same at any capacity.
    """

    policy_id: ClassVar[str] = "class_balanced"
    uses_class_slots: ClassVar[bool] = True

    def evict(self, occ: Occupancy, keep: int, generator: torch.Generator) -> int:
        """A random item of a largest class (``keep`` excluded)."""
        index = _index(occ)
        held = index.counts()
        held[index.class_of(keep)] -= 1
        victim_class = _random_choice(np.flatnonzero(held == held.max()), generator)
        members = index.slots(victim_class)
        if index.class_of(keep) != victim_class:
            return _random_choice(members, generator)
        pick = int(torch.randint(len(members) - 1, (1,), generator=generator))  # a member other than keep
        return members[pick] if members[pick] < keep else members[pick + 1]

    def place(self, occ: Occupancy, y: np.ndarray, task: int | None, generator: torch.Generator) -> list[int]:
        batch = _BatchSlots(_index(occ))
        seen = occ.seen_per_class.copy()
        size, slots = occ.size, [SKIP] * y.shape[0]
        for k, label in enumerate(y.tolist()):
            seen[label] += 1
            slot, old = self._slot(batch, seen, label, size, occ.capacity, generator)
            if slot == SKIP:
                continue
            size += slot == size
            batch.move(slot, old, label)
            slots[k] = slot
        return slots

    @staticmethod
    def _slot(batch: _BatchSlots, seen: np.ndarray, label: int, size: int, capacity: int,
              generator: torch.Generator) -> tuple[int, int | None]:
        """The slot for one item of ``label`` and the class it evicts (None: a free slot), or (SKIP, None)."""
        if size < capacity:
            return size, None
        held = batch.held
        largest = held.max()
        if held[label] < largest:
            victim_class = _random_choice(np.flatnonzero(held == largest), generator)
            return _random_choice(batch.slots(victim_class), generator), victim_class
        pick = int(torch.randint(int(seen[label]), (1,), generator=generator))
        if pick >= int(held[label]):
            return SKIP, None
        return _random_choice(batch.slots(label), generator), label


def _index(occ: Occupancy) -> ClassSlots:
    if occ.class_slots is None:
        raise InvalidInputError("this policy needs the store's class slots (Occupancy.class_slots)")
    return occ.class_slots


class _BatchSlots:
    """The store's class slots as a batch's earlier items changed them: a class's slots are copied when first
    changed, so the store's index is untouched until the store writes the labels."""

    def __init__(self, index: ClassSlots) -> None:
        self._index, self._changed = index, {}
        self.held = index.counts()

    def slots(self, label: int) -> array:
        return self._changed.get(label, self._index.slots(label))

    def move(self, slot: int, old: int | None, new: int) -> None:
        """Slot ``slot`` goes from class ``old`` (None: a free slot) to ``new``."""
        if old is not None:
            self.held[old] -= 1
            remove_slot(self._own(old), slot)
        self.held[new] += 1
        add_slot(self._own(new), slot)

    def _own(self, label: int) -> array:
        if label not in self._changed:
            self._changed[label] = array("q", self._index.slots(label))
        return self._changed[label]


@dataclass(frozen=True)
class PerTask(Policy):
    """GEM's memory: an equal share ``capacity // num_tasks`` per task, keeping each task's most recent items."""

    policy_id: ClassVar[str] = "per_task"
    fixed_slots_only: ClassVar[bool] = True

    def check(self, *, capacity: int, num_tasks: int | None) -> None:
        if num_tasks is None:
            raise InvalidInputError("PerTask needs a store built with num_tasks")
        if capacity < num_tasks:
            raise InvalidInputError(f"PerTask needs a capacity of at least one item per task: {capacity} < {num_tasks}")

    def check_write(self, task: int | None) -> None:
        if task is None:
            raise InvalidInputError("PerTask admission needs write(..., task=t)")

    def place(self, occ: Occupancy, y: np.ndarray, task: int | None, generator: torch.Generator) -> list[int]:
        assert task is not None and occ.seen_per_task is not None
        tasks = occ.read_tasks()
        assert tasks is not None
        quota = occ.capacity // occ.seen_per_task.size
        own = np.flatnonzero(tasks == task).tolist()  # ascending slot order = arrival order
        seen, size = int(occ.seen_per_task[task]), occ.size
        slots = [SKIP] * y.shape[0]
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
        arguments = {k: v for k, v in config.items() if k != "id"}
        inspect.signature(cls).bind(**arguments)
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"unknown policy config {config!r}") from exc
    return cls(**arguments)
