"""The phase protocol's specs (Mnemonics Training, Liu et al. 2020): exemplar stores and the phase learner.

With the ``phases`` stream and setting, the grid runner's loop is their N-phase protocol: every batch of a phase
is handed to :class:`~learners.phases.PhaseLearner` (``observe`` collects it), ``end_task`` trains the phase for its
epochs and lets the store choose the phase's exemplars, and every task is scored among the classes seen so far::

    phase i: batches ──observe──▶ D_i ──end_task──▶ train on D_i ∪ E (eq. 5–6) ──▶ store.end_task: E_i (eq. 9–10)
             ──▶ fine-tune ──▶ score each phase's test classes (unseen ones masked) ──▶ a row of the matrix

- ``exemplars``: :class:`~memstore.MnemonicsStore` with a selection that does not optimise: ``selection=random``
  (default) or ``selection=herding`` (iCaRL's);
- ``mnemonics``: the same store with Mnemonics' bilevel optimisation (``adjust=false`` is their "w/o adj." row),
  at the CPU-sized exemplar-level settings of docs/backends/mnemonics.md; ``variant=code`` is the objective of the
  authors' released code instead;
- ``phases``: the learner, with :class:`~learners.phases.PhaseConfig`'s epochs (the setting's ``lr`` is its α₁).

Both stores keep ``per_class`` exemplars per class (the paper's 20), ``none`` for a fixed total memory shared by the
classes seen; ``dtype=uint8`` stores them as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import torch
from torch import Tensor, nn

from memstore import Budget, MemoryStore, Selection

__all__ = ["PHASE_LEARNERS", "PHASE_STORES", "ExemplarSpec", "MnemonicsSpec", "PhaseSpec"]

_DTYPES = {"float32": torch.float32, "uint8": torch.uint8}


def _dtype(name: str) -> torch.dtype:
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {name!r}")
    return _DTYPES[name]


@dataclass(frozen=True)
class _ExemplarStoreSpec:
    """What both exemplar stores share: the stored ``dtype`` and ``per_class``; subclasses choose the selection."""

    dtype: str = "float32"
    per_class: int | None = 20

    def make_selection(self) -> Selection:  # pragma: no cover - every registered spec overrides it
        raise NotImplementedError

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import MnemonicsStore

        return MnemonicsStore(budget, item_shape, num_classes, selection=self.make_selection(),
                              dtype=_dtype(self.dtype), per_class=self.per_class, seed=seed, num_tasks=num_tasks)


@dataclass(frozen=True)
class ExemplarSpec(_ExemplarStoreSpec):
    """``MnemonicsStore`` with ``selection`` ``random`` or ``herding``: exemplars chosen at each phase's end."""

    name: ClassVar[str] = "exemplars"
    selection: str = "random"

    def make_selection(self) -> Selection:
        from memstore import Herding, RandomSelection

        choices = {"random": RandomSelection, "herding": Herding}
        if self.selection not in choices:
            raise ValueError(f"exemplars: selection must be one of {sorted(choices)}, got {self.selection!r}")
        return choices[self.selection]()


#: the fields only the paper's variant reads
_PAPER_FIELDS = ("adjust", "adjust_lr", "inner_steps", "inner_lr", "outer_steps", "outer_lr")
#: the fields only the released code's variant reads
_CODE_FIELDS = ("code_lr", "code_epochs")


@dataclass(frozen=True)
class MnemonicsSpec(_ExemplarStoreSpec):
    """``MnemonicsStore`` with Mnemonics Training: ``variant=paper`` (default) is eq. 9 (and eq. 10 when ``adjust``)
    at the CPU-sized settings, its cross-entropies over the classes seen so far unless ``masked=false`` (how the
    rows recorded before 2026-12-02 ran, decision 0026); ``variant=code`` is the authors' released code
    (:class:`~memstore.MnemonicsCode`: herding start, cosine class-mean loss, ``code_lr`` for ``code_epochs``)."""

    name: ClassVar[str] = "mnemonics"
    adjust: bool = True
    adjust_lr: float | None = None
    inner_steps: int = 5
    inner_lr: float = 0.1
    outer_steps: int = 20
    outer_lr: float = 100.0
    batch_size: int = 128
    masked: bool = field(default=True, metadata={"since": "2026-12-02"})
    variant: str = field(default="paper", metadata={"since": "2026-12-02"})
    code_lr: float = field(default=1e-5, metadata={"since": "2026-12-02"})
    code_epochs: int = field(default=1, metadata={"since": "2026-12-02"})

    def __post_init__(self) -> None:
        if self.variant not in ("paper", "code"):
            raise ValueError(f"mnemonics: variant must be 'paper' or 'code', got {self.variant!r}")
        unused = _PAPER_FIELDS + ("masked",) if self.variant == "code" else _CODE_FIELDS
        changed = [f.name for f in fields(self) if f.name in unused and getattr(self, f.name) != f.default]
        if changed:
            raise ValueError(f"mnemonics: variant={self.variant} does not use {', '.join(changed)}")

    def make_selection(self) -> Selection:
        from memstore import Mnemonics, MnemonicsCode

        if self.variant == "code":
            return MnemonicsCode(lr=self.code_lr, epochs=self.code_epochs, batch_size=self.batch_size)
        return Mnemonics(inner_steps=self.inner_steps, inner_lr=self.inner_lr, outer_steps=self.outer_steps,
                         outer_lr=self.outer_lr, batch_size=self.batch_size, adjust=self.adjust,
                         adjust_lr=self.adjust_lr, masked=self.masked)


@dataclass(frozen=True)
class PhaseSpec:
    """:class:`~learners.phases.PhaseLearner` over a store: ``epochs`` per phase at the setting's ``lr``, then
    ``finetune_epochs`` of class-balanced fine-tuning on the exemplars (0 turns it off)."""

    name: ClassVar[str] = "phases"
    uses_memory: ClassVar[bool] = True
    epochs: int = 4
    finetune_epochs: int = 10

    def build(self, model: nn.Module, store: MemoryStore | None, setting, generator: torch.Generator):
        from learners.phases import PhaseConfig, PhaseLearner

        if store is None:
            raise ValueError("the phase learner needs a store")
        if not setting.task_aware:
            raise ValueError("the phase learner needs a task-aware setting (phases end at end_task)")
        config = PhaseConfig(epochs=self.epochs, lr=setting.lr, finetune_epochs=self.finetune_epochs)
        return PhaseLearner(model, store, store.num_classes, config=config, generator=generator)


#: registered by ``benchmarks.specs``
PHASE_STORES: dict[str, object] = {ExemplarSpec.name: ExemplarSpec(), MnemonicsSpec.name: MnemonicsSpec()}
PHASE_LEARNERS: dict[str, object] = {PhaseSpec.name: PhaseSpec()}
