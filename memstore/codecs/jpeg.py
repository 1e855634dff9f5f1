"""JPEG through Pillow, with the bytes every item shares split off and charged once (docs/design.md, bits).

For a fixed item shape, quality and subsampling, Pillow (libjpeg, ``optimize=False``: the standard Huffman tables)
writes the same bytes before the entropy-coded scan of every image::

    SOI APP0 DQT… SOF0 DHT… SOS │ entropy-coded scan │ EOI
    └──── header: shared ──────┘ └─ per item ────────┘ └ shared

:class:`JPEGCodec` measures that header (and the two-byte EOI trailer) from a real encoding at construction, stores
each item as its scan bytes only, and decodes by reassembling ``header + scan + EOI`` exactly. An encoding whose
header differs from the measured one is refused (it would not decode). Layout of channels:

- C = 1: a grayscale (``L``) image of H×W;
- C = 3: an RGB image (YCbCr inside JPEG), chroma ``subsampling`` 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0;
- any other C: the channels stacked vertically into one grayscale image of (C·H)×W.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..budget import index_bits
from ..checks import is_int, plain
from ..errors import InvalidInputError
from .base import VariableLengthCodec, float_values

__all__ = ["JPEGCodec", "split_header"]

SOI, SOS, EOI = b"\xff\xd8", b"\xff\xda", b"\xff\xd9"


def split_header(data: bytes) -> int:
    """Length of the header of a baseline JPEG: every byte up to and including the SOS segment."""
    if data[:2] != SOI:
        raise ValueError("not a JPEG: no SOI marker")
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ValueError(f"malformed JPEG: expected a marker at byte {position}")
        marker = data[position:position + 2]
        length = int.from_bytes(data[position + 2:position + 4], "big")
        position += 2 + length
        if marker == SOS:
            return position
    raise ValueError("malformed JPEG: no SOS segment")


#: the largest side libjpeg encodes (Pillow refuses more)
JPEG_MAX_SIDE = 65500


class JPEGCodec(VariableLengthCodec):
    """Pillow JPEG at one ``quality`` (1–100); items are their scan bytes, the header is shared."""

    codec_id = "jpeg"

    def __init__(self, item_shape: tuple[int, ...], quality: int = 75, subsampling: int = 0) -> None:
        self.item_shape = tuple(int(d) for d in item_shape)
        if not is_int(quality) or not 1 <= quality <= 100:
            raise InvalidInputError(f"quality must be an int in [1, 100], got {quality!r}")
        if subsampling not in (0, 1, 2):
            raise InvalidInputError(f"subsampling must be 0 (4:4:4), 1 (4:2:2) or 2 (4:2:0), got {subsampling!r}")
        self.quality, self.subsampling = int(quality), plain(subsampling)
        channels, height, width = self.item_shape
        if max(width, height if channels == 3 else channels * height) > JPEG_MAX_SIDE:
            raise InvalidInputError(f"JPEG images are at most {JPEG_MAX_SIDE} pixels a side; item shape "
                                    f"{self.item_shape} is {'one image' if channels == 3 else 'its channels stacked'} "
                                    f"of {width} x {height if channels == 3 else channels * height}")
        self.rgb = channels == 3
        self.mode = "RGB" if self.rgb else "L"
        self.size = (width, height if self.rgb else channels * height)  # PIL's (width, height)
        probe = self._encode_one(np.zeros(self._pil_shape(), dtype=np.uint8))
        cut = split_header(probe)
        self.header, self.trailer = probe[:cut], EOI
        self.length_bits = index_bits(self.max_scan_bytes() + 1)

    # -- bits -------------------------------------------------------------------------------------------------------

    @property
    def shared(self) -> bytes:
        """Bytes every item shares, charged once per store: the header, then EOI."""
        return self.header + self.trailer

    def max_scan_bytes(self) -> int:
        """A bound on one scan's bytes: 8×8 blocks (padded to 16×16 MCUs) × 64 coefficients × 27 bits, doubled
        for 0xFF byte stuffing. It sets the fixed width of the per-item length field."""
        width, height = self.size
        blocks = (-(-width // 16) * 2) * (-(-height // 16) * 2) * (3 if self.rgb else 1)
        return 2 * blocks * 64 * 27 // 8 + 16

    # -- encode / decode ----------------------------------------------------------------------------------------------

    def _pil_shape(self) -> tuple[int, ...]:
        width, height = self.size
        return (height, width, 3) if self.rgb else (height, width)

    def _encode_one(self, pixels: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(pixels, self.mode).save(
            out, "JPEG", quality=self.quality, subsampling=self.subsampling, optimize=False
        )
        return out.getvalue()

    def to_pixels(self, x: Tensor) -> np.ndarray:
        """Float items (B, C, H, W) → uint8 arrays in Pillow's layout, one per item."""
        values = np.rint(float_values(x) * np.float32(255)).astype(np.uint8)
        if self.rgb:
            return np.ascontiguousarray(values.transpose(0, 2, 3, 1))
        return values.reshape(values.shape[0], *self._pil_shape())

    def encode(self, x: Tensor) -> list[bytes]:
        """Float32 items (B, C, H, W) → their scan bytes (header and EOI removed)."""
        head, tail = len(self.header), len(self.trailer)
        scans = []
        for pixels in self.to_pixels(x):
            data = self._encode_one(pixels)
            if not data.startswith(self.header) or not data.endswith(self.trailer):
                raise RuntimeError("Pillow wrote a header that differs from this codec's shared header")
            scans.append(data[head:len(data) - tail])
        return scans

    def decode(self, codes: Sequence[bytes]) -> Tensor:
        """Scan bytes → float32 items (B, C, H, W) in [0, 1]; each item is decoded from header + scan + EOI."""
        out = np.empty((len(codes), *self._pil_shape()), dtype=np.uint8)
        for row, scan in enumerate(codes):  # frombytes skips Image.open's file sniffing: ~1.5x faster here
            out[row] = np.asarray(Image.frombytes(self.mode, self.size, self.header + scan + self.trailer, "jpeg",
                                                  self.mode, ""))
        values = torch.from_numpy(out).float().div_(255)
        if self.rgb:
            return values.permute(0, 3, 1, 2).contiguous()
        return values.reshape(-1, *self.item_shape)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape), "quality": self.quality,
                "subsampling": self.subsampling}
