"""DGM at the released code's settings: its networks and GAN space, training in passes with the solver on fixed
generated sets, the discriminator re-initialised per task, best-validation selection, and the holdout that feeds it."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from learners import DGMSolver
from memstore import Batch, Budget, GenerativeStore, TaskContext
from memstore.errors import InvalidInputError
from memstore.nn import ACGANSpec, DGMa, DGMw, Discriminator, GANTraining, MaskedGenerator
from memstore.persist import open_store
from memstore.testing import random_items, state_equal

pytestmark = pytest.mark.usefixtures("one_thread")

NET: dict[str, Any] = {"latent": 6, "widths": (4, 3, 2), "critic_widths": (2, 3, 4), "critic_kernel": 5,
                       "critic_norm": True, "canvas": (16, 16), "signed": True, "task_norm": True}


def released_training(**changes: Any) -> GANTraining:
    settings = {"batch_size": 8, "passes": 3, "lambda_ru": 0.0, **changes}
    base = GANTraining.released(DGMw())
    return GANTraining(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **settings})


def store_of(training: GANTraining | None = None, variant: Any = None, seed: int = 0,
             mask_activations: bool = False) -> GenerativeStore:
    return GenerativeStore(Budget(0), (1, 14, 14), 10, seed=seed, variant=variant or DGMw(),
                           training=training or released_training(), mask_activations=mask_activations, **NET)


def data(label: int, n: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x, _ = random_items(n, (1, 14, 14), 10, torch.Generator().manual_seed(seed + 10 * label))
    return x, torch.full((n,), label)


def test_released_settings_are_the_codes() -> None:
    training = GANTraining.released(DGMa())
    assert (training.passes, training.batch_size, training.lr, training.betas) == (101, 64, 2e-3, (0.5, 0.999))
    assert (training.lambda_ru, training.s_max, training.lambda_gp, training.mask_lr) == (0.01, 1e5, 1.0, None)
    assert training.replay_set and training.reinit_critic and training.ru_by_units and not training.generator_aux
    assert GANTraining.released(DGMw(), 5, lambda_ru=0.3).lambda_ru == 0.3
    store = GenerativeStore.released(Budget(0), (1, 28, 28), 10, variant=DGMw(), passes=5)
    assert store.spec.gan_shape == (1, 32, 32) and store.spec.base == (4, 4) and store.spec.latent == 128
    assert store.model.widths == (24, 12, 6) and store.training.passes == 5
    assert sum(p.numel() for p in store.model.weights()) == 56_329  # theirs: 55,800 (the paper's Table 4)


def test_gan_space_is_the_canvas_in_minus_one_to_one() -> None:
    spec = ACGANSpec((1, 14, 14), 10, **NET)
    g = torch.Generator().manual_seed(0)
    gen, disc = MaskedGenerator(spec, DGMw(), g), Discriminator(spec, g)
    gen.begin_task()
    out = gen(torch.randn(3, 6, generator=g), torch.tensor([0, 1, 2]), [(None, None)] * 4, 0).detach()
    assert out.shape == (3, 1, 16, 16) and float(out.min()) >= -1 and float(out.max()) <= 1
    items = spec.to_items(out)
    assert items.shape == (3, 1, 14, 14) and float(items.min()) >= 0 and float(items.max()) <= 1
    flat = torch.full((2, 1, 14, 14), 0.25)
    assert torch.allclose(spec.to_gan(flat), torch.full((2, 1, 16, 16), -0.5))
    assert torch.allclose(spec.to_items(spec.to_gan(flat)), flat)
    assert disc.classify(items).shape == (3, 10) and disc(out)[0].shape == (3,)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in disc.modules()) == 2  # not after the first layer
    with pytest.raises(InvalidInputError):
        ACGANSpec((1, 14, 14), 10, canvas=(16,))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ACGANSpec((1, 14, 14), 10, widths=())


def test_selection_keeps_the_best_validated_discriminator_checked_every_other_pass() -> None:
    store = store_of(released_training(passes=4))
    x, y = data(0)
    held, kept = data(0, n=6, seed=1)
    store.end_task(TaskContext(task=0, x=x, y=y))
    assert store.last_losses is not None and store.last_losses.validation is None  # no validation: no selection
    x1, y1 = data(1)
    vx, vy = torch.cat([held, data(1, n=6, seed=1)[0]]), torch.cat([kept, torch.full((6,), 1)])
    store.end_task(TaskContext(task=1, x=x1, y=y1, validation=Batch(vx, vy)))
    losses = store.last_losses
    assert losses is not None and losses.best_pass in (0, 2, 3)  # checked after passes 0 and 2 and the last
    disc = store.discriminator.eval()
    with torch.no_grad():
        predicted = disc.classify(vx)[:, :2].argmax(dim=1)
    per_class = [float((predicted[vy == c] == c).float().mean()) for c in (0, 1)]
    assert sum(per_class) / 2 == pytest.approx(losses.validation)
    with pytest.raises(InvalidInputError):
        store.end_task(TaskContext(task=2, x=x1, y=y1, validation=(vx, vy)))  # type: ignore[arg-type]


@pytest.mark.parametrize("reinit", [True, False])
def test_the_discriminator_is_reinitialised_per_task_only_when_asked(reinit: bool) -> None:
    def after_two(tamper: bool) -> dict[str, Any]:
        store = store_of(released_training(reinit_critic=reinit))
        store.end_task(TaskContext(0, x=data(0)[0], y=data(0)[1]))
        if tamper:  # what task 1 starts from; a re-initialised discriminator never sees it
            with torch.no_grad():
                for p in store.discriminator.parameters():
                    p.add_(0.5)
        store.end_task(TaskContext(1, x=data(1)[0], y=data(1)[1]))
        return store.state_dict()

    assert state_equal(after_two(False), after_two(True)) == reinit


@pytest.mark.parametrize("variant,mask_activations", [(DGMw(), False), (DGMa(), False), (DGMa(), True)],
                         ids=["dgmw", "dgma", "dgma-hat-placement"])
def test_released_training_leaves_earlier_samples_unchanged_and_round_trips(variant: Any, mask_activations: bool,
                                                                            tmp_path: Any) -> None:
    store = store_of(variant=variant, seed=2, mask_activations=mask_activations)
    for task in range(2):
        store.end_task(TaskContext(task, x=data(task)[0], y=data(task)[1]))
    before = store.sample(10, classes=[0, 1], generator=torch.Generator().manual_seed(4))
    assert before.x.shape == (10, 1, 14, 14)
    store.save(tmp_path / "s")
    reopened = open_store(tmp_path / "s")
    assert state_equal(store.state_dict(), reopened.state_dict()) and reopened.spec == store.spec
    for s in (store, reopened):
        s.end_task(TaskContext(2, x=data(2)[0], y=data(2)[1]))
    assert state_equal(store.state_dict(), reopened.state_dict())
    after = store.sample(10, classes=[0, 1], generator=torch.Generator().manual_seed(4))
    assert torch.equal(before.x, after.x) and torch.equal(before.y, after.y)


def test_a_config_saved_before_the_gan_space_options_still_opens() -> None:
    config = store_of().config()
    for key in ("critic_kernel", "critic_norm", "canvas", "signed", "task_norm", "mask_activations"):
        config.pop(key)
    old = GenerativeStore.from_config({**config, "widths": [4, 3], "critic_widths": [2, 2]})
    assert old.spec.canvas is None and not old.spec.signed and old.spec.critic_kernel == 3
    assert not old.spec.mask_activations  # the released code's placement, as every store saved before it


def test_passes_and_flags_are_checked() -> None:
    for bad in ({"passes": 0}, {"validate_every": 0}, {"replay_set": 1}, {"mask_lr": 0.0}):
        with pytest.raises(InvalidInputError):
            GANTraining(**bad)


def test_the_holdout_keeps_a_share_of_every_task_for_validation_only() -> None:
    store = store_of(released_training(passes=1))
    seen: list[TaskContext] = []
    end_task = store.end_task
    store.end_task = lambda context: (seen.append(context), end_task(context))[1]  # type: ignore[method-assign]
    solver = DGMSolver(store, holdout=0.25, generator=torch.Generator().manual_seed(0))
    for task in range(2):
        x, y = data(task)
        solver.observe(x[:12], y[:12], task=task)
        solver.observe(x[12:], y[12:], task=task)
        solver.end_task()
    first, second = seen
    assert first.x is not None and len(first.x) == 15 and first.validation is not None
    assert len(first.validation) == 5 and len(second.validation) == 10 and set(second.validation.y.tolist()) == {0, 1}
    trained, held = first.x.flatten(1), first.validation.x.flatten(1)
    assert not (trained[:, None] == held[None]).all(dim=2).any()  # no held-out item is trained on
    assert sorted(torch.cat([trained, held]).sum(1).tolist()) == sorted(data(0)[0].flatten(1).sum(1).tolist())
    with pytest.raises(ValueError, match="holdout"):
        DGMSolver(store, holdout=1.0, generator=torch.Generator())
    with pytest.raises(ValueError, match="generator"):
        DGMSolver(store, holdout=0.15)


def test_each_tasks_batch_norms_are_stored_and_charged() -> None:
    from memstore import mask_bits, param_bits

    store = store_of(released_training(passes=1))
    for task in range(2):
        store.end_task(TaskContext(task, x=data(task)[0], y=data(task)[1]))
    norms = store.model.norms
    assert len(norms) == 2 and [n.num_features for n in norms[0]] == [4, 3, 2]
    assert [n.num_features for n in norms[1]] == list(store.growth[0].widths)
    masks = sum(mask_bits(m) for task in store.model.bank.frozen for layer in task for m in layer.values())
    stats = 4 * 32 * sum(n.num_features for task in norms for n in task)
    assert store.ledger().models == param_bits(store.model.weights(), torch.float32) + stats + masks


@pytest.mark.parametrize("mask_activations", [False, True], ids=["released-placement", "hat-placement"])
def test_dgma_keeps_a_frozen_class_exactly_only_with_activation_masks(mask_activations: bool) -> None:
    """With λ_RU > 0 the first task leaves units out of its mask; under the released placement later tasks still
    move its images (through those units' free outgoing weights), under HAT's they cannot (decision 0042)."""
    store = store_of(released_training(lambda_ru=0.5), variant=DGMa(), seed=2, mask_activations=mask_activations)
    store.end_task(TaskContext(0, x=data(0)[0], y=data(0)[1]))
    assert any(not bool(m["unit"].all()) for m in store.model.bank.frozen[0] if "unit" in m)  # units left out
    before = store.sample(10, classes=[0], generator=torch.Generator().manual_seed(4)).x
    for task in (1, 2):
        store.end_task(TaskContext(task, x=data(task)[0], y=data(task)[1]))
    after = store.sample(10, classes=[0], generator=torch.Generator().manual_seed(4)).x
    assert torch.equal(before, after) == mask_activations
