"""Gradient Episodic Memory (Lopez-Paz & Ranzato 2017), task-aware, over a store that keeps task ids.

The store holds a memory per task (build it with ``num_tasks`` and the ``PerTask()`` policy: an equal share per
task, each task's most recent items). Each step computes the stream gradient ``g`` and, for every earlier task
``k``, the gradient ``g_k`` of mean CE on all of that task's stored items (``store.sample(n, tasks=[k])``). If some
``<g, g_k> < 0``, ``g`` is replaced by the solution of their QP (eq. 10-11), solved in its dual with quadprog::

    min_v  1/2 v^T (G G^T + eps I) v + g^T G^T v   s.t.  v >= margin,      g~ = G^T v + g

``margin`` is their "memory strength" (default 0.5), imposed as a lower bound on ``v`` as their code does; at the
optimum ``G g~ = mu >= 0`` (the KKT multipliers), so every constraint holds for any margin >= 0.
The loss is the stream's mean CE only: GEM does not replay, it constrains.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import Batch, MemoryStore
from memstore.capabilities import MissingCapabilityError
from memstore.checks import WEIGHT_MAX, check_real, plain

from .base import Learner
from .lookahead import assign_flat_grad, flat_grad

__all__ = ["GEM", "gem_project"]


def gem_project(g: Tensor, memories: Tensor, *, margin: float = 0.5, eps: float = 1e-3) -> Tensor:
    """GEM's projection of ``g`` (shape (P,)) given earlier tasks' gradients ``memories`` (shape (K, P)).

    Returns ``g`` itself when no constraint is violated (``memories @ g >= 0``). With ``eps = 0`` the result meets
    every constraint; their ridge ``eps`` (1e-3, for a well-posed QP) relaxes constraint ``k`` by ``eps * v_k``.
    """
    if memories.numel() == 0:
        return g
    dots = memories @ g
    if bool((dots >= 0).all()):
        return g
    k = memories.shape[0]
    gram = (memories @ memories.T).double().cpu().numpy()  # only the small K x K problem goes to float64
    p = 0.5 * (gram + gram.T) + eps * np.eye(k)
    q = -dots.double().cpu().numpy()  # quadprog minimises 1/2 v^T P v - q^T v subject to C^T v >= b
    import quadprog  # the gem extra: only GEM's projection needs it

    v = quadprog.solve_qp(p, q, np.eye(k), np.full(k, margin))[0]
    return torch.from_numpy(v).to(dtype=g.dtype, device=g.device) @ memories + g


class GEM(Learner):
    """GEM: one SGD step along the stream gradient projected so no earlier task's memory loss rises."""

    def __init__(
        self,
        model: nn.Module,
        store: MemoryStore,
        *,
        lr: float,
        margin: float = 0.5,
        eps: float = 1e-3,
        generator: torch.Generator | None = None,
    ) -> None:
        if store is None or not (store.keeps_items and store.filters_by_task):  # declared, docs/design.md
            raise MissingCapabilityError("GEM needs a store of items that keeps task ids (built with num_tasks; "
                                         f"policy PerTask()), got {store!r}")
        check_real("margin", margin, low=0, high=WEIGHT_MAX)
        check_real("eps", eps, low=0, high=WEIGHT_MAX)
        margin, eps = plain(margin), plain(eps)
        super().__init__(model, store, lr=lr, replay_size=0, generator=generator)
        self.margin = margin
        self.eps = eps
        self.projections = 0  # steps on which a constraint was violated and the QP solved

    @property
    def memory(self) -> MemoryStore:
        assert self.store is not None
        return self.store

    def task_memory(self, task: int) -> Batch:
        """All stored items of ``task`` (the store's per-task share)."""
        return self.memory.sample(len(self.memory), tasks=[task], generator=self.generator)

    def memory_gradients(self) -> Tensor:
        """One row per earlier task with stored items: the gradient of mean CE on that task's memory."""
        params = list(self.model.parameters())
        rows = []
        for task in range(self.current_task):
            batch = self.task_memory(task)
            if len(batch):
                rows.append(flat_grad(F.cross_entropy(self.model(batch.x), batch.y), params))
        if not rows:
            return torch.empty(0, sum(p.numel() for p in params))
        return torch.stack(rows)

    def update(self, x: Tensor, y: Tensor, replay: Batch | None) -> Tensor:
        self.model.train()
        params = list(self.model.parameters())
        memories = self.memory_gradients()
        loss = F.cross_entropy(self.model(x), y)
        g = flat_grad(loss, params)
        projected = gem_project(g, memories, margin=self.margin, eps=self.eps)
        self.projections += int(projected is not g)
        assign_flat_grad(params, projected)
        self.optimizer.step()
        return loss.detach()
