"""LosslessStore: uint8 items coded without loss (Zstandard or PNG) on the variable-size item engine.

The same items RawStore keeps, decoded bit for bit, at the bytes a lossless coder needs: on MNIST zstd level 19 takes
about 184 bytes an image instead of 784 (docs/backends/lossless.md). Bits (docs/design.md, bits): the codec's shared
frame once, 8 × each item's coded bytes, ``codec.length_bits`` of length field per item in ``index``, and labels (task
ids).

An item is representable when every value is a multiple of 1/255 (what ``ToTensor`` gives for 8-bit images): others
would not come back as written, so ``write`` and ``edit`` refuse them with :class:`~memstore.errors.OffGridError`
unless the store is built with ``quantise=True``, which rounds them to the grid as RawStore does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..budget import Budget
from ..checks import check_int, check_item_shape, check_probe_batch, check_seed
from ..codecs.base import codec_from_config
from ..codecs.lossless import LosslessCodec, PNGCodec, ZstdCodec
from ..errors import InvalidInputError, OffGridError
from ..policies import Policy
from ..store import MemoryStore
from .items import choose
from .variable import VariableItemStore

__all__ = ["LosslessStore", "LosslessChoice", "choose_lossless", "default_lossless_codec"]

#: values within this of a multiple of 1/255 (times 255) count as on the grid (float32 k/255 is off by ~1e-5)
GRID_TOLERANCE = 1e-3


def default_lossless_codec(item_shape: tuple[int, ...]) -> LosslessCodec:
    """PNG level 9 for RGB items, zstd level 19 otherwise: the smaller of the two as measured on MNIST (186 vs 228
    bytes an image), sklearn digits (48 vs 77) and smooth synthetic 3×32×32 colour images (2,064 vs 1,248)
    (docs/backends/lossless.md). :meth:`LosslessStore.auto` measures the user's own data instead."""
    return PNGCodec(item_shape) if tuple(item_shape)[0] == 3 else ZstdCodec(item_shape)


class LosslessStore(VariableItemStore):
    """Items kept exactly by a :class:`LosslessCodec` (:func:`default_lossless_codec` unless ``codec`` is given)."""

    store_type = "lossless"

    def __init__(
        self,
        budget: Budget,
        item_shape: tuple[int, ...],
        num_classes: int,
        *,
        codec: LosslessCodec | None = None,
        quantise: bool = False,
        seed: int | None = None,
        policy: Policy | None = None,
        num_tasks: int | None = None,
        path: Any = None,
    ) -> None:
        if codec is None:
            codec = default_lossless_codec(check_item_shape(item_shape))
        if not isinstance(codec, LosslessCodec):
            raise InvalidInputError(f"codec must be a LosslessCodec (ZstdCodec, PNGCodec), got {type(codec).__name__}")
        if tuple(codec.item_shape) != tuple(item_shape):
            raise InvalidInputError(f"codec item_shape {codec.item_shape} does not match the store's {item_shape}")
        if not isinstance(quantise, bool):
            raise InvalidInputError(f"quantise must be a bool, got {quantise!r}")
        self.quantise = quantise
        super().__init__(budget, item_shape, num_classes, codec=codec, seed=seed, policy=policy, num_tasks=num_tasks,
                         path=path)

    def check_items(self, x: Tensor) -> None:
        """The contract's checks, then (unless ``quantise``) that every value is a multiple of 1/255."""
        super().check_items(x)
        if self.quantise or x.numel() == 0:
            return
        scaled = x.detach().to(torch.float32) * 255
        off = float((scaled - scaled.round()).abs().max())
        if off > GRID_TOLERANCE:
            raise OffGridError(f"{type(self).__name__} stores multiples of 1/255 exactly; x is {off / 255:.2g} off "
                               "that grid (build the store with quantise=True to round as RawStore does)")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "codec": self.codec.get_config(), "quantise": self.quantise}

    @classmethod
    def decode_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        kwargs = super().decode_config(config)
        try:
            kwargs["codec"] = codec_from_config(config["codec"])
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"cannot build the codec of config {config['codec']!r}: {exc}") from exc
        return kwargs

    @classmethod
    def auto(cls, budget: Budget, item_shape: tuple[int, ...], num_classes: int, x: Tensor,
             **options: Any) -> LosslessStore:
        """A store with the codec :func:`choose_lossless` measures smaller on ``x`` (the first task's inputs)."""
        seed = check_seed(options.get("seed"))
        check_probe_batch("LosslessStore.auto", x, item_shape=tuple(item_shape))
        choice = choose_lossless(x, generator=torch.Generator().manual_seed(0 if seed is None else seed))
        store = cls(budget, item_shape, num_classes, codec=choice.codec, **options)
        store.lossless_choice = choice
        return store


@dataclass(frozen=True)
class LosslessChoice:
    """What :func:`choose_lossless` measured: each candidate's config and mean bytes per item (frame excluded)."""

    codec: LosslessCodec
    candidates: tuple[dict[str, Any], ...]
    mean_bytes: tuple[float, ...]


def choose_lossless(x: Tensor, candidates: Sequence[LosslessCodec] | None = None, *, probe: int = 256,
                    generator: torch.Generator | None = None) -> LosslessChoice:
    """The candidate (zstd level 19 and PNG level 9 by default) whose items of ``probe`` rows of ``x`` are smallest."""
    check_probe_batch("choose_lossless", x)
    probe = check_int("probe", probe, low=1)
    MemoryStore.check_generator(generator)
    candidates = None if candidates is None else list(candidates)  # once: an iterator is read here only
    if candidates is not None and not candidates:
        raise InvalidInputError("choose_lossless needs at least one candidate codec")
    shape = tuple(int(d) for d in x.shape[1:])
    codecs = list(candidates) if candidates is not None else [ZstdCodec(shape), PNGCodec(shape)]
    rows = choose(int(x.shape[0]), probe, generator or torch.Generator().manual_seed(0))
    sample = x[torch.from_numpy(rows)]
    sizes = tuple(sum(map(len, codec.encode(sample))) / len(rows) for codec in codecs)
    best = min(range(len(codecs)), key=lambda i: (sizes[i], i))
    return LosslessChoice(codecs[best], tuple(c.get_config() for c in codecs), sizes)
