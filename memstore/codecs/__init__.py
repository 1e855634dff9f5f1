"""Item codecs, one per file, and the bit packing they share."""

from .base import CODECS, FixedWidthCodec, ItemCodec, VariableLengthCodec, codec_from_config
from .bitpack import PackedArray, pack, unpack
from .dvae import DVAECodec
from .jpeg import JPEGCodec
from .lossless import LosslessCodec, PNGCodec, ZstdCodec
from .raw import RawCodec

__all__ = ["CODECS", "DVAECodec", "FixedWidthCodec", "ItemCodec", "JPEGCodec", "LosslessCodec", "PackedArray",
           "PNGCodec", "RawCodec", "VariableLengthCodec", "ZstdCodec", "codec_from_config", "pack", "unpack"]
