"""The learner's model spec: a ReLU MLP with PyTorch's default init (or Xavier's), seeded without touching the global
RNG, optionally centring its inputs on the first task's mean image."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["Centre", "MLPSpec"]


class Centre(nn.Module):
    """``x − mean``: a fixed input centring (a buffer, not trained)."""

    def __init__(self, mean: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.mean


@dataclass(frozen=True)
class MLPSpec:
    """A ReLU MLP: ``hidden`` widths, e.g. (400, 400) for MNIST, (100, 100) for digits. ``init``: ``"torch"``,
    PyTorch's default (Kaiming-uniform, a = √5); ``"xavier"``, Xavier-uniform weights and zero biases, as the GEM and
    MER code Riemer et al. build on. ``centre``: subtract the mean image of the first task's training inputs before
    the first layer (:class:`Centre`), known before the stream starts as JPEG's automatic quality is. Plain SGD on
    uncentred inputs that are mostly bright (inverted digits, colour images) takes steps several times larger per
    unit of the first layer than on dark, sparse MNIST, and the GMED setting's learner then stays at chance
    (inverted and two-colour MNIST) or learns erratically (the synthetic colour images, decision 0040)."""

    hidden: tuple[int, ...] = (400, 400)
    init: str = field(default="torch", metadata={"since": "2026-12-02"})
    centre: bool = field(default=False, metadata={"since": "2026-12-04"})

    def __post_init__(self) -> None:
        if self.init not in ("torch", "xavier"):
            raise ValueError(f"init must be 'torch' or 'xavier', got {self.init!r}")

    def build(self, item_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        widths = [int(torch.tensor(item_shape).prod()), *self.hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(w_in, w_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        return nn.Sequential(*layers)

    def seeded(self, item_shape: tuple[int, ...], num_classes: int, seed: int,
               calibration: torch.Tensor | None = None) -> nn.Module:
        """``build`` with PyTorch's default init drawn under ``torch.manual_seed(seed)``; the global RNG is left as
        it was (the init is the only draw that cannot take a ``generator=``). ``calibration``: the first task's
        training inputs, whose mean image a ``centre`` model subtracts (required then)."""
        if self.centre and calibration is None:
            raise ValueError("a centring model needs the first task's inputs (calibration)")
        model = self._seeded(item_shape, num_classes, seed)
        return nn.Sequential(Centre(calibration.mean(dim=0)), *model) if self.centre else model

    def _seeded(self, item_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.build(item_shape, num_classes)
            if self.init == "xavier":
                for layer in model:
                    if isinstance(layer, nn.Linear):
                        nn.init.xavier_uniform_(layer.weight)
                        nn.init.zeros_(layer.bias)
            return model

    @property
    def label(self) -> str:
        return ("mlp-" + "x".join(str(h) for h in self.hidden) + ("" if self.init == "torch" else f"-{self.init}")
                + ("-centred" if self.centre else ""))
