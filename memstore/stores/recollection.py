"""RecollectionStore: Riemer et al., "Scalable Recollections for Continual Lifelong Learning" (AAAI 2019).

The shared item engine with the discrete-VAE codec (:class:`~memstore.codecs.dvae.DVAECodec`), reservoir admission by
default, the packed code bitstream in a Zarr array (:class:`~memstore.stores.zarr_payload.ZarrPackedArray`), and the
dVAE trained online by their Algorithm 1 on every write::

    write(x, y):  check ─▶ for s in 1..N: z_s ← Sample(M); x_s ← DEC_a(z_s)       (recollections, by the anchor a)
                           for s in 1..N: one Adam step on BCE(DEC(ENC(x_s ∪ x)), x_s ∪ x)   (encoder + decoder)
                                                       + w·BCE(DEC(z_s), x_s)    (the stored codes keep their meaning)
                           every `anchor_every` items seen: a ← a frozen copy of the dVAE
                           policy.place ─▶ slots ─▶ codes = argmax ENC(x) ─▶ bitpack ─▶ Zarr payload; labels packed
    sample(n):    slots (generator) ─▶ codes from the Zarr chunks that hold them ─▶ DEC(codes) with the current decoder
    edit(k, x):   re-encode x into slots k (GMED works through it)

N is one step per incoming item by default (their per-example loop), and (c, l) follow the budget when not given
(:func:`~memstore.stores.latent_design.default_latents`); decision 0021 gives the measurements. The anchor (every
100 items by default; before the first one the current decoder decodes and no code term is added) is decision 0028:
without it the decoder drifts away from the codes stored early, which then decode to blurs of the mean image. It is
not in the paper (``Stabilisation(anchor_every=0, warmup_steps=0)`` is their Algorithm 1; ``refresh=True``
re-encodes the recollections instead, decision 0021's earlier remedy). Nor is the warm-up, on by default on colour
items only (:func:`warmup_for`, decision 0038).

Bits (docs/backends/recollection.md): c·ceil(log2 l) per item + label (+ task id); the dVAE's float32 parameters are
``Ledger.models`` and count against the budget only under ``Budget(charge_models=True)`` (their Table 3's total
storage), which lowers the capacity by ``param_bits(dVAE)`` at construction.

Randomness: the dVAE is initialised from ``torch.Generator().manual_seed(store.generator.initial_seed())`` (the store
seed; parameters are built on the meta device, so no global RNG is drawn); recollection sampling and Gumbel noise draw
from the store's own generator, whose state is saved. Adam's moments are saved too (uncharged training state).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..budget import Budget, param_bits
from ..checks import check_int, check_item_shape, check_real
from ..codecs.base import nested_codec_config
from ..codecs.dvae import OLD_CONFIG_DEFAULTS, DVAECodec
from ..errors import InvalidInputError, NonFiniteError
from ..nn.dvae import DiscreteVAE, DVAEConfig, check_activation, check_code_side, usable_device
from ..policies import Policy
from .items import ItemStore, choose
from .latent_design import LatentDesign, default_latents, ranges_for
from .stabilisation import Stabilisation, warmup_for

__all__ = ["OnlineDVAE", "RecollectionStore", "Stabilisation"]


@dataclass(frozen=True)
class Recollections:
    """One recollection set: the ``slots`` drawn, their stored ``codes`` when the anchor decoded them (else None),
    and the decoded items ``x``."""

    slots: np.ndarray
    codes: Tensor | None
    x: Tensor


def _cpu_weights(model: DiscreteVAE) -> dict[str, Tensor]:
    """A dVAE's weights as CPU copies (what ``state_dict`` saves)."""
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _latent_shape_of(codec: Any, item_shape: Any) -> dict[str, Any]:
    """latents, classes, tau, code_side, ranges and activation from a dVAE codec config (or one nesting it as
    ``dvae``); InvalidInputError else."""
    dvae = codec.get("dvae", codec) if isinstance(codec, dict) else codec
    dvae = nested_codec_config(dvae, DVAECodec.codec_id, item_shape, "dVAE")
    keys = ("latents", "classes", "tau", "code_side", "ranges", "activation")
    return {**OLD_CONFIG_DEFAULTS, **{key: dvae[key] for key in keys if key in dvae}}


def _check_same_shape(given: DVAEConfig, own: DVAEConfig) -> None:
    """A pretrained dVAE must be the store's own shape in every field, or its codes would mean something else."""
    differing = [f.name for f in dataclasses.fields(DVAEConfig) if getattr(given, f.name) != getattr(own, f.name)]
    if differing:
        wanted = ", ".join(f"{name}={getattr(given, name)!r}" for name in differing)
        mine = ", ".join(f"{name}={getattr(own, name)!r}" for name in differing)
        raise InvalidInputError(f"dvae has {wanted}, the store {mine}: pass {wanted} to use it")


class OnlineDVAE:
    """What a store of dVAE codes does whatever engine holds the codes: Algorithm 1, choosing what its learned codec
    (:class:`DVAECodec`, which owns the dVAE, its Adam optimiser and its training step) trains on.

    Mixed into an item engine (``ItemStore`` for fixed-width codes, ``VariableItemStore`` for entropy-coded ones);
    ``learned_codec`` is the engine's :class:`DVAECodec` (the codec itself, or the one inside it). The engine's
    ``_get`` decodes slots.
    """

    stabilisation: Stabilisation

    @property
    def learned_codec(self) -> DVAECodec:
        raise NotImplementedError

    def _init_settings(self, latents: int | None, classes: int | None, tau: float, code_side: int | None,
                       ranges: bool, activation: str, stabilisation: Stabilisation | None,
                       design: Callable[[int | None], LatentDesign], item_shape: tuple[int, ...],
                       pretrained: bool) -> None:
        """What the codec and Algorithm 1 need, set before the engine builds the codec; ``design(code_side)`` gives
        (c, l) and, when ``code_side`` is None, the code map's side, when neither c nor l is given (both or
        neither); given (c, l) keep the paper's 2×2 map unless ``code_side`` says otherwise. ``ranges`` is
        :func:`~memstore.stores.latent_design.ranges_for`'s answer; the warm-up is :func:`warmup_for`'s (``pretrained``:
        a ``dvae`` was given)."""
        self._ranges = ranges
        self._activation = check_activation(activation)
        if (latents is None) != (classes is None):
            raise InvalidInputError("give both latents and classes, or neither (then they follow the budget)")
        if code_side is not None:
            code_side = check_code_side(code_side)
        if latents is None:
            chosen = design(code_side)  # BudgetTooSmallError when no code fits
            latents, classes, code_side = chosen.latents, chosen.classes, chosen.code_side
        latents, classes = check_int("latents", latents, low=1), check_int("classes", classes, low=2)
        code_side = 2 if code_side is None else code_side
        self._latent_shape = (latents, classes, check_real("tau", tau, low=0, high=1e3, open_low=True), code_side)
        stabilisation = Stabilisation() if stabilisation is None else stabilisation
        if not isinstance(stabilisation, Stabilisation):
            raise InvalidInputError(f"stabilisation must be a Stabilisation, got {type(stabilisation).__name__}")
        self.stabilisation = warmup_for(stabilisation, item_shape, pretrained)

    def _init_dvae(self, dvae: DiscreteVAE | dict[str, Tensor] | None, device: torch.device) -> None:
        self.learned_codec.to(device)
        if isinstance(dvae, DiscreteVAE):
            _check_same_shape(dvae.config, self.model.config)
        if dvae is not None:
            state = dvae.state_dict() if isinstance(dvae, DiscreteVAE) else dvae
            self.model.load_state_dict(self._fitting_weights(state, "dvae's weights"))
        self.recollections_used = 0  # decoded recollections trained on (a measurement, not state)
        self._anchor: DiscreteVAE | None = None  # the dVAE as it was at the last snapshot (anchor_every)

    def _dvae_codec(self) -> DVAECodec:
        latents, classes, tau, code_side = self._latent_shape
        try:
            return DVAECodec(self.item_shape, latents, classes, tau, code_side, seed=self.generator.initial_seed(),
                             lr=self.stabilisation.lr, ranges=self._ranges, activation=self._activation)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc

    @property
    def model(self) -> DiscreteVAE:
        return self.learned_codec.model

    @property
    def anchor(self) -> DiscreteVAE | None:
        """The frozen copy of the dVAE that decodes Algorithm 1's recollections (``Stabilisation.anchor_every``), or
        None before the first one is taken."""
        return self._anchor

    @property
    def optimiser(self) -> torch.optim.Adam:
        """The learned codec's Adam optimiser."""
        return self.learned_codec.optimiser

    @property
    def device(self) -> torch.device:
        """Where the dVAE computes (the ``device`` argument)."""
        return self.model.device

    def model_bits(self) -> int:
        """Bits of the dVAE's parameters (float32: 32 each), charged only when ``budget.charge_models``."""
        return param_bits(self.codec.model)

    # -- Algorithm 1 -------------------------------------------------------------------------------------------------

    def learn(self, x: Tensor) -> None:
        """The engine's hook in ``write`` (after its checks, before admission): Algorithm 1's stabilisation."""
        self.stabilise(x)

    def recollect(self, n: int, *, code_sampling: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """``n`` recollections decoded with the current decoder (the anchor, when ``anchor_every`` has taken one):
        buffer codes (uniform, without replacement) or, with ``code_sampling``, codes whose every latent is uniform
        (the paper's Table 4 comparison)."""
        n = self.check_count(n)  # type: ignore[attr-defined]  # a MemoryStore's, as every OnlineDVAE is one
        self.check_generator(generator)  # type: ignore[attr-defined]
        if not isinstance(code_sampling, bool):
            raise InvalidInputError(f"code_sampling must be a bool, got {code_sampling!r}")
        return self._recollection_set(n, code_sampling, generator or self.generator).x

    def _recollection_set(self, n: int, code_sampling: bool, generator: torch.Generator) -> Recollections:
        """The slots drawn (none for random codes), their codes when an anchor decodes them, and their decodings."""
        none = np.zeros(0, dtype=np.int64)
        codec = self.learned_codec
        if code_sampling:
            return Recollections(none, None, codec.decode(codec.random_codes(n, generator)))
        if self._size == 0 or n == 0:
            return Recollections(none, None, torch.zeros(0, *self.item_shape))
        slots = np.sort(choose(self._size, n, generator))
        if self._anchor is None:
            return Recollections(slots, None, self._get(slots))
        codes = self._codes(slots)
        return Recollections(slots, torch.from_numpy(codes), codec.decode(codes, model=self._anchor))

    def _codes(self, slots: np.ndarray) -> np.ndarray:
        """The stored codes (len(slots), symbols: the c latents, then any range digits) of ``slots`` (in range), as
        int64."""
        raise NotImplementedError

    def stabilise(self, x: Tensor) -> None:
        """Their Algorithm 1, recollection-module half: N recollection sets, then N steps on X_s = x_s ∪ x; then,
        with ``refresh``, the recollections re-encoded into their slots. With ``anchor_every``, the sets are decoded
        by the anchor, each step also fits DEC(stored code) to them, and a write that crosses a multiple of
        ``anchor_every`` items seen ends by taking a new anchor."""
        settings = self.stabilisation
        if x.shape[0] == 0:  # no incoming experience, nothing to integrate
            return
        drawn = [self._recollection_set(settings.batch_size, settings.code_sampling, self.generator)
                 for _ in range(settings.steps_for(x.shape[0], self._seen))]
        incoming = x.detach().to("cpu", torch.float32)
        for recollections in drawn:
            self.recollections_used += recollections.x.shape[0]
            anchored = None if recollections.codes is None else (recollections.codes, recollections.x)
            self.learned_codec.train_step(torch.cat([recollections.x, incoming]), self.generator, anchored=anchored,
                                          anchor_weight=settings.anchor_weight)
        if settings.refresh and drawn:
            self._refresh(np.concatenate([r.slots for r in drawn]), torch.cat([r.x for r in drawn]))
        every = settings.anchor_every
        if every and (self._seen + x.shape[0]) // every > self._seen // every:
            self._anchor = self.learned_codec.snapshot()

    def _refresh(self, slots: np.ndarray, decoded: Tensor) -> None:
        """Re-encode ``decoded`` (what ``slots`` decoded to before the steps) with the encoder after them; a slot
        drawn twice keeps its first decoding. Through ``edit``, so a variable-size engine keeps its budget."""
        unique, first = np.unique(slots, return_index=True)
        if unique.size:
            self.edit(torch.from_numpy(unique), decoded[torch.from_numpy(first)])

    # -- persistence -------------------------------------------------------------------------------------------------

    @property
    def latents(self) -> int:
        """c: latent variables per code (given, or chosen from the budget)."""
        return self._latent_shape[0]

    @property
    def classes(self) -> int:
        """l: classes per latent."""
        return self._latent_shape[1]

    @property
    def code_side(self) -> int:
        """s: the side of the dVAE's code map (2, the paper's, or 4; decision 0029)."""
        return self._latent_shape[3]

    @property
    def ranges(self) -> bool:
        """Whether each code carries its item's channel ranges (decision 0036)."""
        return self._ranges

    @property
    def activation(self) -> str:
        """The dVAE's nonlinearity (decision 0037)."""
        return self._activation

    def describe(self) -> dict[str, Any]:
        return {"latents": self.latents, "classes": self.classes, "code_side": self.code_side, "ranges": self.ranges,
                "activation": self.activation}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "codec": self.codec.get_config(),
                "stabilisation": dataclasses.asdict(self.stabilisation)}

    @classmethod
    def decode_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        kwargs = super().decode_config(config)
        codec = kwargs.pop("codec", None)  # stores saved before it was nested kept latents, classes, tau flat
        if codec is not None:
            kwargs.update(_latent_shape_of(codec, config["item_shape"]))
        # stores saved before refresh, the warm-up or the anchor existed used none of them; they reopen as they ran
        kwargs["stabilisation"] = Stabilisation(**{"refresh": False, "warmup_steps": 0, "anchor_every": 0,
                                                  **config["stabilisation"]})
        return kwargs

    def state_dict(self) -> dict[str, Any]:
        anchor = {} if self._anchor is None else _cpu_weights(self._anchor)
        return {**super().state_dict(), "dvae": _cpu_weights(self.model), "adam": self.learned_codec.training_state(),
                "anchor": anchor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        weights = self._fitting_weights(state["dvae"], "the weights in state 'dvae'")
        anchor_weights = (self._fitting_weights(state["anchor"], "the weights in state 'anchor'")
                          if state.get("anchor") else None)  # none saved before 0028
        optimiser = self.learned_codec.optimiser_from(state["adam"])  # built first: a bad state changes nothing
        super().load_state_dict(state)
        self.model.load_state_dict(weights)
        self.learned_codec.optimiser = optimiser
        self._anchor = None
        if anchor_weights is not None:
            self._anchor = self.learned_codec.snapshot()
            self._anchor.load_state_dict(anchor_weights)

    def _fitting_weights(self, weights: Any, what: str) -> dict[str, Tensor]:
        """``weights`` (a state dict: saved, or a pretrained ``dvae=``) as tensors; InvalidInputError naming ``what``
        unless they fit this store's dVAE, name by name and shape by shape."""
        try:
            fitted = {name: torch.as_tensor(value) for name, value in weights.items()}
        except (AttributeError, TypeError, ValueError, RuntimeError) as exc:
            raise InvalidInputError(f"{what} are not a state dict of tensors: {exc}") from exc
        expected = self.model.state_dict()
        if fitted.keys() != expected.keys() or any(fitted[k].shape != expected[k].shape for k in expected):
            raise InvalidInputError(f"{what} do not fit the store's dVAE {self.model.config.to_dict()}")
        if not all(bool(torch.isfinite(value).all()) for value in fitted.values() if value.is_floating_point()):
            raise NonFiniteError(f"{what} hold NaN or infinite values")
        return fitted


class RecollectionStore(OnlineDVAE, ItemStore):
    """Items kept as dVAE codes of ``latents`` (c) variables of ``classes`` (l) values; the dVAE learns as data arrive.

    ``dvae``: a pretrained :class:`DiscreteVAE` (or its ``state_dict``) to start from (warm start, their transfer
    experiments); ``path``: keep the live code bitstream, labels and task ids in Zarr arrays there (a folder or a
    zarr store) instead of in memory;
    ``device``: where the dVAE trains, encodes and decodes (e.g. ``"cuda"``). Items go in and come back as CPU
    tensors whatever the device, and ``state_dict`` / ``save`` hold CPU tensors (the device is not saved).

    Without ``latents`` and ``classes``, (c, l) follow the budget (:func:`~memstore.stores.latent_design.
    default_latents`: their eq. 4/5 for ``min(expected_items, 50 × the raw images the budget holds)`` items, when
    ``expected_items``, the stream length, is given). ``code_side``: the side of the dVAE's code map, 2 (the paper's)
    or 4; without it, 2 for given (c, l), and for chosen ones whichever holds the wider code under the 64-filter cap
    (decision 0029). ``ranges``: each code also carries its item's channel ranges and the dVAE codes the item
    stretched to them; by default on items of more than one channel (decision 0036). ``activation``: the dVAE's
    nonlinearity, ``"elu"`` (decision 0037) or ``"relu"`` (what stores saved before it ran).
    """

    store_type = "recollection"
    runtime_options: ClassVar[frozenset[str]] = frozenset({"path", "device", "dvae"})

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        latents: int | None = None,
        classes: int | None = None,
        expected_items: int | None = None,
        tau: float = 1.0,
        code_side: int | None = None,
        ranges: bool | None = None,
        activation: str = "elu",
        stabilisation: Stabilisation | None = None,
        dvae: DiscreteVAE | dict[str, Tensor] | None = None,
        path: Any = None,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        policy: Policy | None = None,
        num_tasks: int | None = None,
    ) -> None:
        item_shape = check_item_shape(item_shape)
        ranges = ranges_for(ranges, item_shape)
        self._init_settings(latents, classes, tau, code_side, ranges, activation, stabilisation,
                            lambda side: default_latents(budget, item_shape, num_classes, expected_items=expected_items,
                                                         num_tasks=num_tasks, code_side=side, ranges=ranges),
                            item_shape, dvae is not None)
        target = usable_device(device)
        super().__init__(budget, item_shape, num_classes, seed=seed, policy=policy, num_tasks=num_tasks, path=path)
        self._init_dvae(dvae, target)

    def make_codec(self) -> DVAECodec:
        return self._dvae_codec()

    def _codes(self, slots: np.ndarray) -> np.ndarray:
        return np.asarray(self._payload.get(slots), dtype=np.int64).reshape(slots.size, self.codec.symbols)

    @property
    def learned_codec(self) -> DVAECodec:
        return self.codec

    def _init_payload(self) -> None:
        """The code bitstream as a Zarr array, in memory without ``path`` (so a draw's chunk reads are counted
        either way); labels and task ids follow ``path`` as in every item store."""
        self._payload = self._zarr_column("payload", self.codec.symbols, self.codec.symbol_bits)

    @property
    def chunks_read(self) -> int:
        """Zarr chunks of the code bitstream fetched so far (what a draw costs when the payload lives on disk or S3)."""
        return self._payload.chunks_read
