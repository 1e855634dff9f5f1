"""Small frozen specs the runner builds a cell from: budget, store, learner, model and protocol setting.

A new store (JPEG, recollections, ...) or learner is a new spec class plus one entry in ``STORES`` / ``LEARNERS``;
nothing else in the runner branches on names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from learners import ER, Learner, Naive
from memstore import Budget, MemoryStore

from .models import MLPSpec  # the model spec lives in models.py; re-exported here for callers
from .settings import SETTINGS, Metric, Setting  # likewise the protocol settings
from .stream_length import check_expected_items, stream_length_given

__all__ = [
    "BudgetSpec",
    "ERSpec",
    "LEARNERS",
    "LearnerSpec",
    "Metric",
    "MLPSpec",
    "NaiveSpec",
    "RawSpec",
    "SETTINGS",
    "paper_shape",
    "STORES",
    "Setting",
    "StoreSpec",
]


# -- budgets ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetSpec:
    """A budget as "``images`` raw images" (the papers' unit, labels and kept task ids included) or as raw ``bits``."""

    images: int | None = None
    bits: int | None = None

    def __post_init__(self) -> None:
        if (self.images is None) == (self.bits is None):
            raise ValueError("give exactly one of images= or bits=")
        value = self.images if self.images is not None else self.bits
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"a budget must be a non-negative int, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> BudgetSpec:
        """``"500"`` or ``"500img"`` -> 500 raw images; ``"4000bits"`` or ``"bits:4000"`` -> 4000 bits."""
        match = re.fullmatch(r"\s*(?:(bits):)?(\d+)\s*(img|images|bits|b)?\s*", text)
        if not match or (match.group(1) and match.group(3)):
            raise ValueError(f"cannot read budget {text!r}: use e.g. 500 (images) or 40000bits")
        in_bits = match.group(1) == "bits" or match.group(3) in ("bits", "b")
        value = int(match.group(2))
        return cls(bits=value) if in_bits else cls(images=value)

    @property
    def label(self) -> str:
        return f"{self.images} img" if self.images is not None else f"{self.bits} bits"

    def resolve(self, item_shape: tuple[int, ...], num_classes: int, num_tasks: int | None = None) -> Budget:
        if self.bits is not None:
            return Budget(self.bits)
        assert self.images is not None
        return Budget.images(self.images, item_shape, num_classes, num_tasks=num_tasks)


# -- stores ----------------------------------------------------------------------------------------------------


class StoreSpec(Protocol):
    """Builds an empty store for a cell. ``device``: where the store's own network computes (recollections' dVAE);
    stores without one ignore it, stores whose network cannot move refuse anything but ``"cpu"``. ``calibration``:
    the first task's training inputs, for a store that chooses its settings from data before the stream starts (JPEG
    at ``quality=auto``); the others ignore it."""

    name: ClassVar[str]

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore: ...


@dataclass(frozen=True)
class RawSpec:
    """``RawStore``: uint8 items plus packed labels, with reservoir admission, or with ``per_task`` GEM's
    ``PerTask()`` memory, an equal share per task (``raw:per_task=true``; needs a task-aware setting)."""

    name: ClassVar[str] = "raw"
    per_task: bool = False

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import PerTask, RawStore, Reservoir

        policy = PerTask() if self.per_task else Reservoir()
        return RawStore(budget, item_shape, num_classes, seed=seed, policy=policy, num_tasks=num_tasks)


@dataclass(frozen=True)
class JPEGSpec:
    """``JPEGStore`` with reservoir admission at ``quality`` (50: what ``choose_quality`` picks on Split MNIST's first
    task at epsilon 0.05, docs/backends/jpeg.md), or ``jpeg:quality=auto``: ``JPEGStore.auto`` on the cell's own
    first task (the quality chosen for this budget and data); with ``expected_items``, the stream length, no
    quality is credited with more items than the stream holds (decision 0046):
    ``jpeg:quality=auto,expected_items=5000``, or ``expected_items=stream``, the length of the cell's own stream."""

    name: ClassVar[str] = "jpeg"
    quality: int | str = 50
    expected_items: int | str | None = None

    def __post_init__(self) -> None:
        if self.quality != "auto" and not isinstance(self.quality, int):
            raise ValueError(f"jpeg quality must be an int in [1, 100] or 'auto', got {self.quality!r}")
        if self.expected_items is not None and self.quality != "auto":
            raise ValueError("expected_items guides the automatic quality: give it with jpeg:quality=auto")
        check_expected_items(self)

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import JPEGStore, Reservoir

        options = dict(seed=seed, policy=Reservoir(), num_tasks=num_tasks)
        if self.quality != "auto":
            return JPEGStore(budget, item_shape, num_classes, quality=int(self.quality), **options)
        if calibration is None:
            raise ValueError("jpeg:quality=auto needs the first task's inputs (calibration)")
        if self.expected_items is not None:
            options["expected_items"] = stream_length_given(self.expected_items)
        return JPEGStore.auto(budget, item_shape, num_classes, calibration, **options)


@dataclass(frozen=True)
class LosslessSpec:
    """``LosslessStore`` with reservoir admission: ``codec`` ``"zstd"`` (at ``level``, 1–22) or ``"png"`` (zlib
    ``level``, 0–9), or ``"default"``, the one measured smaller for the item shape (zstd 19 for grayscale, PNG 9 for
    RGB). ``quantise`` (on by default here) rounds items off the 1/255 grid (digits' sixteenths, GMED's edits) to it as
    RawStore does, so both keep the same uint8 values; off, such items are refused."""

    name: ClassVar[str] = "lossless"
    codec: str = "default"
    level: int | None = None
    quantise: bool = True

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import LosslessStore, Reservoir
        from memstore.codecs import PNGCodec, ZstdCodec
        from memstore.stores.lossless import default_lossless_codec

        if self.codec == "default" and self.level is None:
            codec = default_lossless_codec(item_shape)
        elif self.codec in ("zstd", "png"):
            make = ZstdCodec if self.codec == "zstd" else PNGCodec
            codec = make(item_shape) if self.level is None else make(item_shape, self.level)
        else:
            raise ValueError(f"lossless codec must be zstd or png (a level needs one of them), got {self.codec!r}")
        return LosslessStore(budget, item_shape, num_classes, codec=codec, quantise=self.quantise, seed=seed,
                             policy=Reservoir(), num_tasks=num_tasks)


STORES: dict[str, StoreSpec] = {RawSpec.name: RawSpec(), JPEGSpec.name: JPEGSpec(), LosslessSpec.name: LosslessSpec()}


def _cpu_only(store: str, device: str) -> None:
    if torch.device(device).type != "cpu":
        raise ValueError(f"the {store} store runs on the CPU only, got device {device!r}")


@dataclass(frozen=True)
class RecollectionSpec:
    """``RecollectionStore`` (Riemer et al.) with reservoir admission: codes of ``latents`` (c) variables of ``classes``
    (l) values; their Algorithm 1 on every write with ``steps`` (N) recollection batches of ``batch_size``, Adam ``lr``.
    ``recollection`` is the store's defaults: (c, l) from the budget (and ``expected_items`` when given, a count or
    ``stream``, the length of the cell's stream), one step
    per incoming item, recollections anchored every 100 items and not refreshed (decision 0028; ``refresh``,
    ``warmup_steps``, ``warmup_per_item``, ``anchor_every`` and ``anchor_weight`` (decision 0041) are
    :class:`~memstore.Stabilisation`'s; cells recorded before 0028 are ``recollection:refresh=true,anchor_every=0``).
    The papers' shapes are parameters
    (:func:`paper_shape` gives the text their recorded cells ran): Table 1 uses (104, 4) at 100 and (139, 8) at 200
    images, e.g. ``recollection:latents=104,classes=4,steps=1,refresh=true,anchor_every=0``. ``per_task``: GEM's
    ``PerTask()`` memory instead (their GEM rows); ``batch_size=0``: recollection batches of 0, the dVAE trained on the
    incoming batch only (their appendix's online autoencoder). ``entropy``: the codes entropy-coded per item
    (``EntropyCodedRecollectionStore``), e.g. ``recollection:entropy=true``, with ``coder`` ``prefix`` (the store's
    default, decision 0039; cells recorded before it ran ``recollection:entropy=true,coder=range``) or ``range``; not
    with ``per_task`` (PerTask needs fixed slots). ``code_side``: the dVAE's code map (2 or 4; by default the budget
    chooses, decision 0029; colour cells recorded before it are ``recollection:code_side=2``). ``ranges``: whether each
    code carries its item's channel ranges (by default on colour items only, decision 0036; colour cells recorded before
    it are ``recollection:ranges=false``). ``activation``: the dVAE's nonlinearity (``elu``, decision 0037; cells
    recorded before it ran ``recollection:activation=relu``)."""

    name: ClassVar[str] = "recollection"
    latents: int | None = None
    classes: int | None = None
    expected_items: int | str | None = None
    steps: int | None = None
    batch_size: int = 10
    lr: float = 1e-3
    per_task: bool = False
    entropy: bool = False
    refresh: bool = field(default=False, metadata={"since": "2026-12-02"})
    coder: str | None = field(default=None, metadata={"since": "2026-12-02"})
    warmup_steps: int | None = field(default=None, metadata={"since": "2026-12-04"})
    warmup_per_item: int = field(default=9, metadata={"since": "2026-12-04"})
    anchor_every: int = field(default=100, metadata={"since": "2026-12-04"})
    anchor_weight: float = field(default=1.0, metadata={"since": "2026-12-06"})
    code_side: int | None = field(default=None, metadata={"since": "2026-12-04"})
    ranges: bool | None = field(default=None, metadata={"since": "2026-12-05"})
    activation: str = field(default="elu", metadata={"since": "2026-12-05"})

    def __post_init__(self) -> None:
        check_expected_items(self)

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import EntropyCodedRecollectionStore, PerTask, RecollectionStore, Reservoir, Stabilisation

        store_type = EntropyCodedRecollectionStore if self.entropy else RecollectionStore
        if self.coder is not None and not self.entropy:
            raise ValueError("coder= chooses how entropy-coded codes are coded: give entropy=true with it")
        coding = {} if self.coder is None else {"coder": self.coder}
        expected = None if self.expected_items is None else stream_length_given(self.expected_items)
        return store_type(budget, item_shape, num_classes, latents=self.latents, classes=self.classes,
                          expected_items=expected, code_side=self.code_side, ranges=self.ranges,
                          activation=self.activation,
                          stabilisation=Stabilisation(self.steps, self.batch_size, self.lr, refresh=self.refresh,
                                                      warmup_steps=self.warmup_steps,
                                                      warmup_per_item=self.warmup_per_item,
                                                      anchor_every=self.anchor_every,
                                                      anchor_weight=self.anchor_weight),
                          seed=seed, **coding,
                          policy=PerTask() if self.per_task else Reservoir(), num_tasks=num_tasks, device=device)


STORES[RecollectionSpec.name] = RecollectionSpec()


def paper_shape(latents: int, classes: int) -> str:
    """The store text of Riemer et al.'s (c, l) as their recorded cells ran it: one step per write, no anchor (before
    decision 0028), refreshed codes except (38, 2), whose frontier cells ran before refresh existed."""
    refresh = ",refresh=true" if (latents, classes) != (38, 2) else ""
    return f"recollection:latents={latents},classes={classes},steps=1{refresh},anchor_every=0"


@dataclass(frozen=True)
class SelfRecallSpec:
    """``SelfRecallStore`` (ARM, Ji et al.) with their Table 6 MNIST recall settings: lag T = iterations per task (the
    store keeps the old model, charged as ``Ledger.models``); ``unit_lag``: T = 1, nothing kept, and the weight on D
    raised to 8 as their Table 4 does (``self-recall:unit_lag=true``); ``clamp=false``: recall steps not projected onto
    [0, 1], as their code (decision 0012). Run it with a ``bits:0`` budget: the store has no payload, and the old
    model counts only under ``charge_models`` (docs/backends/arm.md)."""

    name: ClassVar[str] = "self-recall"
    unit_lag: bool = False
    clamp: bool = True
    divergence_form: str = "js"  # "official": their code's ½[KL(m‖p_old) + KL(m‖p_new)]

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import RecallObjective, SelfRecallStore

        _cpu_only(self.name, device)  # recall optimises the learner's model, which stays on the CPU

        objective = RecallObjective(divergence=8.0 if self.unit_lag else 1.0, clamp=self.clamp,
                                    divergence_form=self.divergence_form)
        return SelfRecallStore(budget, item_shape, num_classes, objective=objective, keep_old_model=not self.unit_lag,
                               seed=seed, num_tasks=num_tasks)


STORES[SelfRecallSpec.name] = SelfRecallSpec()


@dataclass(frozen=True)
class GenerativeSpec:
    """``GenerativeStore`` (DGM, Ostapenko et al.): ``dgmw`` / ``dgma`` masks. ``settings=reduced`` (the default)
    is the CPU protocol the rows before 2026-12-02 ran (``iterations`` GAN iterations of ``batch_size`` per task,
    λ_RU the variant's unless given); ``settings=released`` is the released code's networks and training
    (``GenerativeStore.released``, decision 0027) for ``passes`` epochs per task (theirs: 101), λ_RU theirs unless
    given. ``mask_activations=true``: DGMa's unit masks placed as HAT places them, after the batch norm and ReLU
    (decision 0042; the released code's placement is the default). It stores no item (run it with a ``bits:0``
    budget; its model's bits are the result's ``model_bits``) and learns at ``end_task``; the ``dgm`` learner scores
    its own solver, ``generative-replay`` an MLP replaying from it."""

    variant: str = "dgmw"
    iterations: int = 500
    batch_size: int = 32
    lambda_ru: float | None = None  # None: the variant's (reduced: DGMw 0.75, DGMa 0.03; released: 0.08, 0.01)
    settings: str = field(default="reduced", metadata={"since": "2026-12-02"})
    passes: int = field(default=101, metadata={"since": "2026-12-02"})
    mask_activations: bool = field(default=False, metadata={"since": "2026-12-06"})

    def __post_init__(self) -> None:
        if self.variant not in ("dgmw", "dgma"):
            raise ValueError(f"variant must be 'dgmw' or 'dgma', got {self.variant!r}")
        if self.settings not in ("reduced", "released"):
            raise ValueError(f"{self.variant}: settings must be 'reduced' or 'released', got {self.settings!r}")
        unused = ("iterations", "batch_size") if self.settings == "released" else ("passes",)
        changed = [f.name for f in fields(self) if f.name in unused and getattr(self, f.name) != f.default]
        if changed:
            raise ValueError(f"{self.variant}: settings={self.settings} does not use {', '.join(changed)}")
        if self.mask_activations and self.variant != "dgma":
            raise ValueError(f"{self.variant}: mask_activations places unit masks, which only dgma has")

    @property
    def name(self) -> str:
        return self.variant

    def build(
        self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, *, seed: int, num_tasks: int | None,
        device: str = "cpu", calibration: Tensor | None = None,
    ) -> MemoryStore:
        from memstore import GenerativeStore
        from memstore.nn import GANTraining
        from memstore.nn.masks import MASK_VARIANTS

        variant = MASK_VARIANTS[self.variant]()
        if self.settings == "released":
            return GenerativeStore.released(budget, item_shape, num_classes, variant=variant, passes=self.passes,
                                            lambda_ru=self.lambda_ru, mask_activations=self.mask_activations,
                                            seed=seed, num_tasks=num_tasks, device=device)
        return GenerativeStore(budget, item_shape, num_classes, seed=seed, num_tasks=num_tasks, variant=variant,
                               mask_activations=self.mask_activations,
                               training=GANTraining(iterations=self.iterations, batch_size=self.batch_size,
                                                    lambda_ru=self.lambda_ru), device=device)


for _variant in ("dgmw", "dgma"):
    STORES[_variant] = GenerativeSpec(_variant)


# -- learners --------------------------------------------------------------------------------------------------


class LearnerSpec(Protocol):
    """Builds a learner for a cell; ``uses_memory`` False means one cell per seed, without store or budget."""

    name: ClassVar[str]
    uses_memory: ClassVar[bool]

    def build(
        self, model: nn.Module, store: MemoryStore | None, setting: Setting, generator: torch.Generator
    ) -> Learner: ...


@dataclass(frozen=True)
class ERSpec:
    """Experience replay; ``phase_data=true`` also hands each task's stream batches to the store at ``end_task`` (in
    a task-aware setting), for exemplar stores that select from them (``exemplars``, ``mnemonics``)."""

    name: ClassVar[str] = "er"
    uses_memory: ClassVar[bool] = True
    phase_data: bool = False

    def build(
        self, model: nn.Module, store: MemoryStore | None, setting: Setting, generator: torch.Generator
    ) -> Learner:
        assert store is not None
        return ER(
            model,
            store,
            lr=setting.lr,
            replay_size=setting.replay_size,
            replay_past_tasks_only=setting.replay_past_tasks_only,
            generator=generator,
            one_mean=setting.one_mean,
            phase_data=self.phase_data,
        )


@dataclass(frozen=True)
class NaiveSpec:
    name: ClassVar[str] = "naive"
    uses_memory: ClassVar[bool] = False

    def build(
        self, model: nn.Module, store: MemoryStore | None, setting: Setting, generator: torch.Generator
    ) -> Learner:
        return Naive(model, store, lr=setting.lr)


LEARNERS: dict[str, LearnerSpec] = {ERSpec.name: ERSpec(), NaiveSpec.name: NaiveSpec()}

from .learner_specs import PAPER_LEARNERS  # noqa: E402  (issue 5's learners; that module needs no name from here)

LEARNERS.update(PAPER_LEARNERS)  # type: ignore[arg-type]

from .learner_specs import ARM_LEARNERS, GENERATIVE_LEARNERS  # noqa: E402  (ARM; DGM's solver, generative replay)

LEARNERS.update(ARM_LEARNERS)  # type: ignore[arg-type]
LEARNERS.update(GENERATIVE_LEARNERS)  # type: ignore[arg-type]

from .phase_specs import PHASE_LEARNERS, PHASE_STORES  # noqa: E402  (the phase protocol: Mnemonics Training)

LEARNERS.update(PHASE_LEARNERS)  # type: ignore[arg-type]
STORES.update(PHASE_STORES)  # type: ignore[arg-type]
