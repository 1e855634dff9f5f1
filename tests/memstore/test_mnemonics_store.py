"""MnemonicsStore: the conformance suite (float32 and uint8 exemplars), exact bits, the phase hook with each selection,
herding, the unrolled bilevel gradient (eq. 8–9) and the old-exemplar adjustment (eq. 10)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import grad

from memstore import Budget, Herding, Mnemonics, MnemonicsStore, RandomSelection, TaskContext, open
from memstore.errors import DTypeError, InvalidInputError, LabelError, MissingContextError
from memstore.stores.exemplar_selection import penultimate_features, unrolled_loss
from memstore.testing import StoreConformance, random_items, state_equal

SHAPE = (1, 4, 4)


def float32_budget(items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
    """The bits of ``items`` float32 exemplars with their labels."""
    return Budget(items * (32 * int(np.prod(item_shape)) + (num_classes - 1).bit_length()))


def phase_with_model(store: Any, x: torch.Tensor, y: torch.Tensor) -> TaskContext:
    """A phase for the suite's end_task check: its data and a small model over the store's items."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(store.item_shape)), store.num_classes))
    return TaskContext(task=0, model=model, x=x, y=y)


class TestMnemonicsStore(StoreConformance):
    option_sets = ({}, {"per_class": 2}, {"selection": Herding()}, {"num_tasks": 3}, {"dtype": torch.uint8})

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return MnemonicsStore(budget, item_shape, num_classes, **options)

    def phase_context(self, store: Any, x: torch.Tensor, y: torch.Tensor) -> TaskContext:
        return phase_with_model(store, x, y)

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        return float32_budget(items, item_shape, num_classes)


class TestMnemonicsStoreUint8(StoreConformance):
    option_sets = ({}, {"selection": RandomSelection(), "per_class": 3})

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return MnemonicsStore(budget, item_shape, num_classes, dtype=torch.uint8, **options)

    def phase_context(self, store: Any, x: torch.Tensor, y: torch.Tensor) -> TaskContext:
        return phase_with_model(store, x, y)


def tiny_model(seed: int = 0, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, classes))


def phase(classes: list[int], per: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(classes).repeat_interleave(per)
    return torch.rand(y.numel(), *SHAPE, generator=g), y


def store(selection: Any = None, **options: Any) -> MnemonicsStore:
    return MnemonicsStore(float32_budget(12, SHAPE, 4), SHAPE, 4, selection=selection or RandomSelection(), seed=0,
                          **options)


def test_ledger_charges_the_stored_dtype_exactly() -> None:
    budget = float32_budget(10, (1, 28, 28), 10)
    f32 = MnemonicsStore(budget, (1, 28, 28), 10, selection=RandomSelection(), seed=0)
    u8 = MnemonicsStore(budget, (1, 28, 28), 10, selection=RandomSelection(), dtype=torch.uint8, seed=0)
    assert (f32.capacity, u8.capacity) == (10, budget.bits // (784 * 8 + 4)) == (10, 39)  # ~4x: labels cost too
    x, y = random_items(60, (1, 28, 28), 10, torch.Generator().manual_seed(0))
    for s in (f32, u8):
        s.end_task(TaskContext(0, None, x, y))
        assert s.ledger().payload == len(s) * 784 * (32 if s is f32 else 8)
        assert s.ledger().labels == len(s) * 4 and s.ledger().charged(budget) <= budget.bits


def test_fixed_total_memory_is_shared_class_balanced_across_phases() -> None:
    s = store()
    s.end_task(TaskContext(0, None, *phase([0, 1])))
    assert s.last_phase is not None and s.last_phase.per_class == 6 and len(s) == 12
    first = s.exemplars()
    s.end_task(TaskContext(1, None, *phase([2], seed=1)))
    x, y = s.exemplars()
    assert s.last_phase.per_class == 4 and torch.bincount(y, minlength=4).tolist() == [4, 4, 4, 0]
    for c in (0, 1):  # old classes keep their first exemplars (priority order), unchanged by random selection
        assert torch.equal(x[y == c], first[0][first[1] == c][:4])
    assert s.ledger().charged(s.budget) <= s.budget.bits


def test_per_class_caps_each_class_and_the_budget_caps_the_total() -> None:
    s = store(per_class=2)
    s.end_task(TaskContext(0, None, *phase([0, 1, 2])))
    assert torch.bincount(s.exemplars()[1]).tolist() == [2, 2, 2]
    s.end_task(TaskContext(1, None, *phase([3], seed=2)))
    assert len(s) == 8 and s.last_phase.per_class == 2


def test_phase_data_supersedes_written_items_of_its_classes() -> None:
    s = store()
    s.write(*phase([0], per=3, seed=5))
    s.end_task(TaskContext(0, None, *phase([0, 1])))
    x, y = s.exemplars()
    assert torch.bincount(y).tolist() == [6, 6]
    assert all(any(torch.equal(row, item) for item in phase([0, 1])[0]) for row in x)


def test_uint8_exemplars_are_quantised_after_optimisation() -> None:
    s = MnemonicsStore(float32_budget(12, SHAPE, 4), SHAPE, 4, dtype=torch.uint8, seed=0,
                       selection=Mnemonics(inner_steps=1, outer_steps=2, outer_lr=50.0, batch_size=8))
    s.end_task(TaskContext(0, tiny_model(), *phase([0, 1], per=30)))
    x, _ = s.exemplars()
    assert s.capacity == 47 and len(s) == 46 and torch.equal(x, torch.round(x * 255) / 255)
    assert 0 < s.distortion().l1 <= 0.5 / 255  # the rounding the optimised exemplars took, measured as stored


def test_exemplars_kept_as_float32_report_no_distortion() -> None:
    s = store()
    s.end_task(TaskContext(0, None, *phase([0, 1])))
    assert s.distortion().items == 12 and s.distortion().l1 == 0.0


def test_bad_context_raises_and_changes_nothing() -> None:
    s = store(Herding())
    s.end_task(TaskContext(0, tiny_model(), *phase([0, 1])))
    before = s.state_dict()
    x, y = phase([2])
    for context, error in [
        (TaskContext(1, tiny_model()), MissingContextError),
        (TaskContext(1, None, x, y), MissingContextError),
        (TaskContext(1, tiny_model(), x * 3, y), InvalidInputError),
        (TaskContext(1, tiny_model(), x.double(), y), DTypeError),
        (TaskContext(1, tiny_model(), x, y + 4), LabelError),
        (TaskContext(1, tiny_model(), x[:0], y[:0]), InvalidInputError),
    ]:
        with pytest.raises(error):
            s.end_task(context)
        assert state_equal(before, s.state_dict())
    with pytest.raises(RuntimeError):  # a model that cannot take the items: torch's error, store unchanged
        s.end_task(TaskContext(1, nn.Sequential(nn.Flatten(), nn.Linear(5, 4)), x, y))
    assert state_equal(before, s.state_dict())


def test_store_round_trips_with_its_selection_and_dtype(tmp_path: Any) -> None:
    s = MnemonicsStore(float32_budget(12, SHAPE, 4), SHAPE, 4, dtype=torch.uint8, per_class=3, seed=0,
                       selection=Mnemonics(inner_steps=2, outer_steps=3, adjust=False))
    s.end_task(TaskContext(0, tiny_model(), *phase([0, 1])))
    s.save(tmp_path / "m")
    reopened = open(tmp_path / "m")
    assert isinstance(reopened, MnemonicsStore) and reopened.selection == s.selection
    assert reopened.dtype == torch.uint8 and reopened.per_class == 3
    assert state_equal(reopened.state_dict(), s.state_dict()) and reopened.ledger() == s.ledger()


def test_bad_options_are_refused() -> None:
    budget = float32_budget(4, SHAPE, 4)
    with pytest.raises(InvalidInputError, match="dtype"):
        MnemonicsStore(budget, SHAPE, 4, dtype=torch.float16)
    with pytest.raises(InvalidInputError, match="Selection"):
        MnemonicsStore(budget, SHAPE, 4, selection="herding")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="per_class"):
        MnemonicsStore(budget, SHAPE, 4, per_class=0)
    with pytest.raises(InvalidInputError):
        Mnemonics(batch_size=0)


# -- herding ---------------------------------------------------------------------------------------------------------


def test_penultimate_features_are_the_last_linear_input() -> None:
    model = tiny_model()
    x, _ = phase([0])
    want = torch.relu(model[1](x.flatten(1)))
    assert torch.allclose(penultimate_features(model, x), want)


def test_herding_first_picks_the_item_nearest_the_mean_then_follows_the_running_mean() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Identity(), nn.Linear(16, 2))  # features = the pixels themselves
    base = torch.zeros(5, 16)
    base[:, 0] = 1.0
    base[0, 1], base[1, 1], base[2, 2], base[3, 3], base[4, 1] = 0.1, 0.9, 0.5, 0.5, -0.0
    x = base.clamp(0, 1).reshape(5, *SHAPE)
    picked = Herding().select(x, 5, model, torch.Generator())
    f = torch.nn.functional.normalize(base.clamp(0, 1), dim=1)
    mean = f.mean(0)
    assert int(picked[0]) == int(((f - mean) ** 2).sum(1).argmin())
    assert sorted(picked.tolist()) == list(range(5))
    assert Herding().select(x, 2, model, torch.Generator()).tolist() == picked[:2].tolist()


# -- mnemonics (eq. 8-10) --------------------------------------------------------------------------------------------


def test_unrolled_gradient_matches_autograd_through_the_inner_steps() -> None:
    model = tiny_model()
    params = {k: v.detach() for k, v in model.named_parameters()}
    e, ey = phase([0, 1], per=3)
    vx, vy = phase([0, 1], per=5, seed=3)
    got = grad(lambda ex: unrolled_loss(model, params, ex, ey, vx, vy, steps=3, lr=0.5))(e)
    ex = e.clone().requires_grad_(True)
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    for _ in range(3):
        loss = nn.functional.cross_entropy(torch.func.functional_call(model, p, (ex,)), ey)
        steps = torch.autograd.grad(loss, list(p.values()), create_graph=True)
        p = {k: v - 0.5 * s for (k, v), s in zip(p.items(), steps, strict=True)}
    want, = torch.autograd.grad(nn.functional.cross_entropy(torch.func.functional_call(model, p, (vx,)), vy), ex)
    assert float(got.abs().max()) > 0 and torch.allclose(got, want, atol=1e-6)


def test_mnemonics_training_lowers_the_validation_loss_of_eq_9() -> None:
    model = tiny_model()
    x, y = phase([0, 1], per=40)
    s = store(Mnemonics(inner_steps=3, inner_lr=0.5, outer_steps=15, outer_lr=2.0, batch_size=80, adjust=False),
              per_class=3)
    s.end_task(TaskContext(0, model, x, y))
    params = {k: v.detach() for k, v in model.named_parameters()}
    ex, ey = s.exemplars()
    chosen = store(RandomSelection(), per_class=3)
    chosen.end_task(TaskContext(0, model, x, y))  # same seed: the random start mnemonics began from
    before, _ = chosen.exemplars()
    seen = torch.tensor([0, 1])  # what the store optimises: the cross-entropies over the classes seen (masked)
    loss = lambda e: float(unrolled_loss(model, params, e, ey, x, y, steps=3, lr=0.5, seen=seen))
    assert not torch.equal(ex, before) and loss(ex) < loss(before) - 1e-3


def test_adjustment_moves_old_exemplars_only_when_asked() -> None:
    model = tiny_model()
    results = {}
    for adjust in (False, True):
        s = store(Mnemonics(inner_steps=2, inner_lr=0.5, outer_steps=3, outer_lr=5.0, batch_size=16, adjust=adjust),
                  per_class=3)
        s.end_task(TaskContext(0, model, *phase([0, 1])))
        old = s.exemplars()
        s.end_task(TaskContext(1, model, *phase([2], seed=4)))
        x, y = s.exemplars()
        results[adjust] = torch.equal(x[y < 2], old[0][old[1] < 2])
    assert results == {False: True, True: False}


@pytest.mark.parametrize("num_tasks, task", [(2, None), (None, -1), (None, "a"), (2, 2)])
def test_a_phase_with_a_bad_task_id_is_refused_before_anything_changes(num_tasks: Any, task: Any) -> None:
    kept = store(num_tasks=num_tasks)
    before = kept.state_dict()
    x, y = phase([0, 1])
    with pytest.raises(InvalidInputError, match="task"):
        kept.end_task(TaskContext(task=task, model=tiny_model(), x=x, y=y))
    assert state_equal(kept.state_dict(), before)
