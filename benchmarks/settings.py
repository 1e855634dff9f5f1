"""Protocol settings (docs/protocols.md): a cell's learning rate, replay rule, task awareness and reported metric."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from learners import AccuracyMatrix

__all__ = ["SETTINGS", "SETTING_HELP", "Metric", "Setting"]


class Metric(enum.Enum):
    """The test accuracy a setting reports."""

    AVERAGE = "mean of per-task accuracies"
    RETENTION = "accuracy on the pooled test set"
    INCREMENTAL = "mean over tasks of the accuracy on the tasks seen so far"

    def __call__(self, matrix: AccuracyMatrix) -> float:
        summaries = {Metric.AVERAGE: matrix.average_accuracy, Metric.RETENTION: matrix.retention,
                     Metric.INCREMENTAL: matrix.average_incremental_accuracy}
        return summaries[self]()


@dataclass(frozen=True)
class Setting:
    """A protocol setting (docs/protocols.md): learning rate, replay rule, task awareness, reported metric.

    ``task_aware``: the learner is told task ids and boundaries (``observe(..., task=t)``, ``end_task``); the store
    then keeps task ids. ``replay_past_tasks_only`` needs it. (Images per task belong to the stream spec.)
    """

    name: str
    lr: float
    replay_past_tasks_only: bool
    task_aware: bool
    metric: Metric
    batch_size: int = 10
    replay_size: int = 10
    #: one mean over the stream batch and the replayed items together (Riemer et al.'s loss) instead of two means added
    one_mean: bool = field(default=False, metadata={"since": "2026-12-02"})
    #: a task's accuracy is the mean of its classes' accuracies (ARM's code, ``util/eval.py``), not the share of its
    #: test images classified right
    class_balanced: bool = field(default=False, metadata={"since": "2026-12-02"})

    def __post_init__(self) -> None:
        if self.replay_past_tasks_only and not self.task_aware:
            raise ValueError("replaying past tasks only needs a task-aware setting")


SETTINGS: dict[str, Setting] = {
    # GMED (Jin et al.), task-free: replay from the whole memory; accuracy over the full test set.
    "gmed": Setting("gmed", 0.05, False, False, Metric.RETENTION),
    # MIR (Aljundi et al.) as reported by ARM: no replay in task 1, then earlier tasks only; mean per-task accuracy.
    "mir": Setting("mir", 0.1, True, True, Metric.AVERAGE),
    # ARM (Ji et al.) as their code scores it: the `mir` setting with each task's accuracy the mean of its classes'.
    "arm": Setting("arm", 0.1, True, True, Metric.AVERAGE, class_balanced=True),
    # GMED's setting for its task-aware baselines (GEM, LwF): lr 0.05, full test set, but task ids and boundaries known.
    "gmed-task-aware": Setting("gmed-task-aware", 0.05, False, True, Metric.RETENTION),
    # Riemer et al. Table 1 (ER on MNIST-Rotations): predictive-model lr 0.01, replay batch 5 (memory 100) or 25
    # (memory 200), task-free reservoir replay; retention = accuracy on all tasks' test sets at the end.
    "riemer-5": Setting("riemer-5", 0.01, False, False, Metric.RETENTION, replay_size=5),
    "riemer-25": Setting("riemer-25", 0.01, False, False, Metric.RETENTION, replay_size=25),
    # Their GEM rows on MNIST-Rotations as their code runs GEM (MER's mer_examples.sh): one example per update at
    # lr 0.01, task ids and boundaries, memory strength 0.5 (their appendix; GEMSpec's default). The appendix's lr 0.1
    # is the GEM code's rate at batch 10; one example per update at 0.1 does not learn (docs/results.md).
    "riemer-gem": Setting("riemer-gem", 0.01, False, True, Metric.RETENTION, batch_size=1),
    # Riemer et al. Table 1 as their Algorithm 1 and their ER code (MER, on the GEM code) run it: one example per
    # update, one mean over the replayed items and that example, lr 0.01; replay 5 at memory 100 (25 at 200).
    "riemer": Setting("riemer", 0.01, False, False, Metric.RETENTION, batch_size=1, replay_size=5, one_mean=True),
    # Mnemonics Training's N-phase protocol (benchmarks/phase_specs.py): α₁ = 0.1, phases known, Ā (their metric).
    "mnemonics": Setting("mnemonics", 0.1, False, True, Metric.INCREMENTAL),
    # DGM's class-incremental protocol: task boundaries known (the store learns at end_task), the replay MLP at lr 0.1
    # with 10 generated items per step; the mean over tasks (= classes) of the final accuracies: their A_t.
    "dgm": Setting("dgm", 0.1, False, True, Metric.AVERAGE),
}


#: one line per setting, for ``--help`` and the README (the comments above give the sources)
SETTING_HELP: dict[str, str] = {
    "gmed": "GMED's task-free ER: lr 0.05, replay from the whole memory, accuracy on the pooled test set",
    "mir": "MIR as ARM reports it: lr 0.1, task ids known, replay of earlier tasks only, mean per-task accuracy",
    "arm": "mir with ARM's metric: the mean over tasks of each task's mean per-class accuracy",
    "gmed-task-aware": "gmed with task ids and boundaries known (GEM, LwF; the frontier's ARM, DGM, exemplar points)",
    "riemer-5": "Riemer et al. Table 1, ER: lr 0.01, replay 5 (memory 100), task-free, retention",
    "riemer-25": "as riemer-5 with replay 25 (memory 200)",
    "riemer-gem": "Riemer et al.'s GEM rows as their code runs GEM: one example per update, lr 0.01, task ids known",
    "riemer": "Riemer et al.'s Algorithm 1 as their code runs it: one example per update, one mean, lr 0.01",
    "mnemonics": "Mnemonics Training's phases: lr 0.1, phases known, mean incremental accuracy",
    "dgm": "DGM's class-incremental protocol: lr 0.1, boundaries known, 10 generated items a step, mean accuracy",
}
