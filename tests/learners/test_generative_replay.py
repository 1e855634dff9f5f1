"""GenerativeReplay: no replay before the store has learned a task, then replay of earlier classes only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from learners import DGMSolver, GenerativeReplay
from memstore import Budget, GenerativeStore
from memstore.capabilities import MissingCapabilityError
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


def _tiny_store() -> GenerativeStore:
    return GenerativeStore(Budget(0), (1, 8, 8), 10, seed=0, latent=4, widths=(4, 3), critic_widths=(2, 2),
                           training=GANTraining(iterations=3, batch_size=4))


def test_score_predicts_only_among_the_classes_observed() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].bias.copy_(torch.arange(10, dtype=torch.float32))  # unmasked, every item would be class 9
        model[1].weight.zero_()
    learner = GenerativeReplay(model, _tiny_store(), lr=1e-9, replay_size=0)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    learner.observe(x, torch.tensor([0, 0, 0, 2, 2, 2]), task=0)
    score = learner.score(x, torch.full((6,), 2))
    assert (score.correct, score.total) == (6, 6)  # class 2 has the largest logit among {0, 2}
    assert learner.score(x, torch.full((6,), 9)).correct == 0


def test_dgm_solver_feeds_the_store_and_scores_its_discriminator() -> None:
    store = _tiny_store()
    solver = DGMSolver(store)
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    solver.observe(x, torch.full((12,), 3), task=0)
    assert not store.can_sample
    solver.end_task()
    assert store.can_sample and store.class_slot[3] == 0
    # one class seen: the masked head can only say 3
    assert solver.score(x, torch.full((12,), 3)).correct == 12
    assert solver.score(x, torch.full((12,), 4)).correct == 0
    with pytest.raises(MissingCapabilityError, match="discriminator.classify"):
        DGMSolver(object())
