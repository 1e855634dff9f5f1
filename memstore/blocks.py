"""Byte arrays too large to hold at once: saved and opened block by block, hashed as they pass.

A store whose payload lives on disk (an item store given a ``path``) may be larger than RAM, so neither ``save``
nor ``open(path=...)`` may read its payload whole. Its ``state_dict`` hands such columns out as
:class:`ByteBlocks`: a length and a way to read any range. ``save`` writes them to Zarr a block at a time and
hashes them on the way; ``open`` hands the saved array back as ByteBlocks whose last block is followed by the
checksum check, so a working copy on disk is filled a block at a time and refused if the bytes were not the ones
saved::

    save:  column on disk ──read [i·B, (i+1)·B)──▶ sha256.update ──▶ saved Zarr chunk i          (B = block_bytes)
    open:  saved chunk i  ──read──▶ sha256.update ──▶ working copy on disk ──after the last──▶ digest == manifest?

``np.asarray(blocks)`` reads every block (checked the same way) into one array, for stores that keep their
payload in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .errors import CorruptStoreError
from .integrity import checksum_start

__all__ = ["BLOCK_BYTES", "ByteBlocks"]

#: bytes read, hashed and written at a time (and the chunk size of a saved array larger than this)
BLOCK_BYTES = 16 << 20


class ByteBlocks:
    """``nbytes`` uint8 values, read ``block_bytes`` (default :data:`BLOCK_BYTES`) at a time by
    ``read(start, stop)``; ``expected``: the SHA-256 the bytes must have (with dtype and shape, as the manifest
    holds it), checked after the last block is read."""

    dtype = np.dtype(np.uint8)

    def __init__(self, nbytes: int, read: Callable[[int, int], np.ndarray], *, expected: str | None = None,
                 block_bytes: int | None = None) -> None:
        block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
        if nbytes < 0 or block_bytes < 1:
            raise ValueError(f"nbytes must be >= 0 and block_bytes >= 1, got {nbytes}, {block_bytes}")
        self.nbytes, self._read, self.expected, self.block_bytes = nbytes, read, expected, block_bytes

    @property
    def shape(self) -> tuple[int]:
        return (self.nbytes,)

    @property
    def size(self) -> int:
        return self.nbytes

    def even_blocks(self) -> ByteBlocks:
        """The same bytes in the fewest blocks of at most ``block_bytes``, all of one size but the last, which is
        shorter by fewer bytes than there are blocks: saved as Zarr chunks of that size, the padding Zarr gives the
        last chunk is under one byte per chunk (a 100 GB payload: under 6 KB)."""
        count = max(1, -(-self.nbytes // self.block_bytes))
        return ByteBlocks(self.nbytes, self._read, expected=self.expected, block_bytes=max(1, -(-self.nbytes // count)))

    def peek(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)``, unchecked: for a check that refuses a file early. What a store keeps must come
        through :meth:`copy_to`, whose hash is checked."""
        return np.asarray(self._read(start, min(stop, self.nbytes)), dtype=np.uint8).tobytes()

    def copy_to(self, write: Callable[[int, np.ndarray], None]) -> str:
        """Read the blocks in order and pass each to ``write(offset, block)``; returns their SHA-256 (with dtype and
        shape, as the manifest holds it). After the last block, a :class:`CorruptStoreError` if it is not
        ``expected``: whatever ``write`` filled must then be thrown away."""
        digest: list[str] = []
        for start, block in self.blocks(digest):
            write(start, block)
        return digest[0]

    def blocks(self, digest: list[str] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(offset, block) in order, as :meth:`copy_to` reads them: after the last block, a
        :class:`CorruptStoreError` if their SHA-256 is not ``expected`` (appended to ``digest`` when given)."""
        hashed = checksum_start(self.dtype, self.shape)
        for start in range(0, self.nbytes, self.block_bytes):
            block = np.ascontiguousarray(self._read(start, min(start + self.block_bytes, self.nbytes)), np.uint8)
            hashed.update(block)  # hashlib reads the array's buffer: no copy
            yield start, block
        found = hashed.hexdigest()
        if self.expected is not None and found != self.expected:
            raise CorruptStoreError("checksum mismatch in a saved array read block by block")
        if digest is not None:
            digest.append(found)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.nbytes, dtype=np.uint8)

        def put(offset: int, block: np.ndarray) -> None:
            out[offset:offset + block.size] = block

        self.copy_to(put)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"ByteBlocks(nbytes={self.nbytes}, block_bytes={self.block_bytes})"
