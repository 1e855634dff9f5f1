"""What a store's codec costs in quality: the L1 of the round trip of recently stored items, against the mean image.

Every store that keeps items measures each admitted item when it is stored: ``|decode(encode(x)) − x|`` averaged over
its values, and, for scale, ``|m − x|`` with ``m`` the mean of every item written so far. A codec whose round trip is
no closer to the items than the mean image has collapsed: it replays one blurred average, which can teach a learner
less than no memory. :class:`CollapseWarning` says so when it first happens. The meter is a measurement, not stored
state: it is not charged, not saved, and starts afresh when a store is opened.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from torch import Tensor

__all__ = ["CollapseWarning", "Distortion", "DistortionMeter"]


class CollapseWarning(UserWarning):
    """A lossy store's round trip is no better than replaying the mean image."""


@dataclass(frozen=True)
class Distortion:
    """Mean L1 (values in [0, 1]) over the last ``items`` stored: of the round trip, and of the mean image."""

    l1: float
    mean_image_l1: float
    items: int

    @property
    def collapsed(self) -> bool:
        return self.items > 0 and self.l1 >= self.mean_image_l1

    def __float__(self) -> float:
        return self.l1


class DistortionMeter:
    """A window of the last ``window`` stored items' round-trip and mean-image L1; warns once the window is full (a
    learned codec starts untrained: its first round trips say little about what it settles to)."""

    def __init__(self, item_shape: tuple[int, ...], *, window: int = 512) -> None:
        self.window = window
        self._mean = np.zeros(item_shape, dtype=np.float64)
        self._written = 0
        self._round_trip = np.zeros(window)
        self._baseline = np.zeros(window)
        self._filled = 0
        self._next = 0
        self._warned = False

    def written(self, x: Tensor) -> None:
        """Fold every written item into the mean image."""
        if x.shape[0]:
            values = x.detach().cpu().double().numpy()
            self._written += values.shape[0]
            self._mean += (values.sum(axis=0) - values.shape[0] * self._mean) / self._written

    def stored(self, x: Tensor, round_trip: Tensor) -> None:
        """Record items ``x`` as stored and ``round_trip`` as what the store gives back for them."""
        if x.shape[0] == 0:
            return
        values = x.detach().cpu().double().numpy()
        dims = tuple(range(1, values.ndim))
        self._push(np.abs(round_trip.detach().cpu().double().numpy() - values).mean(axis=dims),
                   np.abs(self._mean - values).mean(axis=dims))
        report = self.report()
        if report.items >= self.window and report.collapsed and not self._warned:
            self._warned = True
            warnings.warn(f"the store's round trip has collapsed: L1 {report.l1:.4f} is no better than the mean "
                          f"image's {report.mean_image_l1:.4f} over the last {report.items} items", CollapseWarning,
                          stacklevel=4)

    def _push(self, round_trip: np.ndarray, baseline: np.ndarray) -> None:
        for a, b in zip(round_trip[-self.window:].tolist(), baseline[-self.window:].tolist()):
            self._round_trip[self._next], self._baseline[self._next] = a, b
            self._next = (self._next + 1) % self.window
            self._filled = min(self._filled + 1, self.window)

    def report(self) -> Distortion:
        n = self._filled
        if not n:
            return Distortion(0.0, 0.0, 0)
        return Distortion(float(self._round_trip[:n].mean()), float(self._baseline[:n].mean()), n)
