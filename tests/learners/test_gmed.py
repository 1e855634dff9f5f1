"""GMED's edit (their eq. 6) against a manual autograd computation; write-back through ``edit``; the ablation."""

import copy

import pytest
import torch
import torch.nn.functional as F

from learners import ERGMED, MIRGMED, GMEDEdit, RandomDirection, SlotDirection, lookahead
from memstore import Budget, MemoryStore, NotEditable

from .conftest import CLASSES, SHAPE, SpyStore, make_batch, make_model


class EditSpy(SpyStore):
    """Records every sampled batch and every edit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.edits = []

    def sample(self, n, **kwargs):
        batch = super().sample(n, **kwargs)
        self.batches.append(batch)
        return batch

    def edit(self, keys, x):
        self.edits.append((keys.clone(), x.clone()))
        super().edit(keys, x)


class KeepsNoItems(SpyStore):
    """Declares that it keeps no items, as the generating stores do."""

    keeps_items = False


class Uneditable(SpyStore):
    """Keeps items but has the contract's edit, which refuses."""

    edit = MemoryStore.edit


def _store(cls=EditSpy, items=30):
    store = cls(Budget.images(items, SHAPE, CLASSES), SHAPE, CLASSES, seed=0)
    for seed in range(4):
        store.write(*make_batch((0, 1, 2, 3), n=6, seed=100 + seed))
    return store


def _manual_edit(model, lr, x_stream, y_stream, x_mem, y_mem, alpha, beta):
    """Eq. 6 by hand: a real SGD step on a copy of the model, then autograd through both losses."""
    ahead = copy.deepcopy(model)
    loss = F.cross_entropy(ahead(x_stream), y_stream)
    grads = torch.autograd.grad(loss, list(ahead.parameters()))
    with torch.no_grad():
        for p, g in zip(ahead.parameters(), grads):
            p -= lr * g
    x = x_mem.clone().requires_grad_(True)
    before = F.cross_entropy(model(x), y_mem)
    after = F.cross_entropy(ahead(x), y_mem)
    (grad,) = torch.autograd.grad(after - before - beta * before, x)
    return (x_mem + alpha * grad).clamp(0, 1), x_mem + alpha * grad


def test_edit_equals_eq6_on_a_tiny_model():
    model, lr, alpha, beta = make_model(), 0.3, 0.7, 0.1
    xs, ys = make_batch((4, 5), n=4, seed=1)
    xm, ym = make_batch((0, 1, 2), n=6, seed=2)
    expected, unclamped = _manual_edit(model, lr, xs, ys, xm, ym, alpha, beta)
    assert not torch.allclose(unclamped, xm, atol=1e-4)  # the edit moves the inputs
    got = GMEDEdit(alpha, beta)(lookahead(model, xs, ys, lr), xm, ym)
    torch.testing.assert_close(got, expected)
    for a, b in zip(model.parameters(), make_model().parameters()):  # the look-ahead left the model alone
        assert torch.equal(a, b)


def test_beta_enters_with_the_papers_sign():
    model, lr = make_model(), 0.3
    xs, ys = make_batch((4, 5), n=4, seed=1)
    xm, ym = make_batch((0, 1), n=4, seed=3)
    ahead = lookahead(model, xs, ys, lr)
    no_reg = GMEDEdit(1e-3, 0.0)(ahead, xm, ym)
    reg = GMEDEdit(1e-3, 1.0)(ahead, xm, ym)
    x = xm.clone().requires_grad_(True)
    (g_before,) = torch.autograd.grad(F.cross_entropy(model(x), ym), x)
    torch.testing.assert_close(reg - no_reg, -1e-3 * g_before, atol=1e-6, rtol=1e-4)


def test_edit_is_clamped_to_the_unit_interval():
    model = make_model()
    xs, ys = make_batch((4, 5), n=4, seed=1)
    xm, ym = make_batch((0, 1, 2), n=6, seed=2)
    expected, unclamped = _manual_edit(model, 0.5, xs, ys, xm, ym, 1e4, 0.01)
    assert float(unclamped.min()) < 0 and float(unclamped.max()) > 1  # the raw step leaves [0, 1] ...
    got = GMEDEdit(1e4, 0.01)(lookahead(model, xs, ys, 0.5), xm, ym)
    assert float(got.min()) == 0.0 and float(got.max()) == 1.0  # ... the edit does not
    torch.testing.assert_close(got, expected)


def test_er_gmed_replays_the_edit_and_writes_it_back_by_key():
    lr, alpha, beta = 0.2, 2.0, 0.01
    model = make_model()
    manual = copy.deepcopy(model)
    store = _store()
    learner = ERGMED(model, store, lr=lr, editor=GMEDEdit(alpha, beta), replay_size=5,
                     generator=torch.Generator().manual_seed(3))
    store.batches.clear()
    store.edits.clear()  # the constructor's empty probe edit
    xs, ys = make_batch((4, 5), n=4, seed=9)
    learner.observe(xs, ys)

    drawn = store.batches[0]
    (keys, written), = store.edits
    assert torch.equal(keys, drawn.keys)
    expected, _ = _manual_edit(manual, lr, xs, ys, drawn.x, drawn.y, alpha, beta)
    torch.testing.assert_close(written, expected)
    stored = store.read(keys.numpy())
    assert float((stored.x - expected).abs().max()) <= 0.5 / 255 + 1e-6  # RawStore keeps uint8: x' rounded
    assert not torch.allclose(stored.x, drawn.x)
    # the update is ER's loss with the edited items replayed
    loss = F.cross_entropy(manual(xs), ys) + F.cross_entropy(manual(expected), drawn.y)
    grads = torch.autograd.grad(loss, list(manual.parameters()))
    for p, q, g in zip(model.parameters(), manual.parameters(), grads):
        torch.testing.assert_close(p, q - lr * g)


def test_mir_gmed_edits_a_separate_random_draw_and_replays_mirs_choice():
    store = _store()
    learner = MIRGMED(make_model(), store, lr=0.2, editor=GMEDEdit(1.0, 0.01), replay_size=4, candidates=12,
                      generator=torch.Generator().manual_seed(4))
    store.batches.clear()
    store.edits.clear()  # the constructor's empty probe edit
    step = learner.observe(*make_batch((4, 5), n=4, seed=9))
    candidates, edit_draw = store.batches
    (keys, _), = store.edits
    assert len(candidates) == 12 and torch.equal(keys, edit_draw.keys) and len(keys) == 4
    assert step.replayed == 4


@pytest.mark.parametrize("keep_norm", [True, False])
def test_random_edit_has_the_right_norm_and_differs(keep_norm):
    model, lr, alpha, beta = make_model(), 0.3, 1e-2, 0.1
    xs, ys = make_batch((4, 5), n=4, seed=1)
    xm, ym = make_batch((0, 1, 2), n=6, seed=2)
    ahead = lookahead(model, xs, ys, lr)
    gmed = GMEDEdit(alpha, beta)(ahead, xm, ym)
    rand = GMEDEdit(alpha, beta, RandomDirection(keep_norm))(ahead, xm, ym, torch.Generator().manual_seed(0))
    assert not torch.allclose(gmed, rand, atol=1e-5)
    x = xm.clone().requires_grad_(True)
    (g_before,) = torch.autograd.grad(F.cross_entropy(model(x), ym), x)
    # isolate the direction: x' - x + alpha * beta * grad l_before = alpha * direction
    random_part = (rand - xm + alpha * beta * g_before).flatten(1).norm(dim=1) / alpha
    grad_part = (gmed - xm + alpha * beta * g_before).flatten(1).norm(dim=1) / alpha
    expected = grad_part if keep_norm else torch.ones(6)
    torch.testing.assert_close(random_part, expected, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("cls", [KeepsNoItems, Uneditable])
def test_a_store_that_cannot_edit_is_refused_at_construction(cls):
    with pytest.raises(NotEditable, match=cls.__name__):
        ERGMED(make_model(), _store(cls), lr=0.1, editor=GMEDEdit(1.0, 0.01))
    with pytest.raises(NotEditable, match=cls.__name__):
        MIRGMED(make_model(), _store(cls), lr=0.1, editor=GMEDEdit(1.0, 0.01))


def test_bad_strides_are_refused():
    with pytest.raises(ValueError):
        GMEDEdit(-1.0, 0.0)


def _replayed_keys(learner, store, steps=25):
    """The keys of every batch the learner drew from memory, step by step, on one fixed stream."""
    keys = []
    for step in range(steps):
        store.batches.clear()
        learner.observe(*make_batch((4, 5), n=4, seed=200 + step))
        keys.append([b.keys.tolist() for b in store.batches])
    return keys


@pytest.mark.parametrize("direction", [RandomDirection(), SlotDirection()])
def test_er_gmed_replays_exactly_what_er_replays_at_the_same_seed(direction):
    from learners import ER

    base_store, edit_store = _store(), _store()
    er = ER(make_model(), base_store, lr=0.2, replay_size=5, generator=torch.Generator().manual_seed(3))
    gmed = ERGMED(make_model(), edit_store, lr=0.2, editor=GMEDEdit(2.0, 0.01, direction), replay_size=5,
                  generator=torch.Generator().manual_seed(3))
    assert _replayed_keys(er, base_store) == _replayed_keys(gmed, edit_store)  # the edits drew from their own stream


def test_mir_gmed_draws_mirs_candidates_exactly_as_mir_does():
    from learners import MIR

    base_store, edit_store = _store(), _store()
    mir = MIR(make_model(), base_store, lr=0.2, replay_size=4, candidates=12,
              generator=torch.Generator().manual_seed(4))
    gmed = MIRGMED(make_model(), edit_store, lr=0.2, editor=GMEDEdit(1.0, 0.01), replay_size=4, candidates=12,
                   generator=torch.Generator().manual_seed(4))
    pools = [step[0] for step in _replayed_keys(mir, base_store)]
    assert pools == [step[0] for step in _replayed_keys(gmed, edit_store)]  # [1] is the edit draw, from its stream


def test_slot_directions_are_fixed_per_item_unit_and_draw_nothing():
    generator = torch.Generator().manual_seed(11)
    state = generator.get_state()
    grad = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0))
    first = SlotDirection(keep_norm=False)(grad, generator, torch.tensor([5, 9, 5]))
    again = SlotDirection(keep_norm=False)(2 * grad, generator, torch.tensor([9, 5, 7]))
    assert torch.equal(generator.get_state(), state)
    torch.testing.assert_close(first[0], first[2])  # the same item, the same direction
    torch.testing.assert_close(first[1], again[0])
    torch.testing.assert_close(first[0], again[1])
    assert not torch.allclose(first[0], first[1])
    torch.testing.assert_close(first.flatten(1).norm(dim=1), torch.ones(3))
    other = SlotDirection(keep_norm=False)(grad, torch.Generator().manual_seed(12), torch.tensor([5, 9, 5]))
    assert not torch.allclose(first, other)  # another seed, other directions
    scaled = SlotDirection()(grad, generator, torch.tensor([5, 9, 5]))  # keep_norm: the gradient's norm per item
    torch.testing.assert_close(scaled, first * grad.flatten(1).norm(dim=1).view(3, 1, 1, 1))
    with pytest.raises(ValueError, match="edit generator"):
        SlotDirection()(grad, None, torch.tensor([1, 2, 3]))


def test_the_official_sign_adds_beta_times_the_gradient_of_the_loss_before():
    model, lr, alpha, beta = make_model(), 0.3, 0.5, 0.2
    xs, ys = make_batch((4, 5), n=4, seed=1)
    xm, ym = make_batch((0, 1, 2), n=6, seed=2)
    ahead = lookahead(model, xs, ys, lr)
    paper = GMEDEdit(alpha, beta)(ahead, xm, ym)
    official = GMEDEdit(alpha, beta, official_sign=True)(ahead, xm, ym)
    x = xm.clone().requires_grad_(True)
    (g_before,) = torch.autograd.grad(F.cross_entropy(model(x), ym), x)
    unclamped = (paper > 0) & (paper < 1) & (official > 0) & (official < 1)
    torch.testing.assert_close((official - paper)[unclamped], (2 * alpha * beta * g_before)[unclamped])
