"""Learners that own a model, a plain SGD optimizer and a memstore store (DESIGN §6)."""

from .base import Learner, Step
from .er import ER
from .metrics import AccuracyMatrix, TaskScore, average_accuracy, forgetting, retention, score
from .naive import Naive

__all__ = [
    "ER",
    "AccuracyMatrix",
    "Learner",
    "Naive",
    "Step",
    "TaskScore",
    "average_accuracy",
    "forgetting",
    "retention",
    "score",
]
