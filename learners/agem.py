"""Averaged GEM (Chaudhry et al. 2019), task-free, over any store.

Each step: the stream gradient ``g`` (mean CE of the stream batch) and a reference gradient ``g_ref`` (mean CE of
``reference_size`` random memory items; GMED's comparison draws 256). If ``<g, g_ref> < 0`` the update follows
``g - (<g, g_ref> / <g_ref, g_ref>) g_ref`` (their eq. 11), else ``g``. No replay loss: A-GEM constrains, it does
not rehearse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import Batch, MemoryStore
from memstore.checks import check_int
from memstore.errors import InvalidInputError

from .base import Learner
from .lookahead import assign_flat_grad, flat_grad

__all__ = ["AGEM", "agem_project"]


def agem_project(g: Tensor, g_ref: Tensor) -> Tensor:
    """A-GEM's projection: ``g`` unchanged unless it points against ``g_ref``, then its component along it removed."""
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return g
    return g - (dot / torch.dot(g_ref, g_ref).clamp_min(1e-12)) * g_ref


class AGEM(Learner):
    """A-GEM: an SGD step along the stream gradient, projected against a memory sample's average gradient."""

    def __init__(
        self,
        model: nn.Module,
        store: MemoryStore,
        *,
        lr: float,
        reference_size: int = 256,
        generator: torch.Generator | None = None,
    ) -> None:
        if store is None:
            raise InvalidInputError("A-GEM needs a store")
        reference_size = check_int("reference_size", reference_size, low=1)
        super().__init__(model, store, lr=lr, replay_size=0, generator=generator)
        self.reference_size = reference_size

    def reference(self) -> Batch | None:
        """The reference batch: ``reference_size`` random memory items (None while the memory is empty)."""
        assert self.store is not None
        if not self.store.can_sample:
            return None
        batch = self.store.sample(self.reference_size, generator=self.generator)
        return batch if len(batch) else None

    def update(self, x: Tensor, y: Tensor, replay: Batch | None) -> Tensor:
        self.model.train()
        params = list(self.model.parameters())
        ref = self.reference()
        loss = F.cross_entropy(self.model(x), y)
        g = flat_grad(loss, params)
        if ref is not None:
            g = agem_project(g, flat_grad(F.cross_entropy(self.model(ref.x), ref.y), params))
        assign_flat_grad(params, g)
        self.optimizer.step()
        return loss.detach()
