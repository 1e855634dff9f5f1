"""Training one DGM task (Ostapenko et al. 2019, §3.3 and Fig. 1), and class-conditioned generation under frozen masks.

One iteration of :func:`train_task` on task t (real data X^t, labels y^t; classes of earlier tasks replayed)::

    s ← schedule(step)                                              eq. 3–4
    D step (× critic_steps):
        x̃ = G(z, y; σ(s e^t))            fake of the current task (no gradient to G)
        x̂ = G(z', y'; M^τ)               replay of earlier classes y', each under its own task's frozen mask
        L_D = L_s(D(x), D(x̃)) + λ_GP L_gp + L_c(D_cls([x ‖ x̂]), [y ‖ y'])   (real current + synthesized earlier)
    G step:
        L_G = −E D(x̃) + L_c(D_cls(x̃), y) + λ_RU · α · R_t                   eq. 6, α = S_t / S_free
        backward ─▶ gate G's gradients by 1 − m^{<t} (eq. 5) ─▶ compensate e's gradient ─▶ Adam ─▶ clamp e

The optimisers are new for every task: Adam's moments never carry an earlier task's gradient into a reserved weight, so
a gated (zero) gradient means an unchanged weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import LR_MAX, WEIGHT_MAX, check_int, check_real
from ..errors import InvalidInputError
from .acgan import Discriminator, MaskedGenerator, auxiliary_loss, critic_loss, generator_loss, gradient_penalty

__all__ = ["GANTraining", "TaskLosses", "generate", "train_task"]


@dataclass(frozen=True)
class GANTraining:
    """Per-task training settings: ``iterations`` generator steps of ``batch_size``, each after ``critic_steps``
    discriminator steps; Adam(``lr``, ``betas``) for the networks; plain SGD(``mask_lr``) for the mask embeddings, as
    HAT trains them (its gradient compensation assumes SGD: Adam would normalise the compensated gradient away and let
    the steady push of eq. 6 drive every embedding below 0); λ_GP, λ_RU (None: the mask variant's ``lambda_ru``);
    s_max and the I 'epochs' of eq. 3–4."""

    iterations: int = 1000
    batch_size: int = 64
    critic_steps: int = 1
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    lambda_gp: float = 10.0
    lambda_ru: float | None = None
    mask_lr: float = 0.05
    s_max: float = 400.0
    epochs: int = 10

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "critic_steps", "epochs"):
            check_int(f"GANTraining.{name}", getattr(self, name), low=1)
        for name in ("lr", "mask_lr"):
            check_real(f"GANTraining.{name}", getattr(self, name), low=0, high=LR_MAX, open_low=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise InvalidInputError(f"GANTraining.betas must be two numbers in [0, 1), got {self.betas!r}")
        for beta in self.betas:
            check_real("GANTraining.betas", beta, low=0, high=1, open_high=True)
        check_real("GANTraining.lambda_gp", self.lambda_gp, low=0, high=WEIGHT_MAX)
        if self.lambda_ru is not None:
            check_real("GANTraining.lambda_ru", self.lambda_ru, low=0, high=WEIGHT_MAX)
        check_real("GANTraining.s_max", self.s_max, low=1, high=1e12)


@dataclass(frozen=True)
class TaskLosses:
    """The last iteration's losses of a task (a diagnostic)."""

    critic: float
    generator: float
    auxiliary: float
    regulariser: float


def generate(gen: MaskedGenerator, labels: Tensor, slots: Tensor, generator: torch.Generator) -> Tensor:
    """G(z, y; M^τ) for each label under its task's frozen binary mask (``slots[i]`` = τ of ``labels[i]``)."""
    out = torch.empty((labels.shape[0], *gen.spec.item_shape))
    z = torch.randn((labels.shape[0], gen.spec.latent), generator=generator)
    with torch.no_grad():
        for slot in slots.unique().tolist():
            rows = slots == slot
            out[rows] = gen(z[rows], labels[rows], gen.bank.weight_masks(gen.bank.binary(int(slot))))
    return out


def train_task(gen: MaskedGenerator, disc: Discriminator, x: Tensor, y: Tensor, class_slot: Tensor,
               settings: GANTraining, generator: torch.Generator) -> TaskLosses:
    """Train G (with task t's fresh mask embeddings) and D on one task's data; the caller freezes the mask after.

    ``class_slot[c]``: the frozen task whose mask generates class c, −1 for classes not seen before this task.
    """
    bank = gen.bank
    bank.begin_task()
    cumulative, alpha = bank.cumulative(), bank.capacity_ratio()
    earlier = torch.nonzero(class_slot >= 0).flatten()
    seen = class_slot >= 0
    seen[y.unique()] = True
    opt_g = torch.optim.Adam(gen.weights(), lr=settings.lr, betas=settings.betas)
    opt_e = torch.optim.SGD(bank.embeddings, lr=settings.mask_lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=settings.lr, betas=settings.betas)
    batch, latent = settings.batch_size, gen.spec.latent
    lambda_ru = bank.variant.lambda_ru if settings.lambda_ru is None else settings.lambda_ru
    losses = TaskLosses(0.0, 0.0, 0.0, 0.0)
    for step in range(settings.iterations):
        s = bank.variant.scale(step, settings.iterations, settings.s_max, settings.epochs)
        for _ in range(settings.critic_steps):
            rows = torch.randint(0, x.shape[0], (batch,), generator=generator)
            real, labels = x[rows], y[rows]
            with torch.no_grad():
                fake = gen(torch.randn((batch, latent), generator=generator), labels, bank.weight_masks(bank.soft(s)))
            cls_x, cls_y = real, labels
            if earlier.numel():
                old = earlier[torch.randint(0, earlier.numel(), (batch,), generator=generator)]
                replayed = generate(gen, old, class_slot[old], generator)
                cls_x, cls_y = torch.cat([real, replayed]), torch.cat([labels, old])
            real_scores, _ = disc(real)
            fake_scores, _ = disc(fake)
            aux = auxiliary_loss(disc.classify(cls_x), cls_y, seen)
            loss_d = (critic_loss(real_scores, fake_scores) + aux
                      + settings.lambda_gp * gradient_penalty(disc, real, fake, generator))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        labels = y[torch.randint(0, x.shape[0], (batch,), generator=generator)]
        masks = bank.soft(s)
        fake = gen(torch.randn((batch, latent), generator=generator), labels, bank.weight_masks(masks))
        scores, logits = disc(fake)
        reg = bank.regulariser(masks, cumulative)
        loss_g = generator_loss(scores) + auxiliary_loss(logits, labels, seen) + lambda_ru * alpha * reg
        opt_g.zero_grad(set_to_none=True)
        opt_e.zero_grad(set_to_none=True)
        loss_g.backward()
        bank.gate_gradients(cumulative)  # eq. 5
        bank.compensate(s, settings.s_max)
        opt_g.step()
        opt_e.step()
        bank.clamp()
        losses = TaskLosses(float(loss_d.detach()), float(loss_g.detach()), float(aux.detach()), float(reg.detach()))
    disc.zero_grad(set_to_none=True)
    return losses
