"""The corruption fuzz: flip one bit of a saved store's bytes at a time and see what :func:`memstore.open` does.

Every outcome falls in one of four bins; a sound format has only the first two::

    refused     CorruptStoreError or IncompatibleStoreError
    identical   it opened, with the same state, config and ledger as the store that was saved
    raw         any other exception (a bug: the format leaks its parser's errors)
    changed     it opened with other contents (a bug: the checks missed a change)

The conformance suite flips every byte of the store's own attributes (the root's and the generation's
``zarr.json``) and a sample of the other bytes; ``benchmarks/format_reliability.py`` flips every metadata byte.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from ..errors import StoreFormatError
from ..persist import open_store
from ..store import MemoryStore
from .strategies import state_equal

__all__ = ["FuzzCounts", "saved_keys", "fuzz_positions", "flip_bits"]


@dataclass(frozen=True)
class FuzzCounts:
    """How the opens of single-bit corruptions ended; ``raw`` maps exception type names to counts."""

    refused: int = 0
    identical: int = 0
    changed: int = 0
    raw: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.refused + self.identical + self.changed + sum(self.raw.values())


def saved_keys(zstore: Store) -> list[str]:
    """Every key of a saved store, sorted."""
    async def listing() -> list[str]:
        return sorted([key async for key in zstore.list()])
    return sync(listing())


def fuzz_positions(zstore: Store, keys: Iterable[str], per_key: int | None,
                   generator: torch.Generator) -> list[tuple[str, int]]:
    """(key, byte offset) pairs: every byte of each key when ``per_key`` is None, else up to ``per_key`` drawn ones."""
    positions: list[tuple[str, int]] = []
    for key in keys:
        size = len(_get(zstore, key))
        if per_key is None or size <= per_key:
            offsets = range(size)
        else:
            offsets = sorted(torch.randperm(size, generator=generator)[:per_key].tolist())
        positions += [(key, offset) for offset in offsets]
    return positions


def flip_bits(zstore: Store, reference: MemoryStore, positions: Iterable[tuple[str, int]]) -> FuzzCounts:
    """Open ``zstore`` once per position with one bit of that byte flipped (bit ``offset % 8``), restoring it after."""
    bins: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    state, config, ledger = reference.state_dict(), reference.config(), reference.ledger()
    for key, offset in positions:
        good = _get(zstore, key)
        bad = bytearray(good)
        bad[offset] ^= 1 << (offset % 8)
        _set(zstore, key, bytes(bad))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr warns about unrecognised objects before refusing them
                opened = open_store(zstore)
        except StoreFormatError:
            bins["refused"] += 1
        except Exception as exc:  # the point of the fuzz: count what leaks
            raw[type(exc).__name__] += 1
        else:
            same = state_equal(opened.state_dict(), state) and opened.config() == config and opened.ledger() == ledger
            bins["identical" if same else "changed"] += 1
        finally:
            _set(zstore, key, good)
    return FuzzCounts(bins["refused"], bins["identical"], bins["changed"], dict(raw))


def _get(zstore: Store, key: str) -> bytes:
    buffer = sync(zstore.get(key, prototype=default_buffer_prototype()))
    if buffer is None:
        raise KeyError(key)
    return buffer.to_bytes()


def _set(zstore: Store, key: str, data: bytes) -> None:
    sync(zstore.set(key, default_buffer_prototype().buffer.from_bytes(data)))
