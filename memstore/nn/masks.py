"""Learned binary masks with dynamic expansion: DGM (Ostapenko et al., CVPR 2019, §3.1–3.2), after HAT (Serrà et al.).

Per task t every masked layer l has a real-valued embedding e^t_l; its mask is m^t_l = σ(s·e^t_l) (eq. 2), applied
to the layer's weights (eq. 1). Two variants:

- :class:`DGMw`: one mask element per weight (and per bias), shaped like the layer's parameters;
- :class:`DGMa`: one mask element per output unit (an activation mask, HAT's), broadcast over the unit's weights.
  The output layer's units are image channels and stay unmasked.

Data flow of one task (``MaskBank``)::

    begin_task ─▶ e^t = 0 (m = 0.5)                      embeddings: the only trainable mask state
    step:  s = schedule(step)            (eq. 3–4)      DGMw: local + global annealing; DGMa: global only
           masks = σ(s·e^t) ─▶ layer(x; m ⊙ W, m_b ⊙ b) (eq. 1)
           loss += λ_RU · α · R_t(m^t, m^{<t})          (eq. 6; α = S_t / S_free, the used-capacity ratio)
           backward ─▶ g' = (1 − m^{<t}) ⊙ g            (eq. 5; DGMa: HAT's 1 − min(m_out^{<t}, m_in^{<t}))
                     ─▶ HAT's gradient compensation and clamp of e
    freeze ─▶ m^t = [e^t > 0] (s → ∞), m^{≤t} = max(m^t, m^{<t}); newly reserved δ_l per layer
    grow   ─▶ each hidden layer gains δ_l units (DGMa) or ⌈δ_l / n_l⌉ units, n_l = fan-in (DGMw)   (§3.2)

Frozen masks are kept at the size they had when frozen (units added later are 0 for old tasks: padding is implied),
which is also how they are stored and charged (:func:`memstore.budget.mask_bits`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DGMa", "DGMw", "MaskBank", "MaskVariant", "MaskedLayer", "MASK_VARIANTS", "pad_to"]

#: HAT's bounds: embeddings are clamped to ±6 and cosh's argument to ±50 (numerical safety only).
EMBEDDING_CLAMP = 6.0
COSH_CLAMP = 50.0

LayerMasks = dict[str, Tensor]


class MaskedLayer(nn.Module):
    """A generator layer with weight (out, in, kh, kw): out units along dim 0, in units along dim 1.

    ``project``: the input is a vector (B, in), mapped to (B, out, kh, kw) (the paper's projection by a convolution);
    otherwise the input is upsampled ``upsample``× (nearest) and convolved with padding ``kh // 2``.
    """

    def __init__(self, in_units: int, out_units: int, kernel: tuple[int, int], *, project: bool, upsample: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.project, self.upsample, self.kernel = project, upsample, kernel
        fan_in = in_units * math.prod(kernel)
        self.weight = nn.Parameter(uniform_init((out_units, in_units, *kernel), fan_in, generator))
        self.bias = nn.Parameter(uniform_init((out_units,), in_units * math.prod(kernel), generator))

    @property
    def out_units(self) -> int:
        return int(self.weight.shape[0])

    @property
    def fan_in(self) -> int:
        """n of §3.2: weights per output unit."""
        return int(math.prod(self.weight.shape[1:]))

    def forward(self, x: Tensor, weight_mask: Tensor | None = None, bias_mask: Tensor | None = None) -> Tensor:
        weight = self.weight if weight_mask is None else self.weight * weight_mask  # eq. 1: (m ◦ W)
        bias = self.bias if bias_mask is None else self.bias * bias_mask
        if self.project:
            return torch.einsum("bi,oihw->bohw", x, weight) + bias[None, :, None, None]
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return F.conv2d(x, weight, bias, padding=(self.kernel[0] // 2, self.kernel[1] // 2))

    @torch.no_grad()
    def grow_out(self, units: int, generator: torch.Generator) -> None:
        """Add ``units`` output units (rows), freshly initialised."""
        fan_in = self.fan_in
        device = self.weight.device  # drawn on the CPU from the CPU generator, then moved: the same on every device
        rows = uniform_init((units, *self.weight.shape[1:]), fan_in, generator).to(device)
        self.weight = nn.Parameter(torch.cat([self.weight.detach(), rows]))
        self.bias = nn.Parameter(torch.cat([self.bias.detach(), uniform_init((units,), fan_in, generator).to(device)]))

    @torch.no_grad()
    def grow_in(self, units: int, generator: torch.Generator) -> None:
        """Add ``units`` input units (columns: the previous layer grew), freshly initialised."""
        out, _, kh, kw = self.weight.shape
        fan_in = (self.weight.shape[1] + units) * kh * kw
        columns = uniform_init((out, units, kh, kw), fan_in, generator).to(self.weight.device)
        self.weight = nn.Parameter(torch.cat([self.weight.detach(), columns], dim=1))


def uniform_init(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> Tensor:
    """U(−1/√fan_in, 1/√fan_in), torch's default for conv layers, drawn from an injected generator."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def pad_to(mask: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """A frozen mask zero-padded to a grown layer's shape (units added later are unused by old tasks)."""
    if tuple(mask.shape) == tuple(shape):
        return mask.float()
    out = torch.zeros(shape, device=mask.device)
    out[tuple(slice(0, d) for d in mask.shape)] = mask.float()
    return out


def global_scale(step: int, steps: int, s_max: float) -> float:
    """Eq. 3 over ``steps``: 1/s_max at the first step, s_max at the last."""
    fraction = step / (steps - 1) if steps > 1 else 1.0
    return 1.0 / s_max + (s_max - 1.0 / s_max) * fraction


class MaskVariant(ABC):
    """What distinguishes DGMw from DGMa: mask shapes, how a mask reaches the weights, the gates, the growth rule."""

    name: ClassVar[str]
    #: whether a mask element stands for a whole unit (and the bias mask is the unit mask)
    masks_units: ClassVar[bool]
    #: λ_RU of eq. 6 when GANTraining leaves it unset (the paper gives none; see each variant)
    lambda_ru: ClassVar[float]
    #: the released code's MNIST λ_RU, s_max and initial hidden widths (cfg_mnist_dgm*.yml: ngf × (4, 2, 1))
    released_lambda_ru: ClassVar[float]
    released_s_max: ClassVar[float]
    released_widths: ClassVar[tuple[int, ...]]

    @abstractmethod
    def shapes(self, layer: MaskedLayer, last: bool) -> dict[str, tuple[int, ...]]:
        """Embedding (and mask) shapes of one layer."""

    @abstractmethod
    def expand(self, masks: LayerMasks, layer: MaskedLayer) -> tuple[Tensor | None, Tensor | None]:
        """(weight mask, bias mask) broadcastable to the layer's parameters; None where the layer is unmasked."""

    @abstractmethod
    def gates(self, cumulative: list[LayerMasks], index: int, layers: list[MaskedLayer],
              any_frozen: bool) -> tuple[Tensor, Tensor]:
        """Eq. 5's (1 − m^{<t}) for the weight and the bias of layer ``index``."""

    @abstractmethod
    def added_units(self, reserved: int, layer: MaskedLayer) -> int:
        """§3.2: output units to add to a hidden layer after ``reserved`` mask elements were newly reserved."""

    @abstractmethod
    def scale(self, step: int, steps: int, s_max: float, epochs: int) -> float:
        """s at ``step`` of ``steps`` (eq. 3–4)."""


class DGMw(MaskVariant):
    """Masks per weight. Annealing: within 'epoch' i of I, s goes from 1/s^i_max to s^i_max (eq. 4), with s^i_max
    itself going from 1/s_max to s_max over the I epochs (eq. 3), read literally. Growth: ⌈δ / n⌉ units.
    Default λ_RU 0.75, HAT's value."""

    name = "dgmw"
    masks_units = False
    lambda_ru = 0.75
    released_lambda_ru, released_s_max, released_widths = 0.08, 1e4, (24, 12, 6)

    def shapes(self, layer: MaskedLayer, last: bool) -> dict[str, tuple[int, ...]]:
        return {"weight": tuple(layer.weight.shape), "bias": tuple(layer.bias.shape)}

    def expand(self, masks: LayerMasks, layer: MaskedLayer) -> tuple[Tensor | None, Tensor | None]:
        return masks["weight"], masks["bias"]

    def gates(self, cumulative: list[LayerMasks], index: int, layers: list[MaskedLayer],
              any_frozen: bool) -> tuple[Tensor, Tensor]:
        return 1 - cumulative[index]["weight"], 1 - cumulative[index]["bias"]

    def added_units(self, reserved: int, layer: MaskedLayer) -> int:
        return -(-reserved // layer.fan_in)

    def scale(self, step: int, steps: int, s_max: float, epochs: int) -> float:
        epochs = max(1, min(epochs, steps))
        per_epoch = -(-steps // epochs)
        epoch, batch = divmod(step, per_epoch)
        epoch_max = global_scale(epoch, epochs, s_max)  # eq. 3
        batches = min(per_epoch, steps - epoch * per_epoch)
        fraction = batch / (batches - 1) if batches > 1 else 1.0
        return 1.0 / epoch_max + (epoch_max - 1.0 / epoch_max) * fraction  # eq. 4


class DGMa(MaskVariant):
    """Masks per output unit (HAT's activation masks); the output layer is unmasked. Global annealing only (eq. 3
    over the task's steps). Gates: HAT's 1 − min(m_out^{<t}, m_in^{<t}); the network's inputs (noise, condition)
    and outputs (pixels) count as always used once a task is frozen. Growth: δ units. Default λ_RU 0.03: eq. 6 sums
    a few dozen unit masks here against DGMw's tens of thousands of weight masks, and a 500-iteration probe of the
    project's generator on one MNIST class reserved no unit at λ_RU ≥ 0.1, nearly all at ≤ 0.01 (docs/results.md)."""

    name = "dgma"
    masks_units = True
    lambda_ru = 0.03
    released_lambda_ru, released_s_max, released_widths = 0.01, 1e5, (80, 40, 20)

    def shapes(self, layer: MaskedLayer, last: bool) -> dict[str, tuple[int, ...]]:
        return {} if last else {"unit": (layer.out_units,)}

    def expand(self, masks: LayerMasks, layer: MaskedLayer) -> tuple[Tensor | None, Tensor | None]:
        if "unit" not in masks:
            return None, None
        return masks["unit"][:, None, None, None], masks["unit"]

    def gates(self, cumulative: list[LayerMasks], index: int, layers: list[MaskedLayer],
              any_frozen: bool) -> tuple[Tensor, Tensor]:
        layer, used = layers[index], float(any_frozen)
        device = layer.weight.device
        out = cumulative[index].get("unit", torch.full((layer.out_units,), used, device=device))
        inputs = (cumulative[index - 1]["unit"] if index > 0
                  else torch.full((layer.weight.shape[1],), used, device=device))
        weight_gate = 1 - torch.minimum(out[:, None], inputs[None, :])[:, :, None, None]
        return weight_gate, 1 - out

    def added_units(self, reserved: int, layer: MaskedLayer) -> int:
        return reserved

    def scale(self, step: int, steps: int, s_max: float, epochs: int) -> float:
        return global_scale(step, steps, s_max)


MASK_VARIANTS: dict[str, type[MaskVariant]] = {cls.name: cls for cls in (DGMw, DGMa)}


class MaskBank(nn.Module):
    """Every task's frozen binary masks, their running union m^{≤t}, and the current task's embeddings e^t."""

    def __init__(self, variant: MaskVariant, layers: list[MaskedLayer]) -> None:
        super().__init__()
        self.variant = variant
        self.layers = layers  # a plain list: the generator owns the layers
        self.frozen: list[list[LayerMasks]] = []  # [task][layer] name -> bool mask at its frozen size
        self.embeddings = nn.ParameterList()

    @property
    def device(self) -> torch.device:
        """Where the layers (and so the masks) are."""
        return self.layers[0].weight.device

    def shapes(self, index: int) -> dict[str, tuple[int, ...]]:
        return self.variant.shapes(self.layers[index], index == len(self.layers) - 1)

    # -- the current task ------------------------------------------------------------------------------------------

    def begin_task(self) -> None:
        """Fresh embeddings e^t = 0 (m = 0.5 at any s, as in §3.2) for every mask element."""
        self.embeddings = nn.ParameterList(nn.Parameter(torch.zeros(shape, device=self.device))
                                           for index in range(len(self.layers))
                                           for shape in self.shapes(index).values())

    def _by_layer(self) -> list[list[str]]:
        return [list(self.shapes(index)) for index in range(len(self.layers))]

    def soft(self, s: float) -> list[LayerMasks]:
        """m^t = σ(s·e^t) (eq. 2), per layer."""
        values = iter(self.embeddings)
        return [{name: torch.sigmoid(s * next(values)) for name in names} for names in self._by_layer()]

    def binary(self, task: int) -> list[LayerMasks]:
        """Task ``task``'s frozen masks, padded to the layers' current sizes, as float 0/1."""
        return [{name: pad_to(mask, self.shapes(index)[name]) for name, mask in masks.items()}
                for index, masks in enumerate(self.frozen[task])]

    def cumulative(self) -> list[LayerMasks]:
        """m^{<t}: the union of every frozen mask (zeros before the first task)."""
        union = [{name: torch.zeros(shape, device=self.device) for name, shape in self.shapes(index).items()}
                 for index in range(len(self.layers))]
        for task in range(len(self.frozen)):
            for index, masks in enumerate(self.binary(task)):
                for name, mask in masks.items():
                    union[index][name] = torch.maximum(union[index][name], mask)
        return union

    def weight_masks(self, masks: list[LayerMasks]) -> list[tuple[Tensor | None, Tensor | None]]:
        return [self.variant.expand(layer_masks, layer) for layer_masks, layer in zip(masks, self.layers)]

    # -- eq. 5, eq. 6 and HAT's embedding gradient -------------------------------------------------------------------

    def capacity_ratio(self) -> float:
        """α = S_t / S_free: mask elements in the network over those still free (before training task t)."""
        union = self.cumulative()
        total = sum(mask.numel() for masks in union for mask in masks.values())
        free = sum(float((1 - mask).sum()) for masks in union for mask in masks.values())
        return total / max(free, 1.0)

    def regulariser(self, masks: list[LayerMasks], cumulative: list[LayerMasks]) -> Tensor:
        """Eq. 6: R_t = Σ m^t (1 − m^{<t}) / Σ (1 − m^{<t}) over every mask element: reuse of reserved units is free."""
        used = sum((masks[i][name] * (1 - cumulative[i][name])).sum() for i in range(len(masks)) for name in masks[i])
        free = sum(float((1 - cumulative[i][name]).sum()) for i in range(len(masks)) for name in masks[i])
        return torch.as_tensor(used) / max(free, 1.0)

    def gate_gradients(self, cumulative: list[LayerMasks]) -> None:
        """Eq. 5: g' = (1 − m^{<t}) g on every layer's weight and bias gradient (call after backward)."""
        for index, layer in enumerate(self.layers):
            weight_gate, bias_gate = self.variant.gates(cumulative, index, self.layers, bool(self.frozen))
            if layer.weight.grad is not None:
                layer.weight.grad.mul_(weight_gate)
            if layer.bias.grad is not None:
                layer.bias.grad.mul_(bias_gate)

    def compensate(self, s: float, s_max: float) -> None:
        """HAT's gradient compensation for the embeddings: scale by s_max (cosh(s e) + 1) / (s (cosh(e) + 1)), so that
        their step size does not depend on where the annealing of s stands."""
        for e in self.embeddings:
            if e.grad is not None:
                value = e.detach()
                arg = torch.clamp(s * value, -COSH_CLAMP, COSH_CLAMP)
                e.grad.mul_(s_max * (torch.cosh(arg) + 1) / (s * (torch.cosh(value) + 1)))

    @torch.no_grad()
    def clamp(self) -> None:
        for e in self.embeddings:
            e.clamp_(-EMBEDDING_CLAMP, EMBEDDING_CLAMP)

    # -- end of task: binarise, then expand ----------------------------------------------------------------------------

    def freeze(self) -> list[int]:
        """Binarise m^t = [e^t > 0] (s → ∞), keep it, drop the embeddings; returns δ_l, the newly reserved elements."""
        before = self.cumulative()
        values = iter(self.embeddings)
        task = [{name: next(values).detach() > 0 for name in names} for names in self._by_layer()]
        self.frozen.append(task)
        self.embeddings = nn.ParameterList()
        return [int(sum(int((mask & (before[i][name] == 0)).sum()) for name, mask in task[i].items()))
                for i in range(len(task))]

    def growth(self, reserved: list[int]) -> list[int]:
        """§3.2: units to add to each hidden layer (the output layer's units are pixels: it never grows)."""
        return [self.variant.added_units(count, layer) for count, layer in zip(reserved[:-1], self.layers[:-1])]
