"""The discrete-VAE codec of Scalable Recollections (Riemer et al. 2019): codes are argmax latent classes.

::

    x (B,C,H,W) ──model.encode──▶ argmax indices (B, c) in [0, l) ──bitpack──▶ c·ceil(log2 l) bits per item
    codes (B, c) ──model.decode──▶ sigmoid(decoder(one_hot(codes))) (B,C,H,W) in [0, 1]

With ``ranges`` the code also carries each channel's range as more symbols (:mod:`memstore.codecs.ranges`,
decision 0036): the dVAE sees and makes the item stretched to its channel ranges::

    x ──▶ (lo, hi) per channel ──▶ base-l digits ─┐
      └─▶ stretch ──▶ argmax ENC ─────────────────┴─▶ code (B, c + 2·C·k)  ──▶ DEC(latents) ─▶ unstretch ─▶ x̂

A :class:`FixedWidthCodec` with ``symbols = c`` (plus the range digits) and ``symbol_bits = ceil(log2 l)``, so the
item engine packs the codes into one continuous bitstream with no per-item padding (38 binary latents cost 38 bits,
not 40). The codec holds a reference to the store's live :class:`~memstore.nn.DiscreteVAE`: decoding always uses the
current decoder (or, given one, a frozen copy: the anchor). Its config names the architecture only; the weights are
the store's state (saved by ``persist``), not the codec's config.

The codec owns its training, as CompressAI's learned codecs do: an Adam optimiser over the dVAE at ``lr``, one step
at a time (:meth:`DVAECodec.train_step`), its moments out (:meth:`~DVAECodec.training_state`) and back
(:meth:`~DVAECodec.optimiser_from`). What to train on (Algorithm 1's recollections) is the store's choice::

    store: x_s ∪ x ──▶ codec.train_step ──▶ BCE(DEC(gumbel(ENC(·))), ·) ──▶ Adam step on the codec's dVAE
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..budget import index_bits
from ..errors import InvalidInputError
from ..nn.dvae import DiscreteVAE, DVAEConfig
from . import ranges as channel_ranges
from .base import FixedWidthCodec

__all__ = ["OLD_CONFIG_DEFAULTS", "DVAECodec"]

#: what a key absent from a saved config means: it was saved before the decision that added the key and ran as
#: then (the paper's 2×2 code map before 0029, no ranges before 0036, ReLU before 0037)
OLD_CONFIG_DEFAULTS = {"code_side": 2, "ranges": False, "activation": "relu"}


class DVAECodec(FixedWidthCodec):
    """Codes of ``latents`` categorical variables of ``classes`` values; ``model`` (or a fresh one from ``seed``),
    trained by Adam at ``lr``; ``ranges``: each code also carries its item's channel ranges (decision 0036);
    ``activation``: the dVAE's nonlinearity (:data:`~memstore.nn.dvae.ACTIVATIONS`; ELU since decision 0037)."""

    codec_id = "dvae"

    def __init__(
        self,
        item_shape: tuple[int, ...],
        latents: int,
        classes: int,
        tau: float = 1.0,
        code_side: int = 2,
        *,
        model: DiscreteVAE | None = None,
        seed: int = 0,
        lr: float = 1e-3,
        ranges: bool = False,
        activation: str = "elu",
    ) -> None:
        if not isinstance(ranges, bool):
            raise InvalidInputError(f"ranges must be a bool, got {ranges!r}")
        self.config = DVAEConfig(tuple(item_shape), int(latents), int(classes), float(tau), code_side, activation)
        if model is not None and model.config != self.config:
            raise ValueError(f"model config {model.config} does not match {self.config}")
        self.model = model if model is not None else DiscreteVAE(self.config, torch.Generator().manual_seed(seed))
        self.item_shape = self.config.item_shape
        self.ranges = ranges
        self.range_symbols = channel_ranges.range_symbols(self.item_shape[0], self.config.classes) if ranges else 0
        self.symbols = self.config.latents + self.range_symbols
        self.symbol_bits = index_bits(self.config.classes)
        self.lr = float(lr)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def to(self, device: torch.device) -> DVAECodec:
        """Move the dVAE to ``device`` before any step (a fresh optimiser over the moved parameters)."""
        self.model.to(device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        return self

    # -- training ----------------------------------------------------------------------------------------------------

    def train_step(self, x: Tensor, generator: torch.Generator,
                   anchored: tuple[Tensor, Tensor] | None = None, anchor_weight: float = 1.0) -> None:
        """One Adam step on the reconstruction loss of ``x`` (Gumbel noise from ``generator``), plus, with
        ``anchored`` = (codes, targets), ``anchor_weight`` times the decoder's loss on decoding those stored codes to
        those targets."""
        self.model.train()
        self.optimiser.zero_grad(set_to_none=True)
        x = x.detach().to("cpu", torch.float32)
        loss = self.model.loss(self._stretched(x, None), generator)
        if anchored is not None:
            codes, targets = anchored
            latents = codes[:, :self.config.latents]
            loss = loss + anchor_weight * self.model.code_loss(latents, self._stretched(targets, codes.numpy()))
        loss.backward()
        self.optimiser.step()

    def snapshot(self) -> DiscreteVAE:
        """A frozen copy of the dVAE as it is now (the anchor of ``Stabilisation.anchor_every``)."""
        return copy.deepcopy(self.model).eval().requires_grad_(False)

    def training_state(self) -> dict[str, Any]:
        """Adam's step count and moments by parameter name, as CPU tensors (uncharged training state)."""
        names = dict(zip(map(id, self.model.parameters()), (n for n, _ in self.model.named_parameters())))
        moments: dict[str, dict[str, Tensor]] = {"exp_avg": {}, "exp_avg_sq": {}}
        steps = 0
        for param, state in self.optimiser.state.items():
            steps = int(state["step"])
            for key in moments:
                moments[key][names[id(param)]] = state[key].detach().cpu().clone()
        return {"steps": steps, **moments}

    def optimiser_from(self, state: dict[str, Any]) -> torch.optim.Adam:
        """An optimiser holding ``state`` (from :meth:`training_state`), built without installing it: the caller
        assigns ``codec.optimiser`` once everything else it loads is valid. InvalidInputError on a mismatch."""
        optimiser = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        if not int(state["steps"]):
            return optimiser
        for name, param in self.model.named_parameters():
            moments = tuple(torch.as_tensor(state[key][name]).to(param.device, copy=True)
                            for key in ("exp_avg", "exp_avg_sq"))
            if any(moment.shape != param.shape for moment in moments):
                raise InvalidInputError(f"state 'adam' moments for {name!r} do not match the dVAE")
            optimiser.state[param] = {"step": torch.tensor(float(state["steps"])), "exp_avg": moments[0],
                                      "exp_avg_sq": moments[1]}
        return optimiser

    # -- codes -------------------------------------------------------------------------------------------------------

    def _bytes_of(self, codes: np.ndarray) -> Tensor:
        """The channel ranges (B, C, 2) a code's range digits write."""
        digits = np.asarray(codes, dtype=np.int64)[:, self.config.latents:]
        bytes_ = channel_ranges.from_digits(digits, self.config.classes)
        return torch.from_numpy(bytes_).reshape(-1, self.item_shape[0], 2)

    def _stretched(self, x: Tensor, codes: np.ndarray | None) -> Tensor:
        """``x`` as the dVAE sees it: stretched to the ranges ``codes`` carry (its own when None); as is without
        ranges."""
        if not self.ranges:
            return x
        return channel_ranges.stretch(x, channel_ranges.range_bytes(x) if codes is None else self._bytes_of(codes))

    def encode(self, x: Tensor) -> np.ndarray:
        x = x.detach().to("cpu", torch.float32)
        if not self.ranges:
            return self.model.encode(x).numpy()
        bytes_ = channel_ranges.range_bytes(x)
        latents = self.model.encode(channel_ranges.stretch(x, bytes_)).numpy()
        digits = channel_ranges.to_digits(bytes_.reshape(x.shape[0], -1).numpy(), self.config.classes)
        return np.concatenate([latents, digits], axis=1)

    def decode(self, codes: np.ndarray, model: DiscreteVAE | None = None) -> Tensor:
        """Codes (B, symbols) → items, by ``model`` (a frozen copy of this codec's dVAE, the anchor) or the live
        dVAE."""
        if codes.shape[0] == 0:
            return torch.zeros(0, *self.item_shape)
        codes = np.asarray(codes, dtype=np.int64)
        dvae = self.model if model is None else model
        decoded = dvae.decode(torch.from_numpy(codes[:, :self.config.latents]))
        return channel_ranges.unstretch(decoded, self._bytes_of(codes)) if self.ranges else decoded

    def random_codes(self, n: int, generator: torch.Generator) -> np.ndarray:
        """``n`` codes whose every latent is uniform (the paper's code sampling), with unit ranges."""
        latents = self.model.random_codes(n, generator).numpy()
        if not self.ranges:
            return latents
        identity = np.tile(np.asarray(channel_ranges.IDENTITY), (n, self.item_shape[0]))
        return np.concatenate([latents, channel_ranges.to_digits(identity, self.config.classes)], axis=1)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape), "latents": self.config.latents,
                "classes": self.config.classes, "tau": self.config.tau, "code_side": self.config.code_side,
                **({"ranges": True} if self.ranges else {}),  # configs saved before decision 0036 have none
                "activation": self.config.activation}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DVAECodec:
        """The codec ``config`` names; keys absent from an old config as :data:`OLD_CONFIG_DEFAULTS` says."""
        return cls(**{**OLD_CONFIG_DEFAULTS, **{k: v for k, v in config.items() if k != "id"}})
