"""Gradient plumbing shared by the learners that look ahead or project: flat gradients and a virtual SGD step.

:func:`lookahead` takes the *virtual* step of MIR (Aljundi et al. 2019, their eq. for theta^v) and GMED (Jin et al.
2021, Algorithm 1): ``theta' = theta - lr * grad mean CE(stream)``. It never touches the model: ``theta'`` lives in a
dict of detached tensors and is evaluated with :func:`torch.func.functional_call`, so nothing needs restoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["Lookahead", "assign_flat_grad", "flat_grad", "lookahead"]


def flat_grad(loss: Tensor, params: Iterable[nn.Parameter], *, retain_graph: bool = False) -> Tensor:
    """The gradient of ``loss`` with respect to ``params`` as one flat vector (zeros for unused parameters)."""
    params = list(params)
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


def assign_flat_grad(params: Iterable[nn.Parameter], vector: Tensor) -> None:
    """Write the flat ``vector`` into the parameters' ``.grad`` (the optimizer then steps along it)."""
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = vector[offset : offset + n].view_as(p).clone()
        offset += n
    if offset != vector.numel():
        raise ValueError(f"gradient vector has {vector.numel()} values for {offset} parameters")


@dataclass(frozen=True)
class Lookahead:
    """The model at ``theta`` and the virtual parameters ``theta'`` one SGD step on the stream batch later."""

    model: nn.Module
    virtual: dict[str, Tensor]

    def before(self, x: Tensor) -> Tensor:
        """Logits at ``theta`` (the model itself; differentiable in ``x`` and ``theta``)."""
        return self.model(x)

    def after(self, x: Tensor) -> Tensor:
        """Logits at ``theta'`` (differentiable in ``x`` only)."""
        return functional_call(self.model, self.virtual, (x,))

    def increase(self, x: Tensor, y: Tensor) -> Tensor:
        """Per-item loss increase ``CE(theta') - CE(theta)``: MIR's interference score (no gradient)."""
        with torch.no_grad():
            return F.cross_entropy(self.after(x), y, reduction="none") - F.cross_entropy(
                self.before(x), y, reduction="none"
            )


def lookahead(model: nn.Module, x: Tensor, y: Tensor, lr: float) -> Lookahead:
    """One virtual plain-SGD step of size ``lr`` on mean CE of the stream batch ``(x, y)``; the model is unchanged."""
    names, params = zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad], strict=True)
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), params, allow_unused=True)
    virtual = {
        n: (p - lr * g).detach() if g is not None else p.detach()
        for n, p, g in zip(names, params, grads, strict=True)
    }
    return Lookahead(model, virtual)
