"""Admission policies, through a real store: uniformity, balance, FIFO order, per-task quotas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from memstore import Budget, ClassBalanced, PerTask, Policy, RawStore, Reservoir, Ring
from memstore.errors import InvalidInputError
from memstore.policies import Occupancy

STREAM, CAPACITY, TRIALS = 60, 10, 800


def held_stream_positions(policy: Policy, seed: int, batch: int = 10) -> list[int]:
    """Stream positions (encoded as pixel values i/255) held after offering 0..STREAM-1 to a fresh store."""
    store = RawStore(Budget.images(CAPACITY, (1, 1, 1), 1), (1, 1, 1), 1, seed=seed, policy=policy)
    x = (torch.arange(STREAM, dtype=torch.float32) / 255).reshape(-1, 1, 1, 1)
    for start in range(0, STREAM, batch):
        store.write(x[start:start + batch], torch.zeros(min(batch, STREAM - start), dtype=torch.int64))
    return torch.round(store.sample(CAPACITY).x.flatten() * 255).long().tolist()


def inclusion_counts(policy: Policy, batch: int) -> np.ndarray:
    counts = np.zeros(STREAM)
    for seed in range(TRIALS):
        counts[held_stream_positions(policy, seed, batch)] += 1
    return counts


@pytest.mark.parametrize("batch", [1, 10, 7])
def test_reservoir_holds_every_stream_position_equally_often(batch: int) -> None:
    counts = inclusion_counts(Reservoir(), batch)
    assert counts.sum() == TRIALS * CAPACITY
    assert chisquare(counts).pvalue > 1e-3  # expected TRIALS·CAPACITY/STREAM ≈ 133 per position


def test_the_uniformity_test_rejects_a_biased_policy() -> None:
    counts = inclusion_counts(Ring(), 10)  # FIFO keeps only the last 10 positions
    assert chisquare(counts).pvalue < 1e-12


def test_ring_keeps_the_most_recent_items_in_order() -> None:
    held = sorted(held_stream_positions(Ring(), seed=0, batch=7))
    assert held == list(range(STREAM - CAPACITY, STREAM))


def test_class_balanced_evicts_from_the_largest_class() -> None:
    store = RawStore(Budget.images(12, (1, 1, 1), 3), (1, 1, 1), 3, seed=0, policy=ClassBalanced())
    x = torch.zeros(60, 1, 1, 1)
    y = torch.tensor([0] * 40 + [1] * 10 + [2] * 10)  # class 0 floods the stream first
    for start in range(0, 60, 10):
        store.write(x[start:start + 10], y[start:start + 10])
    counts = torch.bincount(store.sample(12).y, minlength=3).tolist()
    assert counts == [4, 4, 4]


def test_per_task_keeps_an_equal_share_of_each_tasks_most_recent_items() -> None:
    store = RawStore(Budget.images(9, (1, 1, 1), 1, num_tasks=3), (1, 1, 1), 1, seed=0, policy=PerTask(), num_tasks=3)
    for task in range(3):
        values = torch.arange(10, dtype=torch.float32) + 10 * task
        for start in range(0, 10, 4):
            chunk = values[start:start + 4]
            store.write((chunk / 255).reshape(-1, 1, 1, 1), torch.zeros(chunk.numel(), dtype=torch.int64), task=task)
    for task in range(3):
        held = sorted(torch.round(store.sample(9, tasks=[task]).x.flatten() * 255).long().tolist())
        assert held == [10 * task + 7, 10 * task + 8, 10 * task + 9]


def test_per_task_needs_task_ids() -> None:
    with pytest.raises(InvalidInputError, match="num_tasks"):
        RawStore(Budget.images(9, (1, 1, 1), 1), (1, 1, 1), 1, policy=PerTask())
    store = RawStore(Budget.images(9, (1, 1, 1), 1, num_tasks=3), (1, 1, 1), 1, policy=PerTask(), num_tasks=3)
    with pytest.raises(InvalidInputError, match="task=t"):
        store.write(torch.zeros(1, 1, 1, 1), torch.zeros(1, dtype=torch.int64))
    assert len(store) == 0


def test_policy_must_be_an_object() -> None:
    with pytest.raises(InvalidInputError, match="Policy object"):
        RawStore(Budget.images(9, (1, 1, 1), 1), (1, 1, 1), 1, policy="reservoir")  # type: ignore[arg-type]


def reservoir_occupancy(size: int, seen: int) -> Occupancy:
    """A reservoir of 500 slots, ``size`` of them held, after ``seen`` items (the labels are never read)."""
    return Occupancy(capacity=500, size=size, seen=seen, seen_per_class=np.zeros(10, dtype=np.int64),
                     seen_per_task=None, read_labels=lambda: np.zeros(0), read_tasks=lambda: None)


def algorithm_r_slots(count: int, seen: int, seed: int) -> list[int]:
    """Algorithm R's slots for ``count`` items arriving after ``seen`` into a full reservoir of 500, on the float64
    draws of ``seed``: item k is uniform in [0, seen + k], and skipped (-1) unless that falls in the reservoir."""
    draws = torch.rand(count, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).tolist()
    picks = [int(u * (seen + k + 1)) for k, u in enumerate(draws)]
    return [pick if pick < 500 else -1 for pick in picks]


@pytest.mark.parametrize("batch", [1, 31, 32, 33, 128])
@pytest.mark.parametrize("seen", [500, 12_345, 2**40])
def test_reservoir_draws_the_same_slots_at_every_batch_size(batch: int, seen: int) -> None:
    # small batches do the arithmetic on Python ints, large ones in numpy: both must be algorithm R's
    # floor(u · (seen + k + 1)) on the same float64 draws, so a store's draws do not depend on the path taken
    slots = Reservoir().place(reservoir_occupancy(500, seen), np.zeros(batch, dtype=np.int64), None,
                              torch.Generator().manual_seed(3))
    assert slots == algorithm_r_slots(batch, seen, seed=3)
    assert all(isinstance(slot, int) for slot in slots)


def test_reservoir_appends_into_free_slots_then_draws_for_the_rest() -> None:
    slots = Reservoir().place(reservoir_occupancy(496, 496), np.zeros(10, dtype=np.int64), None,
                              torch.Generator().manual_seed(5))
    assert slots == [496, 497, 498, 499] + algorithm_r_slots(6, 500, seed=5)  # the rest after the four appended
