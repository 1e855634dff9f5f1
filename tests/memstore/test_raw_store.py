"""RawStore passes the shared conformance suite, under every policy, with and without task ids."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from memstore import Budget, ClassBalanced, PerTask, RawStore, Reservoir, Ring
from memstore.budget import index_bits
from memstore.errors import InvalidInputError, LabelError
from memstore.testing import StoreConformance, random_items
from memstore.testing.strategies import state_equal


class TestRawStore(StoreConformance):
    option_sets = (
        {},
        {"policy": ClassBalanced()},
        {"policy": Ring()},
        {"policy": Reservoir(), "num_tasks": 3},
        {"policy": PerTask(), "num_tasks": 1},
    )

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> RawStore:
        return RawStore(budget, item_shape, num_classes, **options)


def test_capacity_and_ledger_are_exact() -> None:
    budget = Budget.images(50, (1, 28, 28), 10)
    store = RawStore(budget, (1, 28, 28), 10, seed=0)
    assert store.capacity == 50 and store.bits_per_item == 8 * 784 + 4
    x, y = random_items(70, (1, 28, 28), 10, torch.Generator().manual_seed(0))
    store.write(x, y)
    ledger = store.ledger()
    assert (ledger.payload, ledger.labels, ledger.index, ledger.models) == (50 * 8 * 784, 50 * 4, 0, 0)
    assert ledger.charged(budget) == budget.bits


def test_task_ids_are_charged_and_filter_samples() -> None:
    budget = Budget.images(20, (1, 2, 2), 4, num_tasks=5)
    store = RawStore(budget, (1, 2, 2), 4, seed=0, num_tasks=5)
    assert store.capacity == 20 and store.task_bits == index_bits(5) == 3
    for task in range(3):
        x, y = random_items(4, (1, 2, 2), 4, torch.Generator().manual_seed(task))
        store.write(x, y, task=task)
    assert store.ledger().labels == 12 * (2 + 3)
    assert len(store.sample(20, tasks=[0, 2])) == 8
    assert len(store.sample(20, tasks=range(1))) == 4
    with pytest.raises(LabelError):
        store.write(x, y, task=5)


def test_sampling_by_task_needs_task_ids() -> None:
    store = RawStore(Budget.images(4, (1, 2, 2), 2), (1, 2, 2), 2, seed=0)
    store.write(*random_items(4, (1, 2, 2), 2, torch.Generator().manual_seed(0)))
    with pytest.raises(InvalidInputError, match="num_tasks"):
        store.sample(2, tasks=[0])


def test_unaligned_items_pack_without_padding() -> None:
    # A 1-class store has 0-bit labels; 3 channels × 1 pixel = 24 bits; with 3 classes 26 bits: rows straddle bytes.
    store = RawStore(Budget(26 * 7 + 25), (3, 1, 1), 3, seed=1)
    assert store.capacity == 7
    x, y = random_items(7, (3, 1, 1), 3, torch.Generator().manual_seed(2))
    store.write(x, y)
    state = store.state_dict()
    assert state["payload"].size == 7 * 3 and state["labels"].size == 2  # 14 label bits → 2 bytes
    everything = store.read(torch.arange(7).numpy())
    assert torch.equal(everything.x, x) and torch.equal(everything.y, y)


def test_inputs_on_the_uint8_grid_round_trip_and_others_quantise() -> None:
    store = RawStore(Budget.images(2, (1, 1, 2), 2), (1, 1, 2), 2, seed=0)
    x = torch.tensor([[[[0.0, 1.0]]], [[[0.5, 0.1234]]]])
    store.write(x, torch.tensor([0, 1]))
    got = store.read(torch.arange(2).numpy()).x
    assert torch.equal(got[0], x[0])
    assert float((got[1] - x[1]).abs().max()) <= 0.5 / 255 + 1e-7


@pytest.mark.parametrize("n", [3, 30])  # rejection draws for small n, a permutation prefix for large n
def test_sample_draws_every_item_and_position_uniformly(n: int) -> None:
    from scipy.stats import chisquare

    store = RawStore(Budget.images(40, (1, 1, 1), 2), (1, 1, 1), 2, seed=0)
    store.write(*random_items(40, (1, 1, 1), 2, torch.Generator().manual_seed(0)))
    generator = torch.Generator().manual_seed(1)
    draws = torch.stack([store.sample(n, generator=generator).keys for _ in range(3000)])
    assert all(row.unique().numel() == n for row in draws[:50])
    assert chisquare(torch.bincount(draws.flatten(), minlength=40).numpy()).pvalue > 1e-3
    assert chisquare(torch.bincount(draws[:, 0], minlength=40).numpy()).pvalue > 1e-3  # first position too


def test_a_subclass_that_names_no_store_type_does_not_replace_rawstore_on_open() -> None:
    class Instrumented(RawStore):
        pass

    import memstore

    store = Instrumented(Budget.images(2, (1, 1, 1), 2), (1, 1, 1), 2, seed=0)
    assert type(memstore.open(store.save())) is RawStore


def test_a_value_just_above_one_is_reported_as_it_is() -> None:
    from memstore.errors import RangeError

    store = RawStore(Budget.images(5, (1, 2, 2), 10), (1, 2, 2), 10, seed=0)
    with pytest.raises(RangeError, match=r"1\.00000011"):  # not rounded to "1" by the message
        store.write(torch.full((1, 1, 2, 2), 1.0000001), torch.tensor([0]))
    assert len(store) == 0


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(0.0, True), (-0.0, True), (1.0, True), (1e-45, True), (0.5, True), (float(np.nextafter(np.float32(1), 2)), False),
     (-1e-45, False), (float("inf"), False), (float("-inf"), False), (float("nan"), False), (-float("nan"), False),
     (-1.0, False), (2.0, False)],
)
def test_the_range_check_accepts_exactly_the_floats_in_zero_one(value: float, accepted: bool) -> None:
    """The fast path reads the float32 bits as int32; every boundary (signed zero, subnormals, the float just above
    1, NaNs of either sign, infinities) is judged as the float comparison 0 <= x <= 1 judges it."""
    from memstore.errors import NonFiniteError, RangeError

    store = RawStore(Budget.images(5, (1, 2, 2), 10), (1, 2, 2), 10, seed=0)
    x = torch.full((2, 1, 2, 2), 0.25)
    x[1, 0, 1, 0] = value
    if accepted:
        assert store.write(x, torch.tensor([0, 1])) == 2
    else:
        with pytest.raises((RangeError, NonFiniteError)):
            store.write(x, torch.tensor([0, 1]))
        assert len(store) == 0


def test_memory_follows_the_items_held_not_the_budget() -> None:
    """A 10-million-image budget allocates nothing up front (it used to zero 7.8 GiB); 2,000 items cost their bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        store = RawStore(Budget.images(10_000_000, (1, 28, 28), 10), (1, 28, 28), 10, seed=0)
        constructed = tracemalloc.get_traced_memory()[1]
        x, y = torch.rand(100, 1, 28, 28).mul(255).round().div(255), torch.arange(100) % 10
        for _ in range(20):
            store.write(x, y)
        current = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert store.capacity == 10_000_000 and len(store) == 2_000
    assert constructed < 1 << 20
    assert current < 8 * 2_000 * 784  # the payload (784 bytes an item, doubling) and labels, with room to spare


def test_read_keys_do_not_share_the_callers_array() -> None:
    x, y = random_items(20, (1, 4, 4), 3, torch.Generator().manual_seed(0))
    store = RawStore(Budget.images(50, (1, 4, 4), 3), (1, 4, 4), 3, seed=0)
    store.write(x, y)
    slots = np.array([3, 1, 4])
    batch = store.read(slots)
    slots[:] = 0
    assert batch.keys.tolist() == [3, 1, 4] and torch.equal(batch.y, y[[3, 1, 4]])


def test_a_codec_of_another_item_shape_is_refused() -> None:
    from memstore import ItemStore, VariableItemStore
    from memstore.codecs.jpeg import JPEGCodec
    from memstore.codecs.raw import RawCodec
    from memstore.errors import ShapeError

    with pytest.raises(ShapeError, match="codec codes items of shape"):
        ItemStore(Budget.images(20, (3, 8, 8), 4), (3, 8, 8), 4, codec=RawCodec((1, 8, 8)))
    with pytest.raises(ShapeError, match="codec codes items of shape"):
        VariableItemStore(Budget.images(20, (3, 8, 8), 4), (3, 8, 8), 4, codec=JPEGCodec((1, 8, 8)))


def test_meta_tensors_anywhere_are_typed_errors() -> None:
    from memstore.errors import InvalidInputError

    store = RawStore(Budget.images(20, (1, 8, 8), 4), (1, 8, 8), 4, seed=0)
    x = torch.zeros(3, 1, 8, 8)
    store.write(x, torch.arange(3))
    for call in (lambda: store.write(x, torch.arange(3).to("meta")),
                 lambda: store.edit(torch.arange(2).to("meta"), x[:2]),
                 lambda: store.sample(2, classes=torch.tensor([1], device="meta"))):
        with pytest.raises(InvalidInputError, match="meta"):
            call()
    assert len(store) == 3


def test_end_task_takes_a_task_context_only() -> None:
    from memstore import TaskContext
    from memstore.errors import InvalidInputError, LabelError

    store = RawStore(Budget.images(20, (1, 8, 8), 4), (1, 8, 8), 4, seed=0, num_tasks=2)
    for bad in (None, 7, "task"):
        with pytest.raises(InvalidInputError, match="TaskContext"):
            store.end_task(bad)  # type: ignore[arg-type]
    with pytest.raises(LabelError):
        store.end_task(TaskContext(task=2))
    before = store.state_dict()
    store.end_task(TaskContext(task=1))  # accepted, and a store of raw items has nothing to do at a task's end
    assert state_equal(store.state_dict(), before)
