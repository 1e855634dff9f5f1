"""The masked AC-GAN of DGM (Ostapenko et al. 2019, §3.3): a small DCGAN whose generator carries DGM's masks.

Generator (3 layers, as their MNIST/SVHN DCGAN; the projection is a convolution, not a fully connected layer)::

    [z ‖ onehot(y)] ─▶ project (k = ⌈H/4⌉×⌈W/4⌉) ─▶ ReLU ─▶ up×2, conv 3×3 ─▶ ReLU ─▶ up×2, conv 3×3 ─▶ sigmoid
                    ─▶ crop H×W
                       every layer: (m ⊙ W) x + m_b ⊙ b   with the masks of one task (eq. 1), see :mod:`.masks`

28×28 → 7×7 → 14×14 → 28×28; 32×32 → 8 → 16 → 32; any other (C, H, W) works the same way (then cropped).

Discriminator (AC-GAN, no normalisation, as WGAN-GP asks)::

    x ─▶ conv 3×3 /2 ─▶ LeakyReLU ─▶ conv 3×3 /2 ─▶ LeakyReLU ─▶ flatten ─┬▶ critic (1)          L_s, WGAN-GP
                                                                         └▶ classifier (classes) L_c, the task solver

Losses: WGAN-GP (Gulrajani et al.: E[D(fake)] − E[D(real)] + λ_GP E[(‖∇D(x̂)‖ − 1)²]) and the auxiliary cross-entropy,
restricted to the classes seen so far (single head over Y^t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int
from ..errors import InvalidInputError
from .masks import MaskBank, MaskedLayer, MaskVariant, uniform_init

__all__ = ["ACGANSpec", "Discriminator", "MaskedGenerator", "auxiliary_loss", "critic_loss", "generator_loss",
           "gradient_penalty"]


@dataclass(frozen=True)
class ACGANSpec:
    """Sizes of the AC-GAN: ``latent`` noise dims; generator hidden ``widths`` (initial units, before growth);
    discriminator ``critic_widths``."""

    item_shape: tuple[int, int, int]
    num_classes: int
    latent: int = 32
    widths: tuple[int, int] = (32, 16)
    critic_widths: tuple[int, int] = (16, 32)

    def __post_init__(self) -> None:
        sizes = (self.latent, *self.widths, *self.critic_widths)
        if len(self.widths) != 2 or len(self.critic_widths) != 2:
            raise InvalidInputError(f"ACGANSpec needs two widths and two critic widths, got {self}")
        for value in sizes:
            check_int("ACGANSpec sizes", value, low=1, high=1 << 16)

    @property
    def base(self) -> tuple[int, int]:
        """Spatial size of the projection: a quarter of the item's, rounded up."""
        return (-(-self.item_shape[1] // 4), -(-self.item_shape[2] // 4))


class MaskedGenerator(nn.Module):
    """The conditional generator G(z, y; M) with a :class:`MaskBank`; ``widths`` grow task by task (§3.2)."""

    def __init__(self, spec: ACGANSpec, variant: MaskVariant, generator: torch.Generator) -> None:
        super().__init__()
        self.spec = spec
        channels = spec.item_shape[0]
        self.layers = nn.ModuleList([
            MaskedLayer(spec.latent + spec.num_classes, spec.widths[0], spec.base, project=True, upsample=1,
                        generator=generator),
            MaskedLayer(spec.widths[0], spec.widths[1], (3, 3), project=False, upsample=2, generator=generator),
            MaskedLayer(spec.widths[1], channels, (3, 3), project=False, upsample=2, generator=generator),
        ])
        self.bank = MaskBank(variant, list(self.layers))

    @property
    def widths(self) -> tuple[int, ...]:
        """Units of the hidden layers now."""
        return tuple(layer.out_units for layer in self.layers[:-1])

    def weights(self) -> list[Tensor]:
        """The base network's parameters (what is stored and charged), without the transient mask embeddings."""
        return [p for layer in self.layers for p in (layer.weight, layer.bias)]

    def forward(self, z: Tensor, y: Tensor, masks: list[tuple[Tensor | None, Tensor | None]]) -> Tensor:
        """Images in [0, 1] for noise ``z`` (B, latent) and labels ``y`` (B,) under per-layer (weight, bias) masks."""
        h = torch.cat([z, F.one_hot(y, self.spec.num_classes).float()], dim=1)
        last = len(self.layers) - 1
        for index, (layer, (weight_mask, bias_mask)) in enumerate(zip(self.layers, masks)):
            h = layer(h, weight_mask, bias_mask)
            h = torch.sigmoid(h) if index == last else F.relu(h)
        _, height, width = self.spec.item_shape
        return h[:, :, :height, :width]

    def grow(self, units: list[int], generator: torch.Generator) -> None:
        """Add ``units[l]`` output units to hidden layer l (and the matching inputs to layer l + 1)."""
        for index, count in enumerate(units):
            if count > 0:
                self.layers[index].grow_out(count, generator)
                self.layers[index + 1].grow_in(count, generator)
        self.bank.layers = list(self.layers)

    def resize(self, widths: tuple[int, ...], generator: torch.Generator) -> None:
        """Grow to ``widths`` (restoring a saved store); weights are overwritten by the caller."""
        self.grow([want - have for want, have in zip(widths, self.widths)], generator)


class Discriminator(nn.Module):
    """The AC-GAN discriminator: a critic output and an auxiliary classifier over ``num_classes`` (the task solver)."""

    def __init__(self, spec: ACGANSpec, generator: torch.Generator) -> None:
        super().__init__()
        channels, height, width = spec.item_shape
        first, second = spec.critic_widths
        flat = second * _halved(_halved(height)) * _halved(_halved(width))
        with torch.device("meta"):  # no draw from the global RNG: the weights come from ``generator`` below
            self.features = nn.Sequential(nn.Conv2d(channels, first, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                          nn.Conv2d(first, second, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                          nn.Flatten())
            self.critic = nn.Linear(flat, 1)
            self.classifier = nn.Linear(flat, spec.num_classes)
        self.to_empty(device="cpu")
        reinitialise(self, generator)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(critic scores (B,), class logits (B, classes))."""
        h = self.features(x)
        return self.critic(h).squeeze(1), self.classifier(h)

    def classify(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def _halved(size: int) -> int:
    return (size - 1) // 2 + 1  # a 3×3 convolution, stride 2, padding 1


@torch.no_grad()
def reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """torch's default U(±1/√fan_in) for every conv/linear layer, drawn from ``generator`` (not the global RNG)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            fan_in = math.prod(layer.weight.shape[1:])
            layer.weight.copy_(uniform_init(tuple(layer.weight.shape), fan_in, generator))
            if layer.bias is not None:
                layer.bias.copy_(uniform_init(tuple(layer.bias.shape), fan_in, generator))


# -- losses ------------------------------------------------------------------------------------------------------------


def gradient_penalty(disc: Discriminator, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """WGAN-GP's E[(‖∇_x̂ D(x̂)‖₂ − 1)²] on random interpolates x̂ = εx + (1 − ε)x̃."""
    eps = torch.rand((real.shape[0], 1, 1, 1), generator=generator)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    critic, _ = disc(mixed)
    (grad,) = torch.autograd.grad(critic.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_s for D: E[D(fake)] − E[D(real)] (the Wasserstein critic)."""
    return fake_scores.mean() - real_scores.mean()


def generator_loss(fake_scores: Tensor) -> Tensor:
    """L_s for G: −E[D(G(z, y))]."""
    return -fake_scores.mean()


def auxiliary_loss(logits: Tensor, y: Tensor, seen: Tensor) -> Tensor:
    """L_c: cross-entropy of the auxiliary head over the seen classes only (``seen``: bool over all classes)."""
    return F.cross_entropy(logits.masked_fill(~seen, float("-inf")), y)
