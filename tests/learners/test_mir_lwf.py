"""MIR picks the most interfered candidates; LwF distils at temperature T from a frozen snapshot."""

import copy

import pytest
import torch
import torch.nn.functional as F

from learners import MIR, LwF, distillation_loss, lookahead, most_interfered
from memstore import Batch, Budget, RawStore, param_bits

from .conftest import CLASSES, SHAPE, make_batch, make_model


def _sgd_copy(model, x, y, lr):
    ahead = copy.deepcopy(model)
    grads = torch.autograd.grad(F.cross_entropy(ahead(x), y), list(ahead.parameters()))
    with torch.no_grad():
        for p, g in zip(ahead.parameters(), grads):
            p -= lr * g
    return ahead


def test_mir_replays_the_items_the_stream_step_would_hurt_most():
    # memory: the stream's own inputs labelled 3 (a step towards label 0 raises their loss) and unrelated items of
    # label 0 (it lowers theirs). A lookahead on the stream must pick exactly the conflicting copies.
    model = make_model()
    xs = torch.rand((6, *SHAPE), generator=torch.Generator().manual_seed(1))
    ys = torch.zeros(6, dtype=torch.int64)
    store = RawStore(Budget.images(40, SHAPE, CLASSES), SHAPE, CLASSES, seed=0)
    conflicting = xs[:5]
    store.write(conflicting, torch.full((5,), 3, dtype=torch.int64))
    store.write(*make_batch((0,), n=15, seed=7))
    learner = MIR(model, store, lr=1.0, replay_size=5, candidates=20, generator=torch.Generator().manual_seed(0))
    chosen = learner.retrieve(xs, ys)
    assert chosen is not None and len(chosen) == 5
    assert chosen.y.tolist() == [3] * 5
    assert sorted(chosen.keys.tolist()) == [0, 1, 2, 3, 4]


def test_most_interfered_matches_a_manual_lookahead():
    model, lr = make_model(), 0.5
    xs, ys = make_batch((4, 5), n=4, seed=1)
    cand_x, cand_y = make_batch((0, 1, 2, 3, 4, 5), n=12, seed=2)
    cands = Batch(cand_x, cand_y, torch.arange(12))
    ahead = _sgd_copy(model, xs, ys, lr)
    with torch.no_grad():
        scores = F.cross_entropy(ahead(cand_x), cand_y, reduction="none") - F.cross_entropy(
            model(cand_x), cand_y, reduction="none")
    expected = torch.topk(scores, 3).indices
    got = most_interfered(lookahead(model, xs, ys, lr), cands, 3)
    assert got.keys.tolist() == expected.tolist()
    torch.testing.assert_close(lookahead(model, xs, ys, lr).increase(cand_x, cand_y), scores)
    assert expected.tolist() != [0, 1, 2]  # not trivially the first candidates


def test_mir_refuses_fewer_candidates_than_replayed_items():
    store = RawStore(Budget.images(10, SHAPE, CLASSES), SHAPE, CLASSES, seed=0)
    with pytest.raises(ValueError):
        MIR(make_model(), store, lr=0.1, replay_size=10, candidates=5)


def test_distillation_loss_at_temperature_matches_a_manual_computation():
    new = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    old = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    t = 2.0
    p_old = torch.exp(old / t) / torch.exp(old / t).sum(1, keepdim=True)
    log_p_new = new / t - torch.log(torch.exp(new / t).sum(1, keepdim=True))
    manual = -(p_old * log_p_new).sum(1).mean()
    assert float(distillation_loss(new, old, t)) == pytest.approx(float(manual), rel=1e-6)
    assert float(distillation_loss(new, old, 1.0)) != pytest.approx(float(manual), rel=1e-3)


def test_lwf_distils_from_a_frozen_snapshot_and_reports_its_bits():
    lr, t = 0.1, 2.0
    model = make_model()
    learner = LwF(model, lr=lr, temperature=t)
    assert learner.model_bits().bits == 0 and learner.old_model is None
    x0, y0 = make_batch((0, 1), seed=0)
    learner.observe(x0, y0, task=0)
    learner.end_task(0)
    old = learner.old_model
    snapshot = [p.detach().clone() for p in old.parameters()]
    assert all(not p.requires_grad for p in old.parameters()) and not old.training
    report = learner.model_bits()
    n = sum(p.numel() for p in model.parameters())
    assert (report.task, report.parameters, report.bits) == (0, n, 32 * n) and report.bits == param_bits(model)

    manual = copy.deepcopy(model)
    x1, y1 = make_batch((2, 3), seed=1)
    step = learner.observe(x1, y1, task=1)
    expected = F.cross_entropy(manual(x1), y1) + distillation_loss(manual(x1), old(x1), t)
    assert step.loss == pytest.approx(float(expected.detach()), rel=1e-5)
    grads = torch.autograd.grad(expected, list(manual.parameters()))
    for p, q, g in zip(model.parameters(), manual.parameters(), grads):
        torch.testing.assert_close(p, q - lr * g)
    for before, after in zip(snapshot, old.parameters()):  # the snapshot did not move with the model
        assert torch.equal(before, after)
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), old.parameters()))


def test_lwf_before_any_boundary_is_plain_fine_tuning():
    model = make_model()
    manual = copy.deepcopy(model)
    x, y = make_batch((0, 1), seed=4)
    step = LwF(model, lr=0.1).observe(x, y)
    assert step.loss == pytest.approx(float(F.cross_entropy(manual(x), y).detach()), rel=1e-6)
