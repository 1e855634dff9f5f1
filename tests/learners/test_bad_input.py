"""Learners refuse bad settings at construction and bad stream batches before the model learns anything, with typed
errors (issue 17's configuration checks, carried to the learners)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from learners import AGEM, ARM, ER, GEM, MIR, LwF, Naive
from learners.gmed import GMEDEdit
from learners.phases import PhaseConfig, PhaseLearner
from memstore import Budget, MnemonicsStore, RawStore, SelfRecallStore
from memstore.errors import InvalidInputError, LabelError, NonFiniteError

from .conftest import SHAPE, make_batch, make_model

NAN = float("nan")


def _raw(**options: Any) -> RawStore:
    return RawStore(Budget.images(20, SHAPE, 10), SHAPE, 10, seed=0, **options)


@pytest.mark.parametrize("build", [
    lambda: ER(make_model(), _raw(), lr=NAN),
    lambda: ER(make_model(), _raw(), lr="0.1"),
    lambda: ER(make_model(), _raw(), lr=0.1, replay_size=2.5),
    lambda: ER(make_model(), _raw(), lr=0.1, generator=5),
    lambda: Naive(make_model(), lr=float("inf")),
    lambda: GEM(make_model(), _raw(num_tasks=2), lr=0.1, margin=NAN),
    lambda: AGEM(make_model(), _raw(), lr=0.1, reference_size=2.5),
    lambda: MIR(make_model(), _raw(), lr=0.1, candidates=NAN),
    lambda: LwF(make_model(), lr=0.1, temperature=NAN),
    lambda: ARM(make_model(), SelfRecallStore(Budget(0), SHAPE, 10), lr=0.1, recall_weight=NAN),
    lambda: GMEDEdit(NAN, 0.01),
    lambda: GMEDEdit("5", 0.01),
    lambda: PhaseConfig(lr=NAN),
    lambda: PhaseLearner(make_model(), MnemonicsStore(Budget.images(20, SHAPE, 10), SHAPE, 10), 10, generator=5),
], ids=["er-lr-nan", "er-lr-text", "er-replay-float", "er-generator-int", "naive-lr-inf", "gem-margin-nan",
        "agem-reference-float", "mir-candidates-nan", "lwf-temperature-nan", "arm-weight-nan", "gmed-alpha-nan",
        "gmed-alpha-text", "phase-lr-nan", "phase-generator-int"])
def test_a_bad_setting_is_a_typed_error_at_construction(build: Any) -> None:
    with pytest.raises(InvalidInputError):
        build()


def test_a_write_the_policy_would_refuse_is_refused_before_the_model_learns() -> None:
    from memstore import PerTask

    learner = ER(make_model(), _raw(policy=PerTask(), num_tasks=2), lr=0.1)
    weights = [p.detach().clone() for p in learner.model.parameters()]
    with pytest.raises(InvalidInputError, match="PerTask"):
        learner.observe(*make_batch((0, 1), n=4))  # no task id, and none declared before
    assert all(torch.equal(p, q) for p, q in zip(learner.model.parameters(), weights))
    learner.observe(*make_batch((0, 1), n=4), task=1)
    learner.observe(*make_batch((0, 1), n=4, seed=1))  # the task declared before is the one written
    assert len(learner.store) == 8


def test_learners_that_keep_no_data_do_not_hold_batches_to_a_stores_checks() -> None:
    unnormalised = make_batch((0, 1), n=4)[0] * 3 - 1  # outside [0, 1]: no store could keep it
    for learner in (Naive(make_model(), _raw(), lr=0.1), LwF(make_model(), _raw(), lr=0.1)):
        learner.observe(unnormalised, torch.tensor([0, 1, 0, 1]))
        assert len(learner.store) == 0


def test_lwf_keeps_its_old_model_when_the_store_refuses_the_task() -> None:
    learner = LwF(make_model(), _raw(num_tasks=2), lr=0.1)
    with pytest.raises(LabelError):
        learner.end_task(5)
    assert learner.old_model is None and learner.current_task == 0


@pytest.mark.parametrize("with_store", [True, False])
@pytest.mark.parametrize("bad, error", [
    (lambda x, y: (x * NAN, y, None), NonFiniteError),
    (lambda x, y: (x, y + 10, None), LabelError),
    (lambda x, y: (x, y.float(), None), InvalidInputError),
    (lambda x, y: (x, y, -1), LabelError),
    (lambda x, y: (x.double(), y, None), InvalidInputError),
    (lambda x, y: (x.to("meta"), y, None), InvalidInputError),
], ids=["nan-items", "labels-out-of-range", "float-labels", "negative-task", "float64-items", "meta-items"])
def test_a_bad_batch_is_refused_before_the_model_learns(with_store: bool, bad: Any, error: type) -> None:
    learner = ER(make_model(), _raw(), lr=0.1) if with_store else Naive(make_model(), lr=0.1)
    x, y = make_batch((0, 1, 2, 3), n=6, seed=0)
    x, y, task = bad(x, y)
    if not with_store and error is LabelError and task is None:  # no store: the model's width is the only bound
        pytest.skip("without a store a learner knows no number of classes")
    weights = [p.detach().clone() for p in learner.model.parameters()]
    with pytest.raises(error):
        learner.observe(x, y, task=task)
    assert all(torch.equal(p, q) for p, q in zip(learner.model.parameters(), weights))
    assert learner.current_task == 0 and (not with_store or len(learner.store) == 0)


def test_numpy_task_ids_and_settings_act_as_python_numbers() -> None:
    """A task id or a setting from NumPy is taken as the Python number it equals; a plain value stays as given."""
    import numpy as np

    learner = LwF(make_model(), lr=np.float32(0.5), temperature=np.int64(2))
    assert type(learner.lr) is float and type(learner.temperature) is int
    assert type(ER(make_model(), _raw(), lr=1).lr) is int  # a plain int is not turned into a float
    x, y = make_batch((0, 1))
    learner.observe(x, y, task=np.int64(0))
    learner.end_task(np.int64(0))
    assert learner.current_task == 1 and type(learner.current_task) is int
    for bad in (np.bool_(True), -1, 1.0):
        with pytest.raises(LabelError, match="task"):
            learner.end_task(bad)
