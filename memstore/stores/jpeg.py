"""JPEGStore: the JPEG baseline of Riemer et al. (Fig. 3) and MRDC (Wang et al., ICLR 2022) under a bit budget.

The variable-size item engine with :class:`~memstore.codecs.jpeg.JPEGCodec`. Bits (docs/design.md, bits): the header all
items share (measured from Pillow's real output for this shape, quality and subsampling) once, 8 × each item's scan
bytes, ``codec.length_bits`` per item of length field in ``index``, and labels. See docs/backends/jpeg.md.

Automatic quality (:func:`choose_quality`, :meth:`JPEGStore.auto`) trades quantity against quality as MRDC does:
among candidate qualities, take the one that stores the most items while the compressed items keep the feature-space
volume (a log-determinant) of the originals within ``epsilon``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..budget import Budget, label_bits
from ..checks import check_int, check_probe_batch, check_real, check_seed
from ..codecs.base import nested_codec_config
from ..codecs.jpeg import JPEGCodec
from ..errors import InvalidInputError
from ..policies import Policy
from ..store import MemoryStore
from .items import choose
from .variable import VariableItemStore

__all__ = ["JPEGStore", "QualityChoice", "choose_quality", "DEFAULT_QUALITIES"]

DEFAULT_QUALITIES = (1, 5, 10, 25, 50, 75, 95)


class JPEGStore(VariableItemStore):
    """Items stored as JPEG scans at one ``quality`` (1–100); ``subsampling`` for RGB (0 = 4:4:4, 2 = 4:2:0)."""

    store_type = "jpeg"

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        seed: int | None = None,
        quality: int = 75,
        subsampling: int = 0,
        policy: Policy | None = None,
        num_tasks: int | None = None,
        path: Any = None,
    ) -> None:
        try:
            codec = JPEGCodec(tuple(item_shape), quality, subsampling)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(str(exc)) from exc
        super().__init__(budget, item_shape, num_classes, codec=codec, seed=seed, policy=policy, num_tasks=num_tasks,
                         path=path)

    @property
    def quality(self) -> int:
        return self.codec.quality

    def describe(self) -> dict[str, Any]:
        return {"quality": self.quality}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "codec": self.codec.get_config()}

    @classmethod
    def decode_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The nested codec config (stores saved before it was nested kept ``quality`` and ``subsampling`` flat)."""
        kwargs = super().decode_config(config)
        codec = kwargs.pop("codec", None)
        if codec is not None:
            codec = nested_codec_config(codec, JPEGCodec.codec_id, config["item_shape"], "JPEG")
            kwargs["quality"], kwargs["subsampling"] = codec.get("quality"), codec.get("subsampling")
        return kwargs

    @classmethod
    def auto(
        cls, budget: Budget, item_shape: tuple[int, ...], num_classes: int, x: Tensor, **options: Any
    ) -> JPEGStore:
        """A store at the quality :func:`choose_quality` picks for ``budget`` from the first task's inputs ``x``.

        ``options`` go to the constructor, except ``candidates``, ``epsilon``, ``probe``, ``features`` and
        ``expected_items`` (the stream length, when known) which go to :func:`choose_quality`; the choice is kept as
        ``store.quality_choice``.
        """
        keys = ("candidates", "epsilon", "probe", "features", "expected_items")
        search = {key: options.pop(key) for key in keys if key in options}
        seed = check_seed(options.get("seed"))
        check_probe_batch("JPEGStore.auto", x, min_items=2, item_shape=tuple(item_shape))
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
        choice = choose_quality(budget, num_classes, x, generator=generator, num_tasks=options.get("num_tasks"),
                                subsampling=options.get("subsampling", 0), **search)
        store = cls(budget, item_shape, num_classes, quality=choice.quality, **options)
        store.quality_choice = choice
        return store


@dataclass(frozen=True)
class QualityChoice:
    """What :func:`choose_quality` measured: per candidate, items that fit, volume ratio and L1 distortion; and the
    ``epsilon`` and ``expected_items`` (None: not given) the choice was made under."""

    quality: int
    candidates: tuple[int, ...]
    items: tuple[int, ...]
    volume_ratio: tuple[float, ...]
    distortion: tuple[float, ...]
    epsilon: float
    expected_items: int | None = None


def _volume_ratio(decoded: float, reference: float) -> float:
    """R_q; items without volume (all black: every cosine is 0) keep it exactly when their decodings have none."""
    if reference == 0:
        return 1.0 if decoded == 0 else math.inf
    return decoded / reference


def _log_volume(features: Tensor) -> float:
    """``log det(I + K)`` for the cosine Gram matrix ``K`` of the rows of ``features`` (a DPP's log-volume)."""
    unit = torch.nn.functional.normalize(features.double().flatten(1), dim=1)
    gram = unit @ unit.T
    return float(torch.logdet(torch.eye(gram.shape[0], dtype=gram.dtype) + gram))


def _fits(budget: Budget, codec: JPEGCodec, mean_scan_bits: float, fixed_bits: int) -> int:
    return budget.capacity(mean_scan_bits + fixed_bits, shared_bits=8 * len(codec.shared))


def choose_quality(
    budget: Budget,
    num_classes: int,
    x: Tensor,
    *,
    candidates: Sequence[int] = DEFAULT_QUALITIES,
    epsilon: float = 0.05,
    probe: int = 256,
    features: Callable[[Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
    num_tasks: int | None = None,
    subsampling: int = 0,
    expected_items: int | None = None,
) -> QualityChoice:
    """MRDC's quantity–quality trade-off, volume form (docs/backends/jpeg.md).

    On ``probe`` items of ``x`` drawn with ``generator``: for each quality ``q``, ``N_q`` = items of the measured
    mean size that fit in ``budget``; ``R_q = logvol(f(decode_q(x))) / logvol(f(x))`` with ``logvol`` the
    log-determinant of ``I + K`` over the cosine kernel of features ``f`` (pixels by default). The choice maximises
    ``N_q`` subject to ``|R_q − 1| <= epsilon`` (ties: the higher quality); if no quality passes, the highest.
    ``expected_items``, the stream length when the caller knows it, caps ``N_q``: a store holds no more items than
    it is given, so among the qualities that would hold the whole stream the highest wins (decision 0046).
    Arguments in :meth:`JPEGStore.auto`'s order (budget, classes, the first task's inputs).
    """
    if not isinstance(budget, Budget):
        raise InvalidInputError(f"choose_quality(budget, num_classes, x): budget must be a memstore.Budget, "
                                f"got {type(budget).__name__}")
    check_probe_batch("choose_quality", x, min_items=2)
    probe = check_int("probe", probe, low=2)
    epsilon = check_real("epsilon", epsilon, low=0)
    if expected_items is not None:
        expected_items = check_int("expected_items", expected_items, low=1)
    MemoryStore.check_generator(generator)
    candidates = list(candidates)  # once: an iterator is read here only
    if not candidates:
        raise InvalidInputError("choose_quality needs at least one candidate quality")
    rows = choose(int(x.shape[0]), probe, generator or torch.Generator().manual_seed(0))
    sample = x[torch.from_numpy(rows)]
    featurise = features or (lambda batch: batch)
    reference = _log_volume(featurise(sample))
    fixed = label_bits(num_classes) + (0 if num_tasks is None else (num_tasks - 1).bit_length())
    table = []
    for quality in sorted(set(candidates)):
        codec = JPEGCodec(tuple(x.shape[1:]), quality, subsampling)
        scans = codec.encode(sample)
        decoded = codec.decode(scans)
        mean_bits = 8 * sum(map(len, scans)) / len(scans)
        table.append((quality, _fits(budget, codec, mean_bits, fixed + codec.length_bits),
                      _volume_ratio(_log_volume(featurise(decoded)), reference),
                      float((decoded - sample).abs().mean())))
    passing = [row for row in table if abs(row[2] - 1) <= epsilon] or [table[-1]]
    cap = math.inf if expected_items is None else expected_items
    best = max(passing, key=lambda row: (min(row[1], cap), row[0]))
    return QualityChoice(best[0], *map(tuple, zip(*table)), epsilon=epsilon,  # type: ignore[arg-type]
                         expected_items=expected_items)
