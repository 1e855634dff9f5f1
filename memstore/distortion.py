"""What a store's codec costs in quality: the L1 of the round trip of recently stored items, against the mean image.

Every store that keeps items measures admitted items when they are stored: ``|decode(encode(x)) − x|`` averaged over
each item's values, and, for scale, ``|m − x|`` with ``m`` the mean of the items measured before (under reservoir
admission a uniform sample of the stream, so an estimate of its mean image). Until 512 items are measured every
stored batch is, as it comes; then one stored batch in four, kept until :data:`CHECK_EVERY` items wait and measured
together against the mean before them, which keeps the meter's cost off most writes. A codec whose round trip is no
closer to the items than the mean image has collapsed: it replays one blurred average, which can teach a learner
less than no memory. :class:`CollapseWarning` says so when it first happens. The meter is a measurement, not stored
state: it is not charged, not saved, and starts afresh when a store is opened.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from .codecs.base import float_values

__all__ = ["CollapseWarning", "Distortion", "DistortionMeter"]

#: items stored between two collapse checks once the window is full
CHECK_EVERY = 64
#: once the window is full, one stored batch in this many is measured (the meter's cost stays off most writes)
STRIDE = 4


def _rows(x: Tensor) -> np.ndarray:
    """Items as float32 rows (a view when ``x`` is a contiguous CPU float32 tensor)."""
    return float_values(x).reshape(x.shape[0], -1)


def _mean_abs_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the float32 mean of ``|a − b|``: ``np.abs(a - b).mean(axis=1)``'s values without its Python layer."""
    difference = np.abs(a - b)
    return np.add.reduce(difference, axis=1) / np.float32(difference.shape[1])


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
    """A window of the last ``window`` stored items' round-trip and mean-image L1; once the window is full it checks
    for collapse every :data:`CHECK_EVERY` items (a learned codec starts untrained: its first round trips say
    little about what it settles to).

    Until the window is full each stored batch is measured as it comes. Then ``stored`` only keeps what it is
    given, and the arithmetic runs once :data:`CHECK_EVERY` items wait, or when a report is asked for, over all of
    them at once (each numpy call covers the group, not one stored batch). An item's round-trip L1 is its
    own row's reduction, the same value whenever it is computed; the waiting items are compared with the mean image
    of the items measured before all of them, so ``mean_image_l1`` lags by up to :data:`CHECK_EVERY` items, by how
    much depending on when reports are asked for.
    """

    def __init__(self, item_shape: tuple[int, ...], *, window: int = 512) -> None:
        self.window = window
        self._sum = np.zeros(math.prod(item_shape), dtype=np.float64)
        self._stored = 0
        self._round_trip = np.zeros(window)
        self._baseline = np.zeros(window)
        self._filled = 0
        self._next = 0
        self._warned = False
        self._batches = 0
        self._unchecked = 0  # items measured since the last collapse check
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (items, round trips) of batches not yet measured
        self._pending_items = 0

    def due(self) -> bool:
        """Whether the next stored batch is measured: every batch until the window is full, then one in
        :data:`STRIDE` (a store skips decoding the others' round trip)."""
        self._batches += 1
        return self._filled < self.window or self._batches % STRIDE == 0  # nothing waits until the window is full

    def stored(self, x: Tensor, round_trip: Tensor) -> None:
        """Record items ``x`` as stored and ``round_trip`` as what the store gives back for them."""
        if x.shape[0] == 0:
            return
        self._pending.append((_rows(x).copy(), _rows(round_trip)))  # x is the caller's: it may change after this
        self._pending_items += x.shape[0]
        if self._filled < self.window or self._pending_items >= CHECK_EVERY:
            self._measure()
        if not self._warned and self._filled >= self.window and self._unchecked >= CHECK_EVERY:
            self._check()  # here, not in report(): items a report measured count towards the next check

    def _measure(self) -> None:
        """Measure the waiting items, in the order they were stored, against the mean of the items measured before
        them."""
        if not self._pending:
            return
        batches, trips = zip(*self._pending)
        values = np.concatenate(batches) if len(batches) > 1 else batches[0]
        round_trip = np.concatenate(trips) if len(trips) > 1 else trips[0]
        mean = (self._sum / max(self._stored, 1)).astype(np.float32)
        self._push(_mean_abs_difference(round_trip, values), _mean_abs_difference(values, mean))
        self._sum += values.sum(axis=0, dtype=np.float64)
        self._stored += values.shape[0]
        self._unchecked += values.shape[0]
        self._pending, self._pending_items = [], 0

    def _check(self) -> None:
        self._unchecked = 0
        report = self.report()
        if report.collapsed:
            self._warned = True
            warnings.warn(f"the store's round trip has collapsed: L1 {report.l1:.4f} is no better than the mean "
                          f"image's {report.mean_image_l1:.4f} over the last {report.items} items",
                          CollapseWarning, stacklevel=5)

    def _push(self, round_trip: np.ndarray, baseline: np.ndarray) -> None:
        """Append to the ring, item by item as if one at a time: only the last ``window`` land."""
        n = round_trip.shape[0]
        kept = min(n, self.window)
        at = (self._next + n - kept + np.arange(kept)) % self.window
        self._round_trip[at], self._baseline[at] = round_trip[n - kept:], baseline[n - kept:]
        self._next = (self._next + n) % self.window
        self._filled = min(self._filled + n, self.window)

    def report(self) -> Distortion:
        self._measure()
        n = self._filled
        if not n:
            return Distortion(0.0, 0.0, 0)
        return Distortion(float(self._round_trip[:n].mean()), float(self._baseline[:n].mean()), n)
