"""The conformance suite's checks of declared capabilities against behaviour (docs/design.md, "Capabilities").

A store declares what it can do instead of being probed: ``keeps_items``, ``needs_context``, ``filters_by_class``,
``filters_by_task`` and ``consolidates_at_end_task``. Learners read the declarations; these tests hold each one to
what the store does. A filter a store does not support must be refused with a typed error, and the test that would
exercise it is then skipped, visibly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ..capabilities import MeasuresDistortion, RecallsFromModel
from ..errors import InvalidInputError
from ..store import MemoryStore
from .strategies import state_equal
from .suite import SuiteSettings

__all__ = ["CapabilityChecks"]


class CapabilityChecks(SuiteSettings):
    """Part of :class:`~memstore.testing.StoreConformance`: the capability tests."""

    def test_declared_capabilities_match_the_behaviour(self) -> None:
        """``keeps_items`` / ``needs_context`` are what learners and views read; the suite checks them against what
        the store does (its subclass's ``stores_items`` / ``generates`` drive the behavioural tests)."""
        store = self.store()
        assert store.keeps_items == self.stores_items
        assert store.needs_context == (not self.stores_items and not self.generates)
        # the protocols of memstore.capabilities: items are measured; a store that needs a model recalls from it
        assert isinstance(store, MeasuresDistortion) == store.keeps_items
        assert isinstance(store, RecallsFromModel) == store.needs_context
        if store.keeps_items:
            assert store.distortion().items == 0  # an empty store has measured nothing

    def test_sample_by_class(self) -> None:
        store = self.filled()
        if not store.filters_by_class:  # e.g. recall conditioned on the real batch: classes= is refused, typed
            with pytest.raises(InvalidInputError, match="classes"):
                self.draw(store, 5, classes=[0])
            pytest.skip(f"{type(store).__name__} does not filter by class (refused with a typed error)")
        if not self.stores_items:  # a generator samples the classes asked for
            batch = store.sample(5, classes=[0])
            assert len(batch) == 5 and bool((batch.y == 0).all())
            return
        held = store.sample(len(store)).y
        wanted = int(held[0])
        batch = store.sample(len(store), classes=[wanted])
        assert len(batch) == int((held == wanted).sum()) and bool((batch.y == wanted).all())
        for same in (wanted, torch.tensor([wanted]), (wanted,), np.int64(wanted), np.array([wanted]),
                     [np.int32(wanted)]):  # one int, a tensor or numpy array, any iterable of ints
            assert len(store.sample(len(store), classes=same)) == len(batch)

    def test_sample_by_task(self) -> None:
        """Built with and without ``num_tasks``: a store that declares ``filters_by_task`` samples by task (see
        :meth:`check_task_filter`); one that does not refuses ``tasks=`` with a typed error."""
        filtering = 0
        for store in (self.store(), self.store(num_tasks=2)):
            if store.filters_by_task:
                self.check_task_filter(store)
                filtering += 1
            else:
                with pytest.raises(InvalidInputError, match="task"):
                    self.draw(store, 3, tasks=[0])
        if not filtering:
            pytest.skip(f"{type(store).__name__} does not filter by task (refused with a typed error)")

    def check_task_filter(self, store: MemoryStore) -> None:
        """Two tasks of disjoint classes: ``tasks=[1]`` gives the second task's classes only and, for a store of
        items, every held item of it."""
        half = self.num_classes // 2
        for task in (0, 1):
            x, y = self.items(20, seed=task + 1)
            store.write(x, y % half + task * half, task=task)
            context = self.task_context(store)
            if context is not None:
                store.end_task(replace(context, task=task))
        batch = self.draw(store, 6, tasks=[1])
        assert len(batch) > 0 and bool((batch.y >= half).all())
        if self.stores_items:
            held = store.sample(len(store)).y
            assert len(store.sample(len(store), tasks=[1])) == int((held >= half).sum())
            assert len(store.sample(len(store), tasks=[0, 1])) == len(store)

    def test_end_task_does_what_it_declares(self) -> None:
        """``consolidates_at_end_task`` false: the hook leaves the store exactly as it was, even handed the phase's
        data; true: it changes the store (handed the data, and the model :meth:`phase_context` gives)."""
        x, y = self.items(30)
        for options in self.capability_options:
            store = self.store(**options)
            for start in range(0, 30, 10):
                store.write(x[start:start + 10], y[start:start + 10])
            before = store.state_dict()
            store.end_task(self.phase_context(store, x, y))
            assert state_equal(before, store.state_dict()) != store.consolidates_at_end_task, options
