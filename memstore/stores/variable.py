"""The item engine for variable-size items (JPEG scans): byte strings, admission that evicts until an item fits.

It is :class:`~memstore.stores.items.ItemStore` (labels, task ids, stream counters, sampling, filters, key checks,
persistence) with its payload layer replaced::

    write(x, y) ─ codec.encode ─▶ scans ─ one at a time: fits in the free bits?
                                         ├─ yes ─▶ policy (capacity = size + 1): append
                                         └─ no ──▶ policy (capacity = size): replace or skip;
                                                   then policy.evict until the budget holds again

Bits (docs/design.md, bits): ``payload`` = the codec's shared bytes (once, while the store holds an item) + 8 × every
scan byte; ``index`` = ``codec.length_bits`` per item (each item's explicit length field); ``labels`` as in ItemStore.
``save`` writes ``shared + scans`` as the payload array — exactly ``ceil(payload / 8)`` bytes — and the lengths packed
at ``length_bits`` each. ``capacity`` is an upper bound on the item count (every item costs at least one scan byte),
used to size the label columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from torch import Tensor

from ..blocks import ByteBlocks
from ..budget import Ledger
from ..codecs.base import ItemCodec, VariableLengthCodec
from ..codecs.byte_column import ByteColumn, ByteRows
from ..errors import BudgetTooSmallError, InvalidInputError
from .items import ItemStore
from .zarr_payload import ZarrByteColumn

__all__ = ["VariableItemStore", "EDIT_STEPS"]

#: fractions of an edit tried, in order, when the fully edited item no longer fits; 0 keeps the old bytes
EDIT_STEPS = (0.5, 0.25, 0.125)


class VariableItemStore(ItemStore):
    """Items of varying bit length under an exact budget (see the module docstring)."""

    codec_type: ClassVar[type[ItemCodec]] = VariableLengthCodec
    codec: VariableLengthCodec

    # -- bits --------------------------------------------------------------------------------------------------------

    @property
    def bits_per_item(self) -> int:
        """Fixed bits of one item besides its scan: label, task id and length field."""
        return self.label_bits + self.task_bits + self.codec.length_bits

    def _room(self) -> int:
        """Bits the items may use: the budget less charged models."""
        return self.budget.bits - (self.model_bits() if self.budget.charge_models else 0)

    def _capacity(self) -> int:
        shared = 8 * len(self.codec.shared)
        smallest = self.bits_per_item + self.codec.min_item_bits
        bound = self.budget.capacity(smallest, shared_bits=shared, model_bits=self.model_bits())
        if bound < 1:
            raise BudgetTooSmallError(
                f"a budget of {self.budget.bits} bits cannot hold the {shared} shared bits and one item of at least "
                f"{smallest} bits"
            )
        return bound

    def _item_cost(self, scan: bytes) -> int:
        return self._bits_of(scan) + self.bits_per_item

    def _bits_of(self, scan: bytes) -> int:
        """The bits ``scan`` is charged as (none for the empty placeholder of a slot being filled)."""
        return self.codec.item_bits(scan) if scan else 0

    @property
    def _shared_bits(self) -> int:
        return 8 * len(self.codec.shared)

    def _used(self) -> int:
        """Bits the items hold now (what ``ledger().charged`` counts, models aside)."""
        if not self._size:
            return 0
        return 8 * len(self.codec.shared) + self._scans.bits + self._size * self.bits_per_item

    def ledger(self) -> Ledger:
        payload = 8 * len(self.codec.shared) + self._scans.bits if self._size else 0
        return Ledger(
            payload=payload,
            labels=self._size * (self.label_bits + self.task_bits),
            index=self._size * self.codec.length_bits,
            models=self.model_bits(),
        )

    # -- the payload layer -------------------------------------------------------------------------------------------

    def _init_payload(self) -> None:
        if self.policy.fixed_slots_only:
            raise InvalidInputError(f"{type(self.policy).__name__} needs fixed-size slots; {type(self).__name__} "
                                    "stores items of varying size")
        if self._path is None:
            self._scans: ByteRows = ByteColumn(self._bits_of)
        else:
            self._scans = ZarrByteColumn(self._bits_of, store=self._path, name="payload", owner=self)
        #: the fraction of each key's change the last ``edit`` applied (1 = fully; see ``edit``)
        self.edit_fractions = np.ones(0)

    def _put(self, slots: np.ndarray, x: Tensor) -> None:
        for slot, scan in zip(slots.tolist(), self.codec.encode(x)):
            self._scans.set(slot, scan)

    def coded_items(self) -> list[bytes]:
        """Each held item's coded bytes, in slot order: what the payload is charged for (the shared header aside)."""
        return self._scans.values()

    def _get(self, slots: np.ndarray) -> Tensor:
        return self.codec.decode(self._scans.get(slots.tolist()))

    # -- write -------------------------------------------------------------------------------------------------------

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        self.check_write(x, y, task)
        self.learn(x)
        labels = y.cpu().numpy()
        scans = self.codec.encode(x) if labels.size else []
        rows = []
        for row, (scan, label) in enumerate(zip(scans, labels.reshape(-1, 1))):
            if self._admit(scan, label, task):
                rows.append(row)
            self._count_seen(label, task)
        if rows and self._distortion.due():
            self._distortion.stored(x[rows], self.codec.decode([scans[row] for row in rows]))
        return len(rows)

    def _admit(self, scan: bytes, label: np.ndarray, task: int | None) -> bool:
        """Place one item per the policy, evicting per the policy until it fits; False if it is not admitted."""
        cost, room = self._item_cost(scan), self._room()
        if self._shared_bits + cost > room:
            return False  # larger than the whole budget
        header = 0 if self._size else self._shared_bits  # the first item brings the shared header
        fits = self._size < self.capacity and self._used() + header + cost <= room
        slot = self.policy.place(self._occupancy(self._size + fits), label, task, self.generator)[0]
        if slot < 0:
            return False
        self._set(slot, scan, int(label[0]), task)
        while self._used() > room:
            slot = self._remove(self.policy.evict(self._occupancy(self._size), slot, self.generator), slot)
        return True

    def _set(self, slot: int, scan: bytes, label: int, task: int | None) -> None:
        if slot == self._size:
            self._size += 1
        self._scans.set(slot, scan)
        self._set_labels(np.array([slot]), np.array([label]))
        if self.num_tasks is not None:
            self._tasks.set(np.array([slot]), np.array([[task or 0]]))

    def _remove(self, victim: int, keep: int) -> int:
        """Evict ``victim`` by moving the last item into its slot; returns ``keep``'s slot afterwards."""
        last = self._size - 1
        self._scans.remove(victim)
        moved = np.array([last])
        self._labels.set(np.array([victim]), self._labels.get(moved))
        self._tasks.set(np.array([victim]), self._tasks.get(moved))
        if self._class_slots is not None:  # the last slot's item moves into the victim's
            label = self._class_slots.class_of(last)
            self._class_slots.drop(last)
            if victim != last:
                self._class_slots.set(victim, label)
        self._size = last
        return victim if keep == last else keep

    # -- edit --------------------------------------------------------------------------------------------------------

    def edit(self, keys: Tensor, x: Tensor) -> None:
        """Re-encode ``x`` into ``keys``' slots without changing the count or exceeding the budget.

        A re-encoded item may grow. If it no longer fits, the item moves only part of the way:
        ``old + t·(x − old)`` for the first ``t`` of :data:`EDIT_STEPS` that fits, else it keeps its old bytes
        (``t = 0``). Items are edited in key order. ``edit_fractions`` holds each key's ``t`` (1 for a full edit).
        """
        slots = self._edit_slots(keys, x)
        fractions = np.ones(slots.size)
        for row, (slot, scan) in enumerate(zip(slots.tolist(), self.codec.encode(x) if slots.size else [])):
            old = self._scans.get([slot])[0]
            if self._used() + self._bits_of(scan) - self._bits_of(old) > self._room():
                fractions[row], scan = self._partial_edit(slot, x[row:row + 1])
            self._scans.set(slot, scan)
        self.edit_fractions = fractions

    def _partial_edit(self, slot: int, x: Tensor) -> tuple[float, bytes]:
        old, held = self._get(np.array([slot])), self._scans.get([slot])[0]
        spare = self._room() - self._used() + self._bits_of(held)
        for fraction in EDIT_STEPS:
            scan = self.codec.encode(old + fraction * (x - old))[0]
            if self._bits_of(scan) <= spare:
                return fraction, scan
        return 0.0, held

    # -- persistence -------------------------------------------------------------------------------------------------

    def _payload_state(self) -> dict[str, Any]:
        """``shared`` + the items: their bytes with packed lengths, or a self-delimiting codec's bitstream."""
        if self.codec.self_delimiting:
            payload = self.codec.shared + self.codec.join(self._scans.values()) if self._size else b""
            return {"payload": np.frombuffer(payload, dtype=np.uint8).copy(), "lengths": np.zeros(0, np.uint8)}
        payload, lengths = self._scans.saved_bytes(self.codec.shared, self.codec.length_bits)
        return {"payload": payload, "lengths": lengths}

    def _check_payload(self, state: dict[str, Any], size: int) -> Callable[[], None]:
        payload, shared = state["payload"], self.codec.shared
        if self.codec.self_delimiting or not isinstance(payload, ByteBlocks):
            items = self._read_items(state, size, shared)
            return lambda: self._scans.replace_all(items)
        # a saved payload larger than a block: its rows are copied a block at a time (or read whole in memory)
        lengths = self._checked_lengths(payload.nbytes, payload.peek(0, len(shared)), state, size, shared)
        return lambda: self._scans.load_blocks(payload, len(shared) if size else 0, lengths)

    def _checked_lengths(self, nbytes: int, head: bytes, state: dict[str, Any], size: int,
                         shared: bytes) -> np.ndarray:
        """The item lengths of a saved payload of ``nbytes`` bytes beginning with ``head``, checked against its
        size, ``shared`` and the budget (nothing changes)."""
        packed = np.asarray(state["lengths"], dtype=np.uint8).reshape(-1)
        try:
            lengths = ByteRows.checked_lengths(nbytes, head, packed, size, shared, self.codec.length_bits)
        except ValueError as exc:
            raise InvalidInputError(f"state {exc}") from exc
        if size and 8 * nbytes + size * self.bits_per_item > self._room():
            raise InvalidInputError("state holds more bits than this store's budget")
        return lengths

    def _read_items(self, state: dict[str, Any], size: int, shared: bytes,
                    split: Callable[[bytes, int], list[bytes]] | None = None) -> list[bytes]:
        """The ``size`` items of a saved payload that begins with ``shared``, checked against the lengths and the
        budget (nothing changes); a self-delimiting codec's are decoded by ``split`` (the codec's by default)."""
        payload = np.asarray(state["payload"], dtype=np.uint8).reshape(-1).tobytes()
        packed = np.asarray(state["lengths"], dtype=np.uint8).reshape(-1)
        if self.codec.self_delimiting:
            return self._split_items(payload, packed, size, shared, split or self.codec.split)
        lengths = self._checked_lengths(len(payload), payload, state, size, shared)
        return ByteRows.cut(payload, len(shared) if size else 0, lengths)

    def _split_items(self, payload: bytes, lengths: np.ndarray, size: int, shared: bytes,
                     split: Callable[[bytes, int], list[bytes]]) -> list[bytes]:
        """A self-delimiting codec's saved items: decoded from the front of the bitstream after ``shared``."""
        shared = shared if size else b""
        if lengths.size or not payload.startswith(shared) or (size == 0) != (len(payload) == 0):
            raise InvalidInputError("state 'payload' does not begin with this codec's shared header (or 'lengths' "
                                    "is not empty, as a self-delimiting codec saves it)")
        try:
            items = split(payload[len(shared):], size) if size else []
        except ValueError as exc:
            raise InvalidInputError(f"state 'payload' does not decode as {size} items: {exc}") from exc
        if 8 * len(shared) + sum(map(self._bits_of, items)) + size * self.bits_per_item > self._room():
            raise InvalidInputError("state holds more bits than this store's budget")
        return items
