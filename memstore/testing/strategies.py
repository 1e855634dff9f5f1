"""Hypothesis strategies and helpers for store tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from ..blocks import ByteBlocks

__all__ = ["bad_writes", "item_shapes", "items", "random_items", "snapshot", "state_equal"]


def item_shapes(max_channels: int = 3, max_side: int = 6) -> st.SearchStrategy[tuple[int, int, int]]:
    """Small (C, H, W) shapes."""
    return st.tuples(st.integers(1, max_channels), st.integers(1, max_side), st.integers(1, max_side))


def random_items(n: int, item_shape: tuple[int, ...], num_classes: int, generator: torch.Generator):
    """``n`` items on the 1/255 grid (exactly representable as uint8) with random labels."""
    x = torch.randint(0, 256, (n, *item_shape), generator=generator).float() / 255
    y = torch.randint(0, num_classes, (n,), generator=generator)
    return x, y


@st.composite
def items(draw: Any, item_shape: tuple[int, ...], num_classes: int, max_batch: int = 12):
    """A batch (x, y) of 0..max_batch items."""
    n = draw(st.integers(0, max_batch))
    seed = draw(st.integers(0, 2**31 - 1))
    return random_items(n, item_shape, num_classes, torch.Generator().manual_seed(seed))


def bad_writes(item_shape: tuple[int, ...], num_classes: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Named invalid (x, y) pairs, each of which a store must refuse with an InvalidInputError."""
    x, y = random_items(3, item_shape, num_classes, torch.Generator().manual_seed(0))
    nan = x.clone()
    nan.view(-1)[0] = float("nan")
    inf = x.clone()
    inf.view(-1)[-1] = float("inf")
    return {
        "float64": (x.double(), y),
        "uint8": ((x * 255).to(torch.uint8), y),
        "missing batch dim": (x[0], y[:1]),
        "wrong shape": (torch.zeros(3, item_shape[0], item_shape[1] + 1, item_shape[2]), y),
        "above one": (x + 1.5, y),
        "negative": (x - 1.5, y),
        "nan": (nan, y),
        "inf": (inf, y),
        "label too large": (x, torch.full((3,), num_classes)),
        "negative label": (x, torch.full((3,), -1)),
        "int32 labels": (x, y.int()),
        "too few labels": (x, y[:2]),
        "float labels": (x, y.float()),
    }


def snapshot(state: Any) -> Any:
    """``state`` with every :class:`~memstore.blocks.ByteBlocks` (a column on disk, read when used) read into an
    array: a copy that later writes to the store do not change."""
    if isinstance(state, dict):
        return {key: snapshot(value) for key, value in state.items()}
    return np.asarray(state) if isinstance(state, ByteBlocks) else state


def state_equal(a: Any, b: Any) -> bool:
    """Deep equality of state dicts holding tensors, arrays and plain values."""
    a, b = (np.asarray(v) if isinstance(v, ByteBlocks) else v for v in (a, b))  # a column on disk, read whole
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(state_equal(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(state_equal(u, v) for u, v in zip(a, b))
    return type(a) is type(b) and a == b
