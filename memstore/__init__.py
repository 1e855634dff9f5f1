"""memstore: replay memories for continual learning whose budget is counted in bits.

See DESIGN.md for the contract. Public names::

    from memstore import Budget, RawStore, Reservoir
    store = RawStore(Budget.images(500, (1, 28, 28), 10), (1, 28, 28), 10, seed=0)
"""

from . import errors
from .budget import Budget, Ledger, dtype_bits, index_bits, label_bits, mask_bits, param_bits
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
    ItemStore,
    JPEGStore,
    RawStore,
    RecollectionStore,
    Stabilisation,
    VariableItemStore,
    choose_quality,
    design_latents,
)
from .stores import Herding, Mnemonics, MnemonicsStore, RandomSelection, Selection
from .stores import RecallObjective, SelfRecallStore
from .stores import GenerativeStore, TaskGrowth

__all__ = [
    "Batch", "Budget", "BudgetTooSmallError", "ClassBalanced", "CorruptStoreError", "IncompatibleStoreError",
    "InvalidInputError", "ItemStore", "JPEGStore", "Ledger", "MemoryStore", "MemstoreError", "NotEditable", "PerTask",
    "Policy", "RawStore", "RecallContext", "RecollectionStore", "Reservoir", "Ring", "Stabilisation", "TaskContext",
    "VariableItemStore", "choose_quality",
    "design_latents", "dtype_bits", "errors", "index_bits", "label_bits", "mask_bits", "open", "param_bits", "save",
]
__all__ += ["Herding", "Mnemonics", "MnemonicsStore", "RandomSelection", "Selection"]
__all__ += ["RecallObjective", "SelfRecallStore"]
__all__ += ["GenerativeStore", "TaskGrowth"]
