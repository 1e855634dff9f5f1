"""GenerativeReplay: no replay before the store has learned a task, then replay of earlier classes only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from learners import GenerativeReplay
from memstore import Budget, GenerativeStore
from memstore.nn import GANTraining

pytestmark = pytest.mark.usefixtures("one_thread")


def test_replays_generated_earlier_classes_after_end_task() -> None:
    store = GenerativeStore(Budget(0), (1, 8, 8), 10, seed=0, latent=4, widths=(4, 3), critic_widths=(2, 2),
                            training=GANTraining(iterations=3, batch_size=4))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    learner = GenerativeReplay(model, store, lr=0.1, replay_size=6, generator=torch.Generator().manual_seed(0))
    x = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    first = learner.observe(x, torch.zeros(10, dtype=torch.int64), task=0)
    assert first.replayed == 0 and not store.can_sample
    learner.end_task()
    batch = learner.replay()
    assert batch is not None and len(batch) == 6 and set(batch.y.tolist()) == {0}
    second = learner.observe(x, torch.ones(10, dtype=torch.int64))
    assert second.replayed == 6 and learner.current_task == 1
    learner.end_task()
    assert set(store.sample(40).y.tolist()) == {0, 1}
