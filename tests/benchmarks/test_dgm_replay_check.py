"""The replay check tells a generator that forgot a class from a solver that did."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from benchmarks.datasets import load_dataset
from benchmarks.dgm_replay_check import (
    RENORM_SEED_OFFSET,
    activation_masked,
    check_store,
    renormalised_solver,
    train_reference,
)
from memstore import Batch, Budget, GenerativeStore, TaskContext
from memstore.nn import DGMa, DGMw, GANTraining


class _Solver(torch.nn.Module):
    """A solver without batch norms: the reference classifier itself."""

    def __init__(self, judge):
        super().__init__()
        self.judge = judge

    def classify(self, x):
        return self.judge(x)


class _Stub:
    """A 'store' that has seen classes 0..2, draws real training items of the class asked for (of ``forgot`` it
    draws class 1's instead), and whose solver is the reference itself."""

    def __init__(self, x, y, judge, forgot):
        self.x, self.y, self.forgot = x, y, forgot
        self.class_slot = torch.tensor([0, 1, 2, -1, -1, -1, -1, -1, -1, -1])
        self.variant = SimpleNamespace(masks_units=False)  # no unit masks: no masked column
        self.discriminator = _Solver(judge)

    def sample(self, n, *, classes, generator):
        label = 1 if classes[0] == self.forgot else classes[0]
        pool = torch.nonzero(self.y == label).flatten()
        rows = pool[torch.randint(len(pool), (n,), generator=generator)]
        return Batch(self.x[rows], self.y[rows], None, None)


def test_a_forgotten_class_is_the_generators_and_the_others_are_recognised():
    data = load_dataset("digits")
    keep = data.train_y < 3
    judge = train_reference(data.train_x[keep], data.train_y[keep], 3, torch.Generator().manual_seed(0), epochs=5)
    rows = check_store(_Stub(data.train_x, data.train_y, judge, forgot=2), judge, data.test_x, data.test_y,
                       per_class=100)
    assert [row.label for row in rows] == [0, 1, 2]
    assert all(row.reference_recognised > 80 and row.solver_recognised > 80 for row in rows)
    assert rows[0].generated_recognised > 90 and rows[1].generated_recognised > 90
    assert rows[2].generated_recognised < 10 and rows[2].generated_as[1] > 90
    assert all(row.masked_as is None and row.masked_recognised is None for row in rows)
    assert all(row.renormed_as is None and row.renormed_recognised is None for row in rows)  # no batch norm


def _trained(variant, mask_activations=False, critic_norm=False):
    training = GANTraining(**{**GANTraining.released(variant).__dict__, "passes": 1, "batch_size": 8})
    store = GenerativeStore(Budget(0), (1, 8, 8), 10, seed=0, variant=variant, latent=4, widths=(4, 3),
                            critic_widths=(2, 2), critic_norm=critic_norm, task_norm=True, signed=True,
                            mask_activations=mask_activations, training=training)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    store.end_task(TaskContext(0, x=x, y=torch.zeros(16, dtype=torch.int64)))
    return store


def test_the_masked_copy_is_made_for_dgma_with_the_released_placement_only():
    store = _trained(DGMa())
    before = store.sample(6, classes=[0], generator=torch.Generator().manual_seed(2)).x
    masked = activation_masked(store)
    assert masked.spec.mask_activations and masked.model.spec is masked.spec
    assert not store.spec.mask_activations and not store.model.spec.mask_activations  # the store is untouched
    assert torch.equal(store.sample(6, classes=[0], generator=torch.Generator().manual_seed(2)).x, before)
    hat = _trained(DGMa(), mask_activations=True)
    assert activation_masked(hat) is None and activation_masked(_trained(DGMw())) is None


def test_the_renormalised_solver_averages_the_replays_statistics_and_leaves_the_store_alone():
    store = _trained(DGMw(), critic_norm=True)
    norm = next(layer for layer in store.discriminator.modules() if isinstance(layer, torch.nn.BatchNorm2d))
    kept = (norm.running_mean.clone(), norm.running_var.clone(), int(norm.num_batches_tracked))
    solver = renormalised_solver(store, [0], per_class=64, seed=3)  # one batch of 64: its mean is the average
    replay = store.sample(64, classes=[0], generator=torch.Generator().manual_seed(3 + RENORM_SEED_OFFSET)).x
    layers = list(store.discriminator.features)
    before_norm = torch.nn.Sequential(*layers[:layers.index(norm)])
    with torch.no_grad():
        expected = before_norm(store.discriminator.spec.to_gan(replay)).mean(dim=(0, 2, 3))
    renormed = next(layer for layer in solver.modules() if isinstance(layer, torch.nn.BatchNorm2d))
    assert not solver.training and renormed.momentum is None
    assert torch.allclose(renormed.running_mean, expected, atol=1e-5)
    assert not torch.allclose(renormed.running_mean, kept[0])
    assert torch.equal(norm.running_mean, kept[0]) and torch.equal(norm.running_var, kept[1])
    assert int(norm.num_batches_tracked) == kept[2] and norm.momentum is not None
