"""The discrete-VAE codec of Scalable Recollections (Riemer et al. 2019): codes are argmax latent classes.

::

    x (B,C,H,W) ──model.encode──▶ argmax indices (B, c) in [0, l) ──bitpack──▶ c·ceil(log2 l) bits per item
    codes (B, c) ──model.decode──▶ sigmoid(decoder(one_hot(codes))) (B,C,H,W) in [0, 1]

A :class:`FixedWidthCodec` with ``symbols = c`` and ``symbol_bits = ceil(log2 l)``, so the item engine packs the codes
into one continuous bitstream with no per-item padding (38 binary latents cost 38 bits, not 40). The codec holds a
reference to the store's live :class:`~memstore.nn.DiscreteVAE`: decoding always uses the current decoder. Its config
names the architecture only; the weights are the store's state (saved by ``persist``), not the codec's config.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..budget import index_bits
from ..nn.dvae import DiscreteVAE, DVAEConfig
from .base import FixedWidthCodec

__all__ = ["DVAECodec"]


class DVAECodec(FixedWidthCodec):
    """Codes of ``latents`` categorical variables of ``classes`` values; ``model`` (or a fresh one from ``seed``)."""

    codec_id = "dvae"

    def __init__(
        self,
        item_shape: tuple[int, ...],
        latents: int,
        classes: int,
        tau: float = 1.0,
        *,
        model: DiscreteVAE | None = None,
        seed: int = 0,
    ) -> None:
        self.config = DVAEConfig(tuple(item_shape), int(latents), int(classes), float(tau))
        if model is not None and model.config != self.config:
            raise ValueError(f"model config {model.config} does not match {self.config}")
        self.model = model if model is not None else DiscreteVAE(self.config, torch.Generator().manual_seed(seed))
        self.item_shape = self.config.item_shape
        self.symbols = self.config.latents
        self.symbol_bits = index_bits(self.config.classes)

    def encode(self, x: Tensor) -> np.ndarray:
        return self.model.encode(x.detach().to("cpu", torch.float32)).numpy()

    def decode(self, codes: np.ndarray) -> Tensor:
        if codes.shape[0] == 0:
            return torch.zeros(0, *self.item_shape)
        return self.model.decode(torch.from_numpy(np.asarray(codes, dtype=np.int64)))

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape), "latents": self.config.latents,
                "classes": self.config.classes, "tau": self.config.tau}
