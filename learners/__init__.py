"""Learners that own a model, a plain SGD optimizer and a memstore store (docs/design.md, learners)."""

from .agem import AGEM, agem_project
from .arm import ARM
from .base import Learner, Step
from .er import ER
from .gem import GEM, gem_project
from .generative_replay import DGMSolver, GenerativeReplay
from .gmed import ERGMED, MIRGMED, GMEDEdit, GradientDirection, RandomDirection, SlotDirection
from .lookahead import Lookahead, lookahead
from .lwf import LwF, distillation_loss, frozen_copy
from .metrics import AccuracyMatrix, TaskScore, average_accuracy, forgetting, learning_accuracy, retention, score
from .mir import MIR, most_interfered
from .naive import Naive
from .phases import PhaseConfig, PhaseLearner, PhaseReport

__all__ = [
    "AGEM",
    "ARM",
    "AccuracyMatrix",
    "DGMSolver",
    "ER",
    "ERGMED",
    "GEM",
    "GMEDEdit",
    "GenerativeReplay",
    "GradientDirection",
    "Learner",
    "Lookahead",
    "LwF",
    "MIR",
    "MIRGMED",
    "Naive",
    "PhaseConfig",
    "PhaseLearner",
    "PhaseReport",
    "RandomDirection",
    "SlotDirection",
    "Step",
    "TaskScore",
    "agem_project",
    "average_accuracy",
    "distillation_loss",
    "forgetting",
    "frozen_copy",
    "gem_project",
    "learning_accuracy",
    "lookahead",
    "most_interfered",
    "retention",
    "score",
]
