"""SelfRecallStore (ARM): conformance as a store without items, the recall objective's terms (eq. 5, 9, 10), the
ascent loop (Algorithm 1 lines 6-8), the old model's snapshot, its bits, and save/open with it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memstore import Batch, Budget, RecallContext, RecallObjective, SelfRecallStore, TaskContext, param_bits
from memstore.errors import BudgetTooSmallError, InvalidInputError, MissingContextError, NotEditable
from memstore.persist import open_store
from memstore.stores.self_recall import js_divergence, kl_from_mean, recall_objective, total_variation
from memstore.testing import StoreConformance, random_items, state_equal


def tiny_model(item_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> nn.Module:
    """Flatten → Linear → ReLU → Linear, initialised from its own generator (no global RNG)."""
    size = int(torch.tensor(item_shape).prod())
    model = nn.Sequential(nn.Flatten(), nn.Linear(size, 8), nn.ReLU(), nn.Linear(8, num_classes))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def drifted(model: nn.Module, seed: int = 1) -> nn.Module:
    """A copy of ``model`` moved a little, as after a learning step (θ' ≠ θ)."""
    new = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in new.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.3)
    return new


class TestSelfRecallStore(StoreConformance):
    stores_items = False
    capability_options = ({}, {"keep_old_model": False})  # lag T > 1 snapshots at end_task; unit lag keeps nothing
    stateful_examples = 10

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int,
                   **options: Any) -> SelfRecallStore:
        return SelfRecallStore(budget, item_shape, num_classes, objective=RecallObjective(steps=2), **options)

    def recall_context(self, store: Any, x: torch.Tensor, y: torch.Tensor) -> RecallContext:
        model = tiny_model(store.item_shape, store.num_classes)
        old = None if store.can_sample else tiny_model(store.item_shape, store.num_classes, seed=1)
        return RecallContext(drifted(model), old, Batch(x, y))

    def task_context(self, store: Any) -> TaskContext:
        return TaskContext(task=0, model=tiny_model(store.item_shape, store.num_classes))


SHAPE, CLASSES = (1, 6, 6), 4


def store_with_old_model(**options: Any) -> tuple[SelfRecallStore, nn.Module]:
    store = SelfRecallStore(Budget(0), SHAPE, CLASSES, seed=0, **options)
    old = tiny_model(SHAPE, CLASSES)
    store.end_task(TaskContext(task=0, model=old))
    return store, old


def real_batch(n: int = 10, seed: int = 3) -> Batch:
    x, y = random_items(n, SHAPE, CLASSES, torch.Generator().manual_seed(seed))
    return Batch(x, y % 2)  # the current task holds classes {0, 1}


def test_js_divergence_matches_eq5_and_is_bounded() -> None:
    p_logits, q_logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)).unbind(0)[:2]
    p, q = F.softmax(p_logits, 0), F.softmax(q_logits, 0)
    m = (p + q) / 2
    want = 0.5 * ((p * (p / m).log()).sum() + (q * (q / m).log()).sum())
    got = js_divergence(p_logits[None], q_logits[None])[0]
    assert torch.allclose(got, want, atol=1e-6)
    assert float(js_divergence(p_logits[None], p_logits[None])[0]) == pytest.approx(0.0, abs=1e-7)
    far = js_divergence(torch.tensor([[50.0, -50.0]]), torch.tensor([[-50.0, 50.0]]))[0]
    assert float(far) == pytest.approx(float(torch.log(torch.tensor(2.0))), rel=1e-5)


def test_the_official_divergence_is_kl_from_the_mean_with_gradients_through_it() -> None:
    gen = torch.Generator().manual_seed(1)
    p_logits = torch.randn(4, 5, generator=gen, requires_grad=True)
    q_logits = torch.randn(4, 5, generator=gen)
    m = 0.5 * (F.softmax(p_logits, 1) + F.softmax(q_logits, 1))
    # torch's kl_div(log q, m) is KL(m ‖ q): their code's two terms, per row
    want = 0.5 * (F.kl_div(F.log_softmax(p_logits, 1), m, reduction="none").sum(1)
                  + F.kl_div(F.log_softmax(q_logits, 1), m, reduction="none").sum(1))
    got = kl_from_mean(p_logits, q_logits)
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, js_divergence(p_logits, q_logits))  # another divergence than eq. 5's
    assert float(kl_from_mean(q_logits, q_logits).abs().max()) < 1e-6
    (through_m,) = torch.autograd.grad(got.sum(), p_logits)
    fixed = m.detach()
    detached = 0.5 * ((fixed * (fixed.log() - F.log_softmax(p_logits, 1))).sum(1)
                      + (fixed * (fixed.log() - F.log_softmax(q_logits, 1))).sum(1))
    (without_m,) = torch.autograd.grad(detached.sum(), p_logits)
    assert not torch.allclose(through_m, without_m)


def test_the_divergence_form_chooses_the_recall_term_and_bad_forms_are_refused() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(6, *SHAPE, generator=gen)
    new, old = torch.randn(6, CLASSES, generator=gen), torch.randn(6, CLASSES, generator=gen)
    only = {"old_current": 0, "new_current": 0, "entropy": 0, "sharpen": 0, "l2": 0, "tv": 0}
    official = RecallObjective(**only, divergence_form="official")
    assert float(recall_objective(x, new, old, torch.tensor([0]), official)) == pytest.approx(
        float(kl_from_mean(new, old).mean()), rel=1e-6)
    with pytest.raises(InvalidInputError, match="divergence_form"):
        RecallObjective(divergence_form="kl")


def test_total_variation_of_constant_is_zero_and_of_stripes_is_known() -> None:
    assert float(total_variation(torch.full((2, 1, 4, 4), 0.3))) == 0.0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., 1::2] = 1.0  # every horizontal neighbour differs by 1, vertical ones by 0
    assert float(total_variation(stripes)) == pytest.approx(2 * 1.0)


def test_each_term_of_eq9_and_eq10_enters_with_its_sign() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(6, *SHAPE, generator=gen)
    new, old = torch.randn(6, CLASSES, generator=gen), torch.randn(6, CLASSES, generator=gen)
    current = torch.tensor([0, 1])
    zero = RecallObjective(divergence=0, old_current=0, new_current=0, entropy=0, sharpen=0, l2=0, tv=0)
    terms = {
        "divergence": js_divergence(new, old).mean(),
        "old_current": (F.cross_entropy(old, torch.zeros(6, dtype=torch.long))
                        + F.cross_entropy(old, torch.ones(6, dtype=torch.long))) / 2,
        "new_current": (F.cross_entropy(new, torch.zeros(6, dtype=torch.long))
                        + F.cross_entropy(new, torch.ones(6, dtype=torch.long))) / 2,
        "entropy": torch.distributions.Categorical(probs=F.softmax(old, 1).mean(0)).entropy(),
        "sharpen": -F.cross_entropy(old, old.argmax(1)),
        "l2": -x.flatten(1).norm(dim=1).mean() / x[0].numel(),
        "tv": -total_variation(x),
    }
    assert float(recall_objective(x, new, old, current, zero)) == 0.0
    for name, want in terms.items():
        one = RecallObjective(**{**{k: 0 for k in terms}, name: 2.0})
        assert float(recall_objective(x, new, old, current, one)) == pytest.approx(2 * float(want), rel=1e-5), name


def test_recall_starts_from_the_real_batch_and_ascends_the_objective() -> None:
    store, old = store_with_old_model(objective=RecallObjective(steps=0))
    real = real_batch()
    context = RecallContext(drifted(old), None, real)
    start = store.sample(10, context=context, generator=torch.Generator().manual_seed(5))
    # S = 0: a permutation of the real batch (M = N: without replacement), labelled by the old model
    assert sorted(map(tuple, start.x.flatten(1).tolist())) == sorted(map(tuple, real.x.flatten(1).tolist()))
    assert start.keys is None and start.soft is not None
    assert torch.allclose(start.soft, F.softmax(old(start.x), 1)) and torch.equal(start.y, start.soft.argmax(1))
    weights = RecallObjective(steps=10, rate=0.5)
    store.objective = weights
    recalled = store.sample(10, context=context, generator=torch.Generator().manual_seed(5))
    current = real.y.unique()
    with torch.no_grad():
        before = recall_objective(start.x, context.model(start.x), old(start.x), current, weights)
        after = recall_objective(recalled.x, context.model(recalled.x), old(recalled.x), current, weights)
    assert float(after) > float(before)
    assert 0.0 <= float(recalled.x.min()) and float(recalled.x.max()) <= 1.0


def test_recall_moves_inputs_only_never_the_models() -> None:
    store, old = store_with_old_model()
    model = drifted(old)
    weights = [p.detach().clone() for p in model.parameters()]
    kept = store.state_dict()["old_model"]
    store.sample(10, context=RecallContext(model, None, real_batch()))
    assert all(torch.equal(a, b) and p.grad is None for a, b, p in zip(weights, model.parameters(),
                                                                       model.parameters()))
    assert state_equal(kept, store.state_dict()["old_model"])


def test_unclamped_recall_leaves_the_unit_box_at_a_large_rate() -> None:
    store, old = store_with_old_model(objective=RecallObjective(rate=500.0, clamp=False))
    batch = store.sample(10, context=RecallContext(drifted(old), None, real_batch()))
    assert float(batch.x.min()) < 0.0 or float(batch.x.max()) > 1.0


def test_more_items_than_the_batch_are_drawn_with_replacement() -> None:
    store, old = store_with_old_model(objective=RecallObjective(steps=0))
    real = real_batch(4)
    batch = store.sample(25, context=RecallContext(old, None, real))
    assert len(batch) == 25
    is_real = (batch.x.flatten(1)[:, None] == real.x.flatten(1)[None]).all(-1)  # steps=0 leaves each item as drawn
    assert bool(is_real.any(1).all())  # 25 items, every one of them one of the 4 real ones


def test_unit_lag_uses_the_contexts_old_model_and_keeps_nothing() -> None:
    store = SelfRecallStore(Budget(0), SHAPE, CLASSES, keep_old_model=False, seed=0)
    assert store.can_sample and store.ledger().models == 0
    old = tiny_model(SHAPE, CLASSES)
    with pytest.raises(MissingContextError):
        store.sample(5, context=RecallContext(drifted(old), None, real_batch()))
    batch = store.sample(5, context=RecallContext(drifted(old), old, real_batch()))
    assert torch.allclose(batch.soft, F.softmax(old(batch.x), 1))
    store.end_task(TaskContext(task=0, model=old))  # nothing to snapshot under unit lag
    assert store.ledger().models == 0
    with pytest.raises(InvalidInputError):
        store.keep(old)


def test_the_kept_snapshot_is_the_old_model_and_is_charged() -> None:
    store, old = store_with_old_model()
    assert store.ledger().models == param_bits(old) == 32 * sum(p.numel() for p in old.parameters())
    with torch.no_grad():  # training the model afterwards does not move the snapshot
        for p in old.parameters():
            p.add_(1.0)
    batch = store.sample(5, context=RecallContext(old, None, real_batch()))
    assert not torch.allclose(batch.soft, F.softmax(old(batch.x), 1))


def test_sample_needs_a_context_and_refuses_filters_and_bad_batches() -> None:
    store, old = store_with_old_model()
    with pytest.raises(MissingContextError):
        store.sample(3)
    with pytest.raises(MissingContextError):
        store.sample(3, context=RecallContext(old))
    before = store.state_dict()
    with pytest.raises(InvalidInputError):
        store.sample(3, classes=[0], context=RecallContext(old, None, real_batch()))
    with pytest.raises(InvalidInputError):
        store.sample(3, context=RecallContext(old, None, Batch(real_batch().x * 3, real_batch().y)))
    with pytest.raises(InvalidInputError):  # a model that is not the kept snapshot's architecture
        store.sample(3, context=RecallContext(tiny_model((1, 3, 3), CLASSES), None, real_batch()))
    with pytest.raises(NotEditable):
        store.edit(torch.tensor([0]), real_batch().x[:1])
    assert state_equal(before, store.state_dict())


def test_a_charged_snapshot_must_fit_the_budget() -> None:
    model = tiny_model(SHAPE, CLASSES)
    bits = param_bits(model)
    small = SelfRecallStore(Budget(bits - 1, charge_models=True), SHAPE, CLASSES, seed=0)
    with pytest.raises(BudgetTooSmallError):
        small.end_task(TaskContext(task=0, model=model))
    assert not small.can_sample and small.ledger().models == 0
    exact = SelfRecallStore(Budget(bits, charge_models=True), SHAPE, CLASSES, seed=0)
    exact.end_task(TaskContext(task=0, model=model))
    assert exact.ledger().charged(exact.budget) == bits == exact.budget.bits


def test_save_and_open_keep_the_old_model_and_the_recall(tmp_path: Any) -> None:
    store, old = store_with_old_model(objective=RecallObjective(steps=3, entropy=4.0))
    store.save(tmp_path / "arm")
    reopened = open_store(tmp_path / "arm")
    assert isinstance(reopened, SelfRecallStore) and reopened.objective == store.objective
    assert reopened.ledger() == store.ledger() and reopened.ledger().payload == 0
    context = RecallContext(drifted(old), None, real_batch())
    a = store.sample(6, context=context)
    b = reopened.sample(6, context=context)
    assert torch.equal(a.x, b.x) and torch.equal(a.soft, b.soft)


def test_a_model_that_cannot_recall_is_a_typed_error_and_draws_nothing() -> None:
    store = SelfRecallStore(Budget(0), SHAPE, CLASSES, keep_old_model=False, seed=0)
    wrong = nn.Sequential(nn.Flatten(), nn.Linear(5, CLASSES))  # takes 5 inputs, the items have 36
    generator = torch.Generator().manual_seed(4)
    state = generator.get_state()
    with pytest.raises(InvalidInputError, match="recall failed"):
        store.sample(4, context=RecallContext(wrong, wrong, real_batch()), generator=generator)
    assert torch.equal(generator.get_state(), state)


class _Pair(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.flatten(1), x.flatten(1)


def _nan_model() -> nn.Module:
    model = tiny_model(SHAPE, CLASSES)
    with torch.no_grad():
        model[-1].bias.fill_(float("nan"))
    return model


@pytest.mark.parametrize("model, reason", [
    (nn.Sequential(nn.Flatten(), nn.Linear(36, 2)), "logits of shape"),
    (nn.Sequential(nn.Flatten(), nn.Linear(36, CLASSES + 3)), "logits of shape"),
    (_Pair(), "recall failed"),  # a tuple, not logits
    (nn.Flatten(0), "recall failed"),  # 1-D logits
    (_nan_model(), "NaN"),
], ids=["too-few-logits", "too-many-logits", "tuple", "1-d", "nan-weights"])
def test_any_model_failure_is_a_typed_error_and_draws_nothing(model: nn.Module, reason: str) -> None:
    store = SelfRecallStore(Budget(0), SHAPE, CLASSES, keep_old_model=False, seed=0,
                            objective=RecallObjective(steps=2))
    generator = torch.Generator().manual_seed(4)
    state = generator.get_state()
    with pytest.raises(InvalidInputError, match=reason):
        store.sample(4, context=RecallContext(model, model, real_batch()), generator=generator)
    assert torch.equal(generator.get_state(), state)


def test_contexts_of_the_wrong_kind_are_typed_errors() -> None:
    store, old = store_with_old_model()
    batch = real_batch()
    for context in (TaskContext(task=0, model=old), RecallContext(old, None, (batch.x, batch.y)),  # type: ignore
                    RecallContext(old, "old", batch)):  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            store.sample(3, context=context)
    for bad in (None, 7, RecallContext(old, None, batch)):
        with pytest.raises(InvalidInputError, match="TaskContext"):
            store.end_task(bad)  # type: ignore[arg-type]
