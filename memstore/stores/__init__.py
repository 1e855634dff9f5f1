"""Backends, one per file, with identical public surface."""

from .items import ItemStore
from .jpeg import JPEGStore, QualityChoice, choose_quality
from .raw import RawStore
from .variable import VariableItemStore

__all__ = ["ItemStore", "JPEGStore", "QualityChoice", "RawStore", "VariableItemStore", "choose_quality"]
