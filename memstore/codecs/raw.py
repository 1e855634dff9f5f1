"""The raw codec: every channel value quantised to uint8, 8 bits each (DESIGN §3)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import FixedWidthCodec

__all__ = ["RawCodec"]


class RawCodec(FixedWidthCodec):
    """``round(x · 255)`` as uint8; decoding divides by 255. Lossless for inputs that are multiples of 1/255."""

    codec_id = "raw"
    symbol_bits = 8

    def __init__(self, item_shape: tuple[int, ...]) -> None:
        self.item_shape = tuple(int(d) for d in item_shape)
        self.symbols = math.prod(self.item_shape)

    def encode(self, x: Tensor) -> np.ndarray:
        quantised = torch.round(x.detach().to("cpu", torch.float32) * 255).to(torch.uint8)
        return quantised.reshape(x.shape[0], self.symbols).numpy()

    def decode(self, codes: np.ndarray) -> Tensor:
        values = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
        return values.reshape(-1, *self.item_shape).to(torch.float32).div_(255)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape)}
