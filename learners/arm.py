"""ARM: Ji, Henriques, Tuytelaars & Vedaldi, "Automatic Recall Machines" — their Algorithm 1 with distillation.

Per stream batch B = (x, y), with f_θ' the model and f_θ the old model::

    1. θ' ← θ' − η0 ∇ CE(f_θ'(x), y)                                          line 5: a step on the real batch
    2. B̂ ← store.sample(M, context=RecallContext(f_θ', f_θ or None, B))        lines 6–8: recall (eq. 9, 10)
    3. θ' ← θ' − η0 ∇ [ λ0(B̂_X) · CE(f_θ'(B̂_X), B̂.soft)                       line 9: recalled items, old targets
                       + λ0(B_X) · KD(f_θ'(x), f_θ(x)) ]                        + standard distillation on B_X

Steps 2–3 run from the second task on ("replay begins from the end of the 1st task"). The two terms of step 3 are two
means added, as their code does (decision 0013); KD is ``learners.lwf.distillation_loss`` at temperature 1, which has
the gradient of their KL(f_θ(x) ‖ f_θ'(x)). ``replay_size`` M = 0 leaves step 3 with distillation alone: their
"Distill (LwF)" baseline (a second step, on the KD term only).

The lag T belongs to the :class:`~memstore.SelfRecallStore`: a store that keeps the old model refreshes it at every
``end_task`` (T = iterations per task); under unit lag (``keep_old_model=False``) this learner copies the model before
step 1 and hands the copy to the store in the context (T = 1: nothing persists between steps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import Batch, RecallContext, SelfRecallStore
from memstore.capabilities import RecallsFromModel, require
from memstore.checks import WEIGHT_MAX, check_real, plain

from .base import Learner, Step
from .lwf import KeptModel, distillation_loss, frozen_copy

__all__ = ["ARM"]


class ARM(Learner):
    """Algorithm 1 with distillation over a :class:`SelfRecallStore` (defaults: their Table 6 for MNIST, M = 10)."""

    def __init__(
        self,
        model: nn.Module,
        store: SelfRecallStore,
        *,
        lr: float = 0.05,
        replay_size: int = 10,
        recall_weight: float = 1.0,
        distill_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        require(store, RecallsFromModel, "ARM")
        check_real("recall_weight", recall_weight, low=0, high=WEIGHT_MAX)
        check_real("distill_weight", distill_weight, low=0, high=WEIGHT_MAX)
        recall_weight, distill_weight = plain(recall_weight), plain(distill_weight)
        super().__init__(model, store, lr=lr, replay_size=replay_size, generator=generator)
        self.recall_store = store
        self.recall_weight = recall_weight
        self.distill_weight = distill_weight

    def observe(self, x: Tensor, y: Tensor, task: int | None = None) -> Step:
        """Algorithm 1, lines 4–9, on one stream batch."""
        self.check_batch(x, y, task)
        if task is not None:
            self._task = task
        recalling = self.current_task > 0 and self.recall_store.can_sample
        old = frozen_copy(self.model) if recalling and not self.recall_store.keeps_old_model else None
        loss = self.update(x, y, None)                                       # 1. the real batch
        replayed = 0
        if recalling:
            context = RecallContext(self.model, old, Batch(x, y))
            recalled = self.recall(context)                                  # 2. recall
            replayed = 0 if recalled is None else len(recalled)
            self.consolidate(context, recalled)                              # 3. recalled + real, old targets
        self.remember(x, y)
        return Step(loss=float(loss), replayed=replayed)

    def recall(self, context: RecallContext) -> Batch | None:
        """M recalled items with the old model's soft targets, or None when M = 0."""
        if self.replay_size == 0:
            return None
        return self.recall_store.sample(self.replay_size, context=context, generator=self.generator)

    def consolidate(self, context: RecallContext, recalled: Batch | None) -> None:
        """Step 3: one SGD step on λ0·CE(f_θ'(B̂_X), f_θ(B̂_X)) + λ0·KD(f_θ'(B_X), f_θ(B_X))."""
        assert context.batch is not None
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            old_real = self.recall_store.old_logits(context.batch.x, context)
        loss = self.distill_weight * distillation_loss(self.model(context.batch.x), old_real, 1.0)
        if recalled is not None and len(recalled):
            assert recalled.soft is not None
            loss = loss + self.recall_weight * F.cross_entropy(self.model(recalled.x), recalled.soft)
        loss.backward()
        self.optimizer.step()

    def model_bits(self) -> KeptModel:
        """The old model the store keeps between steps (0 under unit lag), as LwF reports its copy."""
        bits = self.recall_store.ledger().models
        if not bits:
            return KeptModel(None, 0, 0)
        return KeptModel(self.current_task - 1, sum(p.numel() for p in self.model.parameters()), bits)
