"""Fixed-width unsigned values packed into one continuous bitstream.

``PackedArray(rows, symbols, width)`` holds a ``rows × symbols`` table of ``width``-bit values; value
``(r, s)`` occupies bits ``[(r·symbols + s)·width, … + width)`` of the stream, most significant bit first.
There is no per-row padding: 38 one-bit codes take 38 bits, not 40. Reads and writes of any set of rows
are vectorised (numpy), whether rows start on byte boundaries or not::

    rows:    |  row 0 (R bits)  |  row 1 (R bits)  |  row 2 ...       R = symbols × width
    bytes:   |  b0  |  b1  |  b2  |  b3  |  b4  |  b5 ...              rows may straddle bytes

``to_bytes(n)`` returns exactly ``ceil(n·R / 8)`` bytes (the first ``n`` rows, trailing bits zero), the
payload that ``persist`` writes and the ledger charges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PackedArray", "pack", "unpack"]

MAX_WIDTH = 32


def _check_width(width: int) -> None:
    if not isinstance(width, int) or not 0 <= width <= MAX_WIDTH:
        raise ValueError(f"width must be an int in [0, {MAX_WIDTH}], got {width!r}")


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
        raise ValueError(f"values must lie in [0, 2**{width})")
    return np.packbits(_to_bits(flat, width), axis=1).reshape(-1)


def unpack(data: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack`: the first ``count`` values (int64)."""
    _check_width(width)
    if width == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    bits = np.unpackbits(np.asarray(data, dtype=np.uint8))[: count * width]
    return _from_bits(bits.reshape(1, -1), count, width).reshape(-1)


class PackedArray:
    """A fixed-capacity table of ``width``-bit unsigned values, stored as one packed bitstream."""

    def __init__(self, rows: int, symbols: int, width: int) -> None:
        _check_width(width)
        if rows < 0 or symbols < 1:
            raise ValueError(f"rows must be >= 0 and symbols >= 1, got {rows}, {symbols}")
        self.rows, self.symbols, self.width = rows, symbols, width
        self.row_bits = symbols * width
        self.aligned = self.row_bits % 8 == 0
        # One spare byte so that unaligned row windows never run off the end.
        self._buf = np.zeros(self.nbytes(rows) + 1, dtype=np.uint8)
        self._window = (self.row_bits + 7) // 8 + 1

    def nbytes(self, rows: int) -> int:
        """Bytes that ``rows`` rows occupy: ``ceil(rows · row_bits / 8)``."""
        return -(-rows * self.row_bits // 8)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= self.rows):
            raise IndexError(f"rows must lie in [0, {self.rows})")
        return rows

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Values of ``rows``: (k, symbols) int64 (uint8 when width is 8)."""
        rows = self._rows(rows)
        if self.width == 0:
            return np.zeros((rows.size, self.symbols), dtype=np.int64)
        if self.aligned:
            stride = self.row_bits // 8
            table = self._buf[: self.rows * stride].reshape(self.rows, stride)
            if self.width == 8:
                return table[rows]
            return _from_bits(np.unpackbits(table[rows], axis=1), self.symbols, self.width)
        starts = rows * self.row_bits
        windows = self._buf[(starts >> 3)[:, None] + np.arange(self._window)]
        bits = np.unpackbits(windows, axis=1)
        cols = (starts & 7)[:, None] + np.arange(self.row_bits)
        return _from_bits(np.take_along_axis(bits, cols, axis=1), self.symbols, self.width)

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Set ``rows`` (unique) to ``values`` of shape (k, symbols), each in [0, 2**width)."""
        rows = self._rows(rows)
        values = np.asarray(values).reshape(rows.size, self.symbols)
        if self.width == 0 or rows.size == 0:
            return
        if np.unique(rows).size != rows.size:
            raise ValueError("rows written together must be unique")
        if int(values.min()) < 0 or int(values.max()) >= 1 << self.width:
            raise ValueError(f"values must lie in [0, 2**{self.width})")
        if self.aligned:
            stride = self.row_bits // 8
            table = self._buf[: self.rows * stride].reshape(self.rows, stride)
            table[rows] = values if self.width == 8 else np.packbits(_to_bits(values, self.width), axis=1)
            return
        self._write_unaligned(rows, _to_bits(values, self.width))

    def _write_unaligned(self, rows: np.ndarray, bits: np.ndarray) -> None:
        # Rows may share boundary bytes: gather the union of touched bytes, edit their bits, scatter back.
        starts = rows * self.row_bits
        touched = (starts >> 3)[:, None] + np.arange(self._window)
        union, inverse = np.unique(touched, return_inverse=True)
        union_bits = np.unpackbits(self._buf[union])
        rel = (starts & 7)[:, None] + np.arange(self.row_bits)
        slot = inverse.reshape(touched.shape)[np.arange(rows.size)[:, None], rel >> 3]
        union_bits[slot * 8 + (rel & 7)] = bits
        self._buf[union] = np.packbits(union_bits)

    def to_bytes(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows as exactly ``ceil(rows · row_bits / 8)`` bytes, trailing bits zero."""
        if not 0 <= rows <= self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}]")
        out = self._buf[: self.nbytes(rows)].copy()
        spare = (-rows * self.row_bits) % 8
        if out.size and spare:
            out[-1] &= np.uint8((0xFF << spare) & 0xFF)
        return out

    def load_bytes(self, data: np.ndarray, rows: int) -> None:
        """Replace the contents with ``to_bytes(rows)``'s output; rows beyond are zeroed."""
        data = np.asarray(data, dtype=np.uint8).reshape(-1)
        if not 0 <= rows <= self.rows or data.size != self.nbytes(rows):
            raise ValueError(f"expected {self.nbytes(rows)} bytes for {rows} rows, got {data.size}")
        self._buf[:] = 0
        self._buf[: data.size] = data
