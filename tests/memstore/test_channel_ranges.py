"""Channel ranges carried in dVAE codes (decision 0036): the digits, the stretch, the codec, both stores, the design."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from memstore import Budget, EntropyCodedRecollectionStore, RecollectionStore, Stabilisation
from memstore import open as open_store
from memstore.budget import index_bits, label_bits
from memstore.codecs import ranges
from memstore.codecs.base import codec_from_config
from memstore.codecs.dvae import DVAECodec
from memstore.codecs.ranges import range_symbols
from memstore.errors import InvalidInputError
from memstore.stores.latent_design import default_latents
from memstore.testing import random_items
from tests.memstore import test_entropy_recollection as entropy_suite
from tests.memstore import test_recollection_store as fixed_suite

TINY = {"latents": 5, "classes": 3}
ANCHORED = Stabilisation(batch_size=3, warmup_steps=6, warmup_per_item=2, anchor_every=4, refresh=False)

pytestmark = pytest.mark.usefixtures("one_thread")


class TestRangedRecollectionStore(fixed_suite.TestRecollectionStore):
    """The conformance suite with ranges on (one channel here, so 12 more base-3 digits a code) and the anchor on:
    anchored recollections and the code loss read the ranges back from the stored codes."""

    stateful_examples = 6
    symbols = TINY["latents"] + range_symbols(1, TINY["classes"])  # the suite's items have one channel

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int,
                   **options: Any) -> RecollectionStore:
        return RecollectionStore(budget, item_shape, num_classes, **TINY, ranges=True, stabilisation=ANCHORED,
                                 **options)


class TestRangedEntropyCodedRecollectionStore(entropy_suite.TestEntropyCodedRecollectionStore):
    stateful_examples = 6  # the suite reads a code's symbols, ranges included, from the store

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return EntropyCodedRecollectionStore(budget, item_shape, num_classes, **TINY, ranges=True,
                                             stabilisation=ANCHORED, coder="range", **options)


def test_digits_write_every_byte_and_read_back() -> None:
    for classes, k in [(2, 8), (3, 6), (4, 4), (10, 3), (16, 2), (17, 2), (256, 1), (300, 1)]:
        assert ranges.digits_per_byte(classes) == k
        values = np.arange(256).reshape(8, 32)
        digits = ranges.to_digits(values, classes)
        assert digits.shape == (8, 32 * k) and digits.min() >= 0 and digits.max() < classes
        np.testing.assert_array_equal(ranges.from_digits(digits, classes), values)
    assert ranges.from_digits(np.full((1, 6), 2), 3).tolist() == [[255]]  # 3^6 - 1 = 728 reads as 255


def test_stretch_covers_each_channel_and_unstretch_inverts_it() -> None:
    x = torch.round(torch.rand(4, 3, 6, 5, generator=torch.Generator().manual_seed(0)) * 200 + 20) / 255
    x[1, 2] = 128 / 255  # a flat channel: a span of one step
    bytes_ = ranges.range_bytes(x)
    flat = (x * 255).round().flatten(2)
    np.testing.assert_array_equal(bytes_[..., 0], flat.amin(2))  # values on the 1/255 grid keep their own byte
    np.testing.assert_array_equal(bytes_[..., 1], flat.amax(2))
    stretched = ranges.stretch(x, bytes_)
    assert stretched.amin((2, 3))[[0, 2, 3]].eq(0).all() and stretched.amax((2, 3))[[0, 2, 3]].eq(1).all()
    torch.testing.assert_close(ranges.unstretch(stretched, bytes_), x)


def test_codec_appends_the_range_digits_and_decodes_inside_the_ranges() -> None:
    codec = DVAECodec((3, 8, 8), 7, 4, ranges=True)
    assert codec.symbols == 7 + range_symbols(3, 4) == 7 + 2 * 3 * 4 and codec.item_bits == codec.symbols * 2
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25
    codes = codec.encode(x)
    assert codes.shape == (5, codec.symbols) and codes.max() < 4
    bytes_ = ranges.range_bytes(x)
    np.testing.assert_array_equal(ranges.from_digits(codes[:, 7:], 4).reshape(5, 3, 2), bytes_)
    decoded = codec.decode(codes)
    low, high = (bytes_[..., i, None, None] / 255 for i in (0, 1))
    assert (decoded >= low - 1e-6).all() and (decoded <= high + 1e-6).all()
    assert codec_from_config(codec.get_config()) == codec and codec.get_config()["ranges"] is True
    assert "ranges" not in DVAECodec((3, 8, 8), 7, 4).get_config()  # the configs saved before 0036
    with pytest.raises(InvalidInputError, match="ranges must be a bool"):
        DVAECodec((3, 8, 8), 7, 4, ranges=1)


def test_random_codes_decode_with_unit_ranges() -> None:
    codec = DVAECodec((3, 8, 8), 7, 4, ranges=True)
    codes = codec.random_codes(6, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(ranges.from_digits(codes[:, 7:], 4), np.tile([0, 255], (6, 3)))
    torch.testing.assert_close(codec.decode(codes), codec.model.decode(torch.from_numpy(codes[:, :7])))


def test_stores_default_to_ranges_on_colour_items_only() -> None:
    colour, grey = (3, 8, 8), (1, 8, 8)
    for store_type in (RecollectionStore, EntropyCodedRecollectionStore):
        assert store_type(Budget(10**5), colour, 10, **TINY).ranges
        assert not store_type(Budget(10**5), grey, 10, **TINY).ranges
        assert not store_type(Budget(10**5), colour, 10, **TINY, ranges=False).ranges
        assert store_type(Budget(10**5), grey, 10, **TINY, ranges=True).ranges
        with pytest.raises(InvalidInputError, match="ranges must be a bool or None"):
            store_type(Budget(10**5), colour, 10, **TINY, ranges="yes")


def test_a_ranged_store_charges_the_digits_and_reopens_as_saved(tmp_path: Any) -> None:
    store = RecollectionStore(Budget(10**5), (3, 8, 8), 10, **TINY, seed=0)
    x, y = random_items(9, (3, 8, 8), 10, torch.Generator().manual_seed(0))
    store.write(x, y)
    per_item = (5 + range_symbols(3, 3)) * index_bits(3) + label_bits(10)
    assert store.ledger().charged(store.budget) == 9 * per_item
    store.save(tmp_path / "s.zarr")
    opened = open_store(tmp_path / "s.zarr")
    assert opened.ranges and opened.codec == store.codec
    torch.testing.assert_close(opened.read(np.arange(9)).x, store.read(np.arange(9)).x)


def test_store_saved_without_ranges_reopens_without_them(tmp_path: Any) -> None:
    store = RecollectionStore(Budget(10**5), (3, 8, 8), 10, **TINY, seed=0, ranges=False)
    store.write(*random_items(4, (3, 8, 8), 10, torch.Generator().manual_seed(0)))
    store.save(tmp_path / "s.zarr")
    assert not open_store(tmp_path / "s.zarr").ranges  # no ranges key in its codec config: none, as it ran


def test_design_pays_for_the_ranges_out_of_the_code() -> None:
    shape = (3, 32, 32)
    budget = Budget.images(100, shape, 10)
    plain, ranged = default_latents(budget, shape, 10), default_latents(budget, shape, 10, ranges=True)
    side = range_symbols(3, ranged.classes) * index_bits(ranged.classes)
    assert ranged.item_bits == ranged.latents * index_bits(ranged.classes) + side + label_bits(10)
    assert ranged.items == plain.items and ranged.item_bits <= plain.item_bits
    assert ranged.capacity_bits < plain.capacity_bits  # the same items, fewer bits left for latents
    store = RecollectionStore(budget, shape, 10, seed=0)
    assert (store.latents, store.classes, store.code_side) == (ranged.latents, ranged.classes, ranged.code_side)
