"""The item engine: what every store that keeps explicit items shares (policy + codec + packed payload).

::

    write(x, y) ──policy.place──▶ slots ──codec.encode──▶ PackedArray payload   (item_bits each)
                                        └─ labels, task ids ─▶ PackedArray labels (label_bits [+ task_bits] each)
    sample(n)  ◀──codec.decode── payload[slots]  ◀── slots drawn without replacement (generator)

A backend is this engine with a codec (RawStore: uint8; RecollectionStore: dVAE codes), not a copy of it.
Capacity follows from the budget by ``Budget.capacity``: ``(budget − charged model bits) // (item_bits + label_bits +
task_bits)``.
Occupied slots are always the prefix ``[0, len(store))``: items are appended until the store is full, then
replaced in place. The ledger charges occupied slots only, and ``save`` writes exactly those bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..blocks import ByteBlocks
from ..budget import Budget, Ledger, index_bits, label_bits
from ..class_slots import ClassSlots
from ..codecs.base import FixedWidthCodec, ItemCodec
from ..codecs.bitpack import Column, PackedArray, ValueColumn
from ..distortion import Distortion, DistortionMeter
from ..errors import BudgetTooSmallError, InvalidInputError, ShapeError, UnknownKeyError
from ..policies import SKIP, Occupancy, Policy, Reservoir, policy_from_config
from ..store import Batch, MemoryStore, RecallContext
from .zarr_payload import ZarrPackedArray

__all__ = ["ItemStore"]


def _kept(slots: list[int]) -> tuple[list[int], list[int]]:
    """Batch positions and slots of admitted items; when two items share a slot the later one wins."""
    last = {slot: position for position, slot in enumerate(slots) if slot >= 0}
    if len(last) < 2:  # the common case on a full store: one item admitted, or none
        return list(last.values()), list(last)
    positions = sorted(last.values())
    return positions, [slots[p] for p in positions]


def _rows_of(x: Tensor, positions: list[int]) -> Tensor:
    """Items ``positions`` of ``x``, detached: a view for one (the common case on a full store), else a CPU copy."""
    if len(positions) == 1:
        return x.detach()[positions[0]:positions[0] + 1]
    return torch.from_numpy(x.detach().cpu().numpy()[positions])


def _saved_bytes(value: Any) -> np.ndarray | ByteBlocks:
    """A saved column as flat bytes; :class:`~memstore.blocks.ByteBlocks` (a column saved from disk) stay blocks,
    for the column to copy without holding them whole."""
    return value if isinstance(value, ByteBlocks) else np.asarray(value, dtype=np.uint8).reshape(-1)


def choose(pool: int, n: int, generator: torch.Generator) -> np.ndarray:
    """``min(n, pool)`` distinct indices of ``range(pool)`` in uniformly random order.

    For small ``n`` it keeps the first distinct values of i.i.d. uniform draws (an ordered uniform subset, one
    ``randint`` call); otherwise it takes a prefix of a random permutation.
    """
    n = min(n, pool)
    if 4 * n > pool:
        return torch.randperm(pool, generator=generator)[:n].numpy()
    picked: dict[int, None] = {}
    while len(picked) < n:
        for value in torch.randint(pool, (2 * n,), generator=generator).tolist():
            picked.setdefault(value)
            if len(picked) == n:
                break
    return np.fromiter(picked, dtype=np.int64, count=n)


class ItemStore(MemoryStore):
    """A store of explicit items under a bit budget, parameterised by a fixed-width codec and a policy.

    The payload layer is four hooks (``_init_payload``, ``_put``, ``_get``, ``_payload_state``/``_check_payload``):
    fixed-width codecs use one :class:`PackedArray` here; :class:`~memstore.stores.variable.VariableItemStore`
    replaces them with byte strings and admission that evicts until an item fits.

    ``path`` (a local folder or a zarr store): keep the working copy there, payload, labels and task ids in Zarr
    chunks (:mod:`~memstore.stores.zarr_payload`), so memory stays flat in the items held and a store may be larger
    than RAM; without it they live in memory and grow as items arrive. Two live stores may not share a local path.
    """

    #: the codec interface this engine stores
    codec_type: ClassVar[type[ItemCodec]] = FixedWidthCodec
    #: ``path``: where the working copy lives (never read from a saved file)
    runtime_options: ClassVar[frozenset[str]] = frozenset({"path"})

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        codec: ItemCodec | None = None,
        seed: int | None = None,
        policy: Policy | None = None,
        num_tasks: int | None = None,
        path: Any = None,
    ) -> None:
        super().__init__(budget, item_shape, num_classes, seed=seed, num_tasks=num_tasks)
        self._path = path
        codec = self.make_codec() if codec is None else codec
        if not isinstance(codec, self.codec_type):
            raise InvalidInputError(f"codec must be a {self.codec_type.__name__}, got {type(codec).__name__}")
        if tuple(codec.item_shape) != self.item_shape:
            raise ShapeError(f"the codec codes items of shape {tuple(codec.item_shape)}; the store's are "
                             f"{self.item_shape}")
        policy = Reservoir() if policy is None else policy
        if not isinstance(policy, Policy):
            raise InvalidInputError(f"policy must be a memstore Policy object, got {policy!r}")
        self.codec, self.policy = codec, policy
        self._size = 0
        self._seen = 0
        self.label_bits = label_bits(num_classes)
        self.task_bits = 0 if num_tasks is None else index_bits(num_tasks)
        self.capacity = self._capacity()
        policy.check(capacity=self.capacity, num_tasks=num_tasks)
        self._init_payload()
        self._labels = self._value_column("labels", self.label_bits)
        self._tasks = self._value_column("tasks", self.task_bits)
        self._seen_per_class = np.zeros(num_classes, dtype=np.int64)
        self._seen_per_task = None if num_tasks is None else np.zeros(num_tasks, dtype=np.int64)
        #: the slots of each class, kept for a policy that reads them (class-balanced admission)
        self._class_slots = ClassSlots(num_classes) if policy.uses_class_slots else None
        self._distortion = DistortionMeter(self.item_shape)

    def make_codec(self) -> ItemCodec:
        """The codec a backend uses when none is given."""
        raise InvalidInputError(f"{type(self).__name__} needs a codec")

    # -- the payload layer (fixed width: one PackedArray) -----------------------------------------------------------

    def _init_payload(self) -> None:
        if self._path is None:
            self._payload = PackedArray(self.capacity, self.codec.symbols, self.codec.symbol_bits)
        else:
            self._payload = self._zarr_column("payload", self.codec.symbols, self.codec.symbol_bits)

    def _value_column(self, name: str, width: int) -> Column:
        """A label or task-id column: in memory, or in Zarr chunks under the working ``path``."""
        return ValueColumn(self.capacity, width) if self._path is None else self._zarr_column(name, 1, width)

    def _zarr_column(self, name: str, symbols: int, width: int) -> ZarrPackedArray:
        """A packed column ``name`` under the working ``path`` (memory when there is none)."""
        return ZarrPackedArray(self.capacity, symbols, width, store=self._path, name=name, owner=self)

    def _put(self, slots: np.ndarray, x: Tensor) -> None:
        """Encode ``x`` into ``slots`` (in range, unique)."""
        self._payload.set(slots, self.codec.encode(x))

    def _get(self, slots: np.ndarray) -> Tensor:
        """Decoded items of ``slots`` (in range)."""
        return self.codec.decode(self._payload.get(slots))

    def _payload_state(self) -> dict[str, Any]:
        return {"payload": self._payload.saved_bytes(self._size)}

    def _check_payload(self, state: dict[str, Any], size: int) -> Callable[[], None]:
        """Validate the payload part of ``state`` for ``size`` items; returns what installs it (no change before)."""
        data = _saved_bytes(state["payload"])
        if data.size != self._payload.nbytes(size):
            raise InvalidInputError(f"state 'payload' has {data.size} bytes, expected {self._payload.nbytes(size)}")
        return lambda: self._payload.load_bytes(data, size)

    # -- bits ------------------------------------------------------------------------------------------------------

    @property
    def bits_per_item(self) -> int:
        """Bits one stored item costs: payload, label and task id."""
        return self.codec.item_bits + self.label_bits + self.task_bits

    def model_bits(self) -> int:
        """Bits of the models this store keeps (a learned codec's networks); none for plain codecs."""
        return 0

    def _capacity(self) -> int:
        models = self.model_bits() if self.budget.charge_models else 0
        capacity = self.budget.capacity(self.bits_per_item, model_bits=models)
        if capacity < 1:
            raise BudgetTooSmallError(
                f"a budget of {self.budget.bits} bits cannot hold one item of {self.bits_per_item} bits"
                + (f" beside {models} bits of models" if models else "")
            )
        return capacity

    def ledger(self) -> Ledger:
        return Ledger(
            payload=self._size * self.codec.item_bits,
            labels=self._size * (self.label_bits + self.task_bits),
            models=self.model_bits(),
        )

    def __len__(self) -> int:
        return self._size

    # -- write -----------------------------------------------------------------------------------------------------

    def _occupancy(self, capacity: int | None = None) -> Occupancy:
        return Occupancy(
            capacity=self.capacity if capacity is None else capacity,
            size=self._size,
            seen=self._seen,
            seen_per_class=self._seen_per_class,
            seen_per_task=self._seen_per_task,
            read_labels=self._held_labels,
            read_tasks=self._held_tasks,
            class_slots=self._class_slots,
        )

    def _held_labels(self) -> np.ndarray:
        return self._labels.get(np.arange(self._size)).reshape(-1)

    def _held_tasks(self) -> np.ndarray | None:
        return None if self.num_tasks is None else self._tasks.get(np.arange(self._size)).reshape(-1)

    def check_write(self, x: Tensor, y: Tensor, task: int | None) -> None:
        """All of ``write``'s argument checks, the admission policy's included."""
        super().check_write(x, y, task)
        self.policy.check_write(task)

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        self.check_write(x, y, task)
        self.learn(x)
        labels = y.numpy() if y.is_cpu else y.cpu().numpy()
        slots = self.policy.place(self._occupancy(), labels, task, self.generator)
        positions, targets = _kept(slots)
        if positions:
            chosen = x if len(positions) == labels.size else _rows_of(x, positions)
            self._store(np.array(targets, dtype=np.int64), chosen, labels[positions], task)
            self._size = max(self._size, max(targets) + 1)
        self._count_seen(labels, task)
        return len(slots) - slots.count(SKIP)

    def distortion(self) -> Distortion:
        """Mean L1 of the round trip of the last 512 items measured (as decoded when each was stored: every stored
        batch until 512 items, then one in four), beside the mean image's; a
        :class:`~memstore.distortion.CollapseWarning` is raised once when the first is no smaller. Not
        saved: it measures what this object has stored since it was built or opened."""
        return self._distortion.report()

    def learn(self, x: Tensor) -> None:
        """Called by ``write`` once its arguments are valid, before admission: a learned codec trains here."""

    def _count_seen(self, labels: np.ndarray, task: int | None) -> None:
        self._seen += labels.size
        self._seen_per_class += np.bincount(labels, minlength=self.num_classes)
        if self._seen_per_task is not None and task is not None:
            self._seen_per_task[task] += labels.size

    def _store(self, slots: np.ndarray, x: Tensor, labels: np.ndarray, task: int | None) -> None:
        self._put(slots, x)
        if self._distortion.due():
            self._distortion.stored(x, self._get(slots))
        self._set_labels(slots, labels)
        if self.num_tasks is not None:
            self._tasks.set(slots, np.full((slots.size, 1), task or 0, dtype=np.int64))

    def _set_labels(self, slots: np.ndarray, labels: np.ndarray) -> None:
        """Label ``slots`` (unique, in range) with ``labels``, keeping the class slots in step."""
        self._labels.set(slots, labels.reshape(-1, 1))
        if self._class_slots is not None:
            for slot, label in zip(slots.tolist(), labels.reshape(-1).tolist()):
                self._class_slots.set(slot, label)

    def _reindex(self) -> None:
        """Rebuild the class slots from the label column (after a load or a wholesale replacement)."""
        if self._class_slots is not None:
            self._class_slots = ClassSlots.of(self._labels.get(np.arange(self._size)).reshape(-1), self.num_classes)

    # -- sample and edit ---------------------------------------------------------------------------------------------

    def _filter(self, values: Any, column: Column, limit: int, name: str) -> np.ndarray:
        wanted = self.check_ids(values, name, limit)
        return np.isin(column.get(np.arange(self._size)).reshape(-1), np.asarray(wanted, dtype=np.int64))

    def _candidates(self, classes: Any, tasks: Any) -> np.ndarray | None:
        """Slots matching the filters, or None for all occupied slots."""
        if classes is None and tasks is None:
            return None
        keep = np.ones(self._size, dtype=bool)
        if classes is not None:
            keep &= self._filter(classes, self._labels, self.num_classes, "classes")
        if tasks is not None:
            if self.num_tasks is None:
                raise InvalidInputError("this store keeps no task ids: build it with num_tasks to sample by task")
            keep &= self._filter(tasks, self._tasks, self.num_tasks, "tasks")
        return np.flatnonzero(keep)

    def sample(
        self,
        n: int,
        *,
        classes: Any = None,
        tasks: Any = None,
        context: RecallContext | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        n = self.check_count(n)
        self.check_generator(generator)
        candidates = self._candidates(classes, tasks)
        pool = self._size if candidates is None else candidates.size
        order = choose(pool, n, generator or self.generator)
        return self._batch(order if candidates is None else candidates[order])

    def read(self, slots: Any) -> Batch:
        """The items in ``slots`` (ints, an int array or tensor; no randomness): decoded inputs, labels and the slots
        as keys."""
        if isinstance(slots, Tensor) and slots.is_meta:
            raise InvalidInputError("slots are on the meta device: they name no slot")
        given = slots.cpu().numpy() if isinstance(slots, Tensor) else np.asarray(slots)
        if given.dtype.kind not in "iu" and not (given.size == 0 and given.dtype.kind == "f"):
            raise InvalidInputError(f"slots must be ints, got {given.dtype} {given.ravel()[:5].tolist()}")
        slots = np.array(given, dtype=np.int64).reshape(-1)  # a copy: the batch's keys share its memory
        if slots.size and (int(slots.min()) < 0 or int(slots.max()) >= self._size):
            raise UnknownKeyError(f"slots must lie in [0, {self._size}), got {slots.tolist()}")
        return self._batch(slots)

    def _batch(self, slots: np.ndarray) -> Batch:
        """The items of ``slots``, an int64 array of this call's own: the keys are a view of it."""
        if slots.size == 0:
            return self.empty_batch()
        return Batch(
            x=self._get(slots),
            y=torch.from_numpy(self._labels.get(slots).reshape(-1).astype(np.int64, copy=False)),
            keys=torch.from_numpy(slots),
        )

    def edit(self, keys: Tensor, x: Tensor) -> None:
        """Re-encode ``x`` into the slots ``keys`` (from ``sample``), keeping labels, count and bits."""
        slots = self._edit_slots(keys, x)
        if slots.size:
            self._put(slots, x)

    def _edit_slots(self, keys: Tensor, x: Tensor) -> np.ndarray:
        """``edit``'s argument checks; the slots to edit."""
        if not isinstance(keys, Tensor) or keys.dtype != torch.int64 or keys.dim() != 1 or keys.is_meta:
            raise InvalidInputError("keys must be a 1-D int64 tensor of slots returned by sample(), not on the meta "
                                    "device")
        self.check_items(x)
        if x.shape[0] != keys.shape[0]:
            raise ShapeError(f"edit got {keys.shape[0]} keys but {x.shape[0]} items")
        slots = keys.cpu().numpy()
        if slots.size and (int(slots.min()) < 0 or int(slots.max()) >= self._size):
            raise UnknownKeyError(f"keys must name stored slots in [0, {self._size}), got {slots.tolist()}")
        if np.unique(slots).size != slots.size:
            raise InvalidInputError("edit keys must be unique")
        return slots

    # -- persistence -------------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "budget": {"bits": self.budget.bits, "charge_models": self.budget.charge_models},
            "item_shape": list(self.item_shape),
            "num_classes": self.num_classes,
            "seed": self.seed,
            "num_tasks": self.num_tasks,
            "policy": self.policy.get_config(),
        }

    @classmethod
    def decode_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``config()``'s output as constructor keyword arguments."""
        kwargs = dict(config)
        kwargs["budget"] = Budget(**config["budget"])
        kwargs["item_shape"] = tuple(config["item_shape"])
        kwargs["policy"] = policy_from_config(config["policy"])
        return kwargs

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MemoryStore:
        return cls(**cls.decode_config(config))

    def state_dict(self) -> dict[str, Any]:
        return {
            **self._payload_state(),
            "labels": self._labels.saved_bytes(self._size),
            "tasks": self._tasks.saved_bytes(self._size),
            "size": self._size,
            "seen": self._seen,
            "seen_per_class": self._seen_per_class.copy(),
            "seen_per_task": None if self._seen_per_task is None else self._seen_per_task.copy(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = int(state["size"])
        if not 0 <= size <= self.capacity:
            raise InvalidInputError(f"state holds {size} items but this store's capacity is {self.capacity}")
        install_payload = self._check_payload(state, size)
        columns = {"labels": self._labels, "tasks": self._tasks}
        data = {key: _saved_bytes(state[key]) for key in columns}
        for key, column in columns.items():
            if data[key].size != column.nbytes(size):
                raise InvalidInputError(f"state {key!r} has {data[key].size} bytes, expected {column.nbytes(size)}")
        per_class = np.array(state["seen_per_class"], dtype=np.int64)
        per_task = None if state["seen_per_task"] is None else np.array(state["seen_per_task"], dtype=np.int64)
        if per_class.shape != self._seen_per_class.shape or (per_task is None) != (self._seen_per_task is None):
            raise InvalidInputError("state stream counts do not match this store's classes and tasks")
        generator_state = torch.as_tensor(state["generator"], dtype=torch.uint8).clone()
        install_payload()
        for key, column in columns.items():
            column.load_bytes(data[key], size)
        self._size, self._seen = size, int(state["seen"])
        self._seen_per_class, self._seen_per_task = per_class, per_task
        self.generator.set_state(generator_state)
        self._reindex()
