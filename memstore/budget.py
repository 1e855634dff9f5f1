"""Exact bit arithmetic: the budget a store may spend and the ledger of what it spends.

Everything here is a Python ``int``. No floats, so no rounding: a ledger says how many bits a store
holds, and ``persist`` writes exactly ``ceil(payload / 8)`` payload bytes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .checks import check_item_shape, is_int
from .errors import InvalidInputError

__all__ = ["Budget", "Ledger", "index_bits", "label_bits", "mask_bits", "param_bits", "dtype_bits"]


def index_bits(count: int) -> int:
    """Bits of a fixed-width field that distinguishes ``count`` values: ``ceil(log2(count))``, 0 for one value."""
    if not is_int(count) or count < 1:
        raise InvalidInputError(f"count must be a positive int, got {count!r}")
    return (int(count) - 1).bit_length()


def label_bits(num_classes: int) -> int:
    """Bits per stored label: ``ceil(log2(num_classes))`` (docs/design.md, bits)."""
    return index_bits(num_classes)


def dtype_bits(dtype: torch.dtype) -> int:
    """Bits of one element of ``dtype`` (``torch.bool`` counts as 8: that is how torch stores it)."""
    if not isinstance(dtype, torch.dtype):
        raise InvalidInputError(f"dtype must be a torch.dtype, got {dtype!r}")
    return torch.empty((), dtype=dtype).element_size() * 8


def param_bits(params: torch.nn.Module | Iterable[torch.Tensor], dtype: torch.dtype | None = None) -> int:
    """Bits of every parameter of a module (or of an iterable of tensors), at ``dtype`` or at each tensor's dtype."""
    tensors = params.parameters() if isinstance(params, torch.nn.Module) else params
    if not isinstance(params, (torch.nn.Module, Iterable)):
        raise InvalidInputError(f"params must be a torch.nn.Module or an iterable of tensors, got {params!r}")
    tensors = list(tensors)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise InvalidInputError("params must be a torch.nn.Module or an iterable of tensors")
    return sum(t.numel() * dtype_bits(dtype or t.dtype) for t in tensors)


def mask_bits(mask: torch.Tensor) -> int:
    """Bits of a binary mask stored the cheaper of two ways, exactly.

    A dense bitmap costs one bit per element; a sparse list costs ``index_bits(numel)`` per set element.
    The mask's shape is metadata, as an item's shape is, and is not charged.
    """
    if not isinstance(mask, torch.Tensor):
        raise InvalidInputError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    numel = mask.numel()
    if numel == 0:
        return 0
    ones = int(torch.count_nonzero(mask))
    return min(numel, ones * index_bits(numel))


@dataclass(frozen=True)
class Budget:
    """How many bits a store may spend. Models count against it only when ``charge_models`` is true.

    ``charge_models=False`` is the papers' *incremental storage* regime (an autoencoder or generator is a
    sunk cost, like the task model); ``True`` is *total storage* (Riemer et al., Table 3).
    """

    bits: int
    charge_models: bool = False

    def __post_init__(self) -> None:
        if not is_int(self.bits) or self.bits < 0:
            raise InvalidInputError(f"Budget.bits must be a non-negative int, got {self.bits!r}")
        if type(self.bits) is not int:  # a NumPy integer: kept as the Python int it equals
            object.__setattr__(self, "bits", int(self.bits))
        if not isinstance(self.charge_models, bool):
            raise InvalidInputError(f"Budget.charge_models must be a bool, got {self.charge_models!r}")

    @classmethod
    def bytes(cls, n: int, *, charge_models: bool = False) -> Budget:
        """A budget of ``n`` bytes."""
        if not is_int(n) or n < 0:
            raise InvalidInputError(f"byte count must be a non-negative int, got {n!r}")
        return cls(8 * int(n), charge_models)

    @classmethod
    def images(
        cls,
        n: int,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        num_tasks: int | None = None,
        charge_models: bool = False,
    ) -> Budget:
        """The bits of ``n`` raw uint8 items with their labels (and task ids, when ``num_tasks`` is given).

        This is the papers' unit of comparison: "the effective incremental storage of n real examples".
        """
        if not is_int(n) or n < 0:
            raise InvalidInputError(f"image count must be a non-negative int, got {n!r}")
        n = int(n)
        item_shape = check_item_shape(item_shape)
        per_item = 8 * math.prod(item_shape) + label_bits(num_classes)
        if num_tasks is not None:
            per_item += index_bits(num_tasks)
        return cls(n * per_item, charge_models)

    def capacity(self, item_bits: int | float, *, shared_bits: int = 0, model_bits: int = 0) -> int:
        """The one capacity rule: how many items of ``item_bits`` each (everything an item costs: payload, label,
        task id, length field; a mean for variable-size codes) fit beside ``shared_bits`` charged once and the
        store's ``model_bits`` (counted only when ``charge_models``). Never negative."""
        for name, value in (("item_bits", item_bits), ("shared_bits", shared_bits), ("model_bits", model_bits)):
            finite = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and math.isfinite(value))
            if isinstance(value, bool) or not finite or value < 0:
                raise InvalidInputError(f"{name} must be a finite non-negative number, got {value!r}")
        if not item_bits > 0:
            raise InvalidInputError(f"item_bits must be positive, got {item_bits!r}")
        room = self.bits - shared_bits - (model_bits if self.charge_models else 0)
        return max(int(room // item_bits), 0)


@dataclass(frozen=True)
class Ledger:
    """The bits a store holds, by category.

    - ``payload``: the encoded items (or exemplar tensors).
    - ``labels``: packed labels, and task ids where the store keeps them.
    - ``index``: what locates items in the payload (per-item lengths of variable-size codes).
    - ``models``: networks and masks the store keeps beyond the task model.
    """

    payload: int = 0
    labels: int = 0
    index: int = 0
    models: int = 0

    def __post_init__(self) -> None:
        for name in ("payload", "labels", "index", "models"):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise InvalidInputError(f"Ledger.{name} must be a non-negative int, got {value!r}")
            if type(value) is not int:
                object.__setattr__(self, name, int(value))

    @property
    def total(self) -> int:
        """Every bit held, models included."""
        return self.payload + self.labels + self.index + self.models

    def charged(self, budget: Budget) -> int:
        """The bits that count against ``budget`` (models only in the total-storage regime)."""
        return self.total if budget.charge_models else self.total - self.models

    def payload_bytes(self) -> int:
        """Bytes the payload occupies on disk: ``ceil(payload / 8)``."""
        return -(-self.payload // 8)
