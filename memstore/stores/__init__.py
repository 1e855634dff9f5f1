"""Backends, one per file, with identical public surface."""

from .items import ItemStore
from .jpeg import JPEGStore, QualityChoice, choose_quality
from .latent_design import LatentDesign, design_latents
from .raw import RawStore
from .recollection import RecollectionStore, Stabilisation
from .variable import VariableItemStore

__all__ = ["ItemStore", "JPEGStore", "LatentDesign", "QualityChoice", "RawStore", "RecollectionStore", "Stabilisation",
           "VariableItemStore", "choose_quality", "design_latents"]
