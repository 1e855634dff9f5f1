"""Backends, one per file, with identical public surface."""

from .items import ItemStore
from .jpeg import JPEGStore, QualityChoice, choose_quality
from .latent_design import LatentDesign, design_latents
from .generative import GenerativeStore, TaskGrowth
from .exemplar_selection import Herding, Mnemonics, RandomSelection, Selection
from .mnemonics import Float32Codec, MnemonicsStore
from .raw import RawStore
from .recollection import RecollectionStore, Stabilisation
from .self_recall import RecallObjective, SelfRecallStore
from .variable import VariableItemStore

__all__ = ["ItemStore", "JPEGStore", "LatentDesign", "QualityChoice", "RawStore", "RecollectionStore", "Stabilisation",
           "VariableItemStore", "choose_quality", "design_latents"]
__all__ += ["Float32Codec", "Herding", "Mnemonics", "MnemonicsStore", "RandomSelection", "Selection"]
__all__ += ["RecallObjective", "SelfRecallStore"]
__all__ += ["GenerativeStore", "TaskGrowth"]
