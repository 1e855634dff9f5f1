"""How :class:`~memstore.stores.mnemonics.MnemonicsStore` chooses and optimises its exemplars.

Four strategies, injected into the store as objects (never a string switch):

- :class:`RandomSelection`: a uniform random subset of each class of the phase data;
- :class:`Herding`: iCaRL's herding (Rebuffi et al. 2017, Alg. 4, after Welling 2009): greedily pick the item that
  keeps the running mean of the chosen L2-normalised features nearest the class mean. The feature is the input of the
  model's last ``nn.Linear`` (the penultimate activations; for the project's MLP, the second 400-unit ReLU layer);
- :class:`MnemonicsCode`: the objective of the authors' released code (herding start, a cosine nearest-class-mean
  loss, no unrolled step), beside the paper's;
- :class:`Mnemonics`: Liu et al.'s local bilevel optimisation. Exemplars start as a random subset (their §4.3), then::

      for each outer step (eq. 9):                            E_i: new-class exemplars, D_i: the phase data
          Θ' ← Θ_i;  repeat inner_steps: Θ' ← Θ' − α₂ ∇_Θ' L_c(Θ'; E_i)             (eq. 8, unrolled with torch.func)
          E_i ← clamp(E_i − β₁ ∇_E L_c(Θ'(E_i); batch of D_i), 0, 1)                 (eq. 9, gradient through eq. 8)
      adjust=True, old exemplars split per class into halves A and B (eq. 10):
          E^A ← E^A − β₂ ∇ L_c(Θ'(E^A); E^B)   then   E^B ← E^B − β₂ ∇ L_c(Θ'(E^B); E^A)

``select`` picks indices of one class's phase data in priority order (the store keeps that order, so shrinking a class
keeps its first exemplars, as iCaRL does); ``refine`` optimises the chosen exemplars (identity for the baselines).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad

from ..checks import WEIGHT_MAX, check_fields, check_int, check_real
from ..errors import InvalidInputError, MissingContextError

__all__ = ["SELECTIONS", "Herding", "Mnemonics", "MnemonicsCode", "RandomSelection", "Selection",
           "penultimate_features", "seen_logits", "selection_from_config", "unrolled_loss"]

#: Selection classes by ``selection_id``.
SELECTIONS: dict[str, type[Selection]] = {}


class Selection(ABC):
    """Chooses a class's exemplars from the phase data, then (optionally) optimises all exemplars."""

    selection_id: ClassVar[str] = ""
    #: whether ``select``/``refine`` need ``TaskContext.model``
    needs_model: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("selection_id"):
            SELECTIONS[cls.selection_id] = cls

    @abstractmethod
    def select(self, x: Tensor, m: int, model: nn.Module | None, generator: torch.Generator) -> Tensor:
        """Indices (int64) of ``min(m, len(x))`` items of one class's data ``x``, most important first."""

    def refine(self, model: nn.Module | None, new: tuple[Tensor, Tensor], old: tuple[Tensor, Tensor],
               phase: tuple[Tensor, Tensor], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Optimised ``(new exemplars, old exemplars)``, same shapes; the baselines keep them as they are."""
        return new[0], old[0]

    def get_config(self) -> dict[str, Any]:
        return {"id": self.selection_id, **asdict(self)}  # type: ignore[call-overload]


def selection_from_config(config: dict[str, Any]) -> Selection:
    """The selection a config describes (its ``id`` names the class)."""
    try:
        cls = SELECTIONS[config["id"]]
    except KeyError as exc:
        raise InvalidInputError(f"unknown selection config {config!r}") from exc
    return cls(**{k: v for k, v in config.items() if k != "id"})


@dataclass(frozen=True)
class RandomSelection(Selection):
    """A uniform random subset of the class (the paper's *random* baseline)."""

    selection_id: ClassVar[str] = "random"

    def select(self, x: Tensor, m: int, model: nn.Module | None, generator: torch.Generator) -> Tensor:
        return torch.randperm(int(x.shape[0]), generator=generator)[:m]


def _last_linear(model: nn.Module) -> nn.Linear:
    layers = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not layers:
        raise InvalidInputError(f"herding needs a model with an nn.Linear classifier, got {type(model).__name__}")
    return layers[-1]


def _features(model: nn.Module, x: Tensor) -> Tensor:
    """The input of ``model``'s last ``nn.Linear`` for ``x``, differentiable in ``x`` (no batching, no mode change)."""
    captured: list[Tensor] = []
    handle = _last_linear(model).register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return captured[0].flatten(1)


@torch.no_grad()
def penultimate_features(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> Tensor:
    """The input of ``model``'s last ``nn.Linear`` for every item of ``x`` (eval mode, the mode restored after)."""
    was_training = model.training
    model.eval()
    try:
        parts = [_features(model, x[start:start + batch_size]) for start in range(0, int(x.shape[0]), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts)


@dataclass(frozen=True)
class Herding(Selection):
    """iCaRL's herding on L2-normalised penultimate features (the paper's *herding* baseline)."""

    selection_id: ClassVar[str] = "herding"
    needs_model: ClassVar[bool] = True

    def select(self, x: Tensor, m: int, model: nn.Module | None, generator: torch.Generator) -> Tensor:
        if model is None:
            raise MissingContextError("herding needs TaskContext.model (its feature extractor)")
        features = F.normalize(penultimate_features(model, x), dim=1)
        mean = features.mean(dim=0)
        running = torch.zeros_like(mean)
        taken = torch.zeros(features.shape[0], dtype=torch.bool)
        chosen: list[int] = []
        for k in range(1, min(m, features.shape[0]) + 1):
            distance = (mean - (running + features) / k).pow(2).sum(dim=1).masked_fill(taken, float("inf"))
            pick = int(distance.argmin())
            chosen.append(pick)
            taken[pick] = True
            running += features[pick]
        return torch.tensor(chosen, dtype=torch.int64)


Params = dict[str, Tensor]


def seen_logits(logits: Tensor, seen: Tensor | None) -> Tensor:
    """``logits`` restricted to the columns of the classes in ``seen`` (all of them when None), the growing head's
    view: a label ``c`` is then scored against the seen classes only (labels keep their values; the masked columns
    are −inf, so they take no probability)."""
    if seen is None:
        return logits
    keep = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    keep[seen.to(logits.device)] = True
    return logits.masked_fill(~keep, float("-inf"))


def unrolled_loss(model: nn.Module, params: Params, exemplars: Tensor, labels: Tensor, val_x: Tensor, val_y: Tensor,
                  *, steps: int, lr: float, seen: Tensor | None = None) -> Tensor:
    """``L_c(Θ'(E); validation)`` with Θ' = ``params`` after ``steps`` gradient steps on ``(E, labels)`` (eq. 8).

    Pure in ``exemplars``: differentiating it with ``torch.func.grad`` back-propagates through the unrolled inner
    steps (a gradient through a gradient, their Hessian-vector products). ``seen``: the classes seen so far; both
    cross-entropies then ignore the other logits, as the phase learner's growing head does (None: all logits).
    """

    def fit_loss(p: Params, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(seen_logits(functional_call(model, p, (x,)), seen), y)

    inner = grad(fit_loss)
    for _ in range(steps):
        step = inner(params, exemplars, labels)
        params = {name: value - lr * step[name] for name, value in params.items()}
    return fit_loss(params, val_x, val_y)


@dataclass(frozen=True)
class Mnemonics(Selection):
    """Liu et al.'s mnemonics exemplars: random start, local BOP (eq. 8–9), optional old-exemplar adjustment (eq. 10).

    ``inner_steps``/``inner_lr``: the unrolled temporary-model steps of eq. 8 (α₂); ``outer_steps``/``outer_lr``:
    exemplar SGD steps (β₁), halved at every fifth of the steps (their "halved every 10 of 50 epochs");
    ``batch_size``: phase-data items per validation batch of eq. 9; ``adjust``: run eq. 10 on the old exemplars, at
    ``adjust_lr`` (β₂; ``outer_lr`` when None, as the paper sets β₁ = β₂); ``masked``: eq. 8–9's cross-entropies
    over the classes seen so far (the old and new exemplars' labels), the growing head the model is trained with
    (False: over every logit, what this store did before 2026-12-02, decision 0026).
    """

    selection_id: ClassVar[str] = "mnemonics"
    needs_model: ClassVar[bool] = True

    inner_steps: int = 5
    inner_lr: float = 0.01
    outer_steps: int = 50
    outer_lr: float = 0.01
    batch_size: int = 256
    adjust: bool = True
    adjust_lr: float | None = None
    masked: bool = True

    def __post_init__(self) -> None:
        check_fields(self, check_int, "inner_steps", "outer_steps", low=0)
        check_fields(self, check_int, "batch_size", low=1)
        # steps on pixels, whose gradients are small: rates of 10-100 are in use, so only the typo bound applies
        check_fields(self, check_real, "inner_lr", "outer_lr", low=0, high=WEIGHT_MAX)
        check_fields(self, check_real, "adjust_lr", optional=True, low=0, high=WEIGHT_MAX)

    def select(self, x: Tensor, m: int, model: nn.Module | None, generator: torch.Generator) -> Tensor:
        return RandomSelection().select(x, m, model, generator)

    def refine(self, model: nn.Module | None, new: tuple[Tensor, Tensor], old: tuple[Tensor, Tensor],
               phase: tuple[Tensor, Tensor], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if model is None:
            raise MissingContextError("mnemonics training needs TaskContext.model (Θ_i initialises Θ')")
        was_training = model.training
        model.eval()
        try:
            params = {name: p.detach() for name, p in model.named_parameters()}
            seen = torch.unique(torch.cat([new[1], old[1]])) if self.masked else None
            new_x = self._optimise(model, params, new, _batches(*phase, self.batch_size, generator), self.outer_lr,
                                   seen)
            old_x = self._adjust(model, params, old, generator, seen) if self.adjust else old[0]
        finally:
            model.train(was_training)
        return new_x, old_x

    def _optimise(self, model: nn.Module, params: Params, exemplars: tuple[Tensor, Tensor],
                  validation: Callable[[], tuple[Tensor, Tensor]], base_lr: float, seen: Tensor | None) -> Tensor:
        """Eq. 9 (or one half of eq. 10): SGD on the exemplars through the unrolled eq. 8."""
        x, y = exemplars
        if x.shape[0] == 0:
            return x
        outer = grad(lambda e, vx, vy: unrolled_loss(model, params, e, y, vx, vy,
                                                     steps=self.inner_steps, lr=self.inner_lr, seen=seen))
        x = x.detach().clone()
        decay_every = max(self.outer_steps // 5, 1)
        for step in range(self.outer_steps):
            lr = base_lr * 0.5 ** (step // decay_every)
            x = (x - lr * outer(x, *validation())).clamp(0.0, 1.0)
        return x

    def _adjust(self, model: nn.Module, params: Params, old: tuple[Tensor, Tensor],
                generator: torch.Generator, seen: Tensor | None) -> Tensor:
        """Eq. 10: each half of the old exemplars (split per class) is optimised against the other as validation."""
        x, y = old
        half_a = _split_per_class(y, generator)
        if not bool(half_a.any()) or bool(half_a.all()):
            return x
        x, lr = x.clone(), self.outer_lr if self.adjust_lr is None else self.adjust_lr
        for part in (half_a, ~half_a):  # (10a) then (10b), which validates on the adjusted A
            validation = (x[~part], y[~part])
            x[part] = self._optimise(model, params, (x[part], y[part]), lambda v=validation: v, lr, seen)
        return x


@dataclass(frozen=True)
class MnemonicsCode(Selection):
    """Mnemonics as the authors' released code trains it (yaoyao-liu/class-incremental-learning,
    ``mnemonics-training/1_train``), which differs from the paper's eq. 8–10::

        start: herding exemplars of the new classes
        for epoch in epochs: for batch (x, y) of D_i ∪ E_old:          old exemplars join the phase data
            μ_c = mean feature of E_c (new classes, differentiable)    μ_old: the old exemplars' means, held fixed
            L = CE(cos(f(x), μ)·1, y)                                   a cosine nearest-class-mean classifier
            E_new ← SGD(momentum 0.9, weight decay 5e-4, lr) step on ∇_E L, clamped to [0, 1]

    No unrolled model step and no old-exemplar adjustment (eq. 10). ``lr`` 1e-5 and one epoch of batches of 128 are
    the released settings. Old means are the normalised mean of L2-normalised features (their herding means).
    """

    selection_id: ClassVar[str] = "mnemonics-code"
    needs_model: ClassVar[bool] = True

    lr: float = 1e-5
    epochs: int = 1
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        check_fields(self, check_int, "epochs", low=0)
        check_fields(self, check_int, "batch_size", low=1)
        check_fields(self, check_real, "lr", low=0, high=WEIGHT_MAX)
        check_fields(self, check_real, "momentum", "weight_decay", low=0, high=1)

    def select(self, x: Tensor, m: int, model: nn.Module | None, generator: torch.Generator) -> Tensor:
        return Herding().select(x, m, model, generator)

    def refine(self, model: nn.Module | None, new: tuple[Tensor, Tensor], old: tuple[Tensor, Tensor],
               phase: tuple[Tensor, Tensor], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if model is None:
            raise MissingContextError("mnemonics training needs TaskContext.model (its feature extractor)")
        if new[0].shape[0] == 0:
            return new[0], old[0]
        was_training = model.training
        model.eval()
        try:
            return self._train(model, new, old, phase, generator), old[0]
        finally:
            model.train(was_training)

    def _train(self, model: nn.Module, new: tuple[Tensor, Tensor], old: tuple[Tensor, Tensor],
               phase: tuple[Tensor, Tensor], generator: torch.Generator) -> Tensor:
        new_classes = torch.unique(new[1])
        classes = torch.unique(torch.cat([old[1], new[1]]))  # sorted: a label's column is its rank here
        fixed = torch.zeros(int(classes.numel()), _last_linear(model).in_features)
        if old[1].numel():
            feats = F.normalize(penultimate_features(model, old[0]), dim=1)
            for c in torch.unique(old[1]).tolist():
                fixed[int(torch.searchsorted(classes, c))] = F.normalize(feats[old[1] == c].mean(0), dim=0)
        data_x, data_y = torch.cat([phase[0], old[0]]), torch.cat([phase[1], old[1]])
        exemplars = new[0].detach().clone().requires_grad_(True)
        optimizer = torch.optim.SGD([exemplars], lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        columns = torch.searchsorted(classes, new_classes)
        for _ in range(self.epochs):
            order = torch.randperm(int(data_y.shape[0]), generator=generator)
            for start in range(0, order.numel(), self.batch_size):
                rows = order[start:start + self.batch_size]
                with torch.no_grad():
                    query = F.normalize(_features(model, data_x[rows]), dim=1)
                feats = _features(model, exemplars)
                means = fixed.clone()
                means[columns] = torch.stack([feats[new[1] == c].mean(0) for c in new_classes.tolist()])
                logits = query @ F.normalize(means, dim=1).T
                loss = F.cross_entropy(logits, torch.searchsorted(classes, data_y[rows]))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    exemplars.clamp_(0.0, 1.0)
        return exemplars.detach()


def _batches(x: Tensor, y: Tensor, size: int, generator: torch.Generator) -> Callable[[], tuple[Tensor, Tensor]]:
    """A function that draws a uniform batch (without replacement) of the phase data on each call."""

    def draw() -> tuple[Tensor, Tensor]:
        rows = torch.randperm(int(y.shape[0]), generator=generator)[:size]
        return x[rows], y[rows]

    return draw


def _split_per_class(y: Tensor, generator: torch.Generator) -> Tensor:
    """A mask choosing half A: a random half (rounded up) of each class's exemplars."""
    half_a = torch.zeros(y.shape[0], dtype=torch.bool)
    for label in torch.unique(y).tolist():
        rows = torch.nonzero(y == label).flatten()
        rows = rows[torch.randperm(rows.numel(), generator=generator)]
        half_a[rows[: (rows.numel() + 1) // 2]] = True
    return half_a
