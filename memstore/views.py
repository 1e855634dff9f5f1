"""Torch ``Dataset`` views of a store, for ``torch.utils.data.DataLoader`` (``store.as_dataset()``).

* :class:`StoredItems` (map-style), for stores that keep items: index ``i`` is slot ``i``, decoded on access;
  the length is the number of items held when the view was made (a later ``write`` may replace what a slot holds).
* :class:`GeneratedItems` (iterable), for stores that generate: ``length`` items drawn in batches of
  ``batch_size`` from a generator seeded by ``seed``; with DataLoader workers each worker draws its share from
  its own stream (``seed`` + worker id), so a run is reproducible for a given ``num_workers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .checks import check_int, check_seed
from .errors import InvalidInputError

__all__ = ["StoredItems", "GeneratedItems"]


class StoredItems(Dataset):
    """Map-style: ``view[i]`` is ``(x, y)`` of slot ``i``, decoded by the store's codec."""

    def __init__(self, store: Any) -> None:
        self.store, self.size = store, len(store)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if isinstance(index, Tensor) and index.numel() != 1:
            raise InvalidInputError(f"index must be one int (a DataLoader indexes one item at a time), got a tensor "
                                    f"of shape {tuple(index.shape)}")
        index = check_int("index", int(index) if isinstance(index, (np.integer, Tensor)) else index,
                          low=-self.size, high=self.size - 1) % max(self.size, 1)
        batch = self.store.read(np.array([index]))
        return batch.x[0], batch.y[0]


class GeneratedItems(IterableDataset):
    """Iterable: ``length`` generated ``(x, y)`` items, drawn ``batch_size`` at a time."""

    def __init__(self, store: Any, length: int, *, batch_size: int = 64, seed: int = 0) -> None:
        self.store = store
        self.length = check_int("length", length, low=0)
        self.batch_size = check_int("batch_size", batch_size, low=1, high=store.max_sample or None)
        self.seed = check_seed(seed)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        worker = get_worker_info()
        workers, index = (1, 0) if worker is None else (worker.num_workers, worker.id)
        share = self.length // workers + (index < self.length % workers)
        generator = torch.Generator().manual_seed(self.seed + index)
        while share > 0:
            batch = self.store.sample(min(self.batch_size, share), generator=generator)
            if len(batch.y) == 0:
                return  # nothing learned yet: an empty view
            yield from zip(batch.x, batch.y)
            share -= len(batch.y)
