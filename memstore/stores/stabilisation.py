"""Algorithm 1's settings (Riemer et al., *Scalable Recollections*, Algorithm 1) and the warm-up a store gives them by
default: :class:`Stabilisation` is what the dVAE stores (:mod:`memstore.stores.recollection`) train with;
:func:`warmup_for` resolves its ``warmup_steps=None`` from the item shape (decision 0038)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..checks import LR_MAX, WEIGHT_MAX, check_fields, check_int, check_real
from ..errors import InvalidInputError
from .latent_design import colour_items

__all__ = ["COLOUR_WARMUP_STEPS", "Stabilisation", "warmup_for"]


@dataclass(frozen=True)
class Stabilisation:
    """Algorithm 1's settings: ``steps`` (N) optimisation steps per write, each on one recollection batch of
    ``batch_size`` decoded items mixed with the incoming batch; ``None`` (the default) is one step per incoming item,
    the number of updates of their per-example loop whatever the write's batch size; Adam at ``lr``;
    ``code_sampling`` draws random codes instead of buffer codes (their Table 4 baseline); ``refresh``: after the
    steps, the recollections (decoded before them) are re-encoded into their slots by the updated encoder, so the
    codes replayed most follow the dVAE instead of going stale (decision 0021; not in the paper); ``warmup_steps``:
    extra steps, ``warmup_per_item`` per incoming item, spent on the first items of the stream, so that the codes
    written early come from a trained dVAE (None, the default: the store chooses by item shape, :func:`warmup_for`);
    ``anchor_every``: every this many items seen the dVAE is copied, and the recollections are decoded by that copy
    (the anchor) and also train the decoder on their stored codes, so the held codes keep what they decoded to
    instead of drifting with the decoder (decision 0028; neither in the paper). 0 turns either off.
    ``anchor_weight``: the weight of that stored-code term against the reconstruction loss; at 1 (the default) the
    two pull equally, and every new anchor inherits part of the reconstruction's pull, so codes written early drift
    anchor by anchor; heavier, it keeps them but slows what the decoder learns of new items, a trade that paid on
    one stream of four measured (decision 0041). It weighs nothing when there is no anchor (``anchor_every=0``, or
    ``code_sampling``, whose random codes are not stored)."""

    steps: int | None = None
    batch_size: int = 10
    lr: float = 1e-3
    code_sampling: bool = False
    refresh: bool = False
    warmup_steps: int | None = None
    warmup_per_item: int = 9
    anchor_every: int = 100
    anchor_weight: float = 1.0

    def __post_init__(self) -> None:
        check_fields(self, check_int, "steps", "warmup_steps", optional=True, low=0)
        check_fields(self, check_int, "batch_size", "warmup_per_item", "anchor_every", low=0)
        check_fields(self, check_real, "lr", low=0, high=LR_MAX, open_low=True)
        check_fields(self, check_real, "anchor_weight", low=0, high=WEIGHT_MAX)
        for name in ("code_sampling", "refresh"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"Stabilisation.{name} must be a bool, got {getattr(self, name)!r}")

    def steps_for(self, incoming: int, seen: int = 0) -> int:
        """N for a write of ``incoming`` items after ``seen`` items: ``steps`` (or one per incoming item), plus the
        warm-up's share: ``warmup_per_item`` extra steps per incoming item until ``warmup_steps`` are spent (None, which
        a store resolves before it counts, counts as none)."""
        base = incoming if self.steps is None else self.steps
        warmup = self.warmup_steps or 0
        spent = min(warmup, self.warmup_per_item * seen)
        return base + min(warmup, self.warmup_per_item * (seen + incoming)) - spent


#: the warm-up a store gives items of more than one channel when ``warmup_steps`` is None (decision 0038)
COLOUR_WARMUP_STEPS = 5000


def warmup_for(stabilisation: Stabilisation, item_shape: tuple[int, ...], pretrained: bool) -> Stabilisation:
    """``stabilisation`` with its warm-up resolved: ``warmup_steps`` as given, or by default
    :data:`COLOUR_WARMUP_STEPS` on items of more than one channel learned from scratch and none otherwise (decision
    0038: on colour the first task's codes, written while the dVAE still learns, stay in the store and lose the class;
    on one channel the default store is not under raw storage without it, and it costs 5,000 steps a store)."""
    if stabilisation.warmup_steps is not None:
        return stabilisation
    warm = colour_items(item_shape) and not pretrained
    return dataclasses.replace(stabilisation, warmup_steps=COLOUR_WARMUP_STEPS if warm else 0)
