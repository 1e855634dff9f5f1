"""RawStore: experience replay's memory (Robins 1995; Chaudhry et al. 2019) under a bit budget.

Each item costs ``8 · C·H·W`` bits of uint8 pixels plus ``ceil(log2 num_classes)`` bits of label (plus
``ceil(log2 num_tasks)`` of task id when the store keeps them). Admission follows the policy, reservoir
sampling by default.
"""

from __future__ import annotations

from ..codecs.raw import RawCodec
from .items import ItemStore

__all__ = ["RawStore"]


class RawStore(ItemStore):
    """The item engine with the raw uint8 codec."""

    store_type = "raw"

    def make_codec(self) -> RawCodec:
        return RawCodec(self.item_shape)
