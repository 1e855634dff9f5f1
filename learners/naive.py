"""Naive fine-tuning: plain online SGD on the stream, no memory (the lower bound every paper reports)."""

from __future__ import annotations

from torch import Tensor

from .base import Learner

__all__ = ["Naive"]


class Naive(Learner):
    """Fine-tuning: one SGD step per stream batch; a store, if given, is neither written nor read."""

    writes_store = False

    def remember(self, x: Tensor, y: Tensor) -> None:
        return None
