"""The conformance suite every backend passes: subclass :class:`StoreConformance` in a ``Test…`` class.

::

    class TestRawStore(StoreConformance):
        def make_store(self, budget, item_shape, num_classes, **options):
            return RawStore(budget, item_shape, num_classes, **options)

It checks the contract of docs/design.md: shapes and dtypes, sampling without replacement, by class and by task,
typed errors that change nothing, the budget invariant, exact payload bytes on disk, save/open round trips,
atomic saves, refusal of corrupt and newer stores (with a single-bit corruption fuzz of the saved bytes), the
declared capabilities against the behaviour (:mod:`memstore.testing.capability_checks`), edits in place, injected
randomness, and a hypothesis state machine that interleaves all of these over random shapes and budgets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
import zarr
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from .. import persist
from ..budget import Budget
from ..errors import (
    BudgetTooSmallError,
    CorruptStoreError,
    IncompatibleStoreError,
    InvalidInputError,
    MissingContextError,
    NotEditable,
    UnknownKeyError,
)
from ..persist import open_store
from .capability_checks import CapabilityChecks
from .corruption import flip_bits, fuzz_positions, saved_keys
from .machine import fully_edited, make_store_machine, payload_bytes_on_disk
from .strategies import bad_writes, snapshot, state_equal

__all__ = ["StoreConformance"]


class StoreConformance(CapabilityChecks):
    """Shared tests. Subclasses implement :meth:`make_store`; the class attributes of
    :class:`~memstore.testing.suite.SuiteSettings` tune the suite."""

    # -- writing and sampling ------------------------------------------------------------------------------------------

    def test_write_admits_and_len_is_bounded(self) -> None:
        store = self.store()
        x, y = self.items(40)
        admitted = sum(store.write(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10))
        if not self.stores_items:
            ledger = store.ledger()
            assert admitted == len(store) == ledger.payload == ledger.labels == ledger.index == 0
            return
        assert 0 < len(store) <= admitted
        assert store.can_sample

    def test_empty_store_samples_nothing(self) -> None:
        store = self.store()
        if not self.stores_items and not self.generates:
            with pytest.raises(MissingContextError):
                store.sample(5)
            return
        assert not store.can_sample and len(store) == 0
        batch = store.sample(5)
        assert len(batch) == 0 and batch.x.shape == (0, *self.item_shape)

    def test_sample_shapes_dtypes_and_range(self) -> None:
        batch = self.draw(self.filled(), 7)
        assert batch.x.shape == (7, *self.item_shape) and batch.x.dtype == torch.float32
        assert batch.y.shape == (7,) and batch.y.dtype == torch.int64
        assert float(batch.x.min()) >= 0.0 and float(batch.x.max()) <= 1.0
        if not self.stores_items:  # generated items: no keys; soft targets, where given, are distributions
            assert batch.keys is None
            assert batch.soft is None or torch.allclose(batch.soft.sum(dim=1), torch.ones(7))
            return
        assert batch.keys is not None and batch.keys.dtype == torch.int64

    def test_sample_is_without_replacement_and_capped(self) -> None:
        store = self.filled()
        if not self.stores_items:  # nothing stored caps a generated batch
            assert len(self.draw(store, 15)) == 15 and len(self.draw(store, 0)) == 0
            return
        batch = store.sample(len(store) + 5)
        assert len(batch) == len(store)
        assert batch.keys is not None and batch.keys.unique().numel() == len(store)

    def test_written_items_come_back(self) -> None:
        store = self.store()
        x, y = self.items(3)
        if not self.stores_items:  # nothing is kept: a write changes neither the ledger nor the count
            before = store.ledger()
            assert store.write(x, y) == 0 and store.ledger() == before and len(store) == 0
            return
        store.write(x, y)
        batch = store.sample(3)
        assert batch.keys is not None
        order = torch.argsort(batch.keys)
        self.assert_close(batch.x[order], self.reconstruction(store, x))
        assert torch.equal(batch.y[order], y)

    # -- budget ------------------------------------------------------------------------------------------------------

    def test_budget_invariant_over_a_long_stream(self) -> None:
        store = self.store()
        x, y = self.items(200)
        for start in range(0, 200, 10):
            store.write(x[start:start + 10], y[start:start + 10])
            assert store.ledger().charged(store.budget) <= store.budget.bits

    def test_budget_too_small_for_one_item(self) -> None:
        if not self.stores_items:  # no item to fit: an empty budget holds the store (models are charged apart)
            store = self.make_store(Budget(0), self.item_shape, self.num_classes, seed=0)
            store.write(*self.items(10))
            assert store.ledger().charged(store.budget) == 0 and len(store) == 0
            return
        with pytest.raises(BudgetTooSmallError, match="bits"):
            self.make_store(Budget(1), self.item_shape, self.num_classes, seed=0)

    # -- bad input ---------------------------------------------------------------------------------------------------

    @pytest.mark.parametrize("case", list(bad_writes((1, 5, 4), 4)))
    def test_bad_write_raises_typed_error_and_changes_nothing(self, case: str) -> None:
        store = self.filled()
        x, y = bad_writes(self.item_shape, self.num_classes)[case]
        before = store.state_dict()
        with pytest.raises(InvalidInputError) as info:
            store.write(x, y)
        assert "expected" in str(info.value) or "must" in str(info.value)
        assert state_equal(before, store.state_dict())

    def test_bad_sample_arguments(self) -> None:
        store = self.filled()
        before = store.state_dict()
        for bad in (-1, 2.5, "3"):
            with pytest.raises(InvalidInputError):
                store.sample(bad)  # type: ignore[arg-type]
        for bad in ([self.num_classes], [-1], [0.0], [True], "0", b"0", torch.tensor([0.5]), object()):
            with pytest.raises(InvalidInputError):
                store.sample(3, classes=bad)
        for bad in (1, "seed", torch.Generator().get_state()):  # a seed or a state is not a generator
            with pytest.raises(InvalidInputError, match="torch.Generator"):
                self.draw(store, 2, generator=bad)  # type: ignore[arg-type]
        assert state_equal(before, store.state_dict())

    def test_a_generating_store_bounds_one_sample(self) -> None:
        store = self.filled()
        if store.max_sample is None:
            pytest.skip(f"{type(store).__name__} returns items it holds: no per-call limit to test")
        generator = torch.Generator().manual_seed(0)
        state = generator.get_state()
        with pytest.raises(InvalidInputError, match="at most"):
            self.draw(store, store.max_sample + 1, generator=generator)
        assert torch.equal(generator.get_state(), state)

    # -- edit --------------------------------------------------------------------------------------------------------

    def test_edit_replaces_in_place(self) -> None:
        store = self.filled()
        if not self.stores_items:
            before = store.state_dict()
            with pytest.raises(NotEditable):
                store.edit(torch.tensor([0]), self.items(1)[0])
            assert state_equal(before, store.state_dict())
            return
        batch = store.sample(4)
        new_x, _ = self.items(4, seed=99)
        ledger, count = store.ledger(), len(store)
        assert batch.keys is not None
        store.edit(batch.keys, new_x)
        assert len(store) == count and store.ledger().charged(store.budget) <= store.budget.bits
        assert store.ledger() == ledger or not self.fixed_item_bits
        everything = store.sample(len(store))
        assert everything.keys is not None
        position = {int(key): i for i, key in enumerate(everything.keys)}
        rows = torch.tensor([position[int(key)] for key in batch.keys])
        full = fully_edited(store, len(batch))
        self.assert_close(everything.x[rows][full], self.reconstruction(store, new_x)[full])
        assert torch.equal(everything.y[rows], batch.y)

    def test_edit_rejects_bad_keys_and_changes_nothing(self) -> None:
        store = self.filled()
        before = store.state_dict()
        new_x, _ = self.items(2)
        if not self.stores_items:
            with pytest.raises(NotEditable):
                store.edit(torch.tensor([0, 0]), new_x * 3)
            assert state_equal(before, store.state_dict())
            return
        with pytest.raises(UnknownKeyError):
            store.edit(torch.tensor([0, len(store)]), new_x)
        with pytest.raises(InvalidInputError):
            store.edit(torch.tensor([0, 0]), new_x)
        with pytest.raises(InvalidInputError):
            store.edit(torch.tensor([0, 1]), new_x * 3)
        assert state_equal(before, store.state_dict())

    # -- randomness --------------------------------------------------------------------------------------------------

    def test_seeded_stores_are_identical(self) -> None:
        assert state_equal(self.filled(seed=5).state_dict(), self.filled(seed=5).state_dict())

    def test_injected_generator_decides_the_sample(self) -> None:
        store = self.filled()
        if not self.stores_items:
            first = self.draw(store, 5, torch.Generator().manual_seed(3))
            second = self.draw(store, 5, torch.Generator().manual_seed(3))
            assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
            return
        first = store.sample(5, generator=torch.Generator().manual_seed(3))
        second = store.sample(5, generator=torch.Generator().manual_seed(3))
        assert first.keys is not None and second.keys is not None
        assert torch.equal(first.keys, second.keys)

    def test_numpy_integers_act_as_the_ints_they_equal(self, tmp_path: Any) -> None:
        """Task ids and a sample size that come from NumPy give the state, the draw and the saved store that the
        Python ints give."""
        stores = (self.store(num_tasks=2), self.store(num_tasks=2))
        x, y = self.items(20)
        for store, task in zip(stores, (1, np.int64(1))):
            store.write(x, y, task=task)
            context = self.task_context(store)
            if context is not None:
                store.end_task(replace(context, task=task))
        assert state_equal(stores[0].state_dict(), stores[1].state_dict())
        first, second = (self.draw(store, n, torch.Generator().manual_seed(4))
                         for store, n in zip(stores, (5, np.int64(5))))
        assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
        stores[1].save(tmp_path / "store")
        assert state_equal(stores[0].state_dict(), open_store(tmp_path / "store").state_dict())

    # -- persistence -------------------------------------------------------------------------------------------------

    def test_save_open_in_memory_and_on_disk(self, tmp_path: Any) -> None:
        store = self.filled()
        in_memory = store.save()
        store.save(tmp_path / "store")
        for reopened in (open_store(in_memory), open_store(tmp_path / "store")):
            assert type(reopened) is type(store)
            assert state_equal(store.state_dict(), reopened.state_dict())
            assert reopened.ledger() == store.ledger()

    def test_saved_payload_is_exactly_the_ledger(self, tmp_path: Any) -> None:
        store = self.filled()
        store.save(tmp_path / "store")
        assert payload_bytes_on_disk(tmp_path / "store") == store.ledger().payload_bytes()

    def test_corrupt_store_is_refused(self, tmp_path: Any) -> None:
        self.filled().save(tmp_path / "store")
        chunk = next(path for path in (tmp_path / "store").rglob("*") if path.parent.name == "c"
                     and (path.parent.parent.name == "payload" or not self.stores_items))  # no payload: any array
        data = bytearray(chunk.read_bytes())
        data[0] ^= 0xFF
        chunk.write_bytes(bytes(data))
        with pytest.raises(CorruptStoreError, match="checksum"):
            open_store(tmp_path / "store")

    def test_corruption_fuzz_is_refused_or_identical(self) -> None:
        """One flipped bit anywhere (every byte of the attributes, a sample elsewhere): a typed refusal or the same
        store, never a raw error and never other contents."""
        store = self.filled()
        zstore = store.save()
        current = zarr.open_group(zstore, mode="r").attrs["memstore"]["current"]
        keys = saved_keys(zstore)
        attributes = ["zarr.json", f"{current}/zarr.json"]
        generator = torch.Generator().manual_seed(0)
        positions = fuzz_positions(zstore, attributes, None, generator)
        others = [key for key in keys if key not in attributes]
        positions += fuzz_positions(zstore, others, self.fuzz_bytes_per_key, generator)
        counts = flip_bits(zstore, store, positions)
        assert counts.raw == {} and counts.changed == 0, counts
        assert counts.refused > 0 and counts.total == len(positions)

    def test_newer_format_is_refused(self) -> None:
        zstore = self.filled().save()
        root = zarr.open_group(zstore, mode="a")
        root.attrs["memstore"] = {**root.attrs["memstore"], "format_version": persist.FORMAT_VERSION + 1}
        with pytest.raises(IncompatibleStoreError, match="newer"):
            open_store(zstore)

    def test_malformed_root_metadata_is_refused_with_a_typed_error(self) -> None:
        zstore = self.filled().save()
        root = zarr.open_group(zstore, mode="a")
        good = dict(root.attrs["memstore"])
        bad = [{"format_version": v} for v in (1.9, 0, -5, "abc", None, [1], True)]
        bad += [{"current": v} for v in (None, ["x"], "../pf", "g1", 7)]
        for change in bad:
            root.attrs["memstore"] = {**good, **change}
            with pytest.raises(CorruptStoreError):
                open_store(zstore)
        root.attrs["memstore"] = good
        assert type(open_store(zstore)) is type(self.filled())

    def test_missing_store_is_refused(self, tmp_path: Any) -> None:
        with pytest.raises(CorruptStoreError):
            open_store(tmp_path / "nothing-here")

    def test_interrupted_save_keeps_the_previous_store(self, tmp_path: Any, monkeypatch: Any) -> None:
        store = self.filled()
        target = tmp_path / "store"
        store.save(target)
        saved = snapshot(store.state_dict())
        x, y = self.items(20, seed=7)
        store.write(x, y)
        calls = {"n": 0}
        real = persist._write_array

        def dies_midway(*args: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("killed")
            return real(*args)

        monkeypatch.setattr(persist, "_write_array", dies_midway)
        with pytest.raises(KeyboardInterrupt):
            store.save(target)
        monkeypatch.setattr(persist, "_write_array", real)
        assert state_equal(open_store(target).state_dict(), saved)
        store.save(target)  # a later save cleans up and succeeds
        assert state_equal(open_store(target).state_dict(), store.state_dict())

    # -- the state machine -------------------------------------------------------------------------------------------

    def test_stateful(self) -> None:
        machine = make_store_machine(self.make_store, self.budget_for, self.option_sets, self.exact, self.tolerance,
                                     self.fixed_item_bits, self.reconstruction,
                                     None if self.stores_items else self.recall_context, self.task_context,
                                     self.generates)
        run_state_machine_as_test(
            machine, settings=settings(max_examples=self.stateful_examples, stateful_step_count=15, deadline=None)
        )
