"""Backends, one per file, with identical public surface."""

from .entropy_recollection import EntropyCodedRecollectionStore
from .exemplar_selection import Herding, Mnemonics, MnemonicsCode, RandomSelection, Selection
from .generative import GenerativeStore, TaskGrowth
from .items import ItemStore
from .jpeg import JPEGStore, QualityChoice, choose_quality
from .lossless import LosslessChoice, LosslessStore, choose_lossless
from .latent_design import LatentDesign, default_latents, design_latents
from .mnemonics import Float32Codec, MnemonicsStore
from .raw import RawStore
from .recollection import RecollectionStore, Stabilisation
from .self_recall import RecallObjective, SelfRecallStore
from .variable import VariableItemStore

__all__ = [
    "EntropyCodedRecollectionStore", "Float32Codec", "GenerativeStore", "Herding", "ItemStore", "JPEGStore",
    "LatentDesign", "LosslessChoice", "LosslessStore", "Mnemonics", "MnemonicsCode", "MnemonicsStore", "QualityChoice",
    "RandomSelection", "RawStore", "RecallObjective", "RecollectionStore", "Selection", "SelfRecallStore",
    "Stabilisation", "TaskGrowth", "VariableItemStore", "choose_lossless", "choose_quality", "default_latents",
    "design_latents",
]
