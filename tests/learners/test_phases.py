"""PhaseLearner: eq. 5's loss, the growing head, the phase flow through the store, class-balanced fine-tuning."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from learners.lwf import distillation_loss
from learners.phases import PhaseConfig, PhaseLearner
from memstore import Budget, MnemonicsStore, RandomSelection

SHAPE = (1, 2, 2)


def blobs(classes: list[int], per: int = 30, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable classes: class c lights pixel c % 4 (bright for c < 4, dim for c >= 4)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(classes).repeat_interleave(per)
    x = 0.1 * torch.rand(y.numel(), 4, generator=g)
    x[torch.arange(y.numel()), y % 4] += torch.where(y < 4, 0.85, 0.45)
    return x.reshape(-1, *SHAPE), y


def learner(config: PhaseConfig | None = None, classes: int = 6) -> PhaseLearner:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, classes))
    budget = Budget(4 * classes * (32 * 4 + 3))
    store = MnemonicsStore(budget, SHAPE, classes, selection=RandomSelection(), per_class=4, seed=0)
    return PhaseLearner(model, store, classes, config=config or PhaseConfig(epochs=15, batch_size=16, lr=0.1,
                                                                            finetune_epochs=3, finetune_batch_size=8),
                        generator=torch.Generator().manual_seed(0))


def test_phase_loss_is_eq_5_on_old_classes() -> None:
    lrn = learner()
    lrn.learn_phase(*blobs([0, 1]))
    lrn.seen[2] = True
    x, y = blobs([0, 2], per=4)
    logits = torch.randn(8, 6)
    old = torch.tensor([0, 1])
    old_logits = lrn.old_model(x)[:, old]
    want = 0.5 * F.cross_entropy(logits[:, :3], y) + 0.5 * distillation_loss(logits[:, old], old_logits, 2.0)
    assert torch.allclose(lrn.phase_loss(logits, x, y, old), want)
    assert torch.allclose(lrn.phase_loss(logits, x, y, old[:0]), F.cross_entropy(logits[:, :3], y))


def test_head_grows_with_the_classes_seen() -> None:
    lrn = learner()
    lrn.learn_phase(*blobs([0, 1]))
    assert set(lrn.predict(blobs([0, 1, 2, 3], per=5)[0]).tolist()) <= {0, 1}
    with torch.no_grad():
        lrn.model[-1].bias[5] = 1e6  # an unseen class's logit never wins
    assert not bool((lrn.predict(blobs([0, 1], per=5)[0]) == 5).any())


def test_phases_learn_new_classes_and_keep_old_ones_through_the_store() -> None:
    lrn = learner()
    lrn.learn_phase(*blobs([0, 1, 2]))
    assert len(lrn.store) == 12 and lrn.old_model is not None
    report = lrn.learn_phase(*blobs([3], seed=1))
    assert report.phase == 1 and report.replayed == 12 and report.classes == (3,)
    held = lrn.store.sample(len(lrn.store)).y
    assert torch.bincount(held).tolist() == [4, 4, 4, 4]
    tx, ty = blobs([0, 1, 2, 3], per=20, seed=9)
    assert lrn.accuracy(tx, ty) > 0.8 and lrn.accuracy(tx[ty < 3], ty[ty < 3]) > 0.7


def test_finetuning_runs_after_later_phases_only() -> None:
    def after(config: PhaseConfig, phases: list[list[int]]) -> nn.Module:
        lrn = learner(config)
        for k, classes in enumerate(phases):
            x, y = blobs(classes, seed=k)
            lrn.train_phase(x, y)
            before = copy.deepcopy(lrn.model.state_dict())
            lrn.consolidate(x, y)
            changed = any(not torch.equal(v, lrn.model.state_dict()[k2]) for k2, v in before.items())
            assert changed == (k > 0 and config.finetune_epochs > 0)
        return lrn.model

    after(PhaseConfig(epochs=1, batch_size=16, finetune_epochs=2), [[0, 1], [2]])
    after(PhaseConfig(epochs=1, batch_size=16, finetune_epochs=0), [[0, 1], [2]])


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError):
        PhaseConfig(lam=1.5)
    with pytest.raises(ValueError):
        PhaseConfig(epochs=-1)


def test_observe_and_end_task_learn_the_phase_from_the_batches_observed() -> None:
    x, y = blobs([0, 1])
    whole, batched = learner(), learner()
    whole.learn_phase(x, y)
    for start in range(0, len(y), 7):
        assert batched.observe(x[start:start + 7], y[start:start + 7], task=0) is None
    report = batched.end_task(0)
    assert report.classes == (0, 1) and batched.phase == 1
    for a, b in zip(whole.model.parameters(), batched.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(whole.store.sample(len(whole.store), generator=torch.Generator()).x.sort(0).values,
                       batched.store.sample(len(batched.store), generator=torch.Generator()).x.sort(0).values)


def test_a_phase_refuses_other_tasks_and_an_empty_end() -> None:
    lrn = learner()
    with pytest.raises(ValueError, match="observed no data"):
        lrn.end_task()
    with pytest.raises(ValueError, match="task 1"):
        lrn.observe(*blobs([0]), task=1)
    lrn.observe(*blobs([0]), task=0)
    with pytest.raises(ValueError, match="cannot end task 2"):
        lrn.end_task(2)
    lrn.end_task(0)  # still whole: the refused calls changed nothing


def test_score_counts_predictions_among_the_classes_seen() -> None:
    lrn = learner()
    lrn.learn_phase(*blobs([0, 1]))
    unseen = blobs([4])
    assert lrn.score(*unseen).correct == 0  # class 4 is masked out until a phase brings it
    seen = blobs([0, 1], seed=1)
    assert lrn.score(*seen).total == len(seen[1])
    assert lrn.score(*seen).accuracy == pytest.approx(lrn.accuracy(*seen))


def test_class_mean_scoring_is_icarl_nme_and_draws_nothing_from_the_learner() -> None:
    from learners.phases import ScoresByClassMeans
    from memstore.stores.exemplar_selection import penultimate_features

    lrn = learner()
    lrn.learn_phase(*blobs([0, 1, 2]))
    assert isinstance(lrn, ScoresByClassMeans)
    x, y = blobs([0, 1, 2], per=10, seed=5)
    state = lrn.generator.get_state()
    got = lrn.score_class_means(x, y)
    assert torch.equal(lrn.generator.get_state(), state)
    ex, ey = lrn.store.exemplars()
    feats = F.normalize(penultimate_features(lrn.model, ex), dim=1)
    means = F.normalize(torch.stack([feats[ey == c].mean(0) for c in (0, 1, 2)]), dim=1)
    query = F.normalize(penultimate_features(lrn.model, x), dim=1)
    want = int(((query @ means.T).argmax(1) == y).sum())  # nearest unit mean = largest cosine
    assert got.correct == want and got.total == 30 and want >= 27
    # a class never seen has no mean, so none of its items can be right
    unseen_x, unseen_y = blobs([4], per=5, seed=6)
    assert lrn.score_class_means(unseen_x, unseen_y).correct == 0
