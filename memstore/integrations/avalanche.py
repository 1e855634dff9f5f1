"""Avalanche (``avalanche-lib`` 0.6, the ``avalanche`` extra) on a memstore memory.

* :class:`MemstoreStoragePolicy`: a storage policy for Avalanche's ``ReplayPlugin``, backed by any store that keeps
  items. After each experience it writes the experience's data into the store (the store's own admission policy
  decides what stays) and exposes what the store holds, decoded, as the replay buffer. ``max_size`` is the store's
  capacity in items (``ReplayPlugin`` asserts ``storage_policy.max_size == mem_size``): for a store of fixed-size
  items what it holds when full, for JPEG and lossless stores an upper bound (their items vary in size; the bits
  decide how many fit)::

      policy = MemstoreStoragePolicy(JPEGStore(Budget.images(200, (1, 28, 28), 10), (1, 28, 28), 10, seed=0))
      strategy = Naive(model, optimizer, plugins=[ReplayPlugin(mem_size=policy.max_size, storage_policy=policy)])

* :class:`OnlineReplayPlugin`: ER as the online papers run it: every training minibatch is joined by a replay
  batch sampled from the store, and then written to it.

Inputs must be what the store takes: float images in [0, 1] (on the 1/255 grid for RawStore and LosslessStore).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_tensor_classification_dataset
from avalanche.core import SupervisedPlugin
from avalanche.training.storage_policy import ExemplarsBuffer
from torch.utils.data import DataLoader

from ..checks import check_int
from ..errors import InvalidInputError
from ..store import MemoryStore

__all__ = ["MemstoreStoragePolicy", "OnlineReplayPlugin"]


def _keeping(store: Any) -> MemoryStore:
    if not isinstance(store, MemoryStore) or not store.keeps_items:
        raise InvalidInputError(f"the adapter needs a memstore store that keeps items, got {type(store).__name__}")
    return store


class MemstoreStoragePolicy(ExemplarsBuffer):
    """An Avalanche ``ExemplarsBuffer`` whose memory is ``store``; it writes ``write_batch`` items per call."""

    def __init__(self, store: MemoryStore, *, write_batch: int = 256) -> None:
        self.store = _keeping(store)
        self.write_batch = check_int("write_batch", write_batch, low=1)
        super().__init__(int(store.capacity))

    def post_adapt(self, agent_state: Any, exp: Any) -> None:
        task = exp.current_experience if self.store.num_tasks is not None else None
        for x, y, *_ in DataLoader(exp.dataset, batch_size=self.write_batch, shuffle=False):
            self.store.write(x.float(), y.long(), task=task)
        held = self.store.read(np.arange(len(self.store)))
        self.buffer = _make_taskaware_tensor_classification_dataset(held.x, held.y, task_labels=0)

    def resize(self, strategy: Any, new_size: int) -> None:
        if new_size != self.max_size:
            raise InvalidInputError("a memstore store's capacity follows its budget in bits: build the store with "
                                    f"another Budget instead of resizing it to {new_size} items")


class OnlineReplayPlugin(SupervisedPlugin):
    """Per minibatch: append ``replay_size`` items sampled from ``store`` (with ``generator``), train, then write
    the minibatch's own items to the store."""

    def __init__(self, store: MemoryStore, replay_size: int = 10, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.store = _keeping(store)
        self.replay_size = check_int("replay_size", replay_size, low=0)
        MemoryStore.check_generator(generator)
        self.generator = generator
        self._incoming: tuple[torch.Tensor, torch.Tensor] | None = None

    def before_training_iteration(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        x, y, t = strategy.mbatch[0], strategy.mbatch[1], strategy.mbatch[-1]
        self._incoming = (x.detach().cpu().float(), y.detach().cpu().long())
        replay = self.store.sample(self.replay_size, generator=self.generator)
        if len(replay.y):
            strategy.mbatch = [torch.cat([x, replay.x.to(x.device)]), torch.cat([y, replay.y.to(y.device)]),
                               torch.cat([t, torch.zeros_like(replay.y).to(t.device)])]

    def after_training_iteration(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self._incoming is not None:
            self.store.write(*self._incoming)
            self._incoming = None
