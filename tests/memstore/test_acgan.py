"""The AC-GAN: shapes for 28×28, 32×32 and odd items, seeded init without the global RNG, WGAN-GP and L_c."""

from __future__ import annotations

import pytest
import torch

from memstore.nn import ACGANSpec, DGMw, Discriminator, MaskedGenerator
from memstore.nn.acgan import auxiliary_loss, critic_loss, generator_loss, gradient_penalty


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 5, 3), (1, 1, 1)])
def test_shapes(shape: tuple[int, int, int]) -> None:
    spec = ACGANSpec(shape, 4, latent=3, widths=(4, 2), critic_widths=(2, 2))
    g = torch.Generator().manual_seed(0)
    gen, disc = MaskedGenerator(spec, DGMw(), g), Discriminator(spec, g)
    y = torch.tensor([0, 3])
    x = gen(torch.randn(2, 3, generator=g), y, [(None, None)] * 3).detach()
    assert x.shape == (2, *shape) and float(x.min()) >= 0 and float(x.max()) <= 1
    scores, logits = disc(x)
    assert scores.shape == (2,) and logits.shape == (2, 4)
    if shape == (1, 28, 28):
        assert spec.base == (7, 7)
    if shape == (3, 32, 32):
        assert spec.base == (8, 8)


def test_init_is_seeded_and_leaves_the_global_rng_alone() -> None:
    spec = ACGANSpec((1, 8, 8), 3)
    state = torch.random.get_rng_state()
    a = Discriminator(spec, torch.Generator().manual_seed(1)).state_dict()
    b = Discriminator(spec, torch.Generator().manual_seed(1)).state_dict()
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gradient_penalty_of_a_unit_slope_critic_is_zero() -> None:
    spec = ACGANSpec((1, 4, 4), 2, critic_widths=(1, 1))
    disc = Discriminator(spec, torch.Generator().manual_seed(0))
    with torch.no_grad():  # make D linear in x with ‖∇D‖ = 1: identity-like convs, no negative slope involved
        for p in disc.parameters():
            p.zero_()
        disc.features[0].weight[0, 0, 1, 1] = 1.0  # picks pixel (0,0),(0,2),(2,0),(2,2) of the 4×4 at stride 2
        disc.features[2].weight[0, 0, 1, 1] = 1.0  # then pixel (0,0) of the 2×2
        disc.critic.weight[0, 0] = 1.0
    real, fake = torch.rand(3, 1, 4, 4) + 0.1, torch.rand(3, 1, 4, 4) + 0.1  # positive: LeakyReLU is the identity
    penalty = gradient_penalty(disc, real, fake, torch.Generator().manual_seed(0))
    assert float(penalty.detach()) == pytest.approx(0, abs=1e-10)
    with torch.no_grad():
        disc.critic.weight[0, 0] = 3.0
    assert float(gradient_penalty(disc, real, fake, torch.Generator().manual_seed(0)).detach()) == pytest.approx(4.0)


def test_wasserstein_and_auxiliary_losses() -> None:
    assert float(critic_loss(torch.tensor([2.0, 4.0]), torch.tensor([1.0]))) == pytest.approx(-2.0)
    assert float(generator_loss(torch.tensor([1.0, 3.0]))) == pytest.approx(-2.0)
    logits = torch.tensor([[0.0, 0.0, 50.0]])
    seen = torch.tensor([True, True, False])  # the unseen class's huge logit is ignored
    assert float(auxiliary_loss(logits, torch.tensor([0]), seen)) == pytest.approx(torch.log(torch.tensor(2.0)))


def test_a_new_task_and_growth_stay_on_the_generators_device() -> None:
    # the meta device stands in for an accelerator: anything built on the CPU default would show up here
    spec = ACGANSpec((1, 8, 8), 3, latent=2, widths=(4, 2), critic_widths=(2, 2), task_norm=True)
    gen = MaskedGenerator(spec, DGMw(), torch.Generator().manual_seed(0)).to("meta")
    gen.begin_task()
    gen.grow([1, 1], torch.Generator().manual_seed(1))
    gen.begin_task()  # the task in training gets norms at the grown widths
    assert [norm.num_features for norm in gen.norms[0]] == [5, 3]
    assert {t.device.type for t in (*gen.parameters(), *gen.buffers(), *gen.bank.embeddings)} == {"meta"}
