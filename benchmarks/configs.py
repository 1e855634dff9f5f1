"""Named benchmark grids: the embedded default and the paper reproductions (``--config NAME``).

Each paper config states its protocol (PROTOCOLS.md); docs/results.md records what each one measured.
"""

from __future__ import annotations

from .runner import Grid
from .specs import SETTINGS, BudgetSpec, MLPSpec
from .streams import Split

__all__ = ["CONFIGS", "DEFAULT_CONFIG"]

_PAPER_BUDGETS = (BudgetSpec(images=500), BudgetSpec(images=50), BudgetSpec(images=10))
_TWENTY_SEEDS = tuple(range(20))

CONFIGS: dict[str, Grid] = {
    # Embedded default: digits Split (all ~270 training images per task), 2x100 MLP, MIR's setting (lr 0.1,
    # replay of earlier tasks only; mean per-task accuracy); well under a minute.
    "default": Grid(
        dataset="digits",
        stream=Split(examples_per_task=None),
        setting=SETTINGS["mir"],
        model=MLPSpec((100, 100)),
        stores=("raw",),
        budgets=(BudgetSpec(images=10), BudgetSpec(images=50), BudgetSpec(images=200)),
        learners=("er", "naive"),
        seeds=(0, 1, 2, 3, 4),
    ),
    # ARM Table 3 / MIR protocol: lr 0.1, no replay in task 1, then earlier tasks only; 1,010 images per task
    # (MIR's loader off-by-one); accuracy = mean of per-task accuracies.
    "split-mnist-er": Grid(
        dataset="mnist",
        stream=Split(examples_per_task=1010),
        setting=SETTINGS["mir"],
        model=MLPSpec((400, 400)),
        stores=("raw",),
        budgets=_PAPER_BUDGETS,
        learners=("er", "naive"),
        seeds=_TWENTY_SEEDS,
    ),
    # GMED protocol (task-free): lr 0.05, replay from the whole memory from the 2nd batch; 1,000 images per task;
    # accuracy over the full 10k test set.
    "split-mnist-er-gmed": Grid(
        dataset="mnist",
        stream=Split(examples_per_task=1000),
        setting=SETTINGS["gmed"],
        model=MLPSpec((400, 400)),
        stores=("raw",),
        budgets=_PAPER_BUDGETS,
        learners=("er", "naive"),
        seeds=_TWENTY_SEEDS,
    ),
}

DEFAULT_CONFIG = "default"
