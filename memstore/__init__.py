"""memstore: replay memories for continual learning whose budget is counted in bits.

See docs/design.md for the contract. Public names::

    from memstore import Budget, RawStore, Reservoir
    store = RawStore(Budget.images(500, (1, 28, 28), 10), (1, 28, 28), 10, seed=0)
"""

from . import errors
from .budget import Budget, Ledger, dtype_bits, index_bits, label_bits, mask_bits, param_bits
from .distortion import CollapseWarning, Distortion
from .errors import (
    BudgetTooSmallError,
    CorruptStoreError,
    IncompatibleStoreError,
    InvalidInputError,
    MemstoreError,
    NotEditable,
)
from .persist import open_store as open
from .persist import save
from .policies import ClassBalanced, PerTask, Policy, Reservoir, Ring
from .store import Batch, MemoryStore, RecallContext, TaskContext
from .stores import (
    EntropyCodedRecollectionStore,
    GenerativeStore,
    Herding,
    ItemStore,
    JPEGStore,
    LosslessStore,
    Mnemonics,
    MnemonicsCode,
    MnemonicsStore,
    RandomSelection,
    RawStore,
    RecallObjective,
    RecollectionStore,
    Selection,
    SelfRecallStore,
    Stabilisation,
    TaskGrowth,
    VariableItemStore,
    choose_lossless,
    choose_quality,
    default_latents,
    design_latents,
)

__all__ = [
    "Batch", "Budget", "BudgetTooSmallError", "ClassBalanced", "CollapseWarning", "CorruptStoreError", "Distortion",
    "EntropyCodedRecollectionStore", "GenerativeStore", "Herding", "IncompatibleStoreError", "InvalidInputError",
    "ItemStore", "JPEGStore", "Ledger", "LosslessStore", "MemoryStore", "MemstoreError", "Mnemonics",
    "MnemonicsCode", "MnemonicsStore", "NotEditable", "PerTask", "Policy", "RandomSelection", "RawStore",
    "RecallContext", "RecallObjective",
    "RecollectionStore", "Reservoir", "Ring", "Selection", "SelfRecallStore", "Stabilisation", "TaskContext",
    "TaskGrowth", "VariableItemStore", "choose_lossless", "choose_quality", "default_latents", "design_latents",
    "dtype_bits", "errors", "index_bits", "label_bits", "mask_bits", "open", "param_bits", "save",
]
