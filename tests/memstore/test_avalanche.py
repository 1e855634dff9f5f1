"""The Avalanche adapter against the real avalanche-lib 0.6: a small benchmark built from tensors trains with a
JPEGStore memory, through ReplayPlugin and through the online plugin, and the ledger stays within budget."""

from __future__ import annotations

import warnings

import pytest
import torch

from memstore import Budget, InvalidInputError, JPEGStore, RawStore

pytest.importorskip("avalanche", reason="the avalanche extra (avalanche-lib 0.6) is not installed")
warnings.filterwarnings("ignore", module="avalanche")

from avalanche.benchmarks import tensors_benchmark  # noqa: E402
from avalanche.training.plugins import ReplayPlugin  # noqa: E402
from avalanche.training.supervised import Naive  # noqa: E402

from memstore.integrations.avalanche import MemstoreStoragePolicy, OnlineReplayPlugin  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
SHAPE = (1, 8, 8)


def benchmark() -> object:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (200, *SHAPE), generator=generator).float() / 255
    y = torch.arange(200) % 4
    x += (y.float() / 4).view(-1, 1, 1, 1)  # a class signal a linear model can learn
    x = (x.clamp(0, 1) * 255).round() / 255
    parts = [(x[y < 2], y[y < 2]), (x[y >= 2], y[y >= 2])]
    return tensors_benchmark(train_tensors=parts, test_tensors=parts, task_labels=[0, 0])


def strategy(plugins: list) -> Naive:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    return Naive(model, torch.optim.SGD(model.parameters(), lr=0.1), train_mb_size=10, train_epochs=1,
                 eval_mb_size=50, plugins=plugins, evaluator=None)


def test_replay_plugin_trains_with_a_jpeg_memory_within_budget() -> None:
    store = JPEGStore(Budget.images(20, SHAPE, 4), SHAPE, 4, seed=0, quality=50)
    policy = MemstoreStoragePolicy(store)
    learner = strategy([ReplayPlugin(mem_size=policy.max_size, storage_policy=policy)])
    for experience in benchmark().train_stream:
        learner.train(experience)
    assert len(store) > 20  # JPEG holds more items than 20 raw images' bits
    assert len(policy.buffer) == len(store)
    assert store.ledger().charged(store.budget) <= store.budget.bits


def test_online_plugin_replays_every_minibatch() -> None:
    sizes: list[int] = []

    class Recording(OnlineReplayPlugin):
        def after_training_iteration(self, strategy: object, *args: object, **kwargs: object) -> None:
            sizes.append(int(strategy.mbatch[0].shape[0]))  # what the model trained on
            super().after_training_iteration(strategy, *args, **kwargs)

    store = RawStore(Budget.images(30, SHAPE, 4), SHAPE, 4, seed=0)
    learner = strategy([Recording(store, replay_size=5, generator=torch.Generator().manual_seed(1))])
    for experience in benchmark().train_stream:
        learner.train(experience)
    assert len(store) == 30 and store.ledger().charged(store.budget) <= store.budget.bits
    assert sizes[0] == 10 and set(sizes[1:]) == {15}  # the first minibatch met an empty store


def test_the_adapter_refuses_what_it_cannot_use() -> None:
    from memstore import SelfRecallStore

    with pytest.raises(InvalidInputError, match="keeps items"):
        MemstoreStoragePolicy(SelfRecallStore(Budget(0), SHAPE, 4, seed=0))
    policy = MemstoreStoragePolicy(RawStore(Budget.images(5, SHAPE, 4), SHAPE, 4, seed=0))
    with pytest.raises(InvalidInputError, match="Budget"):
        policy.resize(None, 3)
