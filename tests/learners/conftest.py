"""Shared pieces for learner tests: a tiny model, class-separated data, and a RawStore that records its calls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from memstore import Budget, RawStore

SHAPE = (1, 2, 2)
CLASSES = 6


class SpyStore(RawStore):
    """A RawStore that records what learners ask of it (a test instrument, not part of the library)."""

    def __init__(self, *args, model: nn.Module | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        self.calls: list[str] = []
        self.params_at_write: list[list[torch.Tensor]] = []
        self.samples: list[tuple[object, torch.Tensor]] = []
        self.contexts = []

    def write(self, x, y, *, task=None):
        self.calls.append("write")
        if self.model is not None:
            self.params_at_write.append([p.detach().clone() for p in self.model.parameters()])
        return super().write(x, y, task=task)

    def sample(self, n, *, classes=None, tasks=None, context=None, generator=None):
        self.calls.append("sample")
        batch = super().sample(n, classes=classes, tasks=tasks, context=context, generator=generator)
        self.samples.append((None if tasks is None else list(tasks), batch.y.clone()))
        return batch

    def end_task(self, context):
        self.contexts.append(context)


def make_model(seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, CLASSES))


def make_batch(classes: tuple[int, ...], n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor([classes[i % len(classes)] for i in range(n)], dtype=torch.int64)
    return torch.rand((n, *SHAPE), generator=g), y


def make_store(items: int = 20, *, num_tasks: int | None = None, model: nn.Module | None = None) -> SpyStore:
    budget = Budget.images(items, SHAPE, CLASSES, num_tasks=num_tasks)
    return SpyStore(budget, SHAPE, CLASSES, seed=0, num_tasks=num_tasks, model=model)


@pytest.fixture
def model() -> nn.Module:
    return make_model()
