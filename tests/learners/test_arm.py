"""ARM learner: Algorithm 1 with distillation, step by step against a hand-written replay of the same computation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from learners import ARM, distillation_loss
from memstore import Batch, Budget, RawStore, RecallContext, RecallObjective, SelfRecallStore, param_bits
from memstore.capabilities import MissingCapabilityError

from .conftest import CLASSES, SHAPE, make_batch, make_model

OBJECTIVE = RecallObjective(steps=3, rate=1.0)


class RecordingStore(SelfRecallStore):
    """A SelfRecallStore that records the contexts it is asked to recall from (a test instrument)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contexts: list[RecallContext] = []
        self.writes = 0

    def sample(self, n: int, **kwargs: Any) -> Batch:
        context = kwargs["context"]
        self.contexts.append(RecallContext(copy.deepcopy(context.model), copy.deepcopy(context.old_model),
                                           context.batch))
        return super().sample(n, **kwargs)

    def write(self, x: torch.Tensor, y: torch.Tensor, *, task: int | None = None) -> int:
        self.writes += 1
        return super().write(x, y, task=task)


def recall_store(*, unit_lag: bool = False) -> RecordingStore:
    return RecordingStore(Budget(0), SHAPE, CLASSES, objective=OBJECTIVE, keep_old_model=not unit_lag, seed=0)


def sgd_step(model: nn.Module, loss: torch.Tensor, lr: float) -> None:
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p.sub_(lr * g)


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


@pytest.mark.parametrize("unit_lag", [False, True])
def test_first_task_is_one_plain_step_without_recall(unit_lag: bool) -> None:
    model, store = make_model(), recall_store(unit_lag=unit_lag)
    reference = copy.deepcopy(model)
    x, y = make_batch((0, 1), n=6)
    step = ARM(model, store, lr=0.05).observe(x, y, task=0)
    sgd_step(reference, F.cross_entropy(reference(x), y), 0.05)
    assert_same_parameters(model, reference)
    assert step.replayed == 0 and store.contexts == [] and store.writes == 1


def train_first_task(learner: ARM) -> None:
    for seed in range(3):
        learner.observe(*make_batch((0, 1), n=6, seed=seed), task=0)
    learner.end_task(0)


def test_algorithm_1_real_step_then_recall_then_distill_on_both() -> None:
    model, store = make_model(), recall_store()
    learner = ARM(model, store, lr=0.05, recall_weight=1.5, distill_weight=0.5,
                  generator=torch.Generator().manual_seed(4))
    train_first_task(learner)
    old = copy.deepcopy(model)  # θ: the snapshot end_task handed to the store
    assert store.ledger().models == param_bits(old)
    x, y = make_batch((2, 3), n=6, seed=9)
    reference = copy.deepcopy(model)
    step = learner.observe(x, y, task=1)

    sgd_step(reference, F.cross_entropy(reference(x), y), 0.05)                 # 1.
    twin = SelfRecallStore(Budget(0), SHAPE, CLASSES, objective=OBJECTIVE, seed=0)
    twin.keep(old)
    recalled = twin.sample(10, context=RecallContext(reference, None, Batch(x, y)),
                           generator=torch.Generator().manual_seed(4))        # 2.
    loss = (0.5 * distillation_loss(reference(x), old(x), 1.0)
            + 1.5 * F.cross_entropy(reference(recalled.x), recalled.soft))    # 3.
    sgd_step(reference, loss, 0.05)

    assert_same_parameters(model, reference)
    assert step.replayed == 10 and len(store.contexts) == 1
    context = store.contexts[0]
    assert context.old_model is None and context.batch is not None and torch.equal(context.batch.x, x)
    assert all(not torch.equal(p, q) for p, q in zip(context.model.parameters(), old.parameters()))


def test_unit_lag_hands_the_pre_step_model_to_the_store_and_keeps_nothing() -> None:
    model, store = make_model(), recall_store(unit_lag=True)
    learner = ARM(model, store, lr=0.05)
    train_first_task(learner)
    before = copy.deepcopy(model)
    learner.observe(*make_batch((2, 3), n=6, seed=9), task=1)
    context = store.contexts[-1]
    assert context.old_model is not None
    assert_same_parameters(context.old_model, before)
    assert store.ledger().models == 0 and learner.model_bits().bits == 0


def test_m_zero_is_their_distill_baseline() -> None:
    model, store = make_model(), recall_store()
    learner = ARM(model, store, lr=0.05, replay_size=0)
    train_first_task(learner)
    old, reference = copy.deepcopy(model), copy.deepcopy(model)
    x, y = make_batch((2, 3), n=6, seed=9)
    step = learner.observe(x, y, task=1)
    sgd_step(reference, F.cross_entropy(reference(x), y), 0.05)
    sgd_step(reference, distillation_loss(reference(x), old(x), 1.0), 0.05)
    assert_same_parameters(model, reference)
    assert step.replayed == 0 and store.contexts == []


def test_model_bits_report_the_kept_copy() -> None:
    model, store = make_model(), recall_store()
    learner = ARM(model, store, lr=0.05)
    assert learner.model_bits().bits == 0
    train_first_task(learner)
    kept = learner.model_bits()
    assert kept.bits == param_bits(model) and kept.parameters == sum(p.numel() for p in model.parameters())


def test_arm_needs_a_store_that_recalls_from_a_model() -> None:
    with pytest.raises(MissingCapabilityError, match="old_logits"):
        ARM(make_model(), None, lr=0.05)  # type: ignore[arg-type]
    raw = RawStore(Budget.images(5, (1, 28, 28), 10), (1, 28, 28), 10, seed=0)
    with pytest.raises(MissingCapabilityError, match="RawStore"):
        ARM(make_model(), raw, lr=0.05)  # type: ignore[arg-type]
