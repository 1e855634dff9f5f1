"""Item codecs, one per file, and the bit packing they share."""

from .base import CODECS, FixedWidthCodec, ItemCodec, codec_from_config
from .bitpack import PackedArray, pack, unpack
from .raw import RawCodec

__all__ = ["CODECS", "FixedWidthCodec", "ItemCodec", "PackedArray", "RawCodec", "codec_from_config", "pack", "unpack"]
