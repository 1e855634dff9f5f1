"""The codec interface, in the spirit of numcodecs: a tiny class with ``encode``, ``decode`` and a config.

An item codec turns float32 items in [0, 1] of one ``item_shape`` into stored symbols and back. A
fixed-width codec emits ``symbols`` unsigned values of ``symbol_bits`` bits per item, so every item costs
exactly ``item_bits = symbols × symbol_bits`` and the item engine packs them with ``bitpack``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..errors import InvalidInputError

__all__ = [
    "CODECS", "FixedWidthCodec", "ItemCodec", "VariableLengthCodec", "codec_from_config", "float_values",
    "nested_codec_config"]

#: Codec classes by ``codec_id``.
CODECS: dict[str, type[ItemCodec]] = {}


def float_values(x: Tensor) -> np.ndarray:
    """``x``'s values as a float32 numpy array on the CPU: a view of a CPU float32 tensor (the common case, without
    the cost of a ``to`` call), a copy otherwise."""
    if x.dtype == torch.float32 and x.is_cpu and not x.requires_grad:
        return x.numpy()
    return x.detach().to("cpu", torch.float32).numpy()


class ItemCodec(ABC):
    """Encode items for storage and decode them back; ``item_shape``: the (C, H, W) of the items it codes."""

    codec_id: ClassVar[str] = ""
    item_shape: tuple[int, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("codec_id"):  # only classes that name themselves; subclasses inherit no entry
            CODECS[cls.codec_id] = cls

    @abstractmethod
    def encode(self, x: Tensor) -> Any:
        """Float32 items (B, C, H, W) in [0, 1] → their stored form."""

    @abstractmethod
    def decode(self, codes: Any) -> Tensor:
        """Stored form → float32 items (B, C, H, W) in [0, 1]."""

    @abstractmethod
    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable arguments, with ``id``: ``codec_from_config(c.get_config())`` is an equal codec."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ItemCodec:
        return cls(**{k: v for k, v in config.items() if k != "id"})

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(repr(sorted(self.get_config().items())))


class FixedWidthCodec(ItemCodec):
    """A codec whose every item is ``symbols`` values of ``symbol_bits`` bits (an int array (B, symbols))."""

    symbols: int
    symbol_bits: int

    @property
    def item_bits(self) -> int:
        return self.symbols * self.symbol_bits

    @abstractmethod
    def encode(self, x: Tensor) -> np.ndarray: ...

    @abstractmethod
    def decode(self, codes: np.ndarray) -> Tensor: ...


class VariableLengthCodec(ItemCodec):
    """A codec whose items are byte strings of varying length (JPEG scans).

    ``shared`` are the bytes every item's decoding needs (a header for a fixed shape and quality), charged once per
    store; ``length_bits`` is the fixed width of the per-item length field (in bytes) that a store charges in
    ``Ledger.index``.
    """

    length_bits: int
    #: bits of the smallest item (what bounds how many items a budget can hold)
    min_item_bits: int = 8

    @property
    @abstractmethod
    def shared(self) -> bytes: ...

    @property
    def self_delimiting(self) -> bool:
        """Items are saved as one bitstream, found again by decoding (no length field): :meth:`join` /
        :meth:`split`. Byte-string codecs (the default) save their items' bytes with explicit lengths."""
        return False

    def item_bits(self, item: bytes) -> int:
        """Bits one item is charged (and saved) as: its bytes, unless the codec says otherwise."""
        return 8 * len(item)

    def join(self, items: list[bytes]) -> bytes:
        """A self-delimiting codec's saved bitstream of ``items``."""
        raise NotImplementedError(f"{type(self).__name__} saves items with lengths")

    def split(self, data: bytes, count: int) -> list[bytes]:
        """Inverse of :meth:`join` (ValueError on bits that are not ``count`` items)."""
        raise NotImplementedError(f"{type(self).__name__} saves items with lengths")

    @abstractmethod
    def encode(self, x: Tensor) -> list[bytes]: ...

    @abstractmethod
    def decode(self, codes: list[bytes]) -> Tensor: ...


def codec_from_config(config: dict[str, Any]) -> ItemCodec:
    """The codec a config describes (its ``id`` names the class)."""
    try:
        cls = CODECS[config["id"]]
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"unknown codec config {config!r}") from exc
    try:
        return cls.from_config(config)
    except (KeyError, TypeError) as exc:  # a field missing, or one the codec does not take
        raise InvalidInputError(f"not a {cls.__name__} config: {config!r} ({exc})") from exc


def nested_codec_config(codec: Any, codec_id: str, item_shape: Any, name: str) -> dict[str, Any]:
    """A store's nested ``codec`` config, checked to be a ``codec_id`` config (``name`` says which, for the error)
    for the store's ``item_shape``; InvalidInputError otherwise."""
    if not isinstance(codec, dict) or codec.get("id") != codec_id:
        raise InvalidInputError(f"config 'codec' is not a {name} codec config: {codec!r}")
    if [int(d) for d in codec.get("item_shape", ())] != [int(d) for d in item_shape]:
        raise InvalidInputError(f"codec item_shape {codec.get('item_shape')} does not match the store's {item_shape}")
    return codec
