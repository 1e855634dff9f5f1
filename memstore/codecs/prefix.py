"""Prefix (Huffman) coding of discrete codes with ``constriction.symbol``: bit-exact items with no length field.

::

    codes (B, c) in [0, l) ─▶ groups of g adjacent latents, each one symbol of l^g values (mixed radix)
        ─▶ one Huffman tree per group (from its counts) ─▶ each item a run of bits, self-delimiting
    stored: the concatenation of every item's bits; an item is found again by decoding from the first

A range coder (:mod:`memstore.codecs.entropy`) ends every item on a 32-bit word, 18–32 bits above its information;
a prefix code costs at most one bit per symbol above it and needs no length field, because an item is always
``ceil(c / g)`` symbols. Grouping g latents into one symbol (``l^g ≤ max_alphabet``) models their joint distribution
and takes the per-symbol overhead over g latents at once, which is what lets binary latents compress at all.

In memory an item is its bits with a closing 1 bit, padded to bytes (so its exact length is read off its last
byte); charged and saved are its bits alone. The model is ``counts`` per group (16-bit integers, smoothed by one),
:attr:`shared`, charged once (docs/design.md, bits).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import constriction
import numpy as np

from ..checks import is_int
from ..errors import InvalidInputError

__all__ = ["CategoricalPrefixCoder"]

_MAX_COUNT = 2**16 - 1


def _bits_of(item: bytes) -> np.ndarray:
    """The code bits of an in-memory item (its closing 1 bit and padding removed)."""
    if not item or item[-1] == 0:
        raise ValueError("a prefix-coded item ends with its closing bit: got an empty item or a zero last byte")
    bits = np.unpackbits(np.frombuffer(item, dtype=np.uint8), bitorder="little")
    return bits[: 8 * (len(item) - 1) + item[-1].bit_length() - 1]


def _closed(bits: np.ndarray) -> bytes:
    """``bits`` with a closing 1 bit, packed little-endian into bytes."""
    return np.packbits(np.append(bits, 1).astype(np.uint8), bitorder="little").tobytes()


def _words(bits: np.ndarray) -> np.ndarray:
    """``bits`` as the uint32 words constriction's QueueDecoder reads (least significant bit first)."""
    padded = np.zeros(-(-max(bits.size, 1) // 32) * 32, dtype=np.uint8)
    padded[: bits.size] = bits
    return np.packbits(padded, bitorder="little").view("<u4").astype(np.uint32)


class CategoricalPrefixCoder:
    """Huffman coding of ``latents`` symbols of ``classes`` values, ``group`` latents to a symbol, under per-group
    ``counts`` (uniform when None). Same interface as :class:`~memstore.codecs.entropy.CategoricalRangeCoder`."""

    codec_id = "categorical-prefix"
    length_bits = 0  # no length field: an item is always ``groups`` symbols
    self_delimiting = True

    def __init__(self, latents: int, classes: int, counts: np.ndarray | Sequence[int] | None = None, *,
                 max_alphabet: int = 16) -> None:
        if not is_int(latents) or not is_int(classes) or latents < 1 or classes < 2:
            raise InvalidInputError(f"need int latents >= 1 and classes >= 2, got {latents!r}, {classes!r}")
        if not is_int(max_alphabet) or not 2 <= max_alphabet <= 4096:
            raise InvalidInputError(f"max_alphabet must be an int in [2, 4096], got {max_alphabet!r}")
        latents, classes, max_alphabet = int(latents), int(classes), int(max_alphabet)
        self.latents, self.classes, self.max_alphabet = latents, classes, max_alphabet
        self.group = max(1, min(latents, int(math.log(max(max_alphabet, classes), classes) + 1e-9)))
        self.spans = [(start, min(start + self.group, latents)) for start in range(0, latents, self.group)]
        self.alphabets = [classes ** (end - start) for start, end in self.spans]
        table = np.zeros(sum(self.alphabets), dtype=np.int64) if counts is None else np.asarray(counts).reshape(-1)
        if table.size != sum(self.alphabets) or not np.issubdtype(table.dtype, np.integer):
            raise InvalidInputError(f"counts must be {sum(self.alphabets)} integers (one per symbol of every group), "
                                    f"got {table.dtype} {table.shape}")
        if int(table.min()) < 0 or int(table.max()) > _MAX_COUNT:
            raise InvalidInputError(f"counts must lie in [0, {_MAX_COUNT}]")
        self.counts = table.astype(np.uint16)
        offsets = np.cumsum([0, *self.alphabets])
        smoothed = [self.counts[a:b].astype(np.float64) + 1 for a, b in itertools.pairwise(offsets)]
        self._probabilities = [p / p.sum() for p in smoothed]
        huffman = constriction.symbol.huffman
        self._encoders = [huffman.EncoderHuffmanTree(p) for p in self._probabilities]
        self._decoders = [huffman.DecoderHuffmanTree(p) for p in self._probabilities]
        self.min_item_bits = len(self.spans)  # every symbol of an alphabet of >= 2 costs at least one bit

    @property
    def shared(self) -> bytes:
        """The model's bytes: every count as a little-endian uint16, group by group."""
        return self.counts.astype("<u2").tobytes()

    @classmethod
    def from_shared(cls, latents: int, classes: int, shared: bytes, *, max_alphabet: int = 16
                    ) -> CategoricalPrefixCoder:
        uniform = cls(latents, classes, max_alphabet=max_alphabet)
        if len(shared) != len(uniform.shared):
            raise ValueError(f"a {latents}×{classes} prefix model has {len(uniform.shared)} bytes, got {len(shared)}")
        return cls(latents, classes, np.frombuffer(shared, dtype="<u2").astype(np.int64), max_alphabet=max_alphabet)

    def with_shared(self, shared: bytes) -> CategoricalPrefixCoder:
        """This coder's shape with the model whose :attr:`shared` bytes are ``shared`` (ValueError if not one)."""
        return type(self).from_shared(self.latents, self.classes, shared, max_alphabet=self.max_alphabet)

    def symbols(self, codes: Any) -> np.ndarray:
        """Codes (N, latents) → group symbols (N, groups), mixed radix, the first latent of a group lowest."""
        array = np.asarray(codes)
        if array.ndim != 2 or array.shape[1] != self.latents or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"codes must be integers of shape (N, {self.latents}), got {array.dtype} {array.shape}")
        if array.size and (int(array.min()) < 0 or int(array.max()) >= self.classes):
            raise ValueError(f"codes must lie in [0, {self.classes})")
        return np.stack([(array[:, a:b].astype(np.int64) * self.classes ** np.arange(b - a)).sum(axis=1)
                         for a, b in self.spans], axis=1)

    def _codes(self, symbols: np.ndarray) -> np.ndarray:
        parts = [(symbols[:, [k]] // self.classes ** np.arange(b - a)) % self.classes
                 for k, (a, b) in enumerate(self.spans)]
        return np.concatenate(parts, axis=1).astype(np.int64)

    def fit(self, codes: np.ndarray) -> CategoricalPrefixCoder:
        """The coder of the per-group symbol frequencies of ``codes``, scaled down to fit 16 bits."""
        return self.fit_counts(self.count(codes))

    def count(self, codes: np.ndarray) -> np.ndarray:
        """Each group's symbol frequencies in ``codes``, concatenated: counts of parts of a set add up to its."""
        symbols = self.symbols(codes)
        return np.concatenate([np.bincount(symbols[:, k], minlength=size) for k, size in enumerate(self.alphabets)])

    def fit_counts(self, counts: np.ndarray) -> CategoricalPrefixCoder:
        """The coder of frequencies ``counts`` (:meth:`count`'s, or their sum over parts), scaled to fit 16 bits."""
        peak = int(counts.max(initial=0))
        if peak > _MAX_COUNT:
            counts = counts * _MAX_COUNT // peak
        return type(self)(self.latents, self.classes, counts, max_alphabet=self.max_alphabet)

    def _item_bits(self, row: np.ndarray) -> np.ndarray:
        encoder = constriction.symbol.QueueEncoder()
        for symbol, tree in zip(row.tolist(), self._encoders):
            encoder.encode_symbol(symbol, tree)
        words, count = encoder.get_compressed_and_bitrate()
        return np.unpackbits(np.asarray(words, dtype="<u4").view(np.uint8), bitorder="little")[:count]

    def encode(self, codes: np.ndarray) -> list[bytes]:
        """Codes (B, latents) → one in-memory item per row (its bits, a closing 1 bit, padding)."""
        return [_closed(self._item_bits(row)) for row in self.symbols(codes)]

    def decode(self, items: Sequence[bytes], *, verify: bool = False) -> np.ndarray:
        """In-memory items → codes (B, latents). ``verify`` re-encodes and refuses items whose bits differ (a model
        that does not match its items decodes something, silently; this is how that is caught)."""
        symbols = np.empty((len(items), len(self.spans)), dtype=np.int64)
        for row, item in enumerate(items):
            bits = _bits_of(item)
            decoder = constriction.symbol.QueueDecoder(_words(bits))
            symbols[row] = [decoder.decode_symbol(tree) for tree in self._decoders]
        codes = self._codes(symbols)
        if verify and self.encode(codes) != list(items):
            raise ValueError("prefix-coded items do not re-encode to their bits under this model: wrong model")
        return codes

    def item_bits(self, item: bytes) -> int:
        """Bits an in-memory item is charged and saved as (its closing bit and padding excluded)."""
        return int(_bits_of(item).size)

    def join(self, items: Sequence[bytes]) -> bytes:
        """Every item's bits, concatenated and padded to bytes: what a store saves."""
        bits = [_bits_of(item) for item in items]
        return np.packbits(np.concatenate(bits or [np.zeros(0, np.uint8)]), bitorder="little").tobytes()

    def split(self, data: bytes, count: int) -> list[bytes]:
        """Inverse of :meth:`join`: ``count`` items decoded from the front; ValueError unless the bits are exactly
        ``count`` items' under this model (and the padding zero)."""
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        decoder = constriction.symbol.QueueDecoder(_words(bits))
        try:
            symbols = np.array([[decoder.decode_symbol(tree) for tree in self._decoders] for _ in range(count)],
                               dtype=np.int64).reshape(count, len(self.spans))
        except BaseException as exc:  # constriction raises its own errors on a stream that runs out
            raise ValueError(f"the saved bits do not hold {count} items under this model: {exc}") from exc
        items = self.encode(self._codes(symbols))
        if self.join(items) != bytes(data):
            raise ValueError(f"the saved bits are not {count} items under this model and zero padding")
        return items

    def coded_bits(self, codes: np.ndarray) -> np.ndarray:
        """Bits each item of ``codes`` takes when coded."""
        return np.array([self.item_bits(item) for item in self.encode(codes)], dtype=np.int64)

    def information_bits(self, codes: np.ndarray) -> np.ndarray:
        """``−Σ log2 p_k(symbol_k)`` per item under this model: what an ideal coder would spend."""
        symbols = self.symbols(codes)
        return -sum(np.log2(p[symbols[:, k]]) for k, p in enumerate(self._probabilities))

    def get_config(self) -> dict[str, Any]:
        """The coder's shape; the counts are state (saved with the store that fits them)."""
        return {"id": self.codec_id, "latents": self.latents, "classes": self.classes,
                "max_alphabet": self.max_alphabet}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoricalPrefixCoder) and self.get_config() == other.get_config() and bool(
            np.array_equal(self.counts, other.counts))

    def __hash__(self) -> int:
        return hash((self.latents, self.classes, self.max_alphabet, self.shared))
