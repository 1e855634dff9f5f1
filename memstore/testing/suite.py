"""The settings and helpers of the conformance suite: what a backend's ``Test…`` class tunes and overrides."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ..budget import Budget
from ..store import Batch, MemoryStore, RecallContext, TaskContext
from .strategies import random_items

__all__ = ["SuiteSettings"]


class SuiteSettings:
    """The class attributes that tune the suite and the hooks a backend overrides (:meth:`make_store` always)."""

    item_shape: tuple[int, int, int] = (1, 5, 4)
    num_classes: int = 4
    capacity: int = 12
    #: decode(encode(x)) == x for inputs on the 1/255 grid (false for lossy codecs)
    exact: bool = True
    #: max |decode(encode(x)) - x| allowed for lossy codecs
    tolerance: float = 0.0
    #: store options the state machine may draw from (e.g. policies), besides the defaults
    option_sets: tuple[dict[str, Any], ...] = ({},)
    stateful_examples: int = 20
    #: constructor options under which the consolidation check runs, for stores whose declaration depends on how
    #: they are built (the task filter's check builds with and without ``num_tasks`` itself)
    capability_options: tuple[dict[str, Any], ...] = ({},)
    #: bytes flipped per saved key in the corruption fuzz, besides every byte of the store's attributes
    fuzz_bytes_per_key: int = 12
    #: every item costs the same bits, so edits leave the ledger unchanged (false for JPEG: count and budget hold)
    fixed_item_bits: bool = True
    #: the store keeps items; false for a store that recalls or generates (SelfRecallStore): writes admit nothing,
    #: ``len`` and the ledger's payload, labels and index stay 0, ``edit`` raises NotEditable, ``sample`` without the
    #: context of :meth:`recall_context` raises MissingContextError, and the item checks become these zero-payload ones
    stores_items: bool = True
    #: with ``stores_items = False``: the store generates once ``end_task`` has taught it (GenerativeStore), so before
    #: that it samples nothing and needs no context; :meth:`task_context` is the end_task that teaches it
    generates: bool = False

    def recall_context(self, store: MemoryStore, x: torch.Tensor, y: torch.Tensor) -> RecallContext | None:
        """The context ``sample`` needs, around a real batch ``(x, y)`` (None for stores that keep items)."""
        return None

    def task_context(self, store: MemoryStore) -> TaskContext | None:
        """What :meth:`filled` hands ``end_task`` after its writes (None: no call), e.g. a model to snapshot."""
        return None

    def draw(self, store: MemoryStore, n: int, generator: torch.Generator | None = None, **filters: Any) -> Batch:
        """``store.sample(n, **filters)``, with :meth:`recall_context` around a fresh real batch of 10 items."""
        context = self.recall_context(store, *self.items(10, seed=11))
        return store.sample(n, context=context, generator=generator, **filters)

    def phase_context(self, store: MemoryStore, x: torch.Tensor, y: torch.Tensor) -> TaskContext:
        """What ``end_task`` gets when the suite checks that it does what the store declares: :meth:`task_context`
        (or a bare ``TaskContext(task=0)``) with the phase's data ``(x, y)``; a store whose consolidation needs a
        model the suite cannot guess (Mnemonics) overrides this."""
        return replace(self.task_context(store) or TaskContext(task=0), x=x, y=y)

    def reconstruction(self, store: MemoryStore, x: torch.Tensor) -> torch.Tensor:
        """What ``store`` gives back for an item ``x`` it has just stored: ``x`` itself (within ``tolerance``) for fixed
        codecs; a learned codec (RecollectionStore) overrides this with its own current round trip."""
        return x

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> MemoryStore:
        raise NotImplementedError

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        """A budget that holds about ``items`` items (raw-image units by default)."""
        return Budget.images(items, item_shape, num_classes)

    # -- helpers ----------------------------------------------------------------------------------------------------

    def store(self, seed: int = 0, **options: Any) -> MemoryStore:
        budget = self.budget_for(self.capacity, self.item_shape, self.num_classes)
        return self.make_store(budget, self.item_shape, self.num_classes, seed=seed, **options)

    def items(self, n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        return random_items(n, self.item_shape, self.num_classes, torch.Generator().manual_seed(seed))

    def filled(self, n: int = 30, seed: int = 0) -> MemoryStore:
        store = self.store(seed)
        x, y = self.items(n)
        for start in range(0, n, 10):
            store.write(x[start:start + 10], y[start:start + 10])
        context = self.task_context(store)
        if context is not None:
            store.end_task(context)
        return store

    def assert_close(self, got: torch.Tensor, want: torch.Tensor) -> None:
        if self.exact:
            assert torch.equal(got, want)
        else:
            assert float((got - want).abs().max()) <= self.tolerance
