"""The masked AC-GAN of DGM (Ostapenko et al. 2019, §3.3): a small DCGAN whose generator carries DGM's masks.

Generator (one projection, then one ×2 up-convolution per further hidden width; the projection is a convolution,
not a fully connected layer)::

    [z ‖ onehot(y)] ─▶ project (k = base) ─▶ ReLU ─▶ (up×2, conv 3×3 ─▶ ReLU) per hidden width ─▶ up×2, conv 3×3
                    ─▶ sigmoid (tanh when ``signed``) ─▶ crop to the GAN's H×W
                       every layer: (m ⊙ W) x + m_b ⊙ b   with the masks of one task (eq. 1), see :mod:`.masks`

Two hidden widths: 28×28 → 7×7 → 14×14 → 28×28. Three (the released code's depth): 32×32 → 4 → 8 → 16 → 32.

Discriminator (AC-GAN; no normalisation by default, as WGAN-GP asks; the released code's batch norm after every
layer but the first with ``critic_norm``)::

    x ─▶ (conv k×k /2 [─▶ BN] ─▶ LeakyReLU) per critic width ─▶ flatten ─┬▶ critic (1)          L_s, WGAN-GP
                                                                         └▶ classifier (classes) L_c, the task solver

GAN space: the networks work on the item's (C, H, W), or on (C, *canvas) with items resized bilinearly
(``canvas``), in [0, 1] or in [−1, 1] (``signed``): the released code's 32×32 inputs in [−1, 1] for MNIST.
:meth:`ACGANSpec.to_gan` and :meth:`ACGANSpec.to_items` convert; ``Discriminator.classify`` takes items.

Losses: WGAN-GP (Gulrajani et al.: E[D(fake)] − E[D(real)] + λ_GP E[(‖∇D(x̂)‖ − 1)²]) and the auxiliary cross-entropy,
restricted to the classes seen so far (single head over Y^t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_fields, check_int
from ..errors import InvalidInputError
from .masks import MaskBank, MaskedLayer, MaskVariant, uniform_init

__all__ = ["ACGANSpec", "Discriminator", "MaskedGenerator", "auxiliary_loss", "critic_loss", "generator_loss",
           "gradient_penalty"]


@dataclass(frozen=True)
class ACGANSpec:
    """Sizes of the AC-GAN: ``latent`` noise dims; generator hidden ``widths`` (initial units, before growth; one
    or more); discriminator ``critic_widths`` (one or more), its ``critic_kernel`` and batch norm (``critic_norm``);
    the GAN space (``canvas``, ``signed``: see the module); ``task_norm``: a batch norm of its own per task after
    every hidden layer of G (the released code's), batch statistics while the task trains, its running ones after.
    ``mask_activations``: unit masks (DGMa) also multiply each hidden layer's output after its batch norm and ReLU,
    HAT's placement, so a unit outside a task's mask gives 0 as in the paper's eq. 1. Without it (the released
    code's placement) a masked unit is zero only before the batch norm, which turns it into its shift: the task then
    reads that unit through weights its mask does not protect (docs/decisions/0042-dgma-activation-masks.md)."""

    item_shape: tuple[int, int, int]
    num_classes: int
    latent: int = 32
    widths: tuple[int, ...] = (32, 16)
    critic_widths: tuple[int, ...] = (16, 32)
    critic_kernel: int = 3
    critic_norm: bool = False
    canvas: tuple[int, int] | None = None
    signed: bool = False
    task_norm: bool = False
    mask_activations: bool = False

    def __post_init__(self) -> None:
        if not self.widths or not self.critic_widths:
            raise InvalidInputError(f"ACGANSpec needs at least one width and one critic width, got {self}")
        check_fields(self, check_int, "latent", low=1, high=1 << 16)
        check_fields(self, check_int, "critic_kernel", low=1, high=15)
        if self.canvas is not None and len(self.canvas) != 2:
            raise InvalidInputError(f"ACGANSpec.canvas must be (H, W), got {self.canvas!r}")
        for name, high in (("widths", 1 << 16), ("critic_widths", 1 << 16), ("canvas", 1 << 12)):
            values = getattr(self, name)
            if values is None:
                continue
            checked = [check_int(f"ACGANSpec.{name}", value, low=1, high=high) for value in values]
            if any(type(value) is not int for value in values):  # NumPy integers: the ints they equal
                object.__setattr__(self, name, type(values)(checked))
        for name in ("critic_norm", "signed", "task_norm", "mask_activations"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"ACGANSpec.{name} must be a bool, got {getattr(self, name)!r}")

    @classmethod
    def released(cls, item_shape: tuple[int, int, int], num_classes: int, widths: tuple[int, ...]) -> ACGANSpec:
        """The released code's MNIST networks (SAP/machine-learning-dgm, cfg_mnist_*.yml): noise 128, three hidden
        widths with a batch norm per task, a 5×5 discriminator of 32 / 64 / 128 channels with batch norm, 32×32 inputs
        in [−1, 1]."""
        return cls(item_shape, num_classes, latent=128, widths=widths, critic_widths=(32, 64, 128), critic_kernel=5,
                   critic_norm=True, canvas=(32, 32), signed=True, task_norm=True)

    @property
    def gan_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of what the networks generate and judge."""
        channels, height, width = self.item_shape
        return (channels, *self.canvas) if self.canvas is not None else (channels, height, width)

    @property
    def base(self) -> tuple[int, int]:
        """Spatial size of the projection: the GAN's, halved once per hidden width, rounded up."""
        factor = 2 ** len(self.widths)
        return (-(-self.gan_shape[1] // factor), -(-self.gan_shape[2] // factor))

    def to_gan(self, x: Tensor) -> Tensor:
        """Items (B, *item_shape) in [0, 1] into GAN space."""
        if self.canvas is not None and tuple(x.shape[2:]) != self.canvas:
            x = F.interpolate(x, size=self.canvas, mode="bilinear", align_corners=False, antialias=True)
        return x * 2 - 1 if self.signed else x

    def to_items(self, x: Tensor) -> Tensor:
        """GAN-space images back to items (B, *item_shape) in [0, 1]."""
        x = (x + 1) / 2 if self.signed else x
        if tuple(x.shape[2:]) != tuple(self.item_shape[1:]):
            x = F.interpolate(x, size=self.item_shape[1:], mode="bilinear", align_corners=False, antialias=True)
        return x.clamp(0, 1)


class MaskedGenerator(nn.Module):
    """The conditional generator G(z, y; M) with a :class:`MaskBank`; ``widths`` grow task by task (§3.2)."""

    def __init__(self, spec: ACGANSpec, variant: MaskVariant, generator: torch.Generator) -> None:
        super().__init__()
        if spec.mask_activations and not variant.masks_units:
            raise InvalidInputError(f"mask_activations needs unit masks (DGMa); {variant.name} masks weights")
        self.spec = spec
        units = (*spec.widths, spec.item_shape[0])
        layers = [MaskedLayer(spec.latent + spec.num_classes, units[0], spec.base, project=True, upsample=1,
                              generator=generator)]
        layers += [MaskedLayer(units[i], units[i + 1], (3, 3), project=False, upsample=2, generator=generator)
                   for i in range(len(units) - 1)]
        self.layers = nn.ModuleList(layers)
        self.bank = MaskBank(variant, list(self.layers))
        self.norms = nn.ModuleList()  # with spec.task_norm: [task] one BatchNorm2d per hidden layer

    def begin_task(self) -> None:
        """Fresh mask embeddings and, with ``task_norm``, the new task's batch norms at today's widths."""
        self.bank.begin_task()
        if self.spec.task_norm:
            del self.norms[len(self.bank.frozen):]
            device = self.layers[0].weight.device  # where the generator computes, not the CPU default
            self.norms.append(nn.ModuleList(nn.BatchNorm2d(units, device=device) for units in self.widths))

    #: what a task's batch norm stores: its scale, shift and running statistics
    NORM_TENSORS = ("weight", "bias", "running_mean", "running_var")

    def norm_tensors(self) -> list[Tensor]:
        """Every task's batch-norm scales, shifts and running statistics (stored with the weights)."""
        return [getattr(norm, name) for task in self.norms for norm in task for name in self.NORM_TENSORS]

    def norm_parameters(self) -> list[Tensor]:
        """The trainable scales and shifts of the task in training."""
        if not self.spec.task_norm or len(self.norms) <= len(self.bank.frozen):
            return []
        return [p for norm in self.norms[len(self.bank.frozen)] for p in (norm.weight, norm.bias)]

    def _norm(self, h: Tensor, index: int, slot: int | None) -> Tensor:
        if not self.spec.task_norm:
            return h
        if slot is None:
            raise InvalidInputError("a generator with task_norm needs the task slot it generates for")
        norm = self.norms[slot][index]
        units = norm.num_features  # units added after this task are zero for it: passed through
        live = slot >= len(self.bank.frozen)  # the task in training: batch statistics; a frozen one: its own
        out = F.batch_norm(h[:, :units], norm.running_mean, norm.running_var, norm.weight, norm.bias,
                           training=live, momentum=norm.momentum, eps=norm.eps)
        return torch.cat([out, h[:, units:]], dim=1) if h.shape[1] > units else out

    @property
    def widths(self) -> tuple[int, ...]:
        """Units of the hidden layers now."""
        return tuple(layer.out_units for layer in self.layers[:-1])

    def weights(self) -> list[Tensor]:
        """The base network's parameters (what is stored and charged), without the transient mask embeddings."""
        return [p for layer in self.layers for p in (layer.weight, layer.bias)]

    def forward(self, z: Tensor, y: Tensor, masks: list[tuple[Tensor | None, Tensor | None]],
                slot: int | None = None) -> Tensor:
        """GAN-space images for noise ``z`` (B, latent) and labels ``y`` (B,) under per-layer (weight, bias) masks;
        ``slot``: the task whose batch norms apply (``task_norm`` only)."""
        h = torch.cat([z, F.one_hot(y, self.spec.num_classes).to(z.dtype)], dim=1)
        last = len(self.layers) - 1
        for index, (layer, (weight_mask, bias_mask)) in enumerate(zip(self.layers, masks)):
            h = layer(h, weight_mask, bias_mask)
            if index < last:
                h = F.relu(self._norm(h, index, slot))
                if self.spec.mask_activations and bias_mask is not None:
                    h = h * bias_mask[None, :, None, None]  # DGMa's bias mask is its unit mask
        h = torch.tanh(h) if self.spec.signed else torch.sigmoid(h)
        _, height, width = self.spec.gan_shape
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
        self.spec = spec
        channels, height, width = spec.gan_shape
        kernel, layers, previous = spec.critic_kernel, [], channels
        for index, units in enumerate(spec.critic_widths):
            norm = spec.critic_norm and index > 0
            with torch.device("meta"):  # no draw from the global RNG: the weights come from ``generator`` below
                layers.append(nn.Conv2d(previous, units, kernel, stride=2, padding=kernel // 2,
                                        bias=not spec.critic_norm))
                layers += [nn.BatchNorm2d(units)] if norm else []
            layers.append(nn.LeakyReLU(0.2))
            previous, height, width = units, _halved(height, kernel), _halved(width, kernel)
        with torch.device("meta"):
            self.features = nn.Sequential(*layers, nn.Flatten())
            self.critic = nn.Linear(previous * height * width, 1)
            self.classifier = nn.Linear(previous * height * width, spec.num_classes)
        self.to_empty(device="cpu")
        reinitialise(self, generator)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(critic scores (B,), class logits (B, classes)) of GAN-space images."""
        h = self.features(x)
        return self.critic(h).squeeze(1), self.classifier(h)

    def classify(self, x: Tensor) -> Tensor:
        """Class logits of items (B, *item_shape) in [0, 1]: the task solver's output."""
        device = self.classifier.weight.device
        return self.classifier(self.features(self.spec.to_gan(x.to(device)))).to(x.device)


def _halved(size: int, kernel: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // 2 + 1  # a k×k convolution, stride 2, padding k // 2


@torch.no_grad()
def reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """torch's default U(±1/√fan_in) for every conv/linear layer, drawn from ``generator`` (not the global RNG);
    batch norms start at the identity with fresh running statistics."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.weight.fill_(1.0)
            layer.bias.zero_()
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            fan_in = math.prod(layer.weight.shape[1:])
            layer.weight.copy_(uniform_init(tuple(layer.weight.shape), fan_in, generator))
            if layer.bias is not None:
                layer.bias.copy_(uniform_init(tuple(layer.bias.shape), fan_in, generator))


# -- losses ------------------------------------------------------------------------------------------------------------


def gradient_penalty(disc: Discriminator, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """WGAN-GP's E[(‖∇_x̂ D(x̂)‖₂ − 1)²] on random interpolates x̂ = εx + (1 − ε)x̃."""
    eps = torch.rand((real.shape[0], 1, 1, 1), generator=generator).to(real.device)
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
