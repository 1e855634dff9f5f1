"""Choosing the latent shape (c, l) for a bit budget: Riemer et al., eq. 3–5.

Capacity of the code ``C = c · log2 l`` (eq. 3). An item stored with simple binary encoding costs
``S = c · ceil(log2 l)`` bits (+ its label and task id here). With ``ρ`` the fraction of the ``N`` incoming items that
are stored, eq. 4 (incremental storage) is ``maximise C s.t. ρ·N·S ≤ γ`` and eq. 5 (total storage) adds the model:
``ρ·N·S + |θ|(c, l) ≤ γ`` (both written here in bits over the whole stream: their per-example form times N)::

    γ (budget bits), N (stream length), ρN (items to hold) ──▶ for each l: the largest c that fits ──▶ argmax C
                                                                (ties: the smaller network c·l, then the smaller c)

``|θ|(c, l)`` is the float32 size of :class:`~memstore.nn.DiscreteVAE` with ``cl/s²`` filters per layer (s, the
side of the code map, is 2 in the paper).

:func:`default_latents` is what :class:`~memstore.RecollectionStore` uses when no (c, l) is given: eq. 4/5 for
``ρN = min(N, 50 × the raw images the budget holds, what fits at 64 code bits each)`` (``N = expected_items``; without
it, the other two), with the network kept to at most 64 filters per layer: c·l ≤ 256 on the paper's 2×2 code map,
and when the budget wants a wider code than that, c·l ≤ 1,024 on a 4×4 map (decision 0029). Decision 0021 gives the
measurements behind the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..budget import Budget, index_bits, label_bits
from ..checks import check_int, check_item_shape, is_int
from ..codecs.ranges import range_symbols
from ..errors import BudgetTooSmallError, InvalidInputError
from ..nn.dvae import CODE_SIDES, DVAEConfig, check_code_side

__all__ = ["LatentDesign", "colour_items", "default_latents", "design_latents", "ranges_for"]

DEFAULT_RATIO = 50  # items held per raw image the budget holds, when the stream length does not lower it
DEFAULT_MAX_FILTERS = 64  # widest default network: c·l ≤ 4 · 64
DEFAULT_MIN_CODE_BITS = 64  # narrowest default code: small images (8×8 digits) hold fewer, wider codes


@dataclass(frozen=True)
class LatentDesign:
    """The chosen ``latents`` (c) and ``classes`` (l); bits per item, model bits charged, items the store holds."""

    latents: int
    classes: int
    capacity_bits: float  # C = c·log2 l
    item_bits: int  # c·ceil(log2 l) + label (+ task id)
    model_bits: int  # charged dVAE bits (0 under incremental storage)
    items: int  # what a RecollectionStore of this budget holds
    stored_fraction: float  # ρ = items / N
    code_side: int = 2  # s: the dVAE's code map is s×s (2 in the paper)


def _largest_c(room: int, item_count: int, fixed: int, width: int, model: callable, l: int) -> int:
    """The largest c with ``item_count·(c·width + fixed) + model(c, l) ≤ room`` (0 if none); model grows with c."""
    c = (room // item_count - fixed) // width
    while c > 0 and item_count * (c * width + fixed) + model(c, l) > room:
        c -= 1 if model(c, l) == 0 else max(1, c // 16)  # model bits only shrink as c does
    while c > 0 and item_count * ((c + 1) * width + fixed) + model(c + 1, l) <= room:
        c += 1
    return max(c, 0)


def design_latents(
    budget: Budget,
    stream_length: int,
    items: int,
    item_shape: tuple[int, ...],
    num_classes: int,
    *,
    classes: Sequence[int] = tuple(range(2, 33)),
    num_tasks: int | None = None,
    max_filters: int | None = None,
    code_side: int = 2,
    ranges: bool = False,
) -> LatentDesign:
    """Eq. 4 (``budget.charge_models`` false) or eq. 5 (true): the (c, l) of largest capacity that keeps ``items``
    (= ρ·N) stored items within ``budget``, with ``c·l ≤ s²·max_filters`` when that is given (the network has
    ``ceil(c·l/s²)`` filters per layer, s = ``code_side``); with ``ranges`` every item also pays for its channel
    ranges' digits (decision 0036). BudgetTooSmallError when no (c, l) with c ≥ 1 fits."""
    _check_design_inputs(budget, item_shape)
    code_side = check_code_side(code_side)
    stream_length, items = check_int("stream_length", stream_length, low=1), check_int("items", items, low=1)
    if max_filters is not None:
        max_filters = check_int("max_filters", max_filters, low=1)
    if not isinstance(ranges, bool):
        raise InvalidInputError(f"ranges must be a bool, got {ranges!r}")
    classes = [check_int("a latent's class count", l, low=2) for l in classes]
    if not classes:
        raise InvalidInputError("design_latents needs at least one class count l to try")
    if not 0 < items <= stream_length:
        raise InvalidInputError(f"items must lie in (0, stream_length], got {items} of {stream_length}")
    fixed = label_bits(num_classes) + (0 if num_tasks is None else index_bits(num_tasks))
    shape = tuple(int(d) for d in item_shape)

    def model(c: int, l: int) -> int:
        return 32 * DVAEConfig(shape, c, l, code_side=code_side).num_params if budget.charge_models and c > 0 else 0

    def side_bits(l: int) -> int:
        return range_symbols(shape[0], l) * index_bits(l) if ranges else 0

    best: tuple | None = None
    for l in classes:
        width = index_bits(l)
        c = _largest_c(budget.bits, items, fixed + side_bits(l), width, model, l)
        if max_filters is not None:
            c = min(c, code_side**2 * max_filters // l)
        if c < 1:
            continue
        key = (c * math.log2(l), -c * l, -c)
        if best is None or key > best[0]:
            best = (key, c, l)
    if best is None:
        raise BudgetTooSmallError(f"no latent shape fits {items} items in {budget.bits} bits")
    _, c, l = best
    item_bits = c * index_bits(l) + fixed + side_bits(l)
    charged = model(c, l)
    held = budget.capacity(item_bits, model_bits=charged)
    return LatentDesign(c, l, c * math.log2(l), item_bits, charged, held, held / stream_length, code_side)


def default_latents(
    budget: Budget,
    item_shape: tuple[int, ...],
    num_classes: int,
    *,
    expected_items: int | None = None,
    num_tasks: int | None = None,
    code_side: int | None = None,
    ranges: bool = False,
) -> LatentDesign:
    """The (c, l) a RecollectionStore gets when none is given: :func:`design_latents` for
    ``min(expected_items, 50 × raw images in budget, items of 64 code bits in budget)`` items and at most 64 filters
    per layer, on the paper's 2×2 code map unless the 4×4 one holds a code of more capacity than the 2×2 cap allows
    (or on the ``code_side`` given); when even one such code does not fit, as many items as fit (halving);
    BudgetTooSmallError when none does."""
    _check_design_inputs(budget, item_shape)
    if expected_items is not None and (not is_int(expected_items) or expected_items < 1):
        raise InvalidInputError(f"expected_items must be a positive int (the stream length), got {expected_items!r}")
    raw_bits = 8 * math.prod(int(d) for d in item_shape) + label_bits(num_classes)
    raw_bits += 0 if num_tasks is None else index_bits(num_tasks)
    items = DEFAULT_RATIO * max(budget.capacity(raw_bits), 1)
    items = min(items, max(budget.capacity(DEFAULT_MIN_CODE_BITS + raw_bits - 8 * math.prod(item_shape)), 1))
    if expected_items is not None:
        items = min(items, int(expected_items))
    sides = CODE_SIDES if code_side is None else (check_code_side(code_side),)
    while True:
        try:
            designs = [design_latents(budget, items, items, item_shape, num_classes, num_tasks=num_tasks,
                                      max_filters=DEFAULT_MAX_FILTERS, code_side=side, ranges=ranges)
                       for side in sides]
        except BudgetTooSmallError:
            if items == 1:
                raise
            items = max(items // 2, 1)
            continue
        # a wider map only for a code the 2×2 map cannot hold under the cap; ties go to the paper's map
        wide = [d for d in designs if d.code_side == 2 or d.latents * d.classes > 4 * DEFAULT_MAX_FILTERS]
        return max(wide or designs, key=lambda d: (d.capacity_bits, -d.code_side))


def _check_design_inputs(budget: Any, item_shape: Any) -> None:
    if not isinstance(budget, Budget):
        raise InvalidInputError(f"budget must be a memstore.Budget, got {type(budget).__name__}")
    check_item_shape(item_shape)


def colour_items(item_shape: tuple[int, ...]) -> bool:
    """Whether items have more than one channel: what the dVAE stores' colour defaults key on (channel ranges,
    decision 0036; the warm-up, decision 0038)."""
    return len(item_shape) > 0 and int(item_shape[0]) > 1


def ranges_for(ranges: bool | None, item_shape: tuple[int, ...]) -> bool:
    """``ranges`` as given, or by default whether items have more than one channel (decision 0036: on colour items
    the dVAE otherwise spends its code on the colours and loses the shapes; on one channel the bytes buy little)."""
    if ranges is None:
        return colour_items(item_shape)
    if not isinstance(ranges, bool):
        raise InvalidInputError(f"ranges must be a bool or None (colour items only), got {ranges!r}")
    return ranges
