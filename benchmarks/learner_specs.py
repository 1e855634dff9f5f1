"""Specs of the learners of issue 5 (GEM, A-GEM, MIR, LwF, ER+GMED, MIR+GMED, random edit), registered into
``benchmarks.specs.LEARNERS``.

GMED's stride ``alpha`` and strength ``beta`` depend on the stream (their Table 1): ``er-gmed`` and ``mir-gmed`` take
them as parameters, and :func:`gmed_learner` writes the text a config uses for a stream, e.g.
``er-gmed:alpha=5,beta=0.01`` on Split. A cell's result key holds that text, so a cell records the numbers it ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from learners import (
    AGEM, ERGMED, GEM, MIR, MIRGMED, GMEDEdit, GradientDirection, Learner, LwF, RandomDirection, SlotDirection,
)
from memstore import MemoryStore

if TYPE_CHECKING:  # only for annotations: specs.py imports this module at its end
    from .specs import Setting

__all__ = ["AGEMSpec", "ARMSpec", "ARM_LEARNERS", "ERGMEDSpec", "GEMSpec", "GMED_TABLE1", "LwFSpec", "MIRGMEDSpec",
           "MIRSpec", "PAPER_LEARNERS", "RANDOM_STRIDES", "gmed_learner"]

#: GMED Table 1: (alpha, beta) per stream.
GMED_TABLE1: dict[str, tuple[float, float]] = {"split": (5.0, 0.01), "permuted": (0.05, 0.001), "rotated": (1.0, 0.01)}

#: Fixed strides tried for the random-edit ablation on Split (the paper tuned its stride by validation):
#: ``er-gmed:alpha=<stride>,beta=0.01,random_edit=true,fixed_stride=true``; ``benchmarks.configs`` picks among them on
#: seeds apart from the test seeds.
RANDOM_STRIDES: tuple[float, ...] = (0.05, 0.1, 0.5, 1.0, 5.0)


def _needs(store: MemoryStore | None, name: str) -> MemoryStore:
    if store is None:
        raise ValueError(f"{name} needs a store")
    return store


@dataclass(frozen=True)
class GEMSpec:
    """GEM; run it with a task-aware setting and the ``raw:per_task=true`` store."""

    name: ClassVar[str] = "gem"
    uses_memory: ClassVar[bool] = True
    margin: float = 0.5

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        return GEM(model, _needs(store, "GEM"), lr=setting.lr, margin=self.margin, generator=generator)


@dataclass(frozen=True)
class AGEMSpec:
    """A-GEM with a reference batch of 256 (GMED §5.2)."""

    name: ClassVar[str] = "agem"
    uses_memory: ClassVar[bool] = True
    reference_size: int = 256

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        return AGEM(model, _needs(store, "A-GEM"), lr=setting.lr, reference_size=self.reference_size,
                    generator=generator)


@dataclass(frozen=True)
class MIRSpec:
    """MIR: the ``setting.replay_size`` most interfered of 50 candidates."""

    name: ClassVar[str] = "mir"
    uses_memory: ClassVar[bool] = True
    candidates: int = 50

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        return MIR(model, _needs(store, "MIR"), lr=setting.lr, replay_size=setting.replay_size,
                   candidates=self.candidates, replay_past_tasks_only=setting.replay_past_tasks_only,
                   generator=generator)


@dataclass(frozen=True)
class LwFSpec:
    """LwF-style distillation at temperature 2, weight 1 (needs a task-aware setting to see boundaries)."""

    name: ClassVar[str] = "lwf"
    uses_memory: ClassVar[bool] = False
    temperature: float = 2.0

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        return LwF(model, lr=setting.lr, temperature=self.temperature, generator=generator)


@dataclass(frozen=True)
class ERGMEDSpec:
    """ER+GMED at (alpha, beta); ``random_edit`` swaps the gradient direction for a random one of the same norm, or,
    with ``fixed_stride``, for a random unit direction (a fixed stride ``alpha``: the paper's Table 3 wording), or,
    with ``per_slot``, for the official code's fixed random unit direction per stored item. ``official_sign``: the
    official code's ``+β·∇ℓ_before`` instead of the paper's ``−β``."""

    name: ClassVar[str] = "er-gmed"
    uses_memory: ClassVar[bool] = True
    alpha: float = 5.0
    beta: float = 0.01
    random_edit: bool = False
    fixed_stride: bool = False
    per_slot: bool = False
    official_sign: bool = False

    def editor(self) -> GMEDEdit:
        if self.per_slot and not self.random_edit:
            raise ValueError("per_slot is a random-edit direction: give random_edit=true with it")
        direction = GradientDirection()
        if self.random_edit:
            keep_norm = not self.fixed_stride
            direction = SlotDirection(keep_norm) if self.per_slot else RandomDirection(keep_norm)
        return GMEDEdit(self.alpha, self.beta, direction, official_sign=self.official_sign)

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        return ERGMED(model, _needs(store, "ER+GMED"), lr=setting.lr, editor=self.editor(),
                      replay_size=setting.replay_size, replay_past_tasks_only=setting.replay_past_tasks_only,
                      generator=generator)


@dataclass(frozen=True)
class MIRGMEDSpec:
    """MIR+GMED at (alpha, beta): MIR's replay batch, GMED edits a separate random draw (from the edit stream);
    ``official_sign`` as for ER+GMED."""

    name: ClassVar[str] = "mir-gmed"
    uses_memory: ClassVar[bool] = True
    alpha: float = 5.0
    beta: float = 0.01
    candidates: int = 50
    official_sign: bool = False

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        editor = GMEDEdit(self.alpha, self.beta, official_sign=self.official_sign)
        return MIRGMED(model, _needs(store, "MIR+GMED"), lr=setting.lr, editor=editor,
                       replay_size=setting.replay_size, candidates=self.candidates,
                       replay_past_tasks_only=setting.replay_past_tasks_only, generator=generator)


def gmed_learner(name: str, stream: str, **flags: bool) -> str:
    """The text of GMED learner ``name`` (``er-gmed`` or ``mir-gmed``) at Table 1's (alpha, beta) for ``stream``,
    with boolean ``flags`` set true (``gmed_learner("er-gmed", "rotated", random_edit=True)`` →
    ``er-gmed:alpha=1,beta=0.01,random_edit=true``)."""
    alpha, beta = GMED_TABLE1[stream]
    switched = (f"{flag}=true" for flag, on in flags.items() if on)
    return ",".join([f"{name}:alpha={alpha:g}", f"beta={beta:g}", *switched])


PAPER_LEARNERS: dict[str, object] = {
    GEMSpec.name: GEMSpec(),
    AGEMSpec.name: AGEMSpec(),
    MIRSpec.name: MIRSpec(),
    LwFSpec.name: LwFSpec(),
    ERGMEDSpec.name: ERGMEDSpec(),
    MIRGMEDSpec.name: MIRGMEDSpec(),
}


@dataclass(frozen=True)
class ARMSpec:
    """ARM (Ji et al., Algorithm 1 with distillation) over a ``self-recall`` store: their Table 6 for MNIST (η0 = 0.05,
    their learning rate whatever the setting's; λ0 = 1 on recalled and on real items) and M = ``replay_size``.
    ``arm:replay_size=0`` is their "Distill (LwF)" baseline (a second step on the KD term alone)."""

    name: ClassVar[str] = "arm"
    uses_memory: ClassVar[bool] = True
    replay_size: int = 10
    lr: float = 0.05

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        from learners import ARM
        return ARM(model, store, lr=self.lr, replay_size=self.replay_size, generator=generator)


#: ARM's learners (they need a ``self-recall`` store, unlike issue 5's): registered by ``benchmarks.specs``.
ARM_LEARNERS: dict[str, object] = {ARMSpec.name: ARMSpec()}


@dataclass(frozen=True)
class GenerativeReplaySpec:
    """Generative replay (Shin et al.; DGM's Fig. 1 loop) from a generative store: the setting's lr and replay
    size, scored among the classes observed so far (DGM's single head over Y^t)."""

    name: ClassVar[str] = "generative-replay"
    uses_memory: ClassVar[bool] = True

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting,
              generator: torch.Generator) -> Learner:
        from learners import GenerativeReplay

        return GenerativeReplay(model, store, lr=setting.lr, replay_size=setting.replay_size, generator=generator)


@dataclass(frozen=True)
class DGMSolverSpec:
    """DGM's own solver: the generative store's discriminator head, trained by the store (the cell's model unused);
    ``holdout=0.15`` keeps that share of every task for the store's best-validation selection (the released code's
    protocol; ``learners.DGMSolver``)."""

    name: ClassVar[str] = "dgm"
    uses_memory: ClassVar[bool] = True
    holdout: float = field(default=0.0, metadata={"since": "2026-12-02"})

    def build(self, model: nn.Module, store: MemoryStore | None, setting: Setting, generator: torch.Generator):
        from learners import DGMSolver

        if not setting.task_aware:
            raise ValueError("DGM learns at end_task: it needs a task-aware setting")
        return DGMSolver(store, holdout=self.holdout, generator=generator)


#: the generative protocol's learners (DGM), registered by ``benchmarks.specs``
GENERATIVE_LEARNERS: dict[str, object] = {GenerativeReplaySpec.name: GenerativeReplaySpec(),
                                          DGMSolverSpec.name: DGMSolverSpec()}
