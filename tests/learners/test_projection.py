"""GEM's QP projection and A-GEM's projection, against their definitions."""

import copy

import pytest
import torch
import torch.nn.functional as F

from learners import AGEM, GEM, agem_project, gem_project
from learners.lookahead import flat_grad
from memstore import Budget, GenerativeStore, PerTask, RawStore
from memstore.capabilities import MissingCapabilityError
from memstore.nn import DGMw

from .conftest import CLASSES, SHAPE, make_batch, make_model, make_store


def _random(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_gem_returns_the_gradient_when_no_constraint_is_violated():
    mem = _random((3, 6), 0).abs()
    g = _random(6, 1).abs()  # positive orthant: every dot product is positive
    assert gem_project(g, mem) is g


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_gem_projection_satisfies_every_constraint(seed, margin):
    mem = _random((4, 10), seed)
    g = -mem[0] * 3 + _random(10, 100 + seed)  # violates at least the first constraint
    assert float(mem[0] @ g) < 0
    exact = gem_project(g, mem, margin=margin, eps=0.0)
    assert exact is not g
    assert bool((mem @ exact >= -1e-8).all()), mem @ exact
    # their ridge eps (1e-3) on the Gram matrix relaxes each constraint by eps * v_k: a small, bounded violation
    ridged = gem_project(g, mem, margin=margin)
    assert bool((mem @ ridged >= -1e-2).all()), mem @ ridged
    assert float((mem @ ridged).min()) < 0 or margin > 0  # the relaxation is real, so the tolerance above matters


def test_gem_without_margin_is_the_closest_feasible_gradient():
    # one constraint, margin 0: the QP solution is the A-GEM projection (orthogonal projection onto the half space)
    mem = _random((1, 8), 3)
    g = -mem[0] + 0.1 * _random(8, 4)
    expected = g - (g @ mem[0]) / (mem[0] @ mem[0]) * mem[0]
    torch.testing.assert_close(gem_project(g, mem, margin=0.0, eps=0.0), expected, rtol=1e-6, atol=1e-8)


def test_agem_projection_formula():
    g_ref = torch.tensor([1.0, 0.0, 1.0])
    g = torch.tensor([-2.0, 1.0, 0.0])
    expected = g - (-2.0 / 2.0) * g_ref  # = (-1, 1, 1)
    torch.testing.assert_close(agem_project(g, g_ref), expected)
    assert float(agem_project(g, g_ref) @ g_ref) == pytest.approx(0.0, abs=1e-6)
    same_side = torch.tensor([1.0, 5.0, 0.0])
    assert agem_project(same_side, g_ref) is same_side


def test_agem_step_follows_the_projected_gradient():
    lr = 0.1
    model = make_model()
    manual = copy.deepcopy(model)
    store = make_store(30)
    store.write(*make_batch((0, 1, 2), n=12, seed=5))
    x, y = make_batch((3, 4), n=4, seed=6)
    learner = AGEM(model, store, lr=lr, reference_size=8, generator=torch.Generator().manual_seed(1))
    ref = store.sample(8, generator=torch.Generator().manual_seed(1))
    learner.observe(x, y)
    params = list(manual.parameters())
    g = flat_grad(F.cross_entropy(manual(x), y), params)
    g_ref = flat_grad(F.cross_entropy(manual(ref.x), ref.y), params)
    step = agem_project(g, g_ref)
    new = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    old = torch.cat([p.detach().reshape(-1) for p in params])
    torch.testing.assert_close(new, old - lr * step)


def test_gem_learner_keeps_earlier_task_losses_from_rising_to_first_order():
    store = RawStore(Budget.images(30, (1, 2, 2), 6, num_tasks=3), (1, 2, 2), 6, seed=0, policy=PerTask(),
                     num_tasks=3)
    model = make_model()
    learner = GEM(model, store, lr=0.05, eps=0.0, generator=torch.Generator().manual_seed(0))
    for t, classes in enumerate([(0, 1), (2, 3)]):
        for b in range(6):
            learner.observe(*make_batch(classes, seed=10 * t + b), task=t)
        learner.end_task(t)
    assert sorted(set(store.sample(30, tasks=[0]).y.tolist())) == [0, 1]
    # on task 2, every applied update direction has a non-negative dot product with task 0's and 1's memory gradients
    for b in range(6):
        params = list(model.parameters())
        mem = learner.memory_gradients()
        before = [p.detach().clone() for p in params]
        learner.observe(*make_batch((4, 5), seed=50 + b), task=2)
        step = torch.cat([(b0 - p.detach()).reshape(-1) for b0, p in zip(before, params)])  # = lr * g~
        assert mem.shape[0] == 2
        assert bool((mem @ step >= -1e-6).all())
    assert learner.projections > 0  # the constraint did bind on some step (the test exercises the QP)


def test_gem_refuses_a_store_without_task_ids():
    with pytest.raises(MissingCapabilityError, match="task ids"):
        GEM(make_model(), make_store(10), lr=0.1)


def test_gem_refuses_a_generating_store_even_one_that_samples_by_task():
    # GEM takes each past task's gradient on every item it holds; a generator holds none
    store = GenerativeStore(Budget(0), SHAPE, CLASSES, seed=0, variant=DGMw(), num_tasks=3)
    assert store.filters_by_task and not store.keeps_items
    with pytest.raises(MissingCapabilityError, match="store of items"):
        GEM(make_model(), store, lr=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_gem_memory_strength_is_a_lower_bound_on_the_dual_variables(seed):
    # g~ = G^T v + g with v >= margin (their memory strength): recover v and check the bound holds and binds
    mem = _random((3, 12), 20 + seed)
    g = -mem[0] * 3 + _random(12, 30 + seed)
    margin = 0.5
    projected = gem_project(g, mem, margin=margin)
    v = torch.linalg.lstsq(mem.T, (projected - g).unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(mem.T @ v, projected - g)
    assert float(v.min()) >= margin - 1e-6
    assert float(v.min()) == pytest.approx(margin, abs=1e-6)  # some task's bound is active
