"""MnemonicsStore: Liu, Su, Liu, Schiele & Sun, "Mnemonics Training: Multi-Class Incremental Learning without
Forgetting" (CVPR 2020), with the random and herding baselines in the same store.

The shared item engine holds the exemplars as explicit items (so ``sample`` and GMED's ``edit`` work), in float32
(the paper: exemplars are parameters) or uint8 (quantised after optimisation: 4× the exemplars in the same bits)::

    end_task(TaskContext(task, model, x=D_i, y=y_i)):
        check ─▶ m = min(per_class, capacity // classes seen)            (fixed per class, or fixed total memory)
              ─▶ old classes: keep their first m exemplars                (iCaRL's class-balanced reduction)
              ─▶ new classes: selection.select(D_i of the class, m)      (random / herding / mnemonics' random start)
              ─▶ selection.refine(Θ_i, E_i, E_old, D_i)                  (mnemonics: eq. 8–9, and eq. 10 if adjust)
              ─▶ encode (float32 bits or round(255·x) as uint8) ─▶ payload; labels packed
    write(x, y):  class-balanced reservoir admission (task-free use; the phase protocol does not call it)
    sample(n) / edit(keys, x): the item engine's (edit re-encodes: re-quantises under uint8)

Bits (docs/backends/mnemonics.md): every exemplar costs C·H·W × 32 (float32) or × 8 (uint8) payload bits plus
``ceil(log2 num_classes)`` label bits (plus task-id bits when the store keeps them). The phase data handed to
``end_task`` is the task in progress, never stored, never charged. Capacity = budget // bits per exemplar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..budget import Budget
from ..checks import check_int, check_item_shape
from ..codecs.base import FixedWidthCodec
from ..codecs.raw import RawCodec
from ..errors import InvalidInputError, MissingContextError, NonFiniteError
from ..policies import ClassBalanced
from ..store import TaskContext
from .exemplar_selection import Mnemonics, Selection, selection_from_config
from .items import ItemStore

__all__ = ["Float32Codec", "MnemonicsStore", "PhaseExemplars"]


class Float32Codec(FixedWidthCodec):
    """Exemplars kept as float32 bit patterns: 32 bits per channel value, lossless."""

    codec_id = "float32"
    symbol_bits = 32

    def __init__(self, item_shape: tuple[int, ...]) -> None:
        self.item_shape = tuple(int(d) for d in item_shape)
        self.symbols = math.prod(self.item_shape)

    def encode(self, x: Tensor) -> np.ndarray:
        values = x.detach().to("cpu", torch.float32).contiguous().numpy().reshape(x.shape[0], self.symbols)
        return values.view(np.uint32).astype(np.int64)

    def decode(self, codes: np.ndarray) -> Tensor:
        values = np.ascontiguousarray(codes, dtype=np.int64).astype(np.uint32).view(np.float32)
        return torch.from_numpy(values.copy()).reshape(-1, *self.item_shape)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape)}


#: the stored dtypes and the codec that stores each
_CODECS: dict[torch.dtype, type[FixedWidthCodec]] = {torch.float32: Float32Codec, torch.uint8: RawCodec}


@dataclass(frozen=True)
class PhaseExemplars:
    """What one ``end_task`` left in the store: exemplars per class and which classes were new."""

    per_class: int
    new_classes: tuple[int, ...]
    old_classes: tuple[int, ...]


class MnemonicsStore(ItemStore):
    """Exemplars chosen (and, for mnemonics, optimised) at the end of each phase from the phase data.

    ``selection``: :class:`~memstore.stores.exemplar_selection.RandomSelection`, ``Herding()`` or ``Mnemonics(...)``
    (the default); ``dtype``: ``torch.float32`` or ``torch.uint8``, the stored exemplar dtype; ``per_class``: at most
    this many exemplars per class (the paper's 20), else the budget is a fixed total memory shared by the classes seen.
    """

    store_type = "mnemonics"
    runtime_options: ClassVar[frozenset[str]] = frozenset()  # its exemplars are optimised in memory: no ``path``
    codec_type: ClassVar[type[FixedWidthCodec]] = FixedWidthCodec

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        selection: Selection | None = None,
        dtype: torch.dtype = torch.float32,
        per_class: int | None = None,
        seed: int | None = None,
        num_tasks: int | None = None,
    ) -> None:
        if not isinstance(dtype, torch.dtype) or dtype not in _CODECS:
            raise InvalidInputError(f"dtype must be torch.float32 or torch.uint8, got {dtype!r}")
        selection = Mnemonics() if selection is None else selection
        if not isinstance(selection, Selection):
            raise InvalidInputError(f"selection must be a Selection object (RandomSelection(), ...), got {selection!r}")
        if per_class is not None:
            per_class = check_int("per_class", per_class, low=1)
        self.dtype, self.selection, self.per_class = dtype, selection, per_class
        super().__init__(budget, item_shape, num_classes, codec=_CODECS[dtype](check_item_shape(item_shape)),
                         seed=seed, policy=ClassBalanced(), num_tasks=num_tasks)
        self.last_phase: PhaseExemplars | None = None

    # -- the phase hook ----------------------------------------------------------------------------------------------

    def quota(self, classes: int) -> int:
        """Exemplars per class when ``classes`` classes share the memory: ``min(per_class, capacity // classes)``."""
        share = self.capacity // max(classes, 1)
        return share if self.per_class is None else min(self.per_class, share)

    @property
    def consolidates_at_end_task(self) -> bool:
        """``end_task`` chooses (and optimises) the phase's exemplars: without it the store keeps what ``write``
        admitted."""
        return True

    def end_task(self, context: TaskContext) -> None:
        """Select (and optimise) the new classes' exemplars from the phase data; shrink and adjust the old ones.

        A failed call (bad context, or a model that cannot take the items) leaves the store as it was.
        """
        x, y = self._phase_data(context)
        if self.selection.needs_model and context.model is None:
            raise MissingContextError(f"{type(self.selection).__name__} needs TaskContext.model")
        generator_state = self.generator.get_state()
        try:
            self._consolidate(context, x, y)
        except BaseException:
            self.generator.set_state(generator_state)
            raise

    def _consolidate(self, context: TaskContext, x: Tensor, y: Tensor) -> None:
        held = self.read(np.arange(self._size))
        held_tasks = torch.from_numpy(self._tasks.get(np.arange(self._size)).reshape(-1).astype(np.int64))
        new_classes = torch.unique(y)
        stays = ~torch.isin(held.y, new_classes)  # the phase data supersedes what write() admitted of its classes
        old_classes = torch.unique(held.y[stays])
        m = self.quota(int(new_classes.numel() + old_classes.numel()))
        keep = _first_per_class(held.y, stays, m)
        old_x, old_y, old_tasks = held.x[keep], held.y[keep], held_tasks[keep]
        rows = torch.cat([_class_rows(y, c)[self.selection.select(x[_class_rows(y, c)], m, context.model,
                                                                  self.generator)] for c in new_classes.tolist()])
        new_x, new_y = x[rows], y[rows]
        new_x, old_x = self.selection.refine(context.model, (new_x, new_y), (old_x, old_y), (x, y), self.generator)
        if not (bool(torch.isfinite(new_x).all()) and bool(torch.isfinite(old_x).all())):
            raise NonFiniteError(f"{type(self.selection).__name__} produced NaN or infinite exemplars (is the model's "
                                 "output finite?); the store keeps its exemplars")
        new_tasks = torch.full_like(new_y, context.task if self.num_tasks is not None else 0)
        self._install(torch.cat([old_x, new_x]).clamp(0.0, 1.0), torch.cat([old_y, new_y]),
                      torch.cat([old_tasks, new_tasks]))
        self._count_seen(y.numpy(), context.task if self.num_tasks is not None else None)
        self.last_phase = PhaseExemplars(m, tuple(new_classes.tolist()), tuple(old_classes.tolist()))

    def _phase_data(self, context: TaskContext) -> tuple[Tensor, Tensor]:
        if not isinstance(context, TaskContext):
            raise InvalidInputError(f"end_task needs a memstore.TaskContext, got {type(context).__name__}")
        if context.x is None or context.y is None:
            raise MissingContextError("MnemonicsStore.end_task needs the phase data: TaskContext(x=..., y=...)")
        self.check_items(context.x)
        self.check_labels(context.y, int(context.x.shape[0]))
        self.check_task(context.task)
        if self.num_tasks is not None and context.task is None:
            raise InvalidInputError("a MnemonicsStore built with num_tasks needs the phase's task id: "
                                    "TaskContext(task=...)")
        if context.y.numel() == 0:
            raise InvalidInputError("end_task got no phase data: TaskContext.x must hold at least one item")
        return context.x.detach().cpu(), context.y.cpu()

    def _install(self, x: Tensor, y: Tensor, tasks: Tensor) -> None:
        """Replace every stored exemplar by ``(x, y, tasks)`` (at most ``capacity`` of them), in order."""
        count = int(y.shape[0])
        assert count <= self.capacity
        slots = np.arange(count)
        if count:
            self._put(slots, x.detach())
            self._distortion.stored(x.detach(), self._get(slots))  # uint8: what quantising the exemplars cost
            self._labels.set(slots, y.numpy().reshape(-1, 1))
            if self.num_tasks is not None:
                self._tasks.set(slots, tasks.numpy().reshape(-1, 1))
        self._size = count
        self._reindex()

    def exemplars(self) -> tuple[Tensor, Tensor]:
        """All stored exemplars (decoded) and their labels, in slot order."""
        batch = self.read(np.arange(self._size))
        return batch.x, batch.y

    # -- persistence -------------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        config = super().config()
        del config["policy"]  # always ClassBalanced
        return {**config, "selection": self.selection.get_config(), "dtype": str(self.dtype).removeprefix("torch."),
                "per_class": self.per_class}

    @classmethod
    def decode_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(config)
        kwargs["budget"] = Budget(**config["budget"])
        kwargs["item_shape"] = tuple(config["item_shape"])
        kwargs["selection"] = selection_from_config(config["selection"])
        kwargs["dtype"] = getattr(torch, config["dtype"])
        return kwargs


def _class_rows(y: Tensor, label: int) -> Tensor:
    return torch.nonzero(y == label).flatten()


def _first_per_class(y: Tensor, candidates: Tensor, m: int) -> Tensor:
    """Rows of ``y`` among ``candidates`` that are within the first ``m`` of their class (slot order)."""
    keep = torch.zeros_like(candidates)
    for label in torch.unique(y[candidates]).tolist():
        rows = torch.nonzero(candidates & (y == label)).flatten()
        keep[rows[:m]] = True
    return keep
