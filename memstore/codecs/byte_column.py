"""Variable-size rows: one byte string per item, the sibling of :class:`~memstore.codecs.bitpack.Column` for items
whose coded size varies (JPEG scans, zstd or PNG frames, prefix-coded codes).

A :class:`ByteRows` keeps its rows in order and the sum of what they are charged (``bits``, from the store's
``cost`` of one row), so a store's ledger never re-walks its items. Removal moves the last row into the freed one (a
store's slots stay dense). Saved, a column is its rows joined after a shared prefix (a codec's header), with the
lengths packed at a fixed width::

    payload: | prefix | row 0 | row 1 | ... |        lengths: | len 0 | len 1 | ... |   (length_bits each)

:class:`ByteColumn` keeps the rows in memory (memory follows the bytes held);
:class:`~memstore.stores.zarr_payload.ZarrByteColumn` keeps them in Zarr chunks on disk (memory stays flat).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from .bitpack import pack, unpack

if TYPE_CHECKING:
    from ..blocks import ByteBlocks

__all__ = ["ROWS_AT_A_TIME", "ByteColumn", "ByteRows"]

#: rows read and rewritten at a time by :meth:`ByteRows.chunks` and :meth:`ByteRows.recode`
ROWS_AT_A_TIME = 4096


class ByteRows(ABC):
    """Byte strings by row; ``bits`` = Σ ``cost(row)`` (``cost`` must give 0 for the empty placeholder).

    The bookkeeping (charged bits, dense removal, the on-disk form, passes over every row a chunk at a time) is
    here; where the rows live is ``__len__``, ``get``, ``values`` and the private ``_put`` / ``_drop_last`` /
    ``_put_all`` / ``_get_range`` / ``_put_range``. :class:`ByteColumn`
    keeps them in a list; :class:`~memstore.stores.zarr_payload.ZarrByteColumn` in Zarr chunks on disk.
    """

    def __init__(self, cost: Callable[[bytes], int]) -> None:
        self._cost = cost
        self.bits = 0

    @abstractmethod
    def __len__(self) -> int:
        """Rows held."""

    @abstractmethod
    def get(self, rows: Iterable[int]) -> list[bytes]:
        """The byte strings of ``rows`` (checked by the caller), in that order."""

    @abstractmethod
    def values(self) -> list[bytes]:
        """Every row, in order."""

    @abstractmethod
    def _put(self, row: int, value: bytes) -> None:
        """Store ``value`` at ``row`` (``row == len(self)`` appends)."""

    @abstractmethod
    def _drop_last(self) -> None:
        """Forget the last row."""

    @abstractmethod
    def _put_all(self, values: list[bytes]) -> None:
        """Hold exactly ``values``."""

    @abstractmethod
    def _get_range(self, start: int, stop: int) -> list[bytes]:
        """Rows ``[start, stop)`` (held rows)."""

    @abstractmethod
    def _put_range(self, start: int, values: list[bytes]) -> None:
        """Replace the held rows from ``start`` on by ``values``."""

    def chunks(self) -> Iterator[list[bytes]]:
        """Every row in order, :data:`ROWS_AT_A_TIME` at a time: a pass that never holds the column whole."""
        for start in range(0, len(self), ROWS_AT_A_TIME):
            yield self._get_range(start, min(start + ROWS_AT_A_TIME, len(self)))

    def recode(self, transform: Callable[[list[bytes]], list[bytes]]) -> None:
        """Replace every row by ``transform`` of its chunk (as many rows back, in order), a chunk at a time; ``bits``
        follows."""
        start = 0
        for old in self.chunks():
            new = transform(old)
            if len(new) != len(old):
                raise ValueError(f"recode's transform gave {len(new)} rows for {len(old)}")
            self._put_range(start, new)
            self.bits += sum(map(self._cost, new)) - sum(map(self._cost, old))
            start += len(old)

    def set(self, row: int, value: bytes) -> None:
        """Set ``row`` to ``value``; ``row == len(self)`` appends."""
        old = self.get([row])[0] if row < len(self) else b""
        self.bits += self._cost(value) - self._cost(old)
        self._put(row, value)

    def remove(self, row: int) -> None:
        """Drop ``row``, moving the last row into its place."""
        last = len(self) - 1
        self.bits -= self._cost(self.get([row])[0])
        if row != last:
            self._put(row, self.get([last])[0])
        self._drop_last()

    def replace_all(self, values: list[bytes]) -> None:
        """Every row at once (a re-coding, a load); ``bits`` recounted."""
        self._put_all(list(values))
        self.bits = sum(map(self._cost, values))

    def to_bytes(self, prefix: bytes, length_bits: int) -> tuple[np.ndarray, np.ndarray]:
        """(``prefix`` + the rows joined, their lengths packed at ``length_bits``) as uint8 arrays; both empty when
        the column is."""
        rows = self.values()
        payload = prefix + b"".join(rows) if rows else b""
        lengths = np.array([len(value) for value in rows], dtype=np.int64)
        return np.frombuffer(payload, dtype=np.uint8).copy(), pack(lengths, length_bits)

    def saved_bytes(self, prefix: bytes, length_bits: int) -> tuple[np.ndarray | ByteBlocks, np.ndarray]:
        """What ``save`` writes: :meth:`to_bytes`, or for rows on disk the payload as
        :class:`~memstore.blocks.ByteBlocks`, saved without being held whole."""
        return self.to_bytes(prefix, length_bits)

    @staticmethod
    def checked_lengths(nbytes: int, head: bytes, packed: np.ndarray, rows: int, prefix: bytes,
                        length_bits: int) -> np.ndarray:
        """The ``rows`` lengths of a saved payload of ``nbytes`` bytes beginning with ``head``, or ValueError if the
        lengths, the prefix or the payload's size do not match (every row must hold at least one byte)."""
        if packed.size != -(-rows * length_bits // 8):
            raise ValueError(f"'lengths' has {packed.size} bytes, expected {-(-rows * length_bits // 8)}")
        lengths = unpack(packed, length_bits, rows)
        prefix = prefix if rows else b""
        if nbytes != len(prefix) + int(lengths.sum()) or not head.startswith(prefix) or (rows and lengths.min() < 1):
            raise ValueError("'payload' does not match its lengths and this codec's shared header")
        return lengths

    @staticmethod
    def cut(data: bytes, skip: int, lengths: np.ndarray) -> list[bytes]:
        """The rows of ``data`` after ``skip`` header bytes, one per length (lengths checked by the caller)."""
        ends = np.cumsum([skip, *lengths.tolist()]).tolist()
        return [data[start:end] for start, end in pairwise(ends)]

    @staticmethod
    def split(payload: bytes, packed: np.ndarray, rows: int, prefix: bytes, length_bits: int) -> list[bytes]:
        """:meth:`to_bytes`'s inverse: the ``rows`` byte strings, or ValueError as :meth:`checked_lengths`."""
        lengths = ByteRows.checked_lengths(len(payload), payload, packed, rows, prefix, length_bits)
        return ByteRows.cut(payload, len(prefix) if rows else 0, lengths)

    @staticmethod
    def rows_of_blocks(payload: ByteBlocks, skip: int, lengths: np.ndarray) -> Iterator[list[bytes]]:
        """The rows of a saved payload (``skip`` header bytes, then rows of ``lengths``, checked against its size by
        the caller), :data:`ROWS_AT_A_TIME` at a time, as its blocks are read; its checksum is checked after the
        last block (:meth:`~memstore.blocks.ByteBlocks.blocks`), so only rows that a finished pass yielded are
        the ones saved."""
        pending, rows, row = bytearray(), [], 0
        for offset, block in payload.blocks():
            pending.extend(block.tobytes()[max(0, skip - offset):])
            while row < lengths.size and lengths[row] <= len(pending):
                size = int(lengths[row])
                rows.append(bytes(pending[:size]))
                del pending[:size]
                row += 1
                if len(rows) == ROWS_AT_A_TIME:
                    yield rows
                    rows = []
        if rows:
            yield rows

    def load_blocks(self, payload: ByteBlocks, skip: int, lengths: np.ndarray) -> None:
        """Hold the rows of a saved payload given as :class:`~memstore.blocks.ByteBlocks` (``skip`` header bytes,
        then rows of ``lengths``, checked against the payload's size by the caller). Here the payload is read whole,
        its hash checked before anything changes; a column on disk copies it a block at a time instead."""
        self.replace_all(ByteRows.cut(np.asarray(payload).tobytes(), skip, lengths))


class ByteColumn(ByteRows):
    """:class:`ByteRows` in memory (a list of byte strings): memory follows the bytes held."""

    def __init__(self, cost: Callable[[bytes], int]) -> None:
        super().__init__(cost)
        self._rows: list[bytes] = []

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, rows: Iterable[int]) -> list[bytes]:
        values = self._rows
        return [values[row] for row in rows]

    def values(self) -> list[bytes]:
        return list(self._rows)  # a copy of the list, not of the bytes

    def _put(self, row: int, value: bytes) -> None:
        if row == len(self._rows):
            self._rows.append(value)
        else:
            self._rows[row] = value

    def _drop_last(self) -> None:
        self._rows.pop()

    def _put_all(self, values: list[bytes]) -> None:
        self._rows = values

    def _get_range(self, start: int, stop: int) -> list[bytes]:
        return self._rows[start:stop]

    def _put_range(self, start: int, values: list[bytes]) -> None:
        self._rows[start:start + len(values)] = values
