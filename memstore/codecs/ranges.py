"""Channel ranges: the side information a dVAE code can carry beside its latents (decision 0036).

Every channel of an item gets a low and a high byte, ``lo = floor(255·min)`` and ``hi = ceil(255·max)`` over its
pixels. The dVAE codes the item stretched to them and decoding stretches its output back, as a transform coder sends
its DC term apart from the rest::

    x (B,C,H,W) ─▶ bytes (B,C,2) = (lo, hi) per channel ─▶ to_digits: 2·C·k base-l digits ─▶ appended to the code
              └─▶ stretch: (x − lo/255) / span, span = max(hi − lo, 1)/255, clipped to [0, 1] ─▶ the dVAE
    decode:  DEC(latents) in [0, 1] ─▶ unstretch: lo/255 + span · DEC, clipped to [0, 1]

The bytes are written as ``k = digits_per_byte(l)`` base-``l`` digits each (least significant first), so they are
more symbols of the same alphabet as the latents: the bit-packed store packs them and the range-coded store models
them exactly as it does latents, and an item is charged for them as for any other symbol.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["IDENTITY", "digits_per_byte", "from_digits", "range_bytes", "range_symbols", "stretch", "to_digits",
           "unstretch"]

#: the bytes of the unit range (0, 255): stretching by it changes nothing
IDENTITY = (0, 255)


def digits_per_byte(classes: int) -> int:
    """The fewest base-``classes`` digits that write every byte: the smallest k with classes^k ≥ 256."""
    k, reach = 1, classes
    while reach < 256:
        k, reach = k + 1, reach * classes
    return k


def range_symbols(channels: int, classes: int) -> int:
    """Symbols of a code's channel ranges: two bytes per channel, each ``digits_per_byte(classes)`` digits."""
    return 2 * channels * digits_per_byte(classes)


def range_bytes(x: Tensor) -> Tensor:
    """(B, C, 2) int64: each channel's (floor(255·min), ceil(255·max)) over its pixels, in [0, 255]."""
    flat = x.detach().to("cpu", torch.float32).flatten(2)
    low = torch.floor(flat.amin(2) * 255 + 1e-4)  # values on the 1/255 grid keep their own byte
    high = torch.ceil(flat.amax(2) * 255 - 1e-4)
    return torch.stack([low, high], dim=2).clamp_(0, 255).to(torch.int64)


def _low_and_span(bytes_: Tensor) -> tuple[Tensor, Tensor]:
    low = bytes_[..., 0].to(torch.float32)
    span = (bytes_[..., 1] - bytes_[..., 0]).clamp(min=1).to(torch.float32)
    return (low / 255)[..., None, None], (span / 255)[..., None, None]


def stretch(x: Tensor, bytes_: Tensor) -> Tensor:
    """``x`` (B,C,H,W) stretched so that each channel's range ``bytes_`` (B,C,2) covers [0, 1]."""
    low, span = _low_and_span(bytes_.to(x.device))
    return ((x - low) / span).clamp(0, 1)


def unstretch(r: Tensor, bytes_: Tensor) -> Tensor:
    """The inverse of :func:`stretch` for decoded ``r`` (B,C,H,W) in [0, 1], clipped to [0, 1]."""
    low, span = _low_and_span(bytes_.to(r.device))
    return (low + span * r).clamp(0, 1)


def to_digits(bytes_: np.ndarray, classes: int) -> np.ndarray:
    """(B, n) bytes → (B, n·k) base-``classes`` digits, each byte's k digits least significant first."""
    values = np.asarray(bytes_, dtype=np.int64).reshape(bytes_.shape[0], -1, 1)
    powers = classes ** np.arange(digits_per_byte(classes), dtype=np.int64)
    return ((values // powers) % classes).reshape(values.shape[0], -1)


def from_digits(digits: np.ndarray, classes: int) -> np.ndarray:
    """The inverse of :func:`to_digits`; digits that write a number above 255 (no encoder writes them) read as 255."""
    k = digits_per_byte(classes)
    grouped = np.asarray(digits, dtype=np.int64).reshape(digits.shape[0], -1, k)
    return np.minimum((grouped * classes ** np.arange(k, dtype=np.int64)).sum(axis=2), 255)
