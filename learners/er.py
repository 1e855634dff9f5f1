"""Experience replay (Robins 1995; Chaudhry et al. 2019) from any memstore store.

Two protocol settings (docs/protocols.md), chosen by ``replay_past_tasks_only``:

- ``False`` (GMED, task-free): replay from the whole memory, current task included, as soon as it holds anything
  (i.e. from the second stream batch on);
- ``True`` (MIR / ARM): no replay during the first task; afterwards replay only items of earlier tasks,
  ``store.sample(n, tasks=range(current_task))``. The store must declare ``filters_by_task`` (an item store
  built with ``num_tasks``, or a generating store); checked at construction.
"""

from __future__ import annotations

import torch
from torch import nn

from memstore import Batch, MemoryStore
from memstore.capabilities import MissingCapabilityError
from memstore.errors import InvalidInputError

from .base import Learner

__all__ = ["ER"]


class ER(Learner):
    """ER: loss = mean(stream CE) + mean(replay CE) over ``replay_size`` items sampled from the store (``one_mean``:
    one mean over both)."""

    def __init__(
        self,
        model: nn.Module,
        store: MemoryStore,
        *,
        lr: float,
        replay_size: int = 10,
        replay_past_tasks_only: bool = False,
        generator: torch.Generator | None = None,
        one_mean: bool = False,
        phase_data: bool = False,
    ) -> None:
        if store is None:
            raise InvalidInputError("ER needs a store")
        if replay_past_tasks_only and not store.filters_by_task:  # the capability is declared (docs/design.md)
            raise MissingCapabilityError(f"ER replaying past tasks only needs a store that samples by task (an item "
                                         f"store built with num_tasks, or a generating one), got {store!r}")
        super().__init__(model, store, lr=lr, replay_size=replay_size, generator=generator, one_mean=one_mean,
                         phase_data=phase_data)
        self.replay_past_tasks_only = replay_past_tasks_only

    @property
    def memory(self) -> MemoryStore:
        assert self.store is not None
        return self.store

    def replay(self) -> Batch | None:
        return self.draw(self.replay_size)

    def draw(self, n: int, generator: torch.Generator | None = None) -> Batch | None:
        """Up to ``n`` random memory items under this learner's replay rule, or None if there are none; drawn from
        ``generator`` (default: the learner's replay generator)."""
        if n == 0:
            return None
        generator = self.generator if generator is None else generator
        if self.replay_past_tasks_only:
            batch = self._sample_past_tasks(n, generator)
        elif self.memory.can_sample:
            batch = self.memory.sample(n, generator=generator)
        else:
            batch = None
        return batch if batch is not None and len(batch) else None

    def _sample_past_tasks(self, n: int, generator: torch.Generator | None) -> Batch | None:
        if self.current_task == 0:
            return None
        return self.memory.sample(n, tasks=range(self.current_task), generator=generator)
