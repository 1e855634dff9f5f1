"""A hypothesis state machine that interleaves write, sample, edit, bad calls, save and open on one store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ..budget import Budget
from ..errors import BudgetTooSmallError, MemstoreError
from ..persist import open_store, stored_payload_bytes
from ..store import MemoryStore, RecallContext, TaskContext
from .strategies import bad_writes, item_shapes, items, random_items, state_equal

__all__ = ["fully_edited", "make_store_machine", "payload_bytes_on_disk"]

payload_bytes_on_disk = stored_payload_bytes



def fully_edited(store: MemoryStore, count: int) -> torch.Tensor:
    """Which of the last ``edit``'s ``count`` items took the new input in full.

    A store whose re-encoded items may grow records ``edit_fractions`` (1 = full edit; less where the budget only
    allowed part of it, docs/design.md, backends); other stores always edit in full.
    """
    fractions = getattr(store, "edit_fractions", None)
    if fractions is None:
        return torch.ones(count, dtype=torch.bool)
    return torch.as_tensor(fractions) == 1


StoreFactory = Callable[..., MemoryStore]
BudgetFactory = Callable[[int, tuple[int, ...], int], Budget]


def make_store_machine(
    make_store: StoreFactory,
    budget_for: BudgetFactory,
    option_sets: Sequence[dict[str, Any]] = ({},),
    exact: bool = True,
    tolerance: float = 0.0,
    fixed_item_bits: bool = True,
    reconstruction: Callable[[MemoryStore, torch.Tensor], torch.Tensor] | None = None,
    recall_context: Callable[[MemoryStore, torch.Tensor, torch.Tensor], RecallContext | None] | None = None,
    task_context: Callable[[MemoryStore], TaskContext | None] | None = None,
    generates: bool = False,
) -> type[RuleBasedStateMachine]:
    """A state machine class over stores that ``make_store(budget, item_shape, num_classes, seed=, **options)`` builds.

    Budgets are random bit counts (not multiples of an item's size) between one and ~20 items' worth.
    Invariants after every step: the charged bits never exceed the budget, and a rejected call changed nothing.
    ``reconstruction(store, x)`` is what an edited item should read back as (``x`` itself when not given).
    ``recall_context(store, x, y)``, for a store that keeps no items, is what ``sample`` needs around a real batch:
    then every sample draws ``n`` generated items from a fresh batch. ``task_context(store)`` adds an ``end_task`` rule.
    ``generates``: such a store generates only once an ``end_task`` has taught it (``can_sample``), none before.
    """

    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store: MemoryStore | None = None

        @initialize(
            shape=item_shapes(),
            num_classes=st.integers(1, 12),
            items_worth=st.integers(1, 20),
            spare_bits=st.integers(0, 200),
            seed=st.integers(0, 2**16),
            options=st.sampled_from(list(option_sets)),
        )
        def build(self, shape, num_classes, items_worth, spare_bits, seed, options) -> None:
            self.shape, self.num_classes = shape, num_classes
            self.budget = Budget(budget_for(items_worth, shape, num_classes).bits + spare_bits)
            try:
                self.store = make_store(self.budget, shape, num_classes, seed=seed, **options)
            except BudgetTooSmallError:
                assume(False)  # budgets below one item are covered by test_budget_too_small_for_one_item
            self.task = None if self.store.num_tasks is None else 0

        def unchanged_after(self, call: Callable[[], Any]) -> None:
            before = self.store.state_dict()
            try:
                call()
            except MemstoreError:
                assert state_equal(before, self.store.state_dict()), "a rejected call changed the store"
            else:
                raise AssertionError("an invalid call was accepted")

        @rule(data=st.data())
        def write(self, data) -> None:
            x, y = data.draw(items(self.shape, self.num_classes))
            admitted = self.store.write(x, y, task=self.task)
            assert 0 <= admitted <= x.shape[0]

        @rule()
        def next_task(self) -> None:
            if self.task is not None:
                self.task = min(self.task + 1, self.store.num_tasks - 1)

        @rule(n=st.integers(0, 25), seed=st.integers(0, 2**16))
        def sample(self, n, seed) -> None:
            if recall_context is not None:
                real = random_items(10, self.shape, self.num_classes, torch.Generator().manual_seed(seed))
                batch = self.store.sample(n, context=recall_context(self.store, *real))
                assert len(batch) == (n if self.store.can_sample or not generates else 0) and batch.keys is None
            else:
                batch = self.store.sample(n)
                assert len(batch) == min(n, len(self.store))
            assert batch.x.shape == (len(batch), *self.shape)
            assert bool((batch.y >= 0).all()) and bool((batch.y < self.num_classes).all())

        @precondition(lambda self: len(self.store) > 0)
        @rule(n=st.integers(1, 5), seed=st.integers(0, 2**16))
        def edit(self, n, seed) -> None:
            keys = self.store.sample(n).keys
            assert keys is not None
            x, _ = random_items(keys.numel(), self.shape, self.num_classes, torch.Generator().manual_seed(seed))
            ledger, count = self.store.ledger(), len(self.store)
            self.store.edit(keys, x)
            assert len(self.store) == count
            assert self.store.ledger() == ledger or not fixed_item_bits
            everything = self.store.sample(len(self.store))
            assert everything.keys is not None
            rows = torch.cat([torch.nonzero(everything.keys == key).flatten() for key in keys])
            full = fully_edited(self.store, keys.numel())
            want = x if reconstruction is None else reconstruction(self.store, x)
            error = float((everything.x[rows][full] - want[full]).abs().max()) if bool(full.any()) else 0.0
            assert error == 0.0 if exact else error <= tolerance

        @precondition(lambda self: task_context is not None)
        @rule()
        def end_task(self) -> None:
            context = task_context(self.store)
            if context is not None:
                self.store.end_task(context)

        @rule(case=st.sampled_from(sorted(bad_writes((1, 2, 2), 2))))
        def bad_write(self, case) -> None:
            x, y = bad_writes(self.shape, self.num_classes)[case]
            self.unchanged_after(lambda: self.store.write(x, y, task=self.task))

        @rule()
        def bad_edit(self) -> None:
            x, _ = random_items(1, self.shape, self.num_classes, torch.Generator().manual_seed(0))
            self.unchanged_after(lambda: self.store.edit(torch.tensor([len(self.store)]), x))

        @rule()
        def save_and_open(self) -> None:
            zstore = self.store.save()
            assert stored_payload_bytes(zstore) == self.store.ledger().payload_bytes()
            reopened = open_store(zstore)
            assert type(reopened) is type(self.store)
            assert state_equal(reopened.state_dict(), self.store.state_dict())
            self.store = reopened

        @invariant()
        def within_budget(self) -> None:
            if self.store is not None:
                assert self.store.ledger().charged(self.budget) <= self.budget.bits

    return StoreMachine
