"""GMED memory editing (Jin, Du & Ren 2021, Algorithm 1) with ER and with MIR, over any editable store.

The editing step, for a batch ``(x, y)`` drawn from memory and the stream batch ``(x_D, y_D)``:

1. a virtual SGD step on the stream batch: ``theta' = theta - lr * grad mean CE(x_D, y_D; theta)``;
2. forgetting on the memory batch: ``d = l_after - l_before`` with ``l = mean CE(x, y)`` at ``theta'`` / ``theta``;
3. ``x' = x + alpha * grad_x (d - beta * l_before)`` (their eq. 6), then clamped to [0, 1]: every store requires
   inputs in [0, 1] (docs/design.md, the contract); the official code works on unbounded floats and does not clamp;
4. ``x'`` is replayed and written back with ``store.edit(keys, x')``; a store that keeps encoded items (JPEG,
   recollections) re-encodes it, so what comes back later is the store's reconstruction of ``x'``.

Losses are means over the batch, as in the official code, so each item's step scales with 1/batch size.
(The official code adds ``+ beta * grad l_before``, the opposite sign of their eq. 6; we follow the paper unless
``GMEDEdit(official_sign=True)``.)

:class:`ERGMED` edits the replay batch and replays the edit; :class:`MIRGMED` replays MIR's choice and edits a
separate random draw of ``replay_size`` items (their §4.4). The random-edit ablation (their Table 3) swaps the
direction ``grad_x d`` for a random one: :class:`RandomDirection` (fresh each edit), or the official code's fixed
direction per stored item: :class:`SlotDirection`. Replay draws and edit draws are separate random streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import Batch, MemoryStore, NotEditable
from memstore.checks import WEIGHT_MAX, check_fields, check_real
from memstore.errors import InvalidInputError

from .er import ER
from .lookahead import Lookahead, lookahead
from .mir import MIR, most_interfered

__all__ = [
    "Direction", "ERGMED", "GMEDEdit", "GradientDirection", "MIRGMED", "RandomDirection", "SlotDirection",
    "check_editable", "edit_stream",
]


class Direction(Protocol):
    """What the forgetting term contributes to the edit, given its gradient ``grad_x d`` (one row per item), the
    items' store keys and the edit stream's generator."""

    def __call__(self, grad: Tensor, generator: torch.Generator | None, keys: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class GradientDirection:
    """GMED proper: ascend the forgetting ``d``."""

    def __call__(self, grad: Tensor, generator: torch.Generator | None, keys: Tensor) -> Tensor:
        return grad


@dataclass(frozen=True)
class RandomDirection:
    """Random-edit ablation: an isotropic Gaussian direction per item, fresh each edit, in place of ``grad_x d``.

    ``keep_norm`` (default): scaled to each item's ``||grad_x d||``, so the stride ``alpha`` means what it means for
    GMED. ``keep_norm=False``: unit norm, so ``alpha`` is a fixed stride (the paper's wording; they tuned it by
    validation, the benchmarks pick it on seeds apart from the reported ones). The ``beta`` term is kept either way,
    as in the official code.
    """

    keep_norm: bool = True

    def __call__(self, grad: Tensor, generator: torch.Generator | None, keys: Tensor) -> Tensor:
        if generator is None:
            raise InvalidInputError("RandomDirection needs the edit generator: its directions are drawn from it")
        unit = _unit_rows(torch.randn(grad.shape, generator=generator, dtype=grad.dtype))
        return _at_stride(unit, grad, self.keep_norm)


@dataclass(frozen=True)
class SlotDirection:
    """The official code's random-edit baseline: one fixed random unit direction per stored item (drawn from the
    edit stream's seed and the item's key, so it never changes and consumes no draw): repeated edits of an item
    accumulate along one direction. ``keep_norm`` as for :class:`RandomDirection` (scaled to the item's
    ``||grad_x d||``, so ``alpha`` is GMED's stride); ``keep_norm=False``: unit norm at the fixed stride ``alpha``."""

    keep_norm: bool = True

    def __call__(self, grad: Tensor, generator: torch.Generator | None, keys: Tensor) -> Tensor:
        if generator is None:
            raise InvalidInputError("SlotDirection needs the edit generator: its directions derive from that seed")
        base = generator.initial_seed()
        rows = [torch.randn(grad[0].shape, generator=torch.Generator().manual_seed((base + 1_000_003 * int(k))
                                                                                   % 2**63), dtype=grad.dtype)
                for k in keys.tolist()]
        return _at_stride(_unit_rows(torch.stack(rows)), grad, self.keep_norm) if rows else grad


def _at_stride(unit: Tensor, grad: Tensor, keep_norm: bool) -> Tensor:
    """Unit rows shaped as ``grad``: scaled to each item's ``||grad||`` when ``keep_norm``, else left at unit norm."""
    scale = grad.flatten(1).norm(dim=1, keepdim=True) if keep_norm else 1.0
    return (unit * scale).view_as(grad)


def _unit_rows(x: Tensor) -> Tensor:
    rows = x.flatten(1)
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


@dataclass(frozen=True)
class GMEDEdit:
    """Their eq. 6 with stride ``alpha`` and regularisation ``beta``; the result clamped to [0, 1].
    ``official_sign``: ``+β·∇ℓ_before`` as the official code adds it, instead of the paper's ``−β``."""

    alpha: float
    beta: float
    direction: Direction = GradientDirection()
    official_sign: bool = False

    def __post_init__(self) -> None:
        check_fields(self, check_real, "alpha", "beta", low=0, high=WEIGHT_MAX)

    def __call__(self, ahead: Lookahead, x: Tensor, y: Tensor, generator: torch.Generator | None = None,
                 keys: Tensor | None = None) -> Tensor:
        x = x.detach().clone().requires_grad_(True)
        before = F.cross_entropy(ahead.before(x), y)
        after = F.cross_entropy(ahead.after(x), y)
        grad_d, grad_before = _two_grads(after - before, before, x)
        keys = torch.arange(int(x.shape[0])) if keys is None else keys
        sign = 1.0 if self.official_sign else -1.0
        step = self.direction(grad_d, generator, keys) + sign * self.beta * grad_before
        return (x.detach() + self.alpha * step).clamp_(0.0, 1.0)


def _two_grads(d: Tensor, before: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """``grad_x d`` and ``grad_x l_before`` (separately: the ablation replaces only the first)."""
    grad_d = torch.autograd.grad(d, x, retain_graph=True)[0]
    grad_before = torch.autograd.grad(before, x)[0]
    return grad_d, grad_before


def check_editable(store: MemoryStore) -> None:
    """Raise :class:`NotEditable`, naming the store, unless it declares ``keeps_items`` (the conformance suite checks
    that such a store's ``edit`` changes its items) and has an ``edit`` of its own (the contract's refuses)."""
    if not store.keeps_items:
        raise NotEditable(f"GMED edits stored items, but {type(store).__name__} keeps none (keeps_items is False)")
    if type(store).edit is MemoryStore.edit:
        raise NotEditable(f"GMED edits stored items, but {type(store).__name__} does not implement edit")


#: added to the replay generator's seed to seed the edit stream, when none is given
EDIT_STREAM_OFFSET = 7_919


def edit_stream(generator: torch.Generator | None) -> torch.Generator:
    """The edit stream's generator derived from the replay generator's seed, consuming none of its draws (seed 0's
    stream + offset when there is no replay generator)."""
    seed = 0 if generator is None else generator.initial_seed()
    return torch.Generator().manual_seed((seed + EDIT_STREAM_OFFSET) % 2**63)


class _Editing:
    """Mixin: edit a memory batch with ``self.editor`` and write it back through ``store.edit``.

    Random streams: replay draws come from the learner's ``generator``; everything the edit itself draws (random
    directions, MIR+GMED's separate edit batch) from ``edit_generator``, so a GMED variant replays exactly the items
    its baseline (ER, MIR) replays at the same seed, and the paired comparison is paired."""

    editor: GMEDEdit
    memory: MemoryStore
    generator: torch.Generator | None
    edit_generator: torch.Generator

    def _start_editing(self, store: MemoryStore, editor: GMEDEdit, edit_generator: torch.Generator | None) -> None:
        """Refuse a store that cannot edit; keep the editor and the edit stream (derived from the replay seed)."""
        check_editable(store)
        self.editor = editor
        self.edit_generator = edit_stream(self.generator) if edit_generator is None else edit_generator

    def edit_memory(self, ahead: Lookahead, batch: Batch) -> Batch:
        """Edit ``batch`` (GMED eq. 6), write it back by key, and return the edited batch."""
        if batch.keys is None:
            raise NotEditable(f"{type(self.memory).__name__} returned items without keys: nothing to edit")
        edited = self.editor(ahead, batch.x, batch.y, self.edit_generator, batch.keys)
        self.memory.edit(batch.keys, edited)
        return Batch(edited, batch.y, batch.keys, batch.soft)


class ERGMED(_Editing, ER):
    """ER+GMED: edit the replay batch (Algorithm 1), replay the edited items, write them back."""

    def __init__(self, model: nn.Module, store: MemoryStore, *, lr: float, editor: GMEDEdit, replay_size: int = 10,
                 replay_past_tasks_only: bool = False, generator: torch.Generator | None = None,
                 edit_generator: torch.Generator | None = None) -> None:
        super().__init__(model, store, lr=lr, replay_size=replay_size,
                         replay_past_tasks_only=replay_past_tasks_only, generator=generator)
        self._start_editing(store, editor, edit_generator)

    def retrieve(self, x: Tensor, y: Tensor) -> Batch | None:
        batch = self.draw(self.replay_size)
        if batch is None:
            return None
        return self.edit_memory(lookahead(self.model, x, y, self.lr), batch)


class MIRGMED(_Editing, MIR):
    """MIR+GMED (§4.4): replay MIR's most interfered items; edit a separate random draw of ``replay_size`` items."""

    def __init__(self, model: nn.Module, store: MemoryStore, *, lr: float, editor: GMEDEdit, replay_size: int = 10,
                 candidates: int = 50, replay_past_tasks_only: bool = False,
                 generator: torch.Generator | None = None, edit_generator: torch.Generator | None = None) -> None:
        super().__init__(model, store, lr=lr, replay_size=replay_size, candidates=candidates,
                         replay_past_tasks_only=replay_past_tasks_only, generator=generator)
        self._start_editing(store, editor, edit_generator)

    def retrieve(self, x: Tensor, y: Tensor) -> Batch | None:
        pool = self.draw(self.candidates)
        if pool is None:
            return None
        ahead = lookahead(self.model, x, y, self.lr)
        replay = most_interfered(ahead, pool, self.replay_size)  # read before the edit: MIR's items as they were
        to_edit = self.draw(self.replay_size, self.edit_generator)
        if to_edit is not None:
            self.edit_memory(ahead, to_edit)
        return replay
