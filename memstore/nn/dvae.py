"""The discrete VAE of Riemer et al., "Scalable Recollections for Continual Lifelong Learning" (AAAI 2019).

``c`` categorical latents of ``l`` classes each; Gumbel-softmax with a hard one-hot sample forward and the soft
sample's gradient backward (their eq. 1–2, Jang et al. 2017), temperature τ fixed at 1 by default; three convolutions
in the encoder, three transposed convolutions in the decoder, kernel 5, ``f = ceil(c·l / 4)`` filters per layer
(their appendix: "the number of filters in each layer is equal to cl/4"), an ELU between layers (the paper names no
activation; ReLU before decision 0037, see :data:`ACTIVATIONS`); binary cross-entropy reconstruction::

    x (C,H,W) ─conv5/2─▶ f×14×14 ─conv5/2─▶ f×7×7 ─conv5/2─▶ f×2×2 = 4f ≥ c·l logits ─▶ (c, l)
                                                                                   │ Gumbel: hard one-hot forward,
    x̂ (C,H,W) ◀─deconv5/2── f×14×14 ◀─deconv5/2── f×7×7 ◀─deconv5/2── f×2×2 ◀─ z ◀┘ softmax((logits+g)/τ) backward

The sizes shown are MNIST's (28×28): the bottleneck is 2×2×f, so the code layer holds ``4f ≈ c·l`` values, which is
the paper's reason for the cl/4 rule. When ``c·l`` is not a multiple of 4 the first ``c·l`` of the ``4f`` values are
the logits and the decoder's surplus inputs are zero. Other shapes keep the same three layers (the last convolution
pads when the map is smaller than the kernel; an adaptive average pool brings the code map to 2×2) and the decoder
mirrors the encoder's sizes exactly (``output_padding``).

``code_side`` s (2, the paper's, by default) is the side of that code map: with s = 4 a layer that would leave fewer
than 4 rows keeps stride 1, the map is pooled to 4×4, and ``f = ceil(c·l / 16)`` filters hold the code. The same
network width then holds a code four times wider (not in the paper; decision 0029)::

    MNIST, s = 4:  x ─conv5/2─▶ f×14×14 ─conv5/2─▶ f×7×7 ─conv5/1─▶ f×7×7 ─pool─▶ f×4×4 = 16f ≥ c·l logits

Randomness: parameters are built on the meta device (no global RNG draw) and initialised from an injected
``torch.Generator`` with PyTorch's default rule (Kaiming-uniform, a=√5; bias U(±1/√fan_in)); Gumbel noise is drawn
from a CPU generator passed to :meth:`DiscreteVAE.loss` / :meth:`DiscreteVAE.forward`. Codes for storage are the
noise-free argmax of the logits (:meth:`DiscreteVAE.encode`).

Devices: ``model.to("cuda")`` moves the parameters; ``loss``, ``encode`` and ``decode`` move their inputs to the
model's device, and ``encode`` / ``decode`` hand results back on the input's device, so callers keep CPU tensors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import skip_init

from ..checks import check_fields, check_int, check_real, is_int
from ..errors import InvalidInputError

__all__ = ["ACTIVATIONS", "CODE_SIDES", "DVAEConfig", "DiscreteVAE", "check_activation", "check_code_side",
           "gumbel_softmax_hard", "pretrain", "usable_device"]

KERNEL = 5
CODE_SIDES = (2, 4)  # sides of the code map: the paper's 2×2, or 4×4 (decision 0029)
#: the nonlinearity between layers, by name. ReLU was the only one before decision 0037: the decoder's first layer
#: sees one-hot codes, and once its units are negative for every code none of them gets a gradient again (95 % of
#: them after 100 steps on two-colour MNIST); ELU has no such dead region, and is the default since.
ACTIVATIONS = {"elu": F.elu, "relu": F.relu}


@dataclass(frozen=True)
class DVAEConfig:
    """Shape of a discrete VAE: ``latents`` (c) categorical variables of ``classes`` (l) values, on ``item_shape``."""

    item_shape: tuple[int, int, int]
    latents: int
    classes: int
    tau: float = 1.0
    code_side: int = 2
    activation: str = "elu"

    def __post_init__(self) -> None:
        check_fields(self, check_int, "latents", low=1, high=1 << 16)
        check_fields(self, check_int, "classes", low=2, high=1 << 16)
        check_fields(self, check_real, "tau", low=0, high=1e3, open_low=True)
        object.__setattr__(self, "code_side", check_code_side(self.code_side))
        check_activation(self.activation)
        object.__setattr__(self, "item_shape", tuple(int(d) for d in self.item_shape))

    @property
    def filters(self) -> int:
        """Filters per layer: ``ceil(c·l / s²)`` (the paper's cl/4 at s = 2, rounded up so the s×s maps hold c·l)."""
        return -(-self.latents * self.classes // self.code_side**2)

    @property
    def num_params(self) -> int:
        """Parameters of :class:`DiscreteVAE` in closed form (three conv + three transposed conv, kernel 5, biases)."""
        channels, f, k2 = self.item_shape[0], self.filters, KERNEL * KERNEL
        return 2 * channels * f * k2 + 4 * f * f * k2 + 5 * f + channels

    def to_dict(self) -> dict:
        return {**asdict(self), "item_shape": list(self.item_shape)}


def check_code_side(code_side: object) -> int:
    """``code_side`` as a Python int if it is one of :data:`CODE_SIDES` (an int or NumPy integer, not a bool or a
    float); InvalidInputError else."""
    if not is_int(code_side) or code_side not in CODE_SIDES:
        raise InvalidInputError(f"code_side must be one of {CODE_SIDES}, got {code_side!r}")
    return int(code_side)


def check_activation(activation: object) -> str:
    """``activation`` if it names one of :data:`ACTIVATIONS`; InvalidInputError else."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise InvalidInputError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return activation


def usable_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or InvalidInputError if it is malformed or absent on this machine."""
    try:
        target = torch.device(device)
        torch.empty(0, device=target)  # raises if the backend is missing (no driver, not compiled in)
    except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
        raise InvalidInputError(f"device {str(device)!r} is not usable here: {exc}") from exc
    if target.type == "meta":
        raise InvalidInputError("device 'meta' holds no values: a store needs a device it can compute on")
    return target


def gumbel_softmax_hard(logits: Tensor, tau: float, generator: torch.Generator) -> Tensor:
    """Straight-through Gumbel-softmax over the last axis: one-hot of argmax(logits + g) forward, soft gradient back.
    The noise comes from ``generator`` only (never the global stream)."""
    if not isinstance(generator, torch.Generator):
        raise InvalidInputError(f"the Gumbel noise needs a torch.Generator, got {type(generator).__name__}")
    # drawn on the CPU from a CPU generator and moved: the same noise, and so the same codes, on every device
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).clamp_(1e-10, 1 - 1e-10).to(logits.device)
    soft = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
    hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def _conv_sizes(side: int, code_side: int = 2) -> tuple[list[int], list[int], list[int]]:
    """Sides after each of the three convolutions, each layer's padding and its stride: stride 2, except a layer
    that would leave fewer than ``code_side`` rows (8×8 digits' third layer at s = 2), which keeps stride 1 (and
    padding 2) so the code map stays s×s and no two logits of a latent are copies of one value."""
    sizes, pads, strides = [side], [], []
    for layer in range(3):
        pad = 0 if layer == 2 and sizes[-1] >= KERNEL else 2
        stride = 2 if (sizes[-1] + 2 * pad - KERNEL) // 2 + 1 >= code_side else 1
        pad = 2 if stride == 1 else pad
        pads.append(pad)
        strides.append(stride)
        sizes.append((sizes[-1] + 2 * pad - KERNEL) // stride + 1)
    return sizes, pads, strides


def _init(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default conv init, drawn from ``generator``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            fan_in = layer.weight.shape[1] * KERNEL * KERNEL
            if isinstance(layer, nn.ConvTranspose2d):
                fan_in = layer.weight.shape[0] * KERNEL * KERNEL
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class DiscreteVAE(nn.Module):
    """Encoder/decoder pair over ``config.latents`` categorical latents (see the module docstring)."""

    def __init__(self, config: DVAEConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.config = config
        channels, height, width = config.item_shape
        f = config.filters
        rows, columns = _conv_sizes(height, config.code_side), _conv_sizes(width, config.code_side)
        self._code_map = (rows[0][-1], columns[0][-1])
        widths = [channels, f, f, f]

        def layer(i: int) -> dict:
            return {"stride": (rows[2][i], columns[2][i]), "padding": (rows[1][i], columns[1][i])}

        self.encoder = nn.ModuleList(skip_init(nn.Conv2d, widths[i], widths[i + 1], KERNEL, **layer(i))
                                     for i in range(3))
        self.decoder = nn.ModuleList(
            skip_init(nn.ConvTranspose2d, widths[i + 1], widths[i], KERNEL, **layer(i),
                      output_padding=(self._output_padding(*rows, i), self._output_padding(*columns, i)))
            for i in reversed(range(3))
        )
        self._activation = ACTIVATIONS[config.activation]
        _init(self, generator)

    @staticmethod
    def _output_padding(sizes: list[int], pads: list[int], strides: list[int], i: int) -> int:
        """Extra rows (or columns) so that transposed layer ``i`` maps side ``sizes[i+1]`` back to exactly
        ``sizes[i]``."""
        return sizes[i] - ((sizes[i + 1] - 1) * strides[i] - 2 * pads[i] + KERNEL)

    # -- encoder / decoder -------------------------------------------------------------------------------------------

    def logits(self, x: Tensor) -> Tensor:
        """Items (B, C, H, W) in [0, 1] → latent logits (B, c, l)."""
        h = x
        for i, conv in enumerate(self.encoder):
            h = conv(h)
            if i < 2:
                h = self._activation(h)
        side = self.config.code_side
        h = F.adaptive_avg_pool2d(h, side) if h.shape[-2:] != (side, side) else h
        c, l = self.config.latents, self.config.classes
        return h.flatten(1)[:, : c * l].reshape(-1, c, l)

    def _one_hot(self, codes: Tensor) -> Tensor:
        """Integer codes (B, c) → one-hot latents (B, c, l) on :attr:`device`."""
        return F.one_hot(codes.to(self.device, torch.int64), self.config.classes).float()

    def _code_map_of(self, z: Tensor) -> Tensor:
        """One-hot (or relaxed) latents (B, c, l) → the decoder's input map (B, f, *code map)."""
        f, side = self.config.filters, self.config.code_side
        flat = z.flatten(1)
        h = F.pad(flat, (0, side * side * f - flat.shape[1])).reshape(-1, f, side, side)
        return F.adaptive_avg_pool2d(h, self._code_map) if self._code_map != (side, side) else h

    def decode_logits(self, z: Tensor) -> Tensor:
        """One-hot (or relaxed) latents (B, c, l) → pixel logits (B, C, H, W)."""
        h = self._code_map_of(z)
        for i, deconv in enumerate(self.decoder):
            h = deconv(h)
            if i < 2:
                h = self._activation(h)
        return h

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Pixel logits of the reconstruction through one hard Gumbel sample of the latents."""
        return self.decode_logits(gumbel_softmax_hard(self.logits(x), self.config.tau, generator))

    @property
    def device(self) -> torch.device:
        """Where the parameters live (``model.to(device)`` moves them); inputs are moved here."""
        return self.encoder[0].weight.device

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Binary cross-entropy of the reconstruction (mean over pixels and items), computed on :attr:`device`."""
        x = x.to(self.device)
        return F.binary_cross_entropy_with_logits(self(x, generator), x)

    def code_loss(self, codes: Tensor, targets: Tensor) -> Tensor:
        """Binary cross-entropy of decoding integer ``codes`` (B, c) as ``targets`` (B, C, H, W): the decoder alone,
        no encoder and no noise."""
        return F.binary_cross_entropy_with_logits(self.decode_logits(self._one_hot(codes)), targets.to(self.device))

    # -- codes -------------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Items → integer codes (B, c): the argmax class of every latent (no noise), on ``x``'s device."""
        return self.logits(x.to(self.device)).argmax(-1).to(x.device)

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """Integer codes (B, c) → items (B, C, H, W) in [0, 1], on ``codes``' device."""
        return torch.sigmoid(self.decode_logits(self._one_hot(codes))).to(codes.device)

    @torch.no_grad()
    def inactive_decoder_units(self, codes: Tensor) -> float:
        """The share of the decoder's first-layer channels that are negative everywhere for every one of ``codes``
        (B, c): under ReLU units no code reaches, which no gradient reaches either (decision 0037)."""
        first = self.decoder[0](self._code_map_of(self._one_hot(codes)))
        return (first < 0).all(-1).all(-1).all(0).float().mean().item()

    def random_codes(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` codes with every latent uniform over its classes (the paper's "code sampling")."""
        return torch.randint(self.config.classes, (n, self.config.latents), generator=generator)


def pretrain(
    model: DiscreteVAE,
    x: Tensor,
    *,
    epochs: int = 1,
    batch_size: int = 50,
    lr: float = 1e-3,
    generator: torch.Generator,
    on_epoch=None,
) -> DiscreteVAE:
    """Offline training on ``x`` (Adam, BCE), shuffled by ``generator``: a warm start for a store, or Table 5's fit.

    ``on_epoch(epoch, model)`` is called after every epoch (for logging distortion as training goes).
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch_size):
            optimiser.zero_grad()
            model.loss(x[order[start:start + batch_size]], generator).backward()
            optimiser.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model
