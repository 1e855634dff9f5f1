"""Fixed-width unsigned values packed into one continuous bitstream.

``PackedArray(rows, symbols, width)`` holds a ``rows × symbols`` table of ``width``-bit values; value
``(r, s)`` occupies bits ``[(r·symbols + s)·width, … + width)`` of the stream, most significant bit first.
There is no per-row padding: 38 one-bit codes take 38 bits, not 40. Reads and writes of any set of rows
are vectorised (numpy), whether rows start on byte boundaries or not::

    rows:    |  row 0 (R bits)  |  row 1 (R bits)  |  row 2 ...       R = symbols × width
    bytes:   |  b0  |  b1  |  b2  |  b3  |  b4  |  b5 ...              rows may straddle bytes

``to_bytes(n)`` returns exactly ``ceil(n·R / 8)`` bytes (the first ``n`` rows, trailing bits zero), the
payload that ``persist`` writes and the ledger charges.

Every fixed-width table a store keeps (its payload, its label and task columns) is a :class:`Column`: ``get`` /
``set`` for rows the caller has already checked (the stores' hot path), ``read`` / ``write`` that check them,
``nbytes`` / ``reserve`` / ``to_bytes`` / ``load_bytes``. Three implementations: :class:`PackedArray` (packed, in
memory), :class:`ValueColumn` (unpacked int64 in memory, packed on save) and
:class:`~memstore.stores.zarr_payload.ZarrPackedArray` (PackedArray's layout in Zarr chunks). ``get`` returns
uint8 when values are whole bytes on byte boundaries (width 8, byte-aligned rows), else int64, in all three.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..blocks import ByteBlocks

__all__ = ["Column", "PackedArray", "ValueColumn", "pack", "unpack", "value_dtype"]

MAX_WIDTH = 32
_EIGHT = np.arange(8, dtype=np.int64)
# Below these value counts the pure-Python paths beat numpy's per-call overhead (measured, benchmarks/speed.py).
_SMALL = 4
_FEW_READS = 16
_FIRST_ROWS = 64  # rows a table's buffer covers at its first write


def _grown_rows(needed: int, covered: int, limit: int) -> int:
    """Rows a growing buffer covers next: double (at least ``_FIRST_ROWS``, at least ``needed``), up to ``limit``."""
    return min(limit, max(needed, 2 * covered, _FIRST_ROWS))


def _check_width(width: int) -> None:
    if not isinstance(width, int) or not 0 <= width <= MAX_WIDTH:
        raise InvalidInputError(f"width must be an int in [0, {MAX_WIDTH}], got {width!r}")


def _to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(k, S) unsigned values → (k, S·width) bits, MSB first."""
    if width == 8:
        return np.unpackbits(values.astype(np.uint8, copy=False), axis=1)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = (values.astype(np.uint64, copy=False)[..., None] >> shifts) & np.uint64(1)
    return bits.astype(np.uint8).reshape(values.shape[0], -1)


def _from_bits(bits: np.ndarray, symbols: int, width: int) -> np.ndarray:
    """(k, S·width) bits → (k, S) int64 values."""
    weights = np.left_shift(np.int64(1), np.arange(width - 1, -1, -1, dtype=np.int64))
    return bits.reshape(bits.shape[0], symbols, width).astype(np.int64) @ weights


def pack(values: np.ndarray, width: int) -> np.ndarray:
    """Pack a 1-D array of ``width``-bit values into ``ceil(len·width/8)`` bytes."""
    _check_width(width)
    flat = np.asarray(values).reshape(1, -1)
    if width == 0 or flat.size == 0:
        return np.zeros(0, dtype=np.uint8)
    if int(flat.min()) < 0 or int(flat.max()) >= 1 << width:
        raise InvalidInputError(f"values must lie in [0, 2**{width})")
    return np.packbits(_to_bits(flat, width), axis=1).reshape(-1)


def unpack(data: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack`: the first ``count`` values (int64)."""
    _check_width(width)
    if width == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    bits = np.unpackbits(np.asarray(data, dtype=np.uint8))[: count * width]
    return _from_bits(bits.reshape(1, -1), count, width).reshape(-1)


def value_dtype(width: int, row_bits: int) -> type[np.integer]:
    """What ``get`` returns for a table of ``width``-bit values in rows of ``row_bits``: uint8 for whole bytes on
    byte boundaries, else int64."""
    return np.uint8 if width == 8 and row_bits % 8 == 0 else np.int64


class Column(ABC):
    """A table of ``rows`` × ``symbols`` unsigned ``width``-bit values that a store keeps (payload, labels, tasks).

    ``get`` / ``set`` take int64 rows the caller has checked (in range; unique for ``set``) and values already in
    range; ``read`` / ``write`` check them first. Memory follows the rows written, not ``rows``.
    """

    rows: int
    symbols: int
    width: int
    row_bits: int

    @abstractmethod
    def get(self, rows: np.ndarray) -> np.ndarray:
        """Values of ``rows`` (k, symbols), in :func:`value_dtype`; rows never written read as 0."""

    @abstractmethod
    def set(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Set ``rows`` to ``values`` (k, symbols)."""

    @abstractmethod
    def reserve(self, rows: int) -> None:
        """Make room for the first ``rows`` rows."""

    @abstractmethod
    def to_bytes(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows packed: exactly ``nbytes(rows)`` bytes, trailing bits zero."""

    @abstractmethod
    def load_bytes(self, data: np.ndarray, rows: int) -> None:
        """Replace the contents with ``to_bytes(rows)``'s output; rows beyond read as 0."""

    def saved_bytes(self, rows: int) -> np.ndarray | ByteBlocks:
        """What ``save`` writes of the first ``rows`` rows: :meth:`to_bytes`, or a column on disk's bytes as
        :class:`~memstore.blocks.ByteBlocks`, which are saved without being held whole."""
        return self.to_bytes(rows)

    def nbytes(self, rows: int) -> int:
        """Bytes that ``rows`` rows occupy packed: ``ceil(rows · row_bits / 8)``."""
        return -(-rows * self.row_bits // 8)

    def checked_rows(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` as flat int64, or IndexError unless all lie in [0, rows)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= self.rows):
            raise IndexError(f"rows must lie in [0, {self.rows})")
        return rows

    def read(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`get` after checking ``rows``."""
        return self.get(self.checked_rows(rows))

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """:meth:`set` after checking ``rows`` (in range, unique) and ``values`` (shape, range)."""
        rows = self.checked_rows(rows)
        values = np.asarray(values).reshape(rows.size, self.symbols)
        if len(set(rows.tolist())) != rows.size:
            raise ValueError("rows written together must be unique")
        if values.size and (values.dtype != np.uint8 or self.width < 8):
            low, high = int(values.min()), int(values.max())
            if low < 0 or high >= 1 << self.width:
                raise ValueError(f"values must lie in [0, 2**{self.width})")
        self.set(rows, values)


class PackedArray(Column):
    """A table of up to ``rows`` ``width``-bit unsigned values, stored as one packed bitstream.

    Any value, at any bit offset, lies inside the 8 bytes starting at its first byte, so a read gathers one
    big-endian 64-bit word per value and shifts; a write clears and sets the value's bits in those bytes with
    ``bitwise_and.at`` / ``bitwise_or.at``, which stay correct when neighbouring values share a byte.

    Memory follows the rows written, not ``rows``: the buffer covers the rows below the highest one written (or
    given to :meth:`reserve`), and grows by doubling; rows never written read as 0. A 10-million-row table costs
    nothing until it is filled.
    """

    _PAD = 8  # spare bytes so that every value's 8-byte window stays inside the buffer

    def __init__(self, rows: int, symbols: int, width: int) -> None:
        _check_width(width)
        if rows < 0 or symbols < 1:
            raise InvalidInputError(f"rows must be >= 0 and symbols >= 1, got {rows}, {symbols}")
        self.rows, self.symbols, self.width = rows, symbols, width
        self.row_bits = symbols * width
        self.aligned = self.row_bits % 8 == 0
        self._allocated = 0  # rows the buffer covers
        self._set_buffer(bytearray(self._PAD))
        self._mask = np.uint64((1 << width) - 1)
        self._symbol_offsets = np.arange(symbols, dtype=np.int64) * width

    def reserve(self, rows: int) -> None:
        """Make the buffer cover the first ``rows`` rows (at most ``self.rows``), growing it by doubling."""
        if rows <= self._allocated:
            return
        covered = _grown_rows(rows, self._allocated, self.rows)
        grown = bytearray(self.nbytes(covered) + self._PAD)
        grown[: len(self._bytes)] = self._bytes
        self._allocated = covered
        self._set_buffer(grown)

    def _set_buffer(self, data: bytearray) -> None:
        """One buffer, three views: a bytearray for cheap per-value Python access, numpy for vectorised paths, and
        for whole-byte values on byte boundaries a (rows, row bytes) table, which reads and writes rows directly."""
        self._bytes = data
        self._buf = np.frombuffer(data, dtype=np.uint8)
        stride = self.row_bits // 8
        self._table = (self._buf[: self._allocated * stride].reshape(self._allocated, stride)
                       if self.width == 8 and self.aligned else None)

    @property
    def allocated_bytes(self) -> int:
        """Bytes the buffer holds now (what the table costs in memory)."""
        return len(self._bytes)

    def _windows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every value of ``rows``: the byte indices of its 8-byte window (n, 8) and its shift in that word."""
        bits = rows * self.row_bits
        if self.symbols > 1:
            bits = (bits[:, None] + self._symbol_offsets).reshape(-1)
        window = (bits >> 3)[:, None] + _EIGHT
        shift = (64 - self.width - (bits & 7)).astype(np.uint64)
        return window, shift

    def get(self, rows: np.ndarray) -> np.ndarray:
        if self._table is not None:  # whole bytes: one take; a row past the buffer grows it (it reads as 0)
            try:
                return self._table.take(rows, axis=0)
            except IndexError:
                self.reserve(int(rows.max()) + 1)
                return self._table.take(rows, axis=0)
        if self.width == 0:
            return np.zeros((rows.size, self.symbols), dtype=np.int64)
        if rows.size and int(rows.max()) >= self._allocated:
            self.reserve(int(rows.max()) + 1)
        if rows.size * self.symbols <= _FEW_READS:
            return self._read_few(rows)
        window, shift = self._windows(rows)
        words = self._buf[window].view(">u8").reshape(-1)
        return ((words >> shift) & self._mask).astype(np.int64).reshape(rows.size, self.symbols)

    def set(self, rows: np.ndarray, values: np.ndarray) -> None:
        if self._table is not None:  # numpy checks every index before it writes any
            try:
                self._table[rows] = values
            except IndexError:
                self.reserve(int(rows.max()) + 1)
                self._table[rows] = values
            return
        if self.width == 0 or rows.size == 0:
            return
        if int(rows.max()) >= self._allocated:
            self.reserve(int(rows.max()) + 1)
        if rows.size * self.symbols <= _SMALL:
            self._write_few(rows, values)
            return
        window, shift = self._windows(rows)
        clear = (self._mask << shift).astype(">u8").view(np.uint8).reshape(-1)
        put = (values.reshape(-1).astype(np.uint64) << shift).astype(">u8").view(np.uint8).reshape(-1)
        touched = clear != 0
        index = window.reshape(-1)[touched]
        np.bitwise_and.at(self._buf, index, ~clear[touched])
        np.bitwise_or.at(self._buf, index, put[touched])

    def _read_few(self, rows: np.ndarray) -> np.ndarray:
        """``get`` value by value in Python ints (cheaper for few values)."""
        raw, width, mask = self._bytes, self.width, (1 << self.width) - 1
        out = []
        for row in rows.tolist():
            for offset in range(0, self.row_bits, width):
                bit = row * self.row_bits + offset
                start = bit >> 3
                out.append((int.from_bytes(raw[start:start + 8], "big") >> (64 - width - (bit & 7))) & mask)
        return np.array(out, dtype=np.int64).reshape(rows.size, self.symbols)

    def _write_few(self, rows: np.ndarray, values: np.ndarray) -> None:
        """The same read-modify-write on 64-bit words, value by value, in Python ints (cheaper for few values)."""
        raw, width, mask = self._bytes, self.width, (1 << self.width) - 1
        for row, row_values in zip(rows.tolist(), values.tolist()):
            for offset, value in zip(range(0, self.row_bits, width), row_values):
                bit = row * self.row_bits + offset
                start, shift = bit >> 3, 64 - width - (bit & 7)
                word = int.from_bytes(raw[start:start + 8], "big")
                raw[start:start + 8] = ((word & ~(mask << shift)) | (value << shift)).to_bytes(8, "big")

    def to_bytes(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows as exactly ``ceil(rows · row_bits / 8)`` bytes, trailing bits zero."""
        if not 0 <= rows <= self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}]")
        self.reserve(rows)
        return exact_stream(self._buf[: self.nbytes(rows)], rows, self.row_bits)

    def load_bytes(self, data: np.ndarray, rows: int) -> None:
        """Replace the contents with ``to_bytes(rows)``'s output; rows beyond are zeroed."""
        data = checked_stream(data, rows, self.rows, self.nbytes(rows))
        self._allocated = 0
        self._set_buffer(bytearray(self._PAD))
        self.reserve(rows)
        self._buf[: data.size] = data


class ValueColumn(Column):
    """One ``width``-bit value per row (labels, task ids), held unpacked as int64 for speed and packed exactly
    like a one-symbol :class:`PackedArray` by :meth:`to_bytes`: the bytes saved and charged are the same, the
    reads and writes of a few rows cost one numpy indexing each instead of a loop over bit windows. Grows with
    the rows written, as PackedArray does."""

    def __init__(self, rows: int, width: int) -> None:
        _check_width(width)
        if rows < 0:
            raise InvalidInputError(f"rows must be >= 0, got {rows}")
        self.rows, self.symbols, self.width, self.row_bits = rows, 1, width, width
        self._values = np.zeros((0, 1), dtype=np.int64)

    def reserve(self, rows: int) -> None:
        if rows > self._values.shape[0]:
            covered = _grown_rows(rows, self._values.shape[0], self.rows)
            grown = np.zeros((covered, 1), dtype=np.int64)
            grown[: self._values.shape[0]] = self._values
            self._values = grown

    def get(self, rows: np.ndarray) -> np.ndarray:
        try:  # a row past the buffer grows it (it reads as 0)
            values = self._values.take(rows, axis=0)
        except IndexError:
            self.reserve(int(rows.max()) + 1)
            values = self._values.take(rows, axis=0)
        return values.astype(np.uint8) if self.width == 8 else values

    def set(self, rows: np.ndarray, values: np.ndarray) -> None:
        if self.width == 0:
            return
        try:  # numpy checks every index before it writes any
            self._values[rows] = values
        except IndexError:
            self.reserve(int(rows.max()) + 1)
            self._values[rows] = values

    def to_bytes(self, rows: int) -> np.ndarray:
        if not 0 <= rows <= self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}]")
        self.reserve(rows)
        return pack(self._values[:rows, 0], self.width)

    def load_bytes(self, data: np.ndarray, rows: int) -> None:
        data = checked_stream(data, rows, self.rows, self.nbytes(rows))
        self._values = np.zeros((0, 1), dtype=np.int64)
        self.reserve(rows)
        self._values[:rows, 0] = unpack(data, self.width, rows)


def exact_stream(data: np.ndarray, rows: int, row_bits: int) -> np.ndarray:
    """A copy of ``data`` (the bytes of ``rows`` rows) with the bits past the last row zeroed."""
    out = np.array(data, dtype=np.uint8, copy=True)
    spare = (-rows * row_bits) % 8
    if out.size and spare:
        out[-1] &= np.uint8((0xFF << spare) & 0xFF)
    return out


def checked_stream(data: np.ndarray, rows: int, capacity: int, nbytes: int) -> np.ndarray:
    """``data`` as flat uint8, or ValueError unless it is the ``nbytes`` of ``rows`` ≤ ``capacity`` rows."""
    data = np.asarray(data, dtype=np.uint8).reshape(-1)
    if not 0 <= rows <= capacity or data.size != nbytes:
        raise ValueError(f"expected {nbytes} bytes for {rows} rows, got {data.size}")
    return data
