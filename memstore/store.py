"""The contract every memstore backend keeps (docs/design.md, the contract), on one screen.

A plain PyTorch loop needs five lines::

    store = RawStore(Budget.images(500, (1, 28, 28), 10), (1, 28, 28), 10, seed=0)
    for x, y in stream:
        replay = store.sample(10)               # a Batch: x float32 in [0, 1], y int64, keys for edit
        loss = step(model, x, y, replay)
        store.write(x, y)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from .checks import MAX_CLASSES, check_int, check_item_shape, check_seed, is_int
from .budget import Budget, Ledger
from .errors import (
    DTypeError,
    InvalidInputError,
    LabelError,
    MissingContextError,
    NonFiniteError,
    NotEditable,
    RangeError,
    ShapeError,
)

__all__ = ["Batch", "RecallContext", "TaskContext", "MemoryStore", "STORE_TYPES"]

#: Concrete store classes by their ``store_type``, for ``memstore.open``.
STORE_TYPES: dict[str, type[MemoryStore]] = {}


#: the bits of float32 1.0 read as an int32 (0x3F800000)
_ONE_BITS = 0x3F800000


def _bits_at_most_one(values: Tensor) -> bool:
    """Whether every float32 of ``values`` has bits at most those of 1.0 read as an unsigned int (numpy on the CPU,
    where torch has no uint32 max; two int32 reductions elsewhere)."""
    if values.is_cpu:
        return int(values.numpy().view(np.uint32).max()) <= _ONE_BITS
    bits = torch.aminmax(values.view(torch.int32))
    return int(bits[0]) >= 0 and int(bits[1]) <= _ONE_BITS


@dataclass(frozen=True)
class Batch:
    """Items returned by ``sample``.

    ``keys`` are slot ids to pass to ``edit`` (None for generated items); they stay valid until the next
    ``write``. ``soft`` holds target distributions where a store provides them (ARM's old-model outputs).
    """

    x: Tensor
    y: Tensor
    keys: Tensor | None = None
    soft: Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class RecallContext:
    """What a model-based store needs to produce a batch: the model in training, a frozen old model, the real batch."""

    model: nn.Module
    old_model: nn.Module | None = None
    batch: Batch | None = None


@dataclass(frozen=True)
class TaskContext:
    """Handed to ``end_task``: the finished task's id, the task model and (optionally) the phase's data, and
    held-out data a protocol selects models by (``validation``: real items of the classes seen so far, which the
    learner keeps, never the store; only stores that train a model at ``end_task`` read it)."""

    task: int
    model: nn.Module | None = None
    x: Tensor | None = None
    y: Tensor | None = None
    validation: Batch | None = None

    def __post_init__(self) -> None:
        if type(self.task) is not int and is_int(self.task):  # a NumPy integer: the Python int it equals
            object.__setattr__(self, "task", int(self.task))


class MemoryStore(ABC):
    """A replay memory whose budget is bits. See docs/design.md: "The contract", and "Bits" for what costs what."""

    #: Name under which ``memstore.open`` finds the class; set by every concrete backend.
    store_type: ClassVar[str] = ""
    #: Constructor options that say where a store lives or computes (a working directory, a device, live weights),
    #: never what it holds: ``config()`` never writes them, and ``memstore.open`` refuses a saved config naming one.
    runtime_options: ClassVar[frozenset[str]] = frozenset()
    #: Capabilities, declared (zarr-python's ``supports_*`` style) instead of probed: the store keeps items that
    #: ``sample`` returns and ``edit`` changes; its ``sample`` needs a ``RecallContext`` (a model) every call.
    keeps_items: ClassVar[bool] = True
    needs_context: ClassVar[bool] = False
    #: ``sample(classes=...)`` returns only items of those classes (false for a store whose recall is conditioned
    #: on the real batch, which refuses the filter with a typed error).
    filters_by_class: ClassVar[bool] = True
    #: The most items one ``sample`` call returns, for stores that compute every item they return at once
    #: (generators, recall); None: no limit beyond the items held.
    max_sample: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("store_type"):  # only classes that name themselves; subclasses inherit no entry
            STORE_TYPES[cls.store_type] = cls

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        seed: int | None = None,
        num_tasks: int | None = None,
    ) -> None:
        if not isinstance(budget, Budget):
            raise InvalidInputError(f"budget must be a memstore.Budget, got {type(budget).__name__}")
        num_classes = check_int("num_classes", num_classes, low=1, high=MAX_CLASSES)
        if num_tasks is not None:
            num_tasks = check_int("num_tasks", num_tasks, low=1, high=MAX_CLASSES)
        seed = check_seed(seed)
        self.budget = budget
        self.item_shape = check_item_shape(item_shape)
        self.num_classes = num_classes
        self.num_tasks = num_tasks
        self.seed = seed
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()  # a fresh nondeterministic seed for this store only
        else:
            self.generator.manual_seed(seed)

    # -- the contract -------------------------------------------------------------------------------------------

    @abstractmethod
    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        """Offer a stream batch; returns how many items were admitted."""

    @abstractmethod
    def sample(
        self,
        n: int,
        *,
        classes: Any = None,
        tasks: Any = None,
        context: RecallContext | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """Up to ``n`` items (fewer if fewer exist), optionally only of some classes or tasks."""

    def edit(self, keys: Tensor, x: Tensor) -> None:
        """Replace stored inputs in place (GMED). Stores without items raise :class:`NotEditable`."""
        raise NotEditable(f"{type(self).__name__} keeps no items to edit")

    def end_task(self, context: TaskContext) -> None:
        """Phase hook for stores that consolidate at task boundaries; a no-op by default (its argument checked)."""
        self.check_task_context(context)

    @abstractmethod
    def ledger(self) -> Ledger:
        """Exact bits held, by category."""

    @abstractmethod
    def __len__(self) -> int:
        """Stored items (0 for stores that generate or recall)."""

    @property
    def filters_by_task(self) -> bool:
        """Whether ``sample(tasks=...)`` returns only items of those tasks: a store of items keeps task ids when it
        is built with ``num_tasks`` (and refuses the filter, typed, when it is not)."""
        return self.num_tasks is not None

    @property
    def consolidates_at_end_task(self) -> bool:
        """Whether ``end_task`` may change the store (trains, snapshots a model, chooses exemplars, refits a code
        model), as it does when handed what it consolidates from; false: the hook does nothing."""
        return False

    @property
    def can_sample(self) -> bool:
        """Whether ``sample`` can produce a batch now."""
        return len(self) > 0

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``type(self).from_config(self.config())`` is an empty twin."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MemoryStore:
        """Build an empty store from ``config()``'s output."""
        return cls(**config)

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything that makes this store what it is: tensors, arrays and plain values, nested in dicts."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output onto a store built from the same config."""

    def as_dataset(self, length: int | None = None, *, batch_size: int = 64, seed: int = 0) -> Any:
        """A torch ``Dataset`` for ``DataLoader`` (:mod:`memstore.views`): map-style over the items a store keeps;
        for a store that generates, ``length`` items drawn ``batch_size`` at a time from ``seed``'s stream.
        A store that recalls from a model it is handed (SelfRecallStore) has no view: MissingContextError."""
        from .views import GeneratedItems, StoredItems

        if self.keeps_items:
            if length is not None:
                raise InvalidInputError("a store that keeps items is viewed whole: give no length")
            return StoredItems(self)
        if self.needs_context:
            raise MissingContextError(f"{type(self).__name__} recalls from a model each call: it has no dataset view")
        if length is None:
            raise InvalidInputError(f"{type(self).__name__} generates: as_dataset needs a length")
        return GeneratedItems(self, length, batch_size=batch_size, seed=seed)

    def save(self, target: Any = None, *, storage_options: dict[str, Any] | None = None) -> Any:
        """Save as a Zarr v3 group (in memory when ``target`` is None; fsspec URLs such as ``s3://`` take
        ``storage_options``); ``memstore.open(target)`` reopens it."""
        from .persist import save

        return save(self, target, storage_options=storage_options)

    # -- shared argument checks -----------------------------------------------------------------------------------

    def check_items(self, x: Tensor) -> None:
        """Raise unless ``x`` is float32 (B, C, H, W) of ``item_shape``, finite, in [0, 1]."""
        if not isinstance(x, Tensor):
            raise DTypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype != torch.float32:
            raise DTypeError(f"x must be float32 in [0, 1], got {x.dtype}")
        if x.dim() != 4 or x.shape[1:] != self.item_shape:
            raise ShapeError(f"x must have shape (B, {', '.join(map(str, self.item_shape))}), got {tuple(x.shape)}")
        if x.is_meta:
            raise InvalidInputError("x is on the meta device: it holds no values to store")
        if x.numel() == 0:
            return
        # IEEE 754: a float32 lies in [0, 1] (and is not NaN) exactly when its bits, read as an unsigned int, are at
        # most the bits of 1.0 (negatives have the top bit set), or it is -0.0: one integer max, several times
        # faster than a float min/max
        values = x.detach() if x.requires_grad else x
        if _bits_at_most_one(values):
            return
        low, high = (float(v) for v in torch.aminmax(values))  # NaN propagates into low and high
        if 0.0 <= low and high <= 1.0:
            return
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteError("x contains NaN or infinite values; expected finite values in [0, 1]")
        raise RangeError(f"x must lie in [0, 1], got values in [{low!r}, {high!r}]")  # repr: 1.0000001 stays visible

    def check_labels(self, y: Tensor, batch_size: int) -> None:
        """Raise unless ``y`` is int64 of shape (batch_size,) with values in [0, num_classes)."""
        if not isinstance(y, Tensor):
            raise DTypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
        if y.dtype != torch.int64:
            raise DTypeError(f"y must be int64 class labels, got {y.dtype}")
        if y.shape != (batch_size,):
            raise ShapeError(f"y must have shape ({batch_size},) to match x, got {tuple(y.shape)}")
        if y.is_meta:
            raise InvalidInputError("y is on the meta device: it holds no labels")
        if y.numel():
            values = y.tolist()
            low, high = min(values), max(values)
            if low < 0 or high >= self.num_classes:
                raise LabelError(f"labels must lie in [0, {self.num_classes}), got [{low}, {high}]")

    def check_task(self, task: int | None) -> None:
        """Raise unless ``task`` is None or an int in [0, num_tasks) (any non-negative int if tasks are not kept)."""
        if task is None:
            return
        if not is_int(task) or task < 0:
            raise LabelError(f"task must be a non-negative int or None, got {task!r}")
        if self.num_tasks is not None and task >= self.num_tasks:
            raise LabelError(f"task must lie in [0, {self.num_tasks}), got {task}")

    def check_task_context(self, context: Any) -> None:
        """Raise unless ``context`` is a :class:`TaskContext` whose task id :meth:`check_task` accepts."""
        if not isinstance(context, TaskContext):
            raise InvalidInputError(f"end_task needs a memstore.TaskContext, got {type(context).__name__}")
        self.check_task(context.task)

    def check_write(self, x: Tensor, y: Tensor, task: int | None) -> None:
        """All of ``write``'s argument checks."""
        self.check_items(x)
        self.check_labels(y, int(x.shape[0]))
        self.check_task(task)

    @staticmethod
    def check_ids(values: Any, name: str, limit: int | None) -> list[int]:
        """``sample``'s ``classes=`` / ``tasks=`` filter as a list of ints in [0, limit) (any non-negative int if
        ``limit`` is None). Accepts one int, an int tensor or numpy array, or an iterable of ints (numpy's
        included); refuses strings, bools and floats."""
        if isinstance(values, Tensor) and values.is_meta:
            raise InvalidInputError(f"{name} is on the meta device: it holds no ids")
        if isinstance(values, (Tensor, np.ndarray)):
            values = values.reshape(-1).tolist()
        elif is_int(values) or isinstance(values, (bool, np.bool_)):  # one id; a bool is refused below, by name
            values = [values]
        if not isinstance(values, Iterable) or isinstance(values, (str, bytes)):
            raise InvalidInputError(f"{name} must be an int or an iterable of ints, got {values!r}")
        items = list(values)
        if not all(is_int(v) and v >= 0 for v in items):
            raise LabelError(f"{name} must be non-negative ints, got {items!r}")
        items = [int(v) for v in items]
        if limit is not None and any(v >= limit for v in items):
            raise LabelError(f"{name} to sample must lie in [0, {limit}), got {items}")
        return items

    @staticmethod
    def check_count(n: int) -> int:
        """``n`` as a Python int, or InvalidInputError unless it is a non-negative int (a sample size; NumPy's
        integers included)."""
        if not is_int(n) or n < 0:
            raise InvalidInputError(f"n must be a non-negative int, got {n!r}")
        return int(n)

    def check_generated(self, n: int) -> None:
        """Raise unless ``sample(n)`` stays within :attr:`max_sample` (a generating store's memory grows with n)."""
        if self.max_sample is not None and n > self.max_sample:
            raise InvalidInputError(f"{type(self).__name__} generates at most {self.max_sample} items per sample "
                                    f"call, got n={n}: sample in batches")

    @staticmethod
    def check_generator(generator: Any) -> None:
        """Raise unless ``generator`` is None or a ``torch.Generator`` (a seed is not one: seed a generator)."""
        if generator is not None and not isinstance(generator, torch.Generator):
            raise InvalidInputError(f"generator must be a torch.Generator or None, got {generator!r}")

    @property
    def item_size(self) -> int:
        """Channel values per item."""
        return math.prod(self.item_shape)

    def empty_batch(self) -> Batch:
        """A batch of no items, with the right shapes and dtypes."""
        return Batch(
            x=torch.empty((0, *self.item_shape)),
            y=torch.empty(0, dtype=torch.int64),
            keys=torch.empty(0, dtype=torch.int64),
        )

    def __repr__(self) -> str:
        led = self.ledger()
        return (
            f"{type(self).__name__}(items={len(self)}, charged={led.charged(self.budget)}"
            f"/{self.budget.bits} bits, item_shape={self.item_shape}, num_classes={self.num_classes}"
            + "".join(f", {name}={value!r}" for name, value in self.describe().items()) + ")"
        )

    def describe(self) -> dict[str, Any]:
        """The settings a reader of ``repr`` needs beyond shape and budget (a JPEG quality, a code shape)."""
        return {}
