"""The raw codec: every channel value quantised to uint8, 8 bits each (docs/design.md, bits)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import FixedWidthCodec, float_values

__all__ = ["RawCodec"]


class RawCodec(FixedWidthCodec):
    """``round(x · 255)`` as uint8; decoding divides by 255. Lossless for inputs that are multiples of 1/255."""

    codec_id = "raw"
    symbol_bits = 8

    def __init__(self, item_shape: tuple[int, ...]) -> None:
        self.item_shape = tuple(int(d) for d in item_shape)
        self.symbols = math.prod(self.item_shape)

    def encode(self, x: Tensor) -> np.ndarray:
        values = float_values(x).reshape(x.shape[0], self.symbols)
        return np.rint(values * np.float32(255)).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> Tensor:
        values = codes.astype(np.float32) / np.float32(255)  # exact: k / 255 rounded once, as torch computes it
        return torch.from_numpy(values.reshape(-1, *self.item_shape))  # numpy's reshape costs a tenth of torch's

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape)}
