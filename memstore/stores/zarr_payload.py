"""Columns whose rows live in Zarr arrays (memory, disk or any zarr store): a store's working copy out of core.

:class:`ZarrPackedArray` is a :class:`~memstore.codecs.bitpack.PackedArray` whose bitstream lives in a Zarr array;
:class:`ZarrByteColumn` is a :class:`~memstore.codecs.byte_column.ByteRows` of variable-size rows in a Zarr array of
byte strings (``chunk_rows`` rows a chunk). A store given ``path=`` keeps its payload, labels and task ids in such
arrays, named ``payload``, ``labels`` and ``tasks`` under that path, so its memory stays flat in the items it holds.
Saves still go through ``persist``'s atomic generations: the working arrays are not a file format.

The bitstream is one 1-D uint8 Zarr array of ``ceil(rows · R / 8)`` bytes (R = bits per row), uncompressed, chunked
so that every chunk holds a whole number of rows (``rows_per_chunk`` is a multiple of ``8 / gcd(R, 8)``)::

    bytes:   | chunk 0 = rows [0, k) | chunk 1 = rows [k, 2k) | ...      (k·R bits, a multiple of 8)
    read(rows):  chunks {row // k} ──one coordinate selection──▶ a small PackedArray per chunk ──▶ values
    write(rows): the same chunks, read, modified in memory, written back (one selection each way)

A read touches only the chunks that hold the rows asked for (``chunks_read`` counts them; the tests also count the
store's ``get`` calls). Bit-level packing is PackedArray's, so the bytes are identical to an in-memory PackedArray's.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import zarr
import zarr.storage
from zarr.abc.store import Store
from zarr.errors import UnstableSpecificationWarning

from ..blocks import ByteBlocks
from ..codecs.bitpack import Column, PackedArray, checked_stream, exact_stream, pack
from ..codecs.byte_column import ByteRows
from ..errors import InvalidInputError

__all__ = ["ZarrByteColumn", "ZarrPackedArray", "check_working_path", "file_in_the_way", "refuse_if_claimed",
           "working_array"]

#: target chunk size in bytes (a few hundred items of a few hundred bits)
CHUNK_BYTES = 4096
#: rows of variable-size items a chunk holds (JPEG scans of MNIST digits: about 16 KB)
CHUNK_ROWS = 64


#: local working paths held by a live owner (a store, or an array made alone) in this process: a second owner on one
#: path would wipe the first's data
_LIVE_PATHS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def _claim(path: str, owner: object) -> None:
    """Register ``path`` for ``owner``; InvalidInputError if another live owner already works there."""
    refuse_if_claimed(path, owner)
    _LIVE_PATHS[path] = owner


def refuse_if_claimed(path: Any, owner: object = None) -> None:
    """InvalidInputError if a live store other than ``owner`` keeps its working payload in the local folder
    ``path`` (anything else is claimed by nobody)."""
    if not isinstance(path, (str, os.PathLike)):
        return
    path = os.path.realpath(os.fspath(path))
    holder = _LIVE_PATHS.get(path)
    if holder is not None and holder is not owner:
        del holder
        gc.collect()  # a store dropped by its user but kept by a reference cycle is not live
        holder = _LIVE_PATHS.get(path)
    if holder is not None and holder is not owner:
        raise InvalidInputError(f"another live store already keeps its working payload at {path}: give each store "
                                "its own path")


def working_array(store: Any, name: str | None, owner: object, **create: Any) -> zarr.Array:
    """A new Zarr array ``name`` (None: the root) in ``store`` (None: in memory; a local folder, claimed for
    ``owner``, so that the arrays of one store share it and no other live store can; or any zarr store), replacing
    what was there under that name only."""
    check_working_path(store)
    if store is None:
        store = zarr.storage.MemoryStore()
    elif isinstance(store, (str, os.PathLike)):
        _claim(os.path.realpath(os.fspath(store)), owner)
        store = zarr.storage.LocalStore(os.fspath(store))
    return zarr.create_array(store=store, name=name, overwrite=True, **create)


def check_working_path(path: Any) -> None:
    """InvalidInputError unless ``path`` can hold a working payload: None (memory), a zarr store, or a local folder
    (new, or a folder; not empty text, a URL, a file, or a path under a file)."""
    if path is None or isinstance(path, Store):
        return
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"path must be a local folder (str or os.PathLike) or a zarr store, got "
                                f"{type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise InvalidInputError(f"path must name a local folder, got {text!r}")
    if "://" in text:
        raise InvalidInputError(f"path {text!r} is a URL: give a local folder, or a zarr store "
                                "(zarr.storage.FsspecStore.from_url(url)) for remote storage")
    blocking = file_in_the_way(text)
    if blocking is not None:
        raise InvalidInputError(f"path {text!r} cannot be a folder: {blocking!r} is a file")


def file_in_the_way(path: str) -> str | None:
    """``path``, or the nearest of its parents that exists, when that is not a folder (None when it is one)."""
    existing = os.path.abspath(path)
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    return None if os.path.isdir(existing) else existing


def _refuse_if_changed(then: int, now: int) -> None:
    """Blocks handed out by a column on disk read the column itself: refuse once it has changed since."""
    if now != then:
        raise InvalidInputError("the store changed after state_dict(): its columns on disk are read when used, so "
                                "take a new state_dict")


class ZarrPackedArray(Column):
    """A :class:`~memstore.codecs.bitpack.Column` with PackedArray's bytes in a Zarr byte array; ``store``: None (in
    memory), a local path, or any zarr store, holding the array as ``name`` (None: at its root); ``owner``: who
    claims a local path (the store whose column this is; the array itself by default). ``chunks_read`` counts the
    chunks fetched."""

    def __init__(self, rows: int, symbols: int, width: int, *, store: Any = None, name: str | None = None,
                 owner: object = None, chunk_bytes: int = CHUNK_BYTES):
        self._layout = PackedArray(0, symbols, width)  # width checks and the bit arithmetic
        self.rows, self.symbols, self.width = rows, symbols, width
        self.row_bits = symbols * width
        align = 8 // math.gcd(self.row_bits, 8) if self.row_bits else 1
        per_chunk = max(1, (8 * chunk_bytes) // max(self.row_bits, 1))
        self.rows_per_chunk = -(-per_chunk // align) * align
        self.chunk_bytes = max(1, self.rows_per_chunk * self.row_bits // 8)
        self.array = working_array(store, name, self if owner is None else owner, shape=(self.nbytes(rows),),
                                   chunks=(self.chunk_bytes,), dtype="uint8", fill_value=0, compressors=None)
        self.chunks_read = 0
        self.on_disk = store is not None  # then saved and loaded block by block: it may be larger than RAM
        self._changes = 0  # counts set / load_bytes, so that blocks handed out before a change refuse to read

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
        self._changes += 1
        chunks, local_rows, local = self._local(rows)
        local.set(local_rows, values)
        coords, real = self._chunk_bytes(chunks)
        self.array.set_coordinate_selection(coords[real], local.to_bytes(local.rows)[real])

    # -- whole-stream access (state_dict / load_state_dict) ------------------------------------------------------------

    def to_bytes(self, rows: int) -> np.ndarray:
        if not 0 <= rows <= self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}]")
        return exact_stream(self.array[: self.nbytes(rows)], rows, self.row_bits)

    def saved_bytes(self, rows: int) -> np.ndarray | ByteBlocks:
        """In memory, :meth:`to_bytes`; on disk, the same bytes as blocks read one at a time from the column itself
        (like a module's ``state_dict`` tensors, not a copy): they refuse to read once the column has changed."""
        if not self.on_disk:
            return self.to_bytes(rows)
        if not 0 <= rows <= self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}]")
        nbytes, changes = self.nbytes(rows), self._changes

        def read(start: int, stop: int) -> np.ndarray:
            _refuse_if_changed(changes, self._changes)
            block = np.asarray(self.array[start:stop])
            return exact_stream(block, rows, self.row_bits) if stop == nbytes else block

        return ByteBlocks(nbytes, read)

    def load_bytes(self, data: np.ndarray | ByteBlocks, rows: int) -> None:
        """As :meth:`Column.load_bytes`; :class:`~memstore.blocks.ByteBlocks` are copied a block at a time (a
        checksum mismatch, raised after the last block, leaves this column to be discarded)."""
        self._changes += 1
        if isinstance(data, ByteBlocks):
            if not 0 <= rows <= self.rows or data.nbytes != self.nbytes(rows):
                raise ValueError(f"expected {self.nbytes(rows)} bytes for {rows} rows, got {data.nbytes}")
            data.copy_to(self._write_at)
            size = data.nbytes
        else:
            data = checked_stream(data, rows, self.rows, self.nbytes(rows))
            if data.size:
                self.array[: data.size] = data
            size = data.size
        if size < self.array.shape[0]:
            self.array[size:] = 0  # a scalar fill, chunk by chunk: no budget-sized buffer

    def _write_at(self, offset: int, block: np.ndarray) -> None:
        self.array[offset:offset + block.size] = block


class ZarrByteColumn(ByteRows):
    """:class:`~memstore.codecs.byte_column.ByteRows` in a 1-D Zarr array of byte strings, ``chunk_rows`` rows a
    chunk, uncompressed (coded items do not compress); ``store``, ``name`` and ``owner`` as
    :class:`ZarrPackedArray`. Memory holds the row count and the charged bits only: ``get`` reads the chunks of the
    rows asked for (``chunks_read`` counts them) and ``set`` rewrites one chunk. The array grows by doubling as rows
    arrive."""

    def __init__(self, cost: Callable[[bytes], int], *, store: Any = None, name: str | None = None,
                 owner: object = None, chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__(cost)
        with _byte_strings_unspecified():
            self.array = working_array(store, name, self if owner is None else owner, shape=(0,),
                                       chunks=(chunk_rows,), dtype=zarr.dtype.VariableLengthBytes(), compressors=None)
        self.chunk_rows = chunk_rows
        self._size = 0
        self.chunks_read = 0
        self.on_disk = store is not None  # then saved and loaded block by block, as ZarrPackedArray
        self._changes = 0

    def __len__(self) -> int:
        return self._size

    def get(self, rows: Iterable[int]) -> list[bytes]:
        rows = np.fromiter(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        self.chunks_read += np.unique(rows // self.chunk_rows).size
        return [bytes(value) for value in self.array.get_coordinate_selection(rows)]

    def values(self) -> list[bytes]:
        return [bytes(value) for value in self.array[: self._size]] if self._size else []

    def _put(self, row: int, value: bytes) -> None:
        self._changes += 1
        if row == self._size:
            if row == self.array.shape[0]:
                self._resize(max(2 * row, self.chunk_rows))
            self._size += 1
        self.array.set_coordinate_selection(np.array([row]), _objects([value]))

    def _drop_last(self) -> None:
        self._changes += 1
        self._size -= 1
        self.array.set_coordinate_selection(np.array([self._size]), _objects([b""]))  # frees its bytes on disk

    def _put_all(self, values: list[bytes]) -> None:
        self._changes += 1
        self._resize(0)  # drops every chunk
        self._resize(max(len(values), self.chunk_rows))
        if values:
            self.array[: len(values)] = _objects(values)
        self._size = len(values)

    def _get_range(self, start: int, stop: int) -> list[bytes]:
        self.chunks_read += len(range(start // self.chunk_rows, -(-stop // self.chunk_rows)))
        return [bytes(value) for value in self.array[start:stop]]

    def _put_range(self, start: int, values: list[bytes]) -> None:
        self._changes += 1
        self.array[start:start + len(values)] = _objects(values)

    def _resize(self, rows: int) -> None:
        with _byte_strings_unspecified():  # a resize rewrites the metadata, which warns again
            self.array.resize((rows,))

    # -- the saved form, block by block --------------------------------------------------------------------------------

    def _lengths(self) -> np.ndarray:
        """Every row's length, read :meth:`chunks` at a time."""
        return np.fromiter((len(value) for chunk in self.chunks() for value in chunk), dtype=np.int64,
                           count=self._size)

    def saved_bytes(self, prefix: bytes, length_bits: int) -> tuple[np.ndarray | ByteBlocks, np.ndarray]:
        """On disk, ``prefix`` + the rows as ByteBlocks that read the rows each block covers (a view of the column,
        refusing to read once it has changed), with the lengths packed; in memory, :meth:`to_bytes`."""
        if not self.on_disk or not self._size:
            return self.to_bytes(prefix, length_bits)
        lengths, changes = self._lengths(), self._changes
        offsets = np.concatenate([[0], np.cumsum(lengths)]) + len(prefix)  # row i is [offsets[i], offsets[i + 1])

        def read(start: int, stop: int) -> np.ndarray:
            _refuse_if_changed(changes, self._changes)
            out = bytearray(prefix[start:stop])
            low = max(start, len(prefix))
            if stop > low:
                first = int(np.searchsorted(offsets, low, side="right")) - 1
                last = int(np.searchsorted(offsets, stop, side="left"))
                joined = b"".join(self.get(range(first, last)))
                out += joined[low - int(offsets[first]):stop - int(offsets[first])]
            return np.frombuffer(bytes(out), dtype=np.uint8)

        return ByteBlocks(int(offsets[-1]), read), pack(lengths, length_bits)

    def load_blocks(self, payload: ByteBlocks, skip: int, lengths: np.ndarray) -> None:
        """Hold the rows of a saved ``payload`` (``skip`` header bytes, then rows of ``lengths``), copied a block at
        a time; a checksum mismatch, raised after the last block, leaves this column to be discarded."""
        self._changes += 1
        self._resize(0)
        self._resize(max(lengths.size, self.chunk_rows))
        row = bits = 0
        for rows in ByteRows.rows_of_blocks(payload, skip, lengths):
            self.array[row:row + len(rows)] = _objects(rows)
            row, bits = row + len(rows), bits + sum(map(self._cost, rows))
        self._size, self.bits = lengths.size, bits


@contextlib.contextmanager
def _byte_strings_unspecified() -> Iterator[None]:
    """Silence zarr's warning that its byte-string data type has no v3 specification yet: these arrays are a working
    copy that no one reopens, not a file format."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)
        yield


def _objects(values: list[bytes]) -> np.ndarray:
    """``values`` as a 1-D object array (what Zarr's byte-string arrays take)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
