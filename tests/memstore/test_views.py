"""``store.as_dataset()``: a map-style view of the items a store keeps, an iterable one of what a store generates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from memstore import Budget, GenerativeStore, InvalidInputError, JPEGStore, RawStore, SelfRecallStore, TaskContext
from memstore.errors import MissingContextError
from memstore.nn import GANTraining


def filled_raw() -> RawStore:
    store = RawStore(Budget.images(40, (1, 4, 4), 5), (1, 4, 4), 5, seed=0)
    store.write(torch.rand(30, 1, 4, 4).mul(255).round().div(255), torch.arange(30) % 5)
    return store


def test_map_view_is_the_stored_items_in_slot_order() -> None:
    store = filled_raw()
    view = store.as_dataset()
    assert len(view) == 30
    held = store.read(list(range(30)))
    x, y = view[7]
    assert torch.equal(x, held.x[7]) and int(y) == int(held.y[7])
    assert torch.equal(view[-1][0], held.x[29])
    with pytest.raises(InvalidInputError, match="index"):
        view[30]


def test_map_view_loads_with_two_workers_in_order() -> None:
    store = JPEGStore(Budget.images(40, (1, 8, 8), 5), (1, 8, 8), 5, seed=0, quality=90)
    store.write(torch.rand(20, 1, 8, 8), torch.arange(20) % 5)
    loader = DataLoader(store.as_dataset(), batch_size=8, num_workers=2)
    xs, ys = zip(*loader)
    held = store.read(list(range(len(store))))
    assert torch.equal(torch.cat(xs), held.x) and torch.equal(torch.cat(ys), held.y)


def test_generated_view_draws_its_length_reproducibly_across_workers() -> None:
    store = GenerativeStore(Budget(0), (1, 8, 8), 10, seed=0, latent=4, widths=(4, 3), critic_widths=(2, 2),
                            training=GANTraining(iterations=2, batch_size=4, epochs=1))
    store.write(torch.rand(16, 1, 8, 8), torch.arange(16) % 2)
    store.end_task(TaskContext(task=0))
    view = store.as_dataset(25, batch_size=4, seed=3)
    first = torch.cat([x for x, _ in DataLoader(view, batch_size=5, num_workers=2)])
    again = torch.cat([x for x, _ in DataLoader(view, batch_size=5, num_workers=2)])
    assert first.shape == (25, 1, 8, 8) and torch.equal(first, again)
    labels = torch.cat([y for _, y in DataLoader(view, batch_size=5)])
    assert set(labels.tolist()) <= {0, 1}


def test_views_refuse_what_they_cannot_be() -> None:
    with pytest.raises(InvalidInputError, match="no length"):
        filled_raw().as_dataset(10)
    generative = GenerativeStore(Budget(0), (1, 8, 8), 10, seed=0, latent=4, widths=(4, 3), critic_widths=(2, 2))
    with pytest.raises(InvalidInputError, match="needs a length"):
        generative.as_dataset()
    with pytest.raises(InvalidInputError, match="batch_size"):
        generative.as_dataset(10, batch_size=1 << 20)
    with pytest.raises(MissingContextError, match="no dataset view"):
        SelfRecallStore(Budget(0), (1, 8, 8), 10, seed=0).as_dataset(10)


def test_reads_and_view_indices_that_name_no_slot_are_typed_errors() -> None:
    store = filled_raw()
    view = store.as_dataset()
    with pytest.raises(InvalidInputError, match="one int"):
        view[torch.tensor([1, 2])]
    assert torch.equal(view[torch.tensor(3)][0], store.read([3]).x[0])
    for slots in (["a"], [1 << 70], None, [1.7]):
        with pytest.raises(InvalidInputError, match="slots must be ints"):
            store.read(slots)
    assert store.read(torch.tensor([0, 2])).keys.tolist() == [0, 2] and len(store.read([])) == 0
    from memstore.errors import UnknownKeyError

    with pytest.raises(UnknownKeyError):
        store.read(np.array([2**63 + 1], dtype=np.uint64))
    with pytest.raises(InvalidInputError, match="meta"):
        store.read(torch.tensor([1], device="meta"))
