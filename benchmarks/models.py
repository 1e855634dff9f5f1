"""The learner's model spec: a ReLU MLP with PyTorch's default init (or Xavier's), seeded without touching the global
RNG."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["MLPSpec"]


@dataclass(frozen=True)
class MLPSpec:
    """A ReLU MLP: ``hidden`` widths, e.g. (400, 400) for MNIST, (100, 100) for digits. ``init``: ``"torch"``,
    PyTorch's default (Kaiming-uniform, a = √5); ``"xavier"``, Xavier-uniform weights and zero biases, as the GEM and
    MER code Riemer et al. build on."""

    hidden: tuple[int, ...] = (400, 400)
    init: str = field(default="torch", metadata={"since": "2026-12-02"})

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

    def seeded(self, item_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
        """``build`` with PyTorch's default init drawn under ``torch.manual_seed(seed)``; the global RNG is left as
        it was (the init is the only draw that cannot take a ``generator=``)."""
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
        return "mlp-" + "x".join(str(h) for h in self.hidden) + ("" if self.init == "torch" else f"-{self.init}")
