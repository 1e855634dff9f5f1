"""Backends, one per file, with identical public surface."""

from .items import ItemStore
from .raw import RawStore

__all__ = ["ItemStore", "RawStore"]
