"""A :class:`~memstore.codecs.bitpack.PackedArray` whose bitstream lives in a Zarr array (memory or disk).

The bitstream is one 1-D uint8 Zarr array of ``ceil(rows · R / 8)`` bytes (R = bits per row), uncompressed, chunked
so that every chunk holds a whole number of rows (``rows_per_chunk`` is a multiple of ``8 / gcd(R, 8)``)::

    bytes:   | chunk 0 = rows [0, k) | chunk 1 = rows [k, 2k) | ...      (k·R bits, a multiple of 8)
    read(rows):  chunks {row // k} ──one coordinate selection──▶ a small PackedArray per chunk ──▶ values
    write(rows): the same chunks, read, modified in memory, written back (one selection each way)

A read touches only the chunks that hold the rows asked for (``chunks_read`` counts them; the tests also count the
store's ``get`` calls). Bit-level packing is PackedArray's, so the bytes are identical to an in-memory PackedArray's.
"""

from __future__ import annotations

import gc
import math
import os
import weakref
from typing import Any

import numpy as np
import zarr
import zarr.storage

from ..codecs.bitpack import Column, PackedArray, checked_stream, exact_stream
from ..errors import InvalidInputError

__all__ = ["ZarrPackedArray"]

#: target chunk size in bytes (a few hundred items of a few hundred bits)
CHUNK_BYTES = 4096


#: local working paths held by a live array in this process: a second array on one path would wipe the first's data
_LIVE_PATHS: weakref.WeakValueDictionary[str, ZarrPackedArray] = weakref.WeakValueDictionary()


def _claim(path: str, array: ZarrPackedArray) -> None:
    """Register ``path`` for ``array``; InvalidInputError if a live array already works there."""
    holder = _LIVE_PATHS.get(path)
    if holder is not None and holder is not array:
        del holder
        gc.collect()  # a store dropped by its user but kept by a reference cycle is not live
        holder = _LIVE_PATHS.get(path)
    if holder is not None and holder is not array:
        raise InvalidInputError(f"another live store already keeps its working payload at {path}: give each store "
                                "its own path")
    _LIVE_PATHS[path] = array


class ZarrPackedArray(Column):
    """A :class:`~memstore.codecs.bitpack.Column` with PackedArray's bytes in a Zarr byte array; ``store``: None (in
    memory), a local path, or any zarr store. ``chunks_read`` counts the chunks fetched."""

    def __init__(self, rows: int, symbols: int, width: int, *, store: Any = None, chunk_bytes: int = CHUNK_BYTES):
        self._layout = PackedArray(0, symbols, width)  # width checks and the bit arithmetic
        self.rows, self.symbols, self.width = rows, symbols, width
        self.row_bits = symbols * width
        align = 8 // math.gcd(self.row_bits, 8) if self.row_bits else 1
        per_chunk = max(1, (8 * chunk_bytes) // max(self.row_bits, 1))
        self.rows_per_chunk = -(-per_chunk // align) * align
        self.chunk_bytes = max(1, self.rows_per_chunk * self.row_bits // 8)
        if store is None:
            store = zarr.storage.MemoryStore()
        elif isinstance(store, (str, os.PathLike)):
            _claim(os.path.realpath(os.fspath(store)), self)
            store = zarr.storage.LocalStore(os.fspath(store))
        self.array = zarr.create_array(
            store=store, shape=(self.nbytes(rows),),
            chunks=(self.chunk_bytes,), dtype="uint8", fill_value=0, compressors=None, overwrite=True,
        )
        self.chunks_read = 0

    def reserve(self, rows: int) -> None:
        """Nothing to do: the Zarr array has its full shape (chunks never written cost nothing)."""

    # -- chunk I/O ---------------------------------------------------------------------------------------------------

    def _chunk_bytes(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Byte coordinates of ``chunks`` (flat, chunk by chunk) and which exist (the last chunk may be short)."""
        coords = (chunks[:, None] * self.chunk_bytes + np.arange(self.chunk_bytes)).reshape(-1)
        return coords, coords < self.array.shape[0]

    def _load(self, chunks: np.ndarray) -> PackedArray:
        """The rows of ``chunks`` as one local PackedArray (chunk j's rows at [j·k, (j+1)·k))."""
        local = PackedArray(chunks.size * self.rows_per_chunk, self.symbols, self.width)
        coords, real = self._chunk_bytes(chunks)
        data = np.zeros(coords.size, dtype=np.uint8)
        if real.any():
            data[real] = self.array.get_coordinate_selection(coords[real])
            self.chunks_read += chunks.size
        local.load_bytes(data, local.rows)
        return local

    def _local(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, PackedArray]:
        chunks, position = np.unique(rows // self.rows_per_chunk, return_inverse=True)
        local_rows = position * self.rows_per_chunk + rows % self.rows_per_chunk
        return chunks, local_rows, self._load(chunks)

    def get(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0 or self.width == 0:
            return self._layout.get(rows)  # zeros of the right shape and dtype
        _, local_rows, local = self._local(rows)
        return local.get(local_rows)

    def set(self, rows: np.ndarray, values: np.ndarray) -> None:
        if rows.size == 0 or self.width == 0:
            return
        chunks, local_rows, local = self._local(rows)
        local.set(local_rows, values)
        coords, real = self._chunk_bytes(chunks)
        self.array.set_coordinate_selection(coords[real], local.to_bytes(local.rows)[real])

    # -- whole-stream access (state_dict / load_state_dict) ------------------------------------------------------------

    def to_bytes(self, rows: int) -> np.ndarray:
        if not 0 <= rows <= self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}]")
        return exact_stream(self.array[: self.nbytes(rows)], rows, self.row_bits)

    def load_bytes(self, data: np.ndarray, rows: int) -> None:
        data = checked_stream(data, rows, self.rows, self.nbytes(rows))
        if data.size:
            self.array[: data.size] = data
        if data.size < self.array.shape[0]:
            self.array[data.size:] = 0  # a scalar fill, chunk by chunk: no budget-sized buffer
