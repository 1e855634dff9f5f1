"""What a store can do beyond the contract, declared as small protocols instead of probed.

The contract (:class:`~memstore.MemoryStore`) declares ``keeps_items``, ``needs_context``, ``filters_by_class``,
``filters_by_task`` and ``consolidates_at_end_task``. Two learners need more than it gives, and say so through
these protocols (structural, like zarr-python's ``supports_*`` flags): a learner checks with :func:`require` and
gets a typed :class:`MissingCapabilityError` naming what is missing, whatever the store's class::

    ARM ──require(RecallsFromModel)──▶ keeps_old_model, old_logits(x, context)      (SelfRecallStore)
    DGMSolver ──require(ClassifiesWithDiscriminator)──▶ discriminator.classify(x)   (GenerativeStore)
    the grid runner ──isinstance(MeasuresDistortion)──▶ distortion()                 (every store of items)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from .distortion import Distortion
from .errors import MissingCapabilityError
from .store import RecallContext

__all__ = ["ClassifiesWithDiscriminator", "MeasuresDistortion", "MissingCapabilityError", "RecallsFromModel",
           "require"]


@runtime_checkable
class RecallsFromModel(Protocol):
    """A store whose ``sample`` recalls items from the model in its context (ARM): it may keep the old model between
    tasks (``keeps_old_model``) and gives the old model's logits for any input."""

    keeps_old_model: bool

    def old_logits(self, x: Tensor, context: RecallContext) -> Tensor: ...


@runtime_checkable
class ClassifiesWithDiscriminator(Protocol):
    """A generative store that trains a classifier of its own (DGM's AC-GAN discriminator with a class head); its
    ``discriminator.classify(x)`` gives class logits."""

    discriminator: nn.Module


@runtime_checkable
class MeasuresDistortion(Protocol):
    """A lossy-or-not store of items that reports the round-trip quality of what it stored."""

    def distortion(self) -> Distortion: ...


_WHAT = {
    "RecallsFromModel": "recalls from a model (keeps_old_model, old_logits), such as SelfRecallStore",
    "ClassifiesWithDiscriminator": "trains a classifier of its own (discriminator.classify), such as GenerativeStore",
    "MeasuresDistortion": "measures its distortion (distortion()), such as any ItemStore",
}


def require(store: Any, capability: type, needed_by: str) -> None:
    """Raise :class:`MissingCapabilityError` unless ``store`` has ``capability`` (one of this module's protocols)."""
    has = isinstance(store, capability)
    if has and capability is ClassifiesWithDiscriminator:
        has = callable(getattr(store.discriminator, "classify", None))
    if not has:
        raise MissingCapabilityError(f"{needed_by} needs a store that {_WHAT[capability.__name__]}; "
                                     f"got {type(store).__name__}")
