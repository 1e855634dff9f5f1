"""Construction-time checks of settings: right type, finite, in range, or a typed :class:`InvalidInputError`.

Every store, codec and training config calls these in its constructor (or ``__post_init__``), so a bad value fails
where it is given, with its name and the range it must be in, and never as a NaN loss or a raw error later::

    check_real("Stabilisation.lr", lr, low=0, high=LR_MAX, open_low=True)
    check_int("GANTraining.iterations", iterations, low=1)
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

from .errors import InvalidInputError

__all__ = ["LR_MAX", "MAX_CLASSES", "WEIGHT_MAX", "check_fields", "check_int", "check_item_shape", "check_probe_batch",
           "check_real", "check_seed", "is_int", "plain"]

#: a step size above this diverges every network in memstore; larger values are refused as mistakes
LR_MAX = 10.0
#: the largest loss weight (or recall step size) taken; beyond it a setting is a typo, not a choice
WEIGHT_MAX = 1e6
#: the most classes a store takes: labels are kept per class, so the bound keeps a typo from allocating gigabytes
MAX_CLASSES = 1 << 20


def is_int(value: Any) -> bool:
    """An integer as settings take one: a Python int or a NumPy integer scalar, not a bool (``numbers.Integral``,
    which NumPy registers its integers with; ``np.bool_`` is not one)."""
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def check_real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
               open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number (an int or float, NumPy's scalars included; not a bool) in the interval given; returns
    it as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    below = low is not None and (value <= low if open_low else value < low)
    above = high is not None and (value >= high if open_high else value > high)
    if below or above:
        raise InvalidInputError(f"{name} must be in {_interval(low, high, open_low, open_high)}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An int (NumPy's integer scalars included; not a bool, not a float with an integral value) in [low, high];
    returns it as a Python int."""
    if not is_int(value):
        raise InvalidInputError(f"{name} must be an int, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInputError(f"{name} must be in {_interval(low, high, False, False)}, got {value!r}")
    return int(value)


def plain(value: Any) -> Any:
    """A checked number as Python has it: a Python int, float or bool unchanged, a NumPy integer as the int it
    equals, any other real (a NumPy float) as the float it equals."""
    if type(value) in (int, float, bool):
        return value
    return int(value) if is_int(value) else float(value)


def check_fields(config: Any, check: Callable[..., Any], *names: str, optional: bool = False, **bounds: Any) -> None:
    """Check the fields ``names`` of the frozen dataclass ``config`` with ``check`` (:func:`check_int` or
    :func:`check_real`) and ``bounds``, each named ``Class.field`` in the error; ``optional``: None passes. A NumPy
    scalar is stored back as :func:`plain` makes it, so the config stays JSON and equal to the one a Python number
    of the same value gives."""
    for name in names:
        value = getattr(config, name)
        if value is None and optional:
            continue
        check(f"{type(config).__name__}.{name}", value, **bounds)
        if type(value) not in (int, float):
            object.__setattr__(config, name, plain(value))


def check_item_shape(item_shape: Any) -> tuple[int, int, int]:
    """``item_shape`` as three positive ints (C, H, W) (not bools); InvalidInputError otherwise."""
    try:
        shape = tuple(item_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(is_int(d) and d > 0 for d in shape):
        raise InvalidInputError(f"item_shape must be three positive ints (C, H, W), got {item_shape!r}")
    return tuple(int(d) for d in shape)  # type: ignore[return-value]


def check_probe_batch(name: str, x: Any, *, min_items: int = 1, item_shape: tuple[int, ...] | None = None) -> None:
    """``x`` as a chooser measures it (:func:`~memstore.choose_quality`, :func:`~memstore.choose_lossless`): a
    float32 tensor (B, C, H, W) of at least ``min_items`` items (of ``item_shape`` when given), finite, in [0, 1]."""
    import torch  # the checks of settings need no torch; this one does

    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or x.dim() != 4 or x.shape[0] < min_items:
        raise InvalidInputError(f"{name} needs a float32 batch (B >= {min_items}, C, H, W) of the first task's "
                                f"inputs, got {getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
    if item_shape is not None and tuple(x.shape[1:]) != tuple(item_shape):
        raise InvalidInputError(f"{name}: the items are {tuple(x.shape[1:])}, the store's are {tuple(item_shape)}")
    if x.is_meta:
        raise InvalidInputError(f"{name}: the items are on the meta device, with no values to measure")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise InvalidInputError(f"{name} needs finite values in [0, 1]")


def check_seed(value: Any) -> int | None:
    """None, or an int that ``torch.Generator.manual_seed`` takes: [-2**63, 2**64)."""
    if value is None:
        return None
    return check_int("seed", value, low=-(1 << 63), high=(1 << 64) - 1)


def _interval(low: float | None, high: float | None, open_low: bool, open_high: bool) -> str:
    left = "(" if open_low or low is None else "["
    right = ")" if open_high or high is None else "]"
    return f"{left}{'-inf' if low is None else _number(low)}, {'inf' if high is None else _number(high)}{right}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"
