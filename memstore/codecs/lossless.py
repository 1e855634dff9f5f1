"""Lossless codecs for uint8 items: Zstandard (numcodecs) and PNG (Pillow), with the bytes every item shares split off.

Both code the item's uint8 values (``round(x · 255)``, as :class:`~memstore.codecs.raw.RawCodec` stores them), so
decoding gives back exactly what RawStore would, at a fraction of the bits. For a fixed item shape and level each
encoder writes the same bytes around every item::

    zstd: magic · frame header (content size) │ compressed blocks │                     (shared = first 7 bytes)
    PNG:  signature · IHDR                    │ IDAT chunk(s)     │ IEND                 (shared = the two ends)

A codec measures its frame from a real encoding at construction, stores each item without it and reassembles it
exactly to decode; an encoding whose frame differs is refused. ``length_bits`` is the width of the per-item length
field, from a bound on one item's bytes (zstd's ``ZSTD_compressBound``; stored deflate blocks for PNG).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numcodecs
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..budget import index_bits
from ..checks import is_int
from ..errors import InvalidInputError
from .base import VariableLengthCodec, float_values

__all__ = ["LosslessCodec", "PNGCodec", "ZstdCodec", "to_uint8"]


def to_uint8(x: Tensor) -> np.ndarray:
    """Float items (B, C, H, W) in [0, 1] → uint8 values ``round(x · 255)`` of the same shape."""
    return np.rint(float_values(x) * np.float32(255)).astype(np.uint8)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return int(value)


class LosslessCodec(VariableLengthCodec):
    """A lossless codec of uint8 items whose encodings share a fixed ``header`` and ``trailer``."""

    item_shape: tuple[int, int, int]
    header: bytes
    trailer: bytes

    def _frame(self) -> None:
        """Cut the shared frame from a real encoding, check that a second, different item shares it, and size the
        length field from :meth:`max_item_bytes`."""
        zeros = np.zeros(self.item_shape, dtype=np.uint8)
        first, second = self._encode_one(zeros), self._encode_one(np.full_like(zeros, 255))
        self.header = first[:self._header_length(first)]
        self.trailer = first[len(first) - self._trailer_length():]
        if not second.startswith(self.header) or not second.endswith(self.trailer):
            raise RuntimeError(f"{type(self).__name__}: encodings of one item shape do not share their frame")
        self.length_bits = index_bits(self.max_item_bytes() + 1)

    def _header_length(self, data: bytes) -> int:
        raise NotImplementedError

    def _trailer_length(self) -> int:
        raise NotImplementedError

    @property
    def shared(self) -> bytes:
        return self.header + self.trailer

    def max_item_bytes(self) -> int:
        raise NotImplementedError

    def _encode_one(self, values: np.ndarray) -> bytes:
        raise NotImplementedError

    def _decode_one(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def encode(self, x: Tensor) -> list[bytes]:
        """Float32 items (B, C, H, W) → each item's bytes without the shared frame."""
        head, tail = len(self.header), len(self.trailer)
        out = []
        for values in to_uint8(x):
            data = self._encode_one(values)
            if not data.startswith(self.header) or not data.endswith(self.trailer) or len(data) <= head + tail:
                raise RuntimeError(f"{type(self).__name__} wrote a frame that differs from its shared frame")
            out.append(data[head:len(data) - tail])
        return out

    def decode(self, codes: Sequence[bytes]) -> Tensor:
        """Item bytes → float32 items (B, C, H, W), exactly ``k / 255`` for the stored uint8 ``k``."""
        out = np.empty((len(codes), *self.item_shape), dtype=np.uint8)
        for row, data in enumerate(codes):
            out[row] = self._decode_one(self.header + data + self.trailer)
        return torch.from_numpy(out.astype(np.float32) / np.float32(255))


class ZstdCodec(LosslessCodec):
    """Zstandard through numcodecs at ``level`` (1–22, 19 by default) over an item's uint8 values in C, H, W order."""

    codec_id = "zstd"

    def __init__(self, item_shape: tuple[int, ...], level: int = 19) -> None:
        self.item_shape = tuple(int(d) for d in item_shape)  # type: ignore[assignment]
        self.level = _check_int("zstd level", level, 1, 22)
        self._zstd = numcodecs.Zstd(level=self.level)
        self._frame()

    def _header_length(self, data: bytes) -> int:
        """The magic number, the frame header descriptor and what it announces (window size, content size)."""
        descriptor = data[4]
        size_field = (0, 2, 4, 8)[descriptor >> 6] or (1 if descriptor & 0x20 else 0)
        window = 0 if descriptor & 0x20 else 1
        dictionary = (0, 1, 2, 4)[descriptor & 0x03]
        return 5 + window + dictionary + size_field

    def _trailer_length(self) -> int:
        return 0  # no checksum is written: a frame ends with its last block

    def max_item_bytes(self) -> int:
        n = math.prod(self.item_shape)
        return n + (n >> 8) + ((128 * 1024 - n) >> 11 if n < 128 * 1024 else 0) + 32

    def _encode_one(self, values: np.ndarray) -> bytes:
        return bytes(self._zstd.encode(np.ascontiguousarray(values).tobytes()))

    def _decode_one(self, data: bytes) -> np.ndarray:
        return np.frombuffer(self._zstd.decode(data), dtype=np.uint8).reshape(self.item_shape)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape), "level": self.level}


class PNGCodec(LosslessCodec):
    """PNG through Pillow at zlib ``compress_level`` (0–9, 9 by default). C = 1: grayscale; C = 3: RGB; any other C:
    the channels stacked into one grayscale image of (C·H)×W."""

    codec_id = "png"

    def __init__(self, item_shape: tuple[int, ...], compress_level: int = 9) -> None:
        self.item_shape = tuple(int(d) for d in item_shape)  # type: ignore[assignment]
        self.compress_level = _check_int("PNG compress_level", compress_level, 0, 9)
        channels, height, width = self.item_shape
        self.mode = "RGB" if channels == 3 else "L"
        self._frame()

    def _header_length(self, data: bytes) -> int:
        return 8 + 25  # signature, IHDR chunk; every other chunk before IEND is the item's

    def _trailer_length(self) -> int:
        return 12  # IEND

    def max_item_bytes(self) -> int:
        channels, height, width = self.item_shape
        raw = height * (1 + width * channels) if self.mode == "RGB" else channels * height * (1 + width)
        deflate = raw + 5 * (raw // 16383 + 1) + 6
        return deflate + 12 * (deflate // 4096 + 2)

    def _pixels(self, values: np.ndarray) -> np.ndarray:
        if self.mode == "RGB":
            return np.ascontiguousarray(values.transpose(1, 2, 0))
        return values.reshape(-1, values.shape[-1])

    def _encode_one(self, values: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(self._pixels(values), self.mode).save(out, "PNG", compress_level=self.compress_level)
        return out.getvalue()

    def _decode_one(self, data: bytes) -> np.ndarray:
        pixels = np.asarray(Image.open(io.BytesIO(data)))
        if self.mode == "RGB":
            return pixels.transpose(2, 0, 1)
        return pixels.reshape(self.item_shape)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape), "compress_level": self.compress_level}
