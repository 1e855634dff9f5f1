"""SelfRecallStore: Ji, Henriques, Tuytelaars & Vedaldi, "Automatic Recall Machines: Internal Replay, Continual
Learning and the Brain" (ARM, 2020) — a store that stores nothing.

Replay items are *recalled* from the task model itself: each call to ``sample`` starts from randomly chosen items of
the current real batch and takes S gradient-ascent steps on their recall objective (eq. 9, with the regulariser of
eq. 10); the batch comes back with soft targets equal to the old model's outputs::

    sample(M, context=RecallContext(model f_θ', old_model f_θ or None, batch B)):
        B̂_X ← B_X[i_0..M-1], i ~ U(0, N-1)                                          Algorithm 1, line 6
        S × [ B̂_X ← clamp_[0,1](B̂_X + η1 ∇ recall(B̂_X; B, f_θ, f_θ')) ]              line 8 (eq. 9, 10)
        return Batch(x=B̂_X, y=argmax f_θ(B̂_X), keys=None, soft=softmax f_θ(B̂_X))     B̂_Y, eq. 9

    recall = 1/M Σ_x̂ [ D·JS(f_θ'(x̂), f_θ(x̂))                                        eq. 5
                      + λ1/C Σ_{y ∈ set(B_Y)} CE(f_θ(x̂), y) + λ2/C Σ_{y ∈ set(B_Y)} CE(f_θ'(x̂), y) ]
             + λ3 H(mean_x̂ softmax f_θ(x̂)) − λ4/M Σ CE(f_θ(x̂), argmax f_θ(x̂)) − λ5 L2(B̂_X) − λ6 TV(B̂_X)   eq. 10

The old model f_θ is ``context.old_model`` when given (unit lag, T = 1: the learner's copy from before its step, kept
by nobody between steps), otherwise the parameters this store keeps (lag T > 1: a snapshot taken by ``end_task`` or
``keep``), evaluated on ``context.model``'s architecture with ``torch.func.functional_call``.

Bits (docs/backends/arm.md): payload, labels and index are 0; ``models`` is the kept snapshot's bits (32 per float32
parameter: the paper's "+Model mem." column), 0 under unit lag. ``edit`` raises ``NotEditable``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..budget import Budget, Ledger, param_bits
from ..checks import WEIGHT_MAX, check_fields, check_int, check_real
from ..errors import BudgetTooSmallError, InvalidInputError, MemstoreError, MissingContextError, NonFiniteError
from ..store import Batch, MemoryStore, RecallContext, TaskContext

__all__ = [
    "DIVERGENCES", "RecallObjective", "SelfRecallStore", "js_divergence", "kl_from_mean", "recall_objective",
    "total_variation",
]


@dataclass(frozen=True)
class RecallObjective:
    """Eq. 9–10's weights and Algorithm 1's recall loop; defaults are their Table 6 for MNIST.

    ``steps`` S, ``rate`` η1, ``divergence`` the weight on D (1; Table 4's unit lag uses 8), ``old_current`` λ1,
    ``new_current`` λ2, ``entropy`` λ3, ``sharpen`` λ4, ``l2`` λ5, ``tv`` λ6. ``clamp`` projects every step onto
    X = [0, 1] (eq. 4's x̂ ∈ X; their code does not clamp, decision 0012). ``divergence_form``: ``"js"``, eq. 5's
    Jensen–Shannon ½[KL(p‖m) + KL(q‖m)]; ``"official"``, what their code maximises, ½[KL(m‖p) + KL(m‖q)] with
    m = ½(p + q) and gradients through m (:func:`kl_from_mean`).
    """

    steps: int = 10
    rate: float = 25.0
    divergence: float = 1.0
    old_current: float = 1.0
    new_current: float = 0.1
    entropy: float = 16.0
    sharpen: float = 0.1
    l2: float = 1.0
    tv: float = 1.0
    clamp: bool = True
    divergence_form: str = "js"

    def __post_init__(self) -> None:
        check_fields(self, check_int, "steps", low=0)
        check_fields(self, check_real, "rate", "divergence", "old_current", "new_current", "entropy", "sharpen", "l2",
                     "tv", low=0, high=WEIGHT_MAX)
        if not isinstance(self.clamp, bool):
            raise InvalidInputError(f"RecallObjective.clamp must be a bool, got {self.clamp!r}")
        if self.divergence_form not in DIVERGENCES:
            raise InvalidInputError(f"divergence_form must be one of {sorted(DIVERGENCES)}, got "
                                    f"{self.divergence_form!r}")


def js_divergence(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    """Per-row Jensen–Shannon divergence of eq. 5: ½ (KL(p ‖ m) + KL(q ‖ m)), m = ½ (p + q), in nats."""
    log_p, log_q = F.log_softmax(logits_p, dim=1), F.log_softmax(logits_q, dim=1)
    log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - torch.log(torch.tensor(2.0))
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(dim=1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(dim=1)
    return 0.5 * (kl_pm + kl_qm)


def kl_from_mean(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    """Per-row ½ (KL(m ‖ p) + KL(m ‖ q)), m = ½ (p + q), in nats, gradients through m too: the symmetric divergence
    the official ARM code maximises (eq. 5 writes the Jensen–Shannon form, :func:`js_divergence`)."""
    log_p, log_q = F.log_softmax(logits_p, dim=1), F.log_softmax(logits_q, dim=1)
    m = 0.5 * (log_p.exp() + log_q.exp())
    log_m = m.clamp_min(torch.finfo(m.dtype).tiny).log()
    return 0.5 * ((m * (log_m - log_p)).sum(dim=1) + (m * (log_m - log_q)).sum(dim=1))


#: the recall divergences by ``RecallObjective.divergence_form``
DIVERGENCES = {"js": js_divergence, "official": kl_from_mean}


def total_variation(x: Tensor) -> Tensor:
    """Squared total variation of a (B, C, H, W) batch: per image, the mean squared difference of vertical and of
    horizontal neighbours (summed over the two directions, ×2), averaged over the batch (their code's scaling)."""
    vertical = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).flatten(1).sum(1) / max(1, x[0, :, 1:, :].numel())
    horizontal = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).flatten(1).sum(1) / max(1, x[0, :, :, 1:].numel())
    return 2 * (vertical + horizontal).mean()


def recall_objective(x: Tensor, new_logits: Tensor, old_logits: Tensor, current: Tensor,
                     weights: RecallObjective) -> Tensor:
    """Eq. 9 with eq. 10's regulariser, to be maximised over ``x`` (the recall batch B̂_X).

    ``current`` holds set(B_Y), the classes of the real batch; CE terms push recall away from them (¬local, eq. 3).
    L2(B̂_X) is the mean per-image L2 norm divided by the image's element count (their code's scaling).
    """
    per_item = weights.divergence * DIVERGENCES[weights.divergence_form](new_logits, old_logits)
    for y in current.tolist():
        target = torch.full((x.shape[0],), y, dtype=torch.int64)
        per_item = per_item + (weights.old_current * F.cross_entropy(old_logits, target, reduction="none")
                               + weights.new_current * F.cross_entropy(new_logits, target, reduction="none")
                               ) / current.numel()
    mean_old = F.softmax(old_logits, dim=1).mean(dim=0).clamp_min(torch.finfo(x.dtype).eps)
    batch_entropy = -(mean_old * mean_old.log()).sum()
    sharpening = F.cross_entropy(old_logits, old_logits.argmax(dim=1).detach())
    l2 = x.flatten(1).norm(dim=1).mean() / x[0].numel()
    return (per_item.mean() + weights.entropy * batch_entropy - weights.sharpen * sharpening
            - weights.l2 * l2 - weights.tv * total_variation(x))


class SelfRecallStore(MemoryStore):
    """ARM's recall as a store: no items, only (for lag T > 1) the old model's parameters.

    ``keep_old_model=True`` (lag T > 1, their default T = iterations per task): ``end_task(TaskContext(model=m))``
    or ``keep(m)`` snapshots m's parameters and buffers, charged as ``Ledger.models``. ``keep_old_model=False``
    (unit lag): nothing is kept and ``sample`` needs ``context.old_model``.

    ``can_sample`` is true when ``sample`` has an old model to recall against without one in the context: under unit
    lag always (the context must bring it), otherwise once a snapshot is kept. ``len`` is always 0.
    """

    store_type = "self-recall"
    max_sample: ClassVar[int | None] = 1 << 16
    keeps_items: ClassVar[bool] = False
    needs_context: ClassVar[bool] = True
    filters_by_class: ClassVar[bool] = False  # recall is conditioned on the real batch: no classes= or tasks=

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        objective: RecallObjective | None = None,
        keep_old_model: bool = True,
        seed: int | None = None,
        num_tasks: int | None = None,
    ) -> None:
        super().__init__(budget, item_shape, num_classes, seed=seed, num_tasks=num_tasks)
        if objective is not None and not isinstance(objective, RecallObjective):
            raise InvalidInputError(f"objective must be a RecallObjective, got {type(objective).__name__}")
        if not isinstance(keep_old_model, bool):
            raise InvalidInputError(f"keep_old_model must be a bool, got {keep_old_model!r}")
        self.objective = objective or RecallObjective()
        self.keeps_old_model = keep_old_model
        self._old: dict[str, Tensor] | None = None

    # -- the contract ---------------------------------------------------------------------------------------------

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        """Check the batch and admit nothing: recall needs no stored items."""
        self.check_write(x, y, task)
        return 0

    def __len__(self) -> int:
        return 0

    @property
    def can_sample(self) -> bool:
        return not self.keeps_old_model or self._old is not None

    @property
    def filters_by_task(self) -> bool:
        return False

    @property
    def consolidates_at_end_task(self) -> bool:
        """Under lag T > 1 ``end_task`` snapshots the task's model; under unit lag it does nothing."""
        return self.keeps_old_model

    def ledger(self) -> Ledger:
        return Ledger(models=0 if self._old is None else param_bits(self._old.values()))

    def end_task(self, context: TaskContext) -> None:
        """Lag T = iterations per task: the model at the end of a task becomes the old model of the next one."""
        self.check_task_context(context)
        if self.keeps_old_model and context.model is not None:
            self.keep(context.model)

    def keep(self, model: nn.Module) -> None:
        """Snapshot ``model``'s parameters and buffers as the old model θ (Algorithm 1, line 11)."""
        if not self.keeps_old_model:
            raise InvalidInputError("a unit-lag SelfRecallStore keeps no old model (keep_old_model=False)")
        if not isinstance(model, nn.Module):
            raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        snapshot = {name: t.detach().clone() for name, t in (*model.named_parameters(), *model.named_buffers())}
        bits = param_bits(snapshot.values())
        if self.budget.charge_models and bits > self.budget.bits:
            raise BudgetTooSmallError(f"the old model's {bits} bits exceed the budget of {self.budget.bits} bits")
        self._old = snapshot

    def sample(
        self,
        n: int,
        *,
        classes: Any = None,
        tasks: Any = None,
        context: RecallContext | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """M = ``n`` recalled items optimised from the context's real batch (Algorithm 1, lines 6–8)."""
        n = self.check_count(n)
        self.check_generator(generator)
        self.check_generated(n)
        if classes is not None or tasks is not None:
            raise InvalidInputError("recall is conditioned on the current batch: classes= and tasks= must be None")
        real = self._check_context(context)
        assert context is not None
        if n == 0 or len(real) == 0:
            empty = self.empty_batch()
            return Batch(x=empty.x, y=empty.y, keys=None, soft=torch.empty((0, self.num_classes)))
        generator = generator or self.generator
        state = generator.get_state()
        count = len(real)
        start = (torch.randperm(count, generator=generator)[:n] if n <= count
                 else torch.randint(count, (n,), generator=generator))
        try:
            recalled = self.recall(real.x[start], real.y.unique(), context)
            with torch.no_grad():
                soft = F.softmax(self.old_logits(recalled, context), dim=1)
            if soft.shape != (recalled.shape[0], self.num_classes):
                raise InvalidInputError(f"the models give logits of shape {tuple(soft.shape)}; this store recalls "
                                        f"{self.num_classes} classes")
            if not (bool(torch.isfinite(recalled).all()) and bool(torch.isfinite(soft).all())):
                raise NonFiniteError("recall produced NaN or infinite items (are the models' outputs finite?)")
        except MemstoreError:
            generator.set_state(state)  # a failed sample draws nothing
            raise
        except Exception as exc:  # the models are the caller's code: one that cannot take these items or give logits
            generator.set_state(state)
            raise InvalidInputError(f"recall failed (can the context's models take these items and give "
                                    f"{self.num_classes} logits?): {type(exc).__name__}: {exc}") from exc
        return Batch(x=recalled, y=soft.argmax(dim=1), keys=None, soft=soft)

    # -- recall ---------------------------------------------------------------------------------------------------

    def recall(self, x: Tensor, current: Tensor, context: RecallContext) -> Tensor:
        """S ascent steps of rate η1 on eq. 9 from ``x``; gradients reach only the inputs, never the models."""
        weights = self.objective
        recalled = x.detach().clone()
        for _ in range(weights.steps):
            recalled.requires_grad_(True)
            objective = recall_objective(recalled, context.model(recalled), self.old_logits(recalled, context),
                                         current, weights)
            (gradient,) = torch.autograd.grad(objective, recalled)
            recalled = (recalled + weights.rate * gradient).detach()
            if weights.clamp:
                recalled = recalled.clamp_(0.0, 1.0)
        return recalled

    def old_logits(self, x: Tensor, context: RecallContext) -> Tensor:
        """f_θ(x): ``context.old_model`` if given, else the kept snapshot on ``context.model``'s architecture."""
        if context.old_model is not None:
            return context.old_model(x)
        if self._old is None:
            raise MissingContextError("no old model: pass context.old_model (unit lag) or call end_task/keep first")
        return functional_call(context.model, self._old, (x,), strict=True)

    def _check_context(self, context: RecallContext | None) -> Batch:
        if not isinstance(context, RecallContext) or not isinstance(context.model, nn.Module):
            raise MissingContextError("SelfRecallStore.sample needs RecallContext(model, old_model, batch)")
        if not isinstance(context.batch, Batch):
            raise MissingContextError(f"RecallContext.batch must be a memstore.Batch of the real items, got "
                                      f"{type(context.batch).__name__}")
        if context.old_model is not None and not isinstance(context.old_model, nn.Module):
            raise InvalidInputError(f"RecallContext.old_model must be a torch.nn.Module or None, got "
                                    f"{type(context.old_model).__name__}")
        if context.old_model is None and self._old is None:
            raise MissingContextError("no old model: pass context.old_model (unit lag) or call end_task/keep first")
        batch = context.batch
        self.check_items(batch.x)
        self.check_labels(batch.y, int(batch.x.shape[0]))
        if self._old is not None and context.old_model is None:
            self._check_architecture(context.model)
        return batch

    def _check_architecture(self, model: nn.Module) -> None:
        assert self._old is not None
        shapes = {name: t.shape for name, t in (*model.named_parameters(), *model.named_buffers())}
        if shapes != {name: t.shape for name, t in self._old.items()}:
            raise InvalidInputError("context.model's parameters do not match the kept old model's")

    # -- persistence ----------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "budget": {"bits": self.budget.bits, "charge_models": self.budget.charge_models},
            "item_shape": list(self.item_shape),
            "num_classes": self.num_classes,
            "objective": asdict(self.objective),
            "keep_old_model": self.keeps_old_model,
            "seed": self.seed,
            "num_tasks": self.num_tasks,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MemoryStore:
        kwargs = dict(config)
        kwargs["budget"] = Budget(**config["budget"])
        kwargs["item_shape"] = tuple(config["item_shape"])
        kwargs["objective"] = RecallObjective(**config["objective"])
        return cls(**kwargs)

    def state_dict(self) -> dict[str, Any]:
        old = {} if self._old is None else {name: t.clone() for name, t in self._old.items()}
        return {"payload": torch.zeros(0, dtype=torch.uint8), "kept": self._old is not None, "old_model": old,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        kept = bool(state["kept"])
        if kept and not self.keeps_old_model:
            raise InvalidInputError("state holds an old model but this store is unit-lag (keep_old_model=False)")
        if int(torch.as_tensor(state["payload"]).numel()) != 0:
            raise InvalidInputError("a SelfRecallStore's payload is empty")
        old = {name: torch.as_tensor(t).clone() for name, t in state["old_model"].items()} if kept else None
        if old is not None and self.budget.charge_models and param_bits(old.values()) > self.budget.bits:
            raise BudgetTooSmallError("the saved old model exceeds this store's budget")
        generator = torch.as_tensor(state["generator"], dtype=torch.uint8).clone()
        self.generator.set_state(generator)
        self._old = old
