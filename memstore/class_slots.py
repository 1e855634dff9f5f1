"""Which occupied slots hold each class, in slot order: what a class-balanced policy reads instead of the label column.

:class:`~memstore.policies.ClassBalanced` asks, for every item it admits into a full store, how many items each
class holds and which is the r-th slot of a class. Answered from the label column, both questions read every label
(1.5 ms a step at 50,000 items against 0.09 ms for reservoir admission). A store whose policy declares
``uses_class_slots`` keeps this index beside its labels and updates it wherever a label changes::

    slot:   0  1  2  3  4  5             class 0: [1, 4]        counts: [2, 3, 1]
    label:  1  0  1  2  0  1      ──▶    class 1: [0, 2, 5]
                                         class 2: [3]

Each class's slots are an ascending ``array('q')``, so the r-th slot of a class is the r-th of
``np.flatnonzero(labels == c)``: the same item for the same draw. Memory: 16 bytes an item held.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort

import numpy as np

__all__ = ["ClassSlots", "add_slot", "remove_slot"]


class ClassSlots:
    """The slots of each of ``num_classes`` classes, ascending; ``class_of(slot)`` is -1 for a slot not held."""

    def __init__(self, num_classes: int) -> None:
        self._slots = [array("q") for _ in range(num_classes)]
        self._class_of = array("q")

    @classmethod
    def of(cls, labels: np.ndarray, num_classes: int) -> ClassSlots:
        """The index of slots ``[0, len(labels))`` holding ``labels``."""
        index = cls(num_classes)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        order = np.argsort(labels, kind="stable")  # slots ascending within each class
        starts = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=num_classes))])
        for c in range(num_classes):
            index._slots[c] = array("q", order[starts[c]:starts[c + 1]].tolist())
        index._class_of = array("q", labels.tolist())
        return index

    def counts(self) -> np.ndarray:
        """Items held per class (a new array)."""
        return np.fromiter(map(len, self._slots), dtype=np.int64, count=len(self._slots))

    def slots(self, label: int) -> array:
        """The slots of class ``label``, ascending (the index's own array: do not change it)."""
        return self._slots[label]

    def class_of(self, slot: int) -> int:
        return self._class_of[slot] if slot < len(self._class_of) else -1

    def set(self, slot: int, label: int) -> None:
        """Slot ``slot`` now holds class ``label`` (a slot not held before included)."""
        old = self.class_of(slot)
        if old == label:
            return
        if old >= 0:
            remove_slot(self._slots[old], slot)
        add_slot(self._slots[label], slot)
        if slot >= len(self._class_of):
            self._class_of.extend([-1] * (slot + 1 - len(self._class_of)))
        self._class_of[slot] = label

    def drop(self, slot: int) -> None:
        """Slot ``slot`` is no longer held."""
        old = self.class_of(slot)
        if old >= 0:
            remove_slot(self._slots[old], slot)
            self._class_of[slot] = -1


def add_slot(slots: array, slot: int) -> None:
    """Insert ``slot`` into the ascending ``slots``."""
    if not slots or slot > slots[-1]:
        slots.append(slot)  # a new slot is the largest: the common case
    else:
        insort(slots, slot)


def remove_slot(slots: array, slot: int) -> None:
    """Remove ``slot``, which ``slots`` (ascending) holds."""
    del slots[bisect_left(slots, slot)]
