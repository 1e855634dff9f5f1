"""The discrete-VAE codec of Scalable Recollections (Riemer et al. 2019): codes are argmax latent classes.

::

    x (B,C,H,W) ──model.encode──▶ argmax indices (B, c) in [0, l) ──bitpack──▶ c·ceil(log2 l) bits per item
    codes (B, c) ──model.decode──▶ sigmoid(decoder(one_hot(codes))) (B,C,H,W) in [0, 1]

A :class:`FixedWidthCodec` with ``symbols = c`` and ``symbol_bits = ceil(log2 l)``, so the item engine packs the codes
into one continuous bitstream with no per-item padding (38 binary latents cost 38 bits, not 40). The codec holds a
reference to the store's live :class:`~memstore.nn.DiscreteVAE`: decoding always uses the current decoder. Its config
names the architecture only; the weights are the store's state (saved by ``persist``), not the codec's config.

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
from .base import FixedWidthCodec

__all__ = ["DVAECodec"]


class DVAECodec(FixedWidthCodec):
    """Codes of ``latents`` categorical variables of ``classes`` values; ``model`` (or a fresh one from ``seed``),
    trained by Adam at ``lr``."""

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
    ) -> None:
        self.config = DVAEConfig(tuple(item_shape), int(latents), int(classes), float(tau), code_side)
        if model is not None and model.config != self.config:
            raise ValueError(f"model config {model.config} does not match {self.config}")
        self.model = model if model is not None else DiscreteVAE(self.config, torch.Generator().manual_seed(seed))
        self.item_shape = self.config.item_shape
        self.symbols = self.config.latents
        self.symbol_bits = index_bits(self.config.classes)
        self.lr = float(lr)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def to(self, device: torch.device) -> DVAECodec:
        """Move the dVAE to ``device`` before any step (a fresh optimiser over the moved parameters)."""
        self.model.to(device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        return self

    # -- training ----------------------------------------------------------------------------------------------------

    def train_step(self, x: Tensor, generator: torch.Generator | None,
                   anchored: tuple[Tensor, Tensor] | None = None) -> None:
        """One Adam step on the reconstruction loss of ``x`` (Gumbel noise from ``generator``), plus, with
        ``anchored`` = (codes, targets), the decoder's loss on decoding those stored codes to those targets."""
        self.model.train()
        self.optimiser.zero_grad(set_to_none=True)
        loss = self.model.loss(x.detach().to("cpu", torch.float32), generator)
        if anchored is not None:
            loss = loss + self.model.code_loss(*anchored)
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

    def encode(self, x: Tensor) -> np.ndarray:
        return self.model.encode(x.detach().to("cpu", torch.float32)).numpy()

    def decode(self, codes: np.ndarray) -> Tensor:
        if codes.shape[0] == 0:
            return torch.zeros(0, *self.item_shape)
        return self.model.decode(torch.from_numpy(np.asarray(codes, dtype=np.int64)))

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "item_shape": list(self.item_shape), "latents": self.config.latents,
                "classes": self.config.classes, "tau": self.config.tau, "code_side": self.config.code_side}
