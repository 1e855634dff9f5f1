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

The released code (SAP/machine-learning-dgm, ``GANTraining.released``) runs the same steps with four differences,
each a setting here: ``passes`` over the task's data in batches (one order per task) instead of ``iterations`` random
batches; the solver trained apart from the critic (``replay_set``): a fixed set of generated images per earlier
class, as many as the task has, drawn once per task, and at every iteration one classifier step per chunk of the
real batch joined with the same rows of every set; no L_c for G (``generator_aux``); and the discriminator
re-initialised for every task (``reinit_critic``). With ``validation`` data, the discriminator kept at the end is
the one of the best validation accuracy, checked every ``validate_every`` passes and after the last (their reported
accuracy: test accuracy at the epoch of best validation accuracy).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import LR_MAX, WEIGHT_MAX, check_fields, check_int, check_real, plain
from ..errors import InvalidInputError
from .acgan import (Discriminator, MaskedGenerator, auxiliary_loss, critic_loss, generator_loss, gradient_penalty,
                    reinitialise)
from .masks import MaskVariant

__all__ = ["GANTraining", "TaskLosses", "generate", "train_task"]


@dataclass(frozen=True)
class GANTraining:
    """Per-task training settings: ``iterations`` generator steps of ``batch_size`` (or, with ``passes``, that many
    passes over the task's data, one order drawn per task, the last batch of a pass short), each after
    ``critic_steps`` discriminator steps; Adam(``lr``, ``betas``) for the networks; plain SGD(``mask_lr``) for the
    mask embeddings, as HAT trains them (its gradient compensation assumes SGD: Adam would normalise the compensated
    gradient away and let the steady push of eq. 6 drive every embedding below 0), or the networks' Adam with
    ``mask_lr=None`` (the released code); λ_GP, λ_RU (None: the mask variant's ``lambda_ru``), scaled by α = S_t /
    S_free or, with ``ru_by_units``, by hidden units now over units at the start (the released code's); s_max and the
    I 'epochs' of eq. 3–4 (with ``passes``, I = passes). ``replay_set``, ``generator_aux``, ``reinit_critic`` and
    ``validate_every``: the released code's solver training and selection (module docstring)."""

    iterations: int = 1000
    batch_size: int = 64
    critic_steps: int = 1
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    lambda_gp: float = 10.0
    lambda_ru: float | None = None
    mask_lr: float | None = 0.05
    s_max: float = 400.0
    epochs: int = 10
    passes: int | None = None
    replay_set: bool = False
    generator_aux: bool = True
    reinit_critic: bool = False
    ru_by_units: bool = False
    validate_every: int = 2

    def __post_init__(self) -> None:
        check_fields(self, check_int, "iterations", "batch_size", "critic_steps", "epochs", "validate_every", low=1)
        check_fields(self, check_int, "passes", optional=True, low=1)
        check_fields(self, check_real, "lr", low=0, high=LR_MAX, open_low=True)
        check_fields(self, check_real, "mask_lr", optional=True, low=0, high=LR_MAX, open_low=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise InvalidInputError(f"GANTraining.betas must be two numbers in [0, 1), got {self.betas!r}")
        for beta in self.betas:
            check_real("GANTraining.betas", beta, low=0, high=1, open_high=True)
        if any(type(beta) not in (int, float) for beta in self.betas):  # NumPy scalars: the numbers they equal
            object.__setattr__(self, "betas", type(self.betas)(plain(beta) for beta in self.betas))
        check_fields(self, check_real, "lambda_gp", low=0, high=WEIGHT_MAX)
        check_fields(self, check_real, "lambda_ru", optional=True, low=0, high=WEIGHT_MAX)
        check_fields(self, check_real, "s_max", low=1, high=1e12)
        for name in ("replay_set", "generator_aux", "reinit_critic", "ru_by_units"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"GANTraining.{name} must be a bool, got {getattr(self, name)!r}")

    @classmethod
    def released(cls, variant: MaskVariant, passes: int = 101, lambda_ru: float | None = None) -> GANTraining:
        """The released code's MNIST settings (cfg_mnist_dgmw.yml / cfg_mnist_dgma.yml, approaches/DGM*.py): 101
        epochs of batch 64, Adam 2e-3 with betas (0.5, 0.999) for everything including the embeddings, λ_GP 1,
        the variant's λ_RU scaled by the units' growth, its s_max, the solver on fixed generated sets, no L_c for
        G, the discriminator re-initialised per task, validation every 2 epochs. ``lambda_ru``: another λ_RU."""
        lambda_ru = variant.released_lambda_ru if lambda_ru is None else lambda_ru
        return cls(batch_size=64, lr=2e-3, betas=(0.5, 0.999), lambda_gp=1.0, lambda_ru=lambda_ru,
                   mask_lr=None, s_max=variant.released_s_max, passes=passes, replay_set=True, generator_aux=False,
                   reinit_critic=True, ru_by_units=True, validate_every=2)


@dataclass(frozen=True)
class TaskLosses:
    """The last iteration's losses of a task (a diagnostic); with validation data, the best validation accuracy
    (mean over the classes of their accuracy) and the pass it was measured after."""

    critic: float
    generator: float
    auxiliary: float
    regulariser: float
    validation: float | None = None
    best_pass: int | None = None


def generate(gen: MaskedGenerator, labels: Tensor, slots: Tensor, generator: torch.Generator) -> Tensor:
    """G(z, y; M^τ) in GAN space for each label under its task's frozen binary mask (``slots[i]`` = τ of
    ``labels[i]``), on the generator's device; the noise is drawn on the CPU, the same on every device."""
    device = gen.bank.device
    labels, slots = labels.to(device), slots.to(device)
    out = torch.empty((labels.shape[0], *gen.spec.gan_shape), device=device)
    z = torch.randn((labels.shape[0], gen.spec.latent), generator=generator).to(device)
    with torch.no_grad():
        for slot in slots.unique().tolist():
            rows = slots == slot
            out[rows] = gen(z[rows], labels[rows], gen.bank.weight_masks(gen.bank.binary(int(slot))), int(slot))
    return out


def train_task(gen: MaskedGenerator, disc: Discriminator, x: Tensor, y: Tensor, class_slot: Tensor,
               settings: GANTraining, generator: torch.Generator,
               validation: tuple[Tensor, Tensor] | None = None) -> TaskLosses:
    """Train G (with task t's fresh mask embeddings) and D on one task's items; the caller freezes the mask after.

    ``class_slot[c]``: the frozen task whose mask generates class c, −1 for classes not seen before this task.
    ``validation``: held-out items and labels of the classes seen so far, to keep the best discriminator by.
    """
    run = _TaskRun(gen, disc, x, y, class_slot, settings, generator)
    steps, per_pass = run.steps()
    order = (torch.randperm(run.x.shape[0], generator=generator).to(run.device) if settings.passes is not None
             else None)
    best = _Selection(disc, validation, run.seen) if validation is not None and order is not None else None
    losses = TaskLosses(0.0, 0.0, 0.0, 0.0)
    for step in range(steps):
        s = run.scale(step, steps)
        rows = None if order is None else order[(step % per_pass) * settings.batch_size:][:settings.batch_size]
        for _ in range(settings.critic_steps):
            loss_d, aux = run.critic_step(s, rows)
        loss_g, reg = run.generator_step(s, rows)
        losses = TaskLosses(float(loss_d), float(loss_g), float(aux), float(reg))
        finished = (step + 1) // per_pass - 1 if (step + 1) % per_pass == 0 else None
        if best is not None and finished is not None and (finished % settings.validate_every == 0
                                                          or step == steps - 1):
            best.check(finished)
    disc.zero_grad(set_to_none=True)
    if best is None:
        return losses
    best.restore()
    return TaskLosses(losses.critic, losses.generator, losses.auxiliary, losses.regulariser, best.accuracy,
                      best.best_pass)


class _TaskRun:
    """One task's training state: the data in GAN space, the optimisers, the gates and the replay sets."""

    def __init__(self, gen: MaskedGenerator, disc: Discriminator, x: Tensor, y: Tensor, class_slot: Tensor,
                 settings: GANTraining, generator: torch.Generator) -> None:
        bank = gen.bank
        gen.begin_task()
        self.slot = len(bank.frozen)
        if settings.reinit_critic and bank.frozen:
            reinitialise(disc, generator)
        self.gen, self.disc, self.bank, self.settings, self.generator = gen, disc, bank, settings, generator
        self.device = device = bank.device
        self.x, self.y, self.class_slot = gen.spec.to_gan(x.to(device)), y.to(device), class_slot.cpu()
        self.cumulative = bank.cumulative()
        alpha = sum(gen.widths) / sum(gen.spec.widths) if settings.ru_by_units else bank.capacity_ratio()
        self.lambda_ru = alpha * (bank.variant.lambda_ru if settings.lambda_ru is None else settings.lambda_ru)
        self.earlier = torch.nonzero(self.class_slot >= 0).flatten()
        seen = self.class_slot >= 0
        seen[y.cpu().unique()] = True
        self.seen = seen.to(device)
        embeddings = list(bank.embeddings) if settings.mask_lr is None else []
        self.opt_g = torch.optim.Adam([*gen.weights(), *gen.norm_parameters(), *embeddings], lr=settings.lr,
                                      betas=settings.betas)
        self.opt_e = None if settings.mask_lr is None else torch.optim.SGD(bank.embeddings, lr=settings.mask_lr)
        self.opt_d = torch.optim.Adam(disc.parameters(), lr=settings.lr, betas=settings.betas)
        self.replay = self._replay_sets() if settings.replay_set and self.earlier.numel() else None

    def steps(self) -> tuple[int, int]:
        """(steps, steps per pass) of this task."""
        if self.settings.passes is None:
            return self.settings.iterations, self.settings.iterations
        per_pass = -(-self.x.shape[0] // self.settings.batch_size)
        return self.settings.passes * per_pass, per_pass

    def scale(self, step: int, steps: int) -> float:
        epochs = self.settings.epochs if self.settings.passes is None else self.settings.passes
        return self.bank.variant.scale(step, steps, self.settings.s_max, epochs)

    def _replay_sets(self) -> dict[int, Tensor]:
        """As many generated images of every earlier class as the task has, drawn once (the released code's)."""
        count = self.x.shape[0]
        sets = {}
        for c in self.earlier.tolist():
            labels = torch.full((count,), c, dtype=torch.int64)
            sets[c] = torch.cat([generate(self.gen, part, self.class_slot[part], self.generator)
                                 for part in labels.split(1000)])
        return sets

    def critic_step(self, s: float, rows: Tensor | None) -> tuple[Tensor, Tensor]:
        """One discriminator step (after the solver's own steps with ``replay_set``); (L_D, L_c) detached."""
        settings, gen, bank = self.settings, self.gen, self.bank
        if rows is None:
            rows = torch.randint(0, self.x.shape[0], (settings.batch_size,), generator=self.generator).to(self.device)
        real, labels = self.x[rows], self.y[rows]
        aux = self._solver_steps(rows) if self.replay is not None else None
        with torch.no_grad():
            z = torch.randn((len(rows), gen.spec.latent), generator=self.generator).to(self.device)
            fake = gen(z, labels, bank.weight_masks(bank.soft(s)), self.slot)
        loss_d = critic_loss(self.disc(real)[0], self.disc(fake)[0])
        if aux is None:
            aux = auxiliary_loss(*self._classifier_batch(real, labels), self.seen)
            loss_d = loss_d + aux
        loss_d = loss_d + settings.lambda_gp * gradient_penalty(self.disc, real, fake, self.generator)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return loss_d.detach(), aux.detach()

    def _classifier_batch(self, real: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(logits, labels) of the real batch joined with a generated batch of earlier classes (memstore's reduced
        form of the solver's training)."""
        if not self.earlier.numel():
            return self.disc(real)[1], labels
        old = self.earlier[torch.randint(0, self.earlier.numel(), (len(labels),), generator=self.generator)]
        cls_x = torch.cat([real, generate(self.gen, old, self.class_slot[old], self.generator)])
        return self.disc(cls_x)[1], torch.cat([labels, old.to(self.device)])

    def _solver_steps(self, rows: Tensor) -> Tensor:
        """The released code's solver: the real rows joined with the same rows of every replay set, shuffled, one
        L_c step per chunk of the batch's size; returns the mean L_c."""
        assert self.replay is not None
        cls_x = torch.cat([self.x[rows], *(images[rows] for images in self.replay.values())])
        cls_y = torch.cat([self.y[rows], *(torch.full((len(rows),), c, device=self.device) for c in self.replay)])
        shuffled = torch.randperm(cls_x.shape[0], generator=self.generator).to(self.device)
        losses = []
        for chunk in shuffled.split(len(rows)):
            loss = auxiliary_loss(self.disc(cls_x[chunk])[1], cls_y[chunk], self.seen)
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
            losses.append(loss.detach())
        return torch.stack(losses).mean()

    def generator_step(self, s: float, rows: Tensor | None) -> tuple[Tensor, Tensor]:
        """One G step (eq. 5 gates, HAT's compensation); (L_G, R_t) detached."""
        gen, bank, settings = self.gen, self.bank, self.settings
        if rows is None:
            rows = torch.randint(0, self.x.shape[0], (settings.batch_size,), generator=self.generator).to(self.device)
        labels = self.y[rows]
        masks = bank.soft(s)
        fake = gen(torch.randn((len(rows), gen.spec.latent), generator=self.generator).to(self.device), labels,
                   bank.weight_masks(masks), self.slot)
        scores, logits = self.disc(fake)
        reg = bank.regulariser(masks, self.cumulative)
        loss_g = generator_loss(scores)
        if settings.generator_aux:
            loss_g = loss_g + auxiliary_loss(logits, labels, self.seen)
        loss_g = loss_g + self.lambda_ru * reg
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_e is not None:
            self.opt_e.zero_grad(set_to_none=True)
        loss_g.backward()
        bank.gate_gradients(self.cumulative)  # eq. 5
        bank.compensate(s, settings.s_max)
        self.opt_g.step()
        if self.opt_e is not None:
            self.opt_e.step()
        bank.clamp()
        return loss_g.detach(), reg.detach()


class _Selection:
    """Keeps the discriminator of the best validation accuracy (the mean over classes of their accuracy)."""

    def __init__(self, disc: Discriminator, validation: tuple[Tensor, Tensor], seen: Tensor) -> None:
        x, y = validation
        device = disc.classifier.weight.device
        self.disc, self.x, self.y, self.seen = disc, disc.spec.to_gan(x.to(device)), y.to(device), seen
        self.accuracy: float | None = None
        self.best_pass: int | None = None
        self.state: dict[str, Tensor] | None = None

    @torch.no_grad()
    def check(self, finished_pass: int) -> None:
        self.disc.eval()
        logits = torch.cat([self.disc(part)[1] for part in self.x.split(1000)])
        self.disc.train()
        hits = (logits.masked_fill(~self.seen, float("-inf")).argmax(dim=1) == self.y).float()
        accuracy = float(torch.stack([hits[self.y == c].mean() for c in self.y.unique()]).mean())
        if self.accuracy is None or accuracy > self.accuracy:
            self.accuracy, self.best_pass = accuracy, finished_pass
            self.state = copy.deepcopy(self.disc.state_dict())

    def restore(self) -> None:
        if self.state is not None:
            self.disc.load_state_dict(self.state)
