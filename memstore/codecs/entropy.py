"""Entropy coding of discrete codes with ``constriction``: a categorical model per latent, range-coded per item.

::

    codes (B, c) in [0, l) ──RangeEncoder(Categorical(p_j) for latent j)──▶ one byte string per item (32-bit words)
    bytes ──RangeDecoder(same model)──▶ codes (B, c)

The model is ``counts`` (c, l) of 16-bit integers, ``p_j = (counts[j] + 1) / sum``: integers, so the probabilities a
decoder rebuilds are bit-identical to the encoder's. Its bytes (``shared``, 16 bits per count) are what decoding needs
besides each item's own bytes (docs/design.md, bits), charged once. :meth:`fit` returns the codec of a new model
estimated from codes; items coded under one model must be re-coded to move to another.

Each item is its own range-coder stream, so one item decodes alone (sampling reads only the items it needs). The
price is the coder's final state: an item costs a whole number of 32-bit words, about 18–32 bits above its
information content, which is why per-item entropy coding pays only for codes of many bits (measured in
docs/results.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import constriction
import numpy as np
from torch import Tensor

from ..budget import index_bits
from ..checks import is_int
from ..errors import InvalidInputError
from ..nn.dvae import DiscreteVAE
from .base import VariableLengthCodec
from .dvae import DVAECodec

__all__ = ["CategoricalRangeCoder", "EntropyCodedDVAE", "coder_from_config"]

_MAX_COUNT = 2**16 - 1


class CategoricalRangeCoder:
    """Range coding of ``latents`` categorical symbols of ``classes`` values under per-latent ``counts`` (uniform when
    None). A codec of symbols, not of items: a store composes it with the codec that makes the symbols."""

    codec_id = "categorical-range"
    self_delimiting = False

    def __init__(self, latents: int, classes: int, counts: np.ndarray | Sequence[Sequence[int]] | None = None) -> None:
        if not is_int(latents) or not is_int(classes) or latents < 1 or classes < 2:
            raise InvalidInputError(f"need int latents >= 1 and classes >= 2, got {latents!r}, {classes!r}")
        latents, classes = int(latents), int(classes)
        self.latents, self.classes = latents, classes
        table = np.zeros((latents, classes), dtype=np.int64) if counts is None else np.asarray(counts)
        if table.shape != (latents, classes) or not np.issubdtype(table.dtype, np.integer):
            raise InvalidInputError(f"counts must be integers of shape ({latents}, {classes}), "
                                    f"got {table.dtype} {table.shape}")
        if table.size and (int(table.min()) < 0 or int(table.max()) > _MAX_COUNT):
            raise InvalidInputError(f"counts must lie in [0, {_MAX_COUNT}]")
        self.counts = table.astype(np.uint16)
        smoothed = self.counts.astype(np.float64) + 1
        self._probabilities = smoothed / smoothed.sum(axis=1, keepdims=True)
        self._model = constriction.stream.model.Categorical(perfect=False)
        # a bound on one item's words: the coder emits at most ~ceil(information / 32) + 2 words; a symbol of
        # probability p costs at most -log2(p) bits, and every p here is at least 1 / (65535 · classes + classes)
        worst_bits = latents * float(np.log2((_MAX_COUNT + 1) * classes))
        self.max_item_bytes = 4 * (int(worst_bits) // 32 + 3)
        self.length_bits = index_bits(self.max_item_bytes + 1)
        self.min_item_bits = 32  # one word

    @property
    def shared(self) -> bytes:
        """The model's bytes: every count as a little-endian uint16, latent by latent."""
        return self.counts.astype("<u2").tobytes()

    @classmethod
    def from_shared(cls, latents: int, classes: int, shared: bytes) -> CategoricalRangeCoder:
        """The coder whose :attr:`shared` bytes are ``shared``."""
        if len(shared) != 2 * latents * classes:
            raise ValueError(f"a model of {latents}×{classes} counts has {2 * latents * classes} bytes, "
                             f"got {len(shared)}")
        return cls(latents, classes, np.frombuffer(shared, dtype="<u2").reshape(latents, classes).astype(np.int64))

    def with_shared(self, shared: bytes) -> CategoricalRangeCoder:
        """This coder's shape with the model whose :attr:`shared` bytes are ``shared`` (ValueError if not one)."""
        return type(self).from_shared(self.latents, self.classes, shared)

    def fit(self, codes: np.ndarray) -> CategoricalRangeCoder:
        """The coder of the per-latent frequencies of ``codes`` (N, latents), scaled down to fit 16 bits."""
        return self.fit_counts(self.count(codes))

    def count(self, codes: np.ndarray) -> np.ndarray:
        """Each latent's value frequencies in ``codes`` (latents, classes): counts of parts of a set add up to its."""
        codes = self._check_codes(codes)
        return np.stack([np.bincount(codes[:, j], minlength=self.classes) for j in range(self.latents)])

    def fit_counts(self, counts: np.ndarray) -> CategoricalRangeCoder:
        """The coder of frequencies ``counts`` (:meth:`count`'s, or their sum over parts), scaled to fit 16 bits."""
        peak = int(counts.max(initial=0))
        if peak > _MAX_COUNT:
            counts = counts * _MAX_COUNT // peak
        return type(self)(self.latents, self.classes, counts)

    def _check_codes(self, codes: Any) -> np.ndarray:
        array = np.asarray(codes)
        if array.ndim != 2 or array.shape[1] != self.latents or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"codes must be integers of shape (N, {self.latents}), got {array.dtype} {array.shape}")
        if array.size and (int(array.min()) < 0 or int(array.max()) >= self.classes):
            raise ValueError(f"codes must lie in [0, {self.classes})")
        return array.astype(np.int64)

    def encode(self, codes: np.ndarray) -> list[bytes]:
        """Codes (B, latents) → one byte string per item (a multiple of 4 bytes)."""
        out = []
        for row in self._check_codes(codes).astype(np.int32):
            encoder = constriction.stream.queue.RangeEncoder()
            encoder.encode(row, self._model, self._probabilities)
            data = encoder.get_compressed().astype("<u4").tobytes()
            if len(data) > self.max_item_bytes:  # the length field could not hold it: refuse rather than corrupt
                raise RuntimeError(f"an item coded to {len(data)} bytes, over the bound of {self.max_item_bytes}")
            out.append(data)
        return out

    def decode(self, items: Sequence[bytes], *, verify: bool = False) -> np.ndarray:
        """Byte strings → codes (B, latents); a string that is not a whole number of words is refused. ``verify``
        re-encodes what was decoded and refuses items whose bytes differ: a range decoder given another model's
        items decodes something, silently, so this is how a model that does not match its codes is caught."""
        out = np.empty((len(items), self.latents), dtype=np.int64)
        for row, data in enumerate(items):
            if len(data) % 4 or not data:
                raise ValueError(f"an entropy-coded item is a positive number of 32-bit words, got {len(data)} bytes")
            words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
            try:
                out[row] = constriction.stream.queue.RangeDecoder(words).decode(self._model, self._probabilities)
            except AssertionError as exc:  # how constriction refuses words that no item under this model ends in
                raise ValueError(f"item {row} is not a range-coded item under this model: {exc}") from exc
        if verify and self.encode(out) != list(items):
            raise ValueError("entropy-coded items do not re-encode to their bytes under this model: wrong model")
        return out

    def item_bits(self, item: bytes) -> int:
        """Bits an item is charged as: 8 × its bytes."""
        return 8 * len(item)

    def coded_bits(self, codes: np.ndarray) -> np.ndarray:
        """Bits each item of ``codes`` takes when coded (8 × its bytes)."""
        return np.array([8 * len(item) for item in self.encode(codes)], dtype=np.int64)

    def information_bits(self, codes: np.ndarray) -> np.ndarray:
        """``−Σ log2 p_j(code_j)`` per item: what an ideal coder under this model would spend."""
        codes = self._check_codes(codes)
        return -np.log2(self._probabilities[np.arange(self.latents), codes]).sum(axis=1)

    def get_config(self) -> dict[str, Any]:
        """The coder's shape; the counts are state (saved with the store that fits them), as a dVAE's weights are."""
        return {"id": self.codec_id, "latents": self.latents, "classes": self.classes}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoricalRangeCoder) and self.get_config() == other.get_config() and bool(
            np.array_equal(self.counts, other.counts))

    def __hash__(self) -> int:
        return hash((self.latents, self.classes, self.shared))


def coder_from_config(config: dict[str, Any] | None, latents: int, classes: int) -> Any:
    """The (uniform) symbol coder a coder config names by its ``id``: range (the default, and what older stores
    saved) or prefix (with its ``max_alphabet``)."""
    from .prefix import CategoricalPrefixCoder

    config = config or {"id": CategoricalRangeCoder.codec_id}
    coders = {coder.codec_id: coder for coder in (CategoricalRangeCoder, CategoricalPrefixCoder)}
    try:
        coder = coders[config["id"]]
        options = {key: value for key, value in config.items() if key not in ("id", "latents", "classes")}
        inspect.signature(coder).bind(latents, classes, **options)
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"unknown symbol coder config {config!r}: expected id {sorted(coders)} "
                                "with that coder's options") from exc
    if (config.get("latents", latents), config.get("classes", classes)) != (latents, classes):
        raise InvalidInputError(f"the symbol coder config {config!r} is not for the dVAE's {latents} latents of "
                                f"{classes} classes")
    return coder(latents, classes, **options)


class EntropyCodedDVAE(VariableLengthCodec):
    """dVAE codes entropy-coded per item: ``encode = coder.encode ∘ dvae.encode``, ``decode = dvae.decode ∘
    coder.decode``; the coder is a :class:`CategoricalRangeCoder` (the default; its id names the codec) or a
    :class:`~memstore.codecs.prefix.CategoricalPrefixCoder` (self-delimiting bits, no length field). ``coder`` is
    replaced (never mutated) when its model is refitted; the shared bytes are its model's."""

    codec_id = "dvae-range"

    def __init__(self, dvae: DVAECodec, coder: Any = None) -> None:
        self.dvae = dvae
        self.coder = coder or CategoricalRangeCoder(dvae.symbols, dvae.config.classes)
        if (self.coder.latents, self.coder.classes) != (dvae.symbols, dvae.config.classes):
            raise ValueError("the symbol coder's shape does not match the dVAE's symbols")
        self.item_shape = dvae.item_shape

    @property
    def model(self) -> DiscreteVAE:
        """The live dVAE, as ``DVAECodec.model``."""
        return self.dvae.model

    @property
    def length_bits(self) -> int:  # type: ignore[override]
        return self.coder.length_bits

    @property
    def min_item_bits(self) -> int:  # type: ignore[override]
        return self.coder.min_item_bits

    @property
    def self_delimiting(self) -> bool:
        return self.coder.self_delimiting

    @property
    def shared(self) -> bytes:
        return self.coder.shared

    def item_bits(self, item: bytes) -> int:
        return self.coder.item_bits(item)

    def join(self, items: list[bytes]) -> bytes:
        return self.coder.join(items)

    def split(self, data: bytes, count: int) -> list[bytes]:
        return self.coder.split(data, count)

    def encode(self, x: Tensor) -> list[bytes]:
        return self.coder.encode(self.dvae.encode(x))

    def decode(self, codes: Sequence[bytes]) -> Tensor:
        return self.dvae.decode(self.coder.decode(codes))

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "dvae": self.dvae.get_config(), "coder": self.coder.get_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EntropyCodedDVAE:
        dvae = config["dvae"]
        codec = DVAECodec.from_config(dvae)  # configs saved before decision 0029 lack code_side: the 2×2 default
        return cls(codec, coder_from_config(config.get("coder"), codec.symbols, codec.config.classes))
