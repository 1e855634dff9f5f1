"""Processes that stress a saved store: one writer re-saving, readers opening, saves killed mid-way.

The writer's store holds a known sequence (item ``i`` is the constant image ``(i % 256) / 255`` with label
``i % num_classes``), one more item per save, so a reader can tell a complete store from a torn one by its contents
alone: :func:`is_prefix_store` holds exactly for a store that some save wrote.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..budget import Budget
from ..errors import StoreFormatError
from ..persist import open_store
from ..store import MemoryStore
from ..stores.raw import RawStore

__all__ = ["ITEM_SHAPE", "NUM_CLASSES", "ReadCounts", "sequence_store", "is_prefix_store", "resave_loop",
           "read_loop", "kill_a_save", "save_forever"]

ITEM_SHAPE = (1, 8, 8)
NUM_CLASSES = 4


@dataclass(frozen=True)
class ReadCounts:
    """A reader's tally: complete stores opened, typed refusals, and stores whose contents no save wrote."""

    opened: int
    refused: int
    torn: int


def sequence_store(items: int, capacity: int = 1 << 15) -> RawStore:
    """A RawStore holding items 0..items-1 of the known sequence."""
    store = RawStore(Budget.images(capacity, ITEM_SHAPE, NUM_CLASSES), ITEM_SHAPE, NUM_CLASSES, seed=0)
    for start in range(0, items, 256):
        store.write(*_sequence(start, min(items, start + 256)))
    return store


def _sequence(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.arange(start, stop)
    x = ((index % 256).float() / 255).view(-1, 1, 1, 1).expand(-1, *ITEM_SHAPE).contiguous()
    return x, index % NUM_CLASSES


def is_prefix_store(store: MemoryStore) -> bool:
    """Whether ``store`` holds exactly items 0..len-1 of the known sequence (in any slot order)."""
    n = len(store)
    if n == 0:
        return True
    batch = store.sample(n, generator=torch.Generator().manual_seed(0))
    got = sorted(zip((batch.x[:, 0, 0, 0] * 255).round().long().tolist(), batch.y.tolist()))
    x, y = _sequence(0, n)
    return got == sorted(zip((x[:, 0, 0, 0] * 255).round().long().tolist(), y.tolist()))


def resave_loop(path: str, seconds: float, start_items: int) -> int:
    """Write one more item and re-save ``path``, again and again for ``seconds``; returns the saves made."""
    torch.set_num_threads(1)
    store = sequence_store(start_items)
    saves, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        store.write(*_sequence(len(store), len(store) + 1))
        store.save(path)
        saves += 1
    return saves


def read_loop(path: str, seconds: float) -> ReadCounts:
    """Open ``path`` again and again for ``seconds``, checking each store's contents."""
    torch.set_num_threads(1)
    opened = refused = torn = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            store = open_store(path)
        except StoreFormatError:
            refused += 1
            continue
        opened += 1
        torn += not is_prefix_store(store)
    return ReadCounts(opened, refused, torn)


def kill_a_save(path: str, folder: Path, delay: float, start_items: int = 50) -> None:
    """Start :func:`save_forever` in a fresh process, let it save for ``delay`` seconds after its first save, then
    SIGKILL it, wherever it is."""
    ready = folder / f"ready-{time.monotonic_ns()}"
    process = multiprocessing.get_context("spawn").Process(target=save_forever, args=(path, start_items, str(ready)))
    process.start()
    while not ready.exists():
        time.sleep(0.01)
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.join()


def save_forever(path: str, start_items: int, ready: str) -> None:
    """Re-save ``path`` with one more item each time until killed; touches ``ready`` after the first save."""
    torch.set_num_threads(1)
    store = sequence_store(start_items)
    store.save(path)
    Path(ready).touch()
    while True:
        store.write(*_sequence(len(store), len(store) + 1))
        store.save(path)
        os.sched_yield()
