"""GenerativeStore: conformance (a store that generates once end_task has taught it), DGM's guarantee that a later task
never changes an earlier class's samples, exact model bits, the charged budget, persistence, task data paths."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from memstore import Budget, GenerativeStore, TaskContext, TaskGrowth, mask_bits, param_bits
from memstore.errors import BudgetTooSmallError, InvalidInputError, LabelError
from memstore.nn import DGMa, DGMw, GANTraining
from memstore.persist import open_store
from memstore.testing import StoreConformance, random_items, state_equal

TINY: dict[str, Any] = {"latent": 4, "widths": (4, 3), "critic_widths": (2, 2),
                        "training": GANTraining(iterations=3, batch_size=4, epochs=2)}


pytestmark = pytest.mark.usefixtures("one_thread")


class TestGenerativeStore(StoreConformance):
    stores_items = False
    generates = True
    option_sets = ({}, {"variant": DGMa()}, {"num_tasks": 3},
                   {"widths": (4, 3, 2), "critic_widths": (2, 3, 4), "critic_kernel": 5, "critic_norm": True,
                    "canvas": (12, 12), "signed": True, "task_norm": True,
                    "training": GANTraining(batch_size=4, passes=1, replay_set=True, reinit_critic=True,
                                            generator_aux=False, mask_lr=None)},
                   {"variant": DGMa(), "task_norm": True, "mask_activations": True})
    stateful_examples = 10

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int,
                   **options: Any) -> GenerativeStore:
        return GenerativeStore(budget, item_shape, num_classes, **{**TINY, **options})

    def task_context(self, store: Any) -> TaskContext:
        return TaskContext(task=0)


def tiny(variant: Any = None, budget: Budget | None = None, seed: int = 0, **options: Any) -> GenerativeStore:
    return GenerativeStore(budget or Budget(0), (1, 8, 8), 10, seed=seed, variant=variant or DGMw(),
                           **{**TINY, **options})


def task_data(label: int, n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x, _ = random_items(n, (1, 8, 8), 10, torch.Generator().manual_seed(seed + label))
    return x, torch.full((n,), label)


def teach(store: GenerativeStore, labels: list[int], start: int = 0) -> None:
    for task, label in enumerate(labels, start):
        store.write(*task_data(label))
        store.end_task(TaskContext(task=task))


@pytest.mark.parametrize("variant", [DGMw(), DGMa()], ids=["dgmw", "dgma"])
def test_a_later_task_leaves_earlier_classes_samples_unchanged(variant: Any) -> None:
    store = tiny(variant, training=GANTraining(iterations=6, batch_size=4, epochs=2, lambda_ru=0.0))
    teach(store, [0, 1])
    before = store.sample(12, classes=[0, 1], generator=torch.Generator().manual_seed(5))
    widths = store.model.widths
    teach(store, [2], start=2)
    after = store.sample(12, classes=[0, 1], generator=torch.Generator().manual_seed(5))
    assert torch.equal(before.y, after.y)
    assert torch.allclose(before.x, after.x, atol=1e-6)  # gated weights (eq. 5) + zero masks on grown units
    assert store.model.widths >= widths and store.can_sample


def test_ledger_is_float32_weights_plus_every_mask() -> None:
    store = tiny(DGMw(), training=GANTraining(iterations=3, batch_size=4, lambda_ru=0.0))
    assert store.ledger().models == 32 * sum(p.numel() for p in store.model.weights())
    teach(store, [3, 4])
    masks = sum(mask_bits(m) for task in store.model.bank.frozen for layer in task for m in layer.values())
    assert masks > 0 and len(store.model.bank.frozen) == 2
    assert store.ledger().models == param_bits(store.model.weights()) + masks
    assert store.ledger().charged(store.budget) == 0 and len(store) == 0
    last = store.growth[-1]
    assert last.weight_bits + last.mask_bits == store.ledger().models and last.classes == (4,)


def test_growth_records_reserved_and_added_units() -> None:
    for variant in (DGMw(), DGMa()):
        store = tiny(variant, training=GANTraining(iterations=4, batch_size=4, lambda_ru=0.0))
        widths = store.model.widths
        teach(store, [0])
        (growth,) = store.growth
        fan_in = [layer.fan_in for layer in store.model.layers[:-1]]
        want = [r if isinstance(variant, DGMa) else -(-r // n) for r, n in zip(growth.reserved, fan_in)]
        assert list(growth.added) == want and growth.widths == tuple(w + a for w, a in zip(widths, growth.added))
        assert growth.generator_params == sum(p.numel() for p in store.model.weights())
        assert TaskGrowth.from_json(growth.to_json()) == growth


def test_charged_growth_past_the_budget_is_refused_and_changes_nothing() -> None:
    fits = tiny(DGMa()).model_bits()
    with pytest.raises(BudgetTooSmallError, match="bits"):
        tiny(DGMa(), Budget(fits - 1, charge_models=True))
    store = tiny(DGMa(), Budget(fits, charge_models=True), training=GANTraining(iterations=4, batch_size=4,
                                                                                 lambda_ru=0.0))
    store.write(*task_data(0))
    before = store.state_dict()
    with pytest.raises(BudgetTooSmallError, match="budget"):
        store.end_task(TaskContext(task=0))  # any reserved unit grows the network past the budget
    assert state_equal(before, store.state_dict()) and not store.can_sample
    roomy = tiny(DGMa(), Budget(10**7, charge_models=True))
    teach(roomy, [0, 1])
    assert roomy.ledger().charged(roomy.budget) == roomy.model_bits() <= roomy.budget.bits


def test_end_task_trains_on_context_data_and_drops_the_buffer() -> None:
    store = tiny()
    store.write(*task_data(7))
    store.end_task(TaskContext(task=0, x=task_data(2)[0], y=task_data(2)[1]))
    assert store.sample(6).y.tolist() == [2] * 6  # the context's data, not the buffer's
    store.end_task(TaskContext(task=1))  # the buffer was dropped: nothing to learn
    assert len(store.growth) == 1
    with pytest.raises(InvalidInputError):
        store.end_task(TaskContext(task=2, x=task_data(1)[0]))
    with pytest.raises(InvalidInputError):
        store.end_task("task 3")  # type: ignore[arg-type]


def test_sample_by_class_and_task() -> None:
    store = tiny()
    teach(store, [5, 6], start=4)
    assert set(store.sample(20).y.tolist()) == {5, 6}
    assert set(store.sample(8, tasks=[5]).y.tolist()) == {6}
    assert len(store.sample(8, classes=[1])) == 0 and len(store.sample(8, tasks=[0])) == 0
    assert store.sample(5).keys is None
    with pytest.raises(LabelError):
        store.sample(3, tasks=[-1])
    with pytest.raises(InvalidInputError):
        store.sample(3, classes="5")
    assert set(store.sample(8, classes=6).y.tolist()) == {6}  # one int is the one-class list
    assert set(store.sample(8, tasks=torch.tensor([4, 5])).y.tolist()) == {5, 6}


def test_save_open_round_trips_and_continues_identically(tmp_path: Any) -> None:
    store = tiny(DGMa(), seed=3)
    teach(store, [0, 1])
    store.save(tmp_path / "s")
    reopened = open_store(tmp_path / "s")
    assert isinstance(reopened, GenerativeStore) and isinstance(reopened.variant, DGMa)
    assert state_equal(store.state_dict(), reopened.state_dict()) and reopened.ledger() == store.ledger()
    assert reopened.growth == store.growth and reopened.model.widths == store.model.widths
    for s in (store, reopened):
        teach(s, [2], start=2)
    assert state_equal(store.state_dict(), reopened.state_dict())


def test_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a, b = tiny(seed=1), tiny(seed=1)
    teach(a, [0])
    teach(b, [0])
    assert torch.equal(state, torch.random.get_rng_state())
    assert state_equal(a.state_dict(), b.state_dict())
    assert not state_equal(a.state_dict(), tiny(seed=2).state_dict())


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        GenerativeStore(Budget(0), (1, 8, 8), 10, variant="dgmw")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        GenerativeStore(Budget(0), (1, 8, 8), 10, widths=(0, 3))


def test_unset_lambda_ru_is_the_variants_own() -> None:
    def trained(variant: Any, lambda_ru: float | None) -> dict[str, Any]:
        store = tiny(variant, training=GANTraining(iterations=4, batch_size=4, epochs=2, lambda_ru=lambda_ru))
        teach(store, [0])
        return store.state_dict()

    assert (DGMw.lambda_ru, DGMa.lambda_ru) == (0.75, 0.03)
    assert state_equal(trained(DGMa(), None), trained(DGMa(), 0.03))
    assert not state_equal(trained(DGMa(), None), trained(DGMa(), 0.75))
    with pytest.raises(ValueError, match="GANTraining.lambda_ru"):
        GANTraining(lambda_ru=-1.0)


def test_end_task_without_a_task_id_is_refused_before_anything_changes() -> None:
    store = tiny()
    store.write(*task_data(3))
    before = store.state_dict()
    with pytest.raises(InvalidInputError, match="task's id"):
        store.end_task(TaskContext(task=None))
    assert state_equal(store.state_dict(), before) and store.growth == []
    store.end_task(TaskContext(task=0))  # the written batch is still there to learn
    assert store.sample(4).y.tolist() == [3] * 4
