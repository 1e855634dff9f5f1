"""LosslessStore passes the conformance suite; zstd and PNG frames, exact bits, the grid check, configs, golden
files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import torch
from PIL import Image

import memstore
from memstore import Budget, ClassBalanced, LosslessStore, RawStore, Reservoir, Ring, choose_lossless
from memstore.codecs import PNGCodec, ZstdCodec, codec_from_config
from memstore.errors import InvalidInputError, OffGridError
from memstore.stores.lossless import default_lossless_codec
from memstore.testing import StoreConformance, random_items, state_equal

FIXTURES = Path(__file__).parent.parent / "fixtures"


def noise_budget(codec_type: type, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
    """The shared frame plus ``items`` noise items (noise is a lossless coder's worst case, so about ``items`` fit)."""
    codec = codec_type(item_shape)
    x, _ = random_items(8, item_shape, num_classes, torch.Generator().manual_seed(0))
    largest = max(map(len, codec.encode(x)))
    per_item = 8 * largest + (num_classes - 1).bit_length() + codec.length_bits + 3  # + task-id bits
    return Budget(8 * len(codec.shared) + items * per_item)


class TestZstdLosslessStore(StoreConformance):
    fixed_item_bits = False
    option_sets = ({}, {"policy": ClassBalanced()}, {"policy": Ring()}, {"policy": Reservoir(), "num_tasks": 3})
    stateful_examples = 15

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return LosslessStore(budget, item_shape, num_classes, codec=ZstdCodec(item_shape, level=3), **options)

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        return noise_budget(ZstdCodec, items, item_shape, num_classes)


class TestPNGLosslessStore(TestZstdLosslessStore):
    stateful_examples = 10

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return LosslessStore(budget, item_shape, num_classes, codec=PNGCodec(item_shape), **options)

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        return noise_budget(PNGCodec, items, item_shape, num_classes)


# -- codecs ------------------------------------------------------------------------------------------------------------


def smooth_items(n: int, item_shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Items on the 1/255 grid that compress: bilinear upsamplings of 4×4 noise."""
    coarse = torch.rand(n, item_shape[0], 4, 4, generator=torch.Generator().manual_seed(seed))
    fine = torch.nn.functional.interpolate(coarse, size=item_shape[1:], mode="bilinear", align_corners=False)
    return fine.mul(255).round().div(255)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 5, 4)])
def test_zstd_items_are_numcodecs_frames_without_the_shared_header(shape: tuple[int, ...]) -> None:
    codec = ZstdCodec(shape, level=19)
    x = smooth_items(3, shape)
    frame = bytes(numcodecs.Zstd(level=19).encode(np.ascontiguousarray(np.rint(x[0].numpy() * 255).astype(np.uint8))))
    assert codec.header == frame[:len(codec.header)] and codec.trailer == b""
    assert codec.header[:4] == b"\x28\xb5\x2f\xfd"  # zstd's magic number
    assert codec.header + codec.encode(x[:1])[0] == frame
    assert torch.equal(codec.decode(codec.encode(x)), x)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 5, 4)])
def test_png_items_reassemble_into_pillow_files(shape: tuple[int, ...]) -> None:
    codec = PNGCodec(shape)
    x = smooth_items(2, shape)
    data = codec.header + codec.encode(x[:1])[0] + codec.trailer
    image = Image.open(io.BytesIO(data))
    assert image.mode == ("RGB" if shape[0] == 3 else "L") and codec.shared.endswith(b"IEND\xaeB`\x82")
    assert torch.equal(codec.decode(codec.encode(x)), x)


@pytest.mark.parametrize("codec", [ZstdCodec((1, 28, 28)), PNGCodec((1, 28, 28))])
def test_length_field_bounds_the_worst_item(codec: Any) -> None:
    noise, _ = random_items(4, (1, 28, 28), 2, torch.Generator().manual_seed(0))
    assert max(map(len, codec.encode(noise))) <= codec.max_item_bytes() < 2 ** codec.length_bits


def test_configs_are_identities() -> None:
    for codec in (ZstdCodec((1, 8, 8), level=5), PNGCodec((3, 4, 4), compress_level=2)):
        assert codec_from_config(codec.get_config()) == codec
    assert ZstdCodec((1, 8, 8), level=5) != ZstdCodec((1, 8, 8), level=6)


@pytest.mark.parametrize("make", [lambda: ZstdCodec((1, 8, 8), level=0), lambda: ZstdCodec((1, 8, 8), level=23),
                                  lambda: ZstdCodec((1, 8, 8), level=True), lambda: PNGCodec((1, 8, 8), 10),
                                  lambda: PNGCodec((1, 8, 8), -1)])
def test_levels_out_of_range_are_refused(make: Any) -> None:
    with pytest.raises(ValueError, match=r"must be an int in \["):
        make()


def test_default_codec_is_the_smaller_per_shape() -> None:
    assert isinstance(default_lossless_codec((1, 28, 28)), ZstdCodec)
    assert isinstance(default_lossless_codec((3, 32, 32)), PNGCodec)


def test_choose_lossless_takes_the_smaller_on_the_data() -> None:
    x = smooth_items(64, (3, 32, 32))
    choice = choose_lossless(x)
    assert choice.codec.codec_id == "png" and len(choice.mean_bytes) == 2
    assert choice.mean_bytes[1] == min(choice.mean_bytes)
    store = LosslessStore.auto(Budget.images(10, (3, 32, 32), 10), (3, 32, 32), 10, x, seed=0)
    assert store.codec == choice.codec and store.lossless_choice == choice


# -- the store ---------------------------------------------------------------------------------------------------------


def test_holds_more_items_than_raw_at_equal_bits_and_gives_them_back_exactly() -> None:
    shape, budget = (1, 28, 28), Budget.images(20, (1, 28, 28), 10)
    smooth = smooth_items(200, shape, seed=3)
    x, y = smooth * (smooth > 0.6), torch.arange(200) % 10  # strokes on a black background, as MNIST
    lossless, raw = LosslessStore(budget, shape, 10, seed=0), RawStore(budget, shape, 10, seed=0)
    lossless.write(x, y)
    raw.write(x, y)
    assert len(lossless) > 3 * len(raw) and lossless.ledger().charged(budget) <= budget.bits
    ledger, codec = lossless.ledger(), lossless.codec
    scans = codec.encode(x)
    batch = lossless.read(np.arange(len(lossless)))
    rows = [next(i for i in range(200) if torch.equal(x[i], item)) for item in batch.x]  # every item is an input
    assert ledger.payload == 8 * (len(codec.shared) + sum(len(scans[r]) for r in rows))
    assert ledger.index == len(lossless) * codec.length_bits and ledger.labels == 4 * len(lossless)


def test_off_grid_items_are_refused_unless_quantised() -> None:
    shape = (1, 5, 4)
    store = LosslessStore(Budget.images(10, shape, 2), shape, 2, seed=0)
    x, y = random_items(6, shape, 2, torch.Generator().manual_seed(0))
    store.write(x, y)
    batch = store.sample(2)
    before = store.state_dict()
    off = x.clone()
    off[0, 0, 0, 0] = 0.5 / 255
    with pytest.raises(OffGridError, match="quantise=True"):
        store.write(off, y)
    with pytest.raises(OffGridError):
        store.edit(batch.keys, off[:2])
    assert state_equal(before, store.state_dict())
    rounding = LosslessStore(Budget.images(10, shape, 2), shape, 2, seed=0, quantise=True)
    assert rounding.write(off, y) == 6
    assert torch.equal(rounding.read(np.arange(6)).x, off.mul(255).round().div(255))


def test_bad_codec_arguments_are_typed() -> None:
    budget = Budget.images(10, (1, 8, 8), 2)
    with pytest.raises(InvalidInputError, match="LosslessCodec"):
        LosslessStore(budget, (1, 8, 8), 2, codec=memstore.codecs.JPEGCodec((1, 8, 8)))
    with pytest.raises(InvalidInputError, match="item_shape"):
        LosslessStore(budget, (1, 8, 8), 2, codec=ZstdCodec((1, 8, 9)))
    with pytest.raises(InvalidInputError, match="quantise"):
        LosslessStore(budget, (1, 8, 8), 2, quantise="yes")  # type: ignore[arg-type]


def test_config_nests_the_codec_and_a_config_that_cannot_decode_is_refused(tmp_path: Path) -> None:
    store = LosslessStore(Budget.images(10, (1, 8, 8), 2), (1, 8, 8), 2, codec=ZstdCodec((1, 8, 8), level=7))
    config = store.config()
    assert config["codec"] == {"id": "zstd", "item_shape": [1, 8, 8], "level": 7} and "level" not in config
    assert LosslessStore.from_config(config).codec == store.codec
    for bad in ({"id": "zstd", "item_shape": [1, 8, 8], "level": 99}, {"id": "lzma", "item_shape": [1, 8, 8]},
                {"id": "zstd", "item_shape": [1, 8, 8], "window": 3}):
        with pytest.raises(InvalidInputError, match="cannot build the codec"):
            LosslessStore.from_config({**config, "codec": bad})


@pytest.mark.parametrize("name", ["zstd", "png"])
def test_golden_store_still_opens_and_decodes(name: str) -> None:
    """tests/fixtures/lossless_<codec>_store/ (40 sklearn digits written at a budget of 20 raw images) must keep
    decoding to the recorded pixels."""
    store = memstore.open(FIXTURES / f"lossless_{name}_store")
    expected = json.loads((FIXTURES / f"lossless_{name}_store.json").read_text())
    assert isinstance(store, LosslessStore) and store.codec.get_config() == expected["codec"]
    batch = store.read(np.arange(len(store)))
    assert len(store) == expected["items"] and torch.equal(batch.y, torch.tensor(expected["labels"]))
    assert batch.x.mul(255).round().to(torch.int64).sum(dim=(1, 2, 3)).tolist() == expected["pixel_sums"]
    assert store.ledger().payload == expected["payload_bits"]
