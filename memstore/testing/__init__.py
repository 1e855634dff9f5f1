"""The shared conformance suite and hypothesis strategies every backend must pass (needs pytest and hypothesis)."""

from .conformance import StoreConformance
from .machine import make_store_machine
from .strategies import bad_writes, item_shapes, items, random_items, state_equal

__all__ = ["StoreConformance", "bad_writes", "item_shapes", "items", "make_store_machine", "random_items",
           "state_equal"]
