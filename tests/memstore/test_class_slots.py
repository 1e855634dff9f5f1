"""Class-balanced admission reads the store's class slots instead of its labels, with the same draws as before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from memstore import Budget, ClassBalanced, JPEGStore, Policy, RawStore
from memstore.class_slots import ClassSlots
from memstore.policies import SKIP, Occupancy

SHAPE, CLASSES = (1, 8, 8), 4


def _choice(candidates: np.ndarray, generator: torch.Generator) -> int:
    return int(candidates[int(torch.randint(candidates.size, (1,), generator=generator))])


@dataclass(frozen=True)
class LabelScanClassBalanced(Policy):
    """The class-balanced policy as it was before the class slots: every decision reads the label column. The
    reference the indexed policy must match draw for draw (not registered: no ``policy_id``)."""

    fixed_slots_only: ClassVar[bool] = False

    def evict(self, occ: Occupancy, keep: int, generator: torch.Generator) -> int:
        labels = occ.read_labels().copy()
        labels[keep] = -1
        held = np.bincount(labels[labels >= 0], minlength=occ.seen_per_class.size)
        victim_class = _choice(np.flatnonzero(held == held.max()), generator)
        return _choice(np.flatnonzero(labels == victim_class), generator)

    def place(self, occ: Occupancy, y: np.ndarray, task: int | None, generator: torch.Generator) -> list[int]:
        labels = np.full(min(occ.capacity, occ.size + y.shape[0]), SKIP, dtype=np.int64)
        labels[: occ.size] = occ.read_labels()
        held = np.bincount(labels[: occ.size], minlength=occ.seen_per_class.size)
        seen, size, slots = occ.seen_per_class.copy(), occ.size, [SKIP] * y.shape[0]
        for k, label in enumerate(y.tolist()):
            seen[label] += 1
            if size < occ.capacity:
                slot = size
            elif held[label] < held.max():
                slot = _choice(np.flatnonzero(labels[:size] == _choice(np.flatnonzero(held == held.max()),
                                                                       generator)), generator)
            elif int(torch.randint(int(seen[label]), (1,), generator=generator)) >= int(held[label]):
                continue
            else:
                slot = _choice(np.flatnonzero(labels[:size] == label), generator)
            if slot == size:
                size += 1
            else:
                held[labels[slot]] -= 1
            held[label] += 1
            labels[slot] = label
            slots[k] = slot
        return slots


def _stream(seed: int, items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Items of a random flat level plus noise of a random strength (JPEG scans of very different sizes, so a
    variable-size store evicts until larger items fit), labels skewed so the largest class changes hands."""
    generator = torch.Generator().manual_seed(seed)
    level, strength = torch.rand(2, items, 1, 1, 1, generator=generator)
    noise = torch.rand(items, *SHAPE, generator=generator) - 0.5
    x = torch.round((level + strength * noise).clamp(0, 1) * 255) / 255
    return x, torch.multinomial(torch.tensor([8.0, 4.0, 2.0, 1.0]), items, replacement=True, generator=generator)


def _held(store) -> tuple[list[int], bytes]:
    batch = store.read(np.arange(len(store)))
    return batch.y.tolist(), batch.x.numpy().tobytes()


@pytest.mark.parametrize("make", [
    lambda policy: RawStore(Budget.images(30, SHAPE, CLASSES), SHAPE, CLASSES, seed=3, policy=policy),
    lambda policy: JPEGStore(Budget.images(12, SHAPE, CLASSES), SHAPE, CLASSES, seed=3, policy=policy, quality=90),
], ids=["raw", "jpeg (evictions until an item fits)"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), batches=st.lists(st.integers(1, 12), min_size=5, max_size=30))
def test_the_indexed_policy_makes_the_label_scanning_ones_decisions(make, seed, batches):
    x, y = _stream(seed, sum(batches))
    indexed, scanning = make(ClassBalanced()), make(LabelScanClassBalanced())
    start = 0
    for size in batches:
        admitted = [store.write(x[start:start + size], y[start:start + size]) for store in (indexed, scanning)]
        assert admitted[0] == admitted[1]
        assert _held(indexed) == _held(scanning)
        assert torch.equal(indexed.generator.get_state(), scanning.generator.get_state())
        start += size


def test_the_class_slots_survive_a_save_and_open(tmp_path):
    import memstore

    x, y = _stream(0, 400)
    store = RawStore(Budget.images(30, SHAPE, CLASSES), SHAPE, CLASSES, seed=1, policy=ClassBalanced())
    store.write(x[:200], y[:200])
    store.save(tmp_path / "s.zarr")
    reopened = memstore.open(tmp_path / "s.zarr")
    for start in range(200, 400, 10):
        store.write(x[start:start + 10], y[start:start + 10])
        reopened.write(x[start:start + 10], y[start:start + 10])
    assert _held(store) == _held(reopened)
    counts = torch.bincount(store.read(np.arange(len(store))).y, minlength=CLASSES)
    assert int(counts.max() - counts.min()) <= 1  # balanced, the rarest class included


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["set", "drop"]), st.integers(0, 15), st.integers(0, 3)), max_size=60))
def test_class_slots_follow_a_label_array(operations):
    labels = np.full(16, -1)
    index = ClassSlots(4)
    for operation, slot, label in operations:
        if operation == "set":
            index.set(slot, label)
            labels[slot] = label
        else:
            index.drop(slot)
            labels[slot] = -1
        for c in range(4):
            assert list(index.slots(c)) == np.flatnonzero(labels == c).tolist()
        assert index.counts().tolist() == [int((labels == c).sum()) for c in range(4)]
        assert [index.class_of(s) for s in range(16)] == labels.tolist()
    held = labels[labels >= 0]
    rebuilt = ClassSlots.of(held, 4)
    assert [list(rebuilt.slots(c)) for c in range(4)] == [np.flatnonzero(held == c).tolist() for c in range(4)]
