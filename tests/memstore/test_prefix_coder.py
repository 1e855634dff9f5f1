"""Prefix-coded recollections: the Huffman coder over groups of latents (constriction.symbol), bit-exact items with
no length field on the variable-size engine, and the store that uses it (``coder="prefix"``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import memstore
from memstore import Budget, EntropyCodedRecollectionStore, Stabilisation
from memstore.budget import label_bits
from memstore.codecs.entropy import CategoricalRangeCoder
from memstore.codecs.prefix import CategoricalPrefixCoder
from memstore.errors import InvalidInputError

from . import test_entropy_recollection as entropy_tests
from .test_entropy_recollection import skewed_codes, stream

TINY = {"latents": 5, "classes": 3, "coder": "prefix"}

pytestmark = pytest.mark.usefixtures("one_thread")


class TestPrefixCodedRecollectionStore(entropy_tests.TestEntropyCodedRecollectionStore):
    """The entropy-coded store's conformance settings, with prefix-coded items."""

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return EntropyCodedRecollectionStore(budget, item_shape, num_classes, **TINY, **options)

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        # the model's counts, then `items` items of at most ~12 bits per five symbols
        symbols = self.symbols(item_shape, num_classes)
        coder = CategoricalPrefixCoder(symbols, TINY["classes"])
        return Budget(8 * len(coder.shared) + items * (12 * -(-symbols // 5) + label_bits(num_classes) + 2))


# -- the coder ---------------------------------------------------------------------------------------------------------


def test_golden_bits() -> None:
    """Bits coded by this version must stay decodable (recorded with constriction 0.5.0): items in memory (their
    bits, a closing 1 bit) and the saved bitstream of all three."""
    coder = CategoricalPrefixCoder(6, 2, np.arange(20) % 7)
    codes = np.array([[0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1]])
    golden = [bytes.fromhex(h) for h in ("3e", "93", "4f01")]
    assert (coder.group, coder.alphabets) == (4, [16, 4])
    assert coder.encode(codes) == golden and np.array_equal(coder.decode(golden, verify=True), codes)
    assert coder.join(golden) == bytes.fromhex("7ef204") and coder.split(bytes.fromhex("7ef204"), 3) == golden
    assert coder.coded_bits(codes).tolist() == [5, 7, 8]


@pytest.mark.parametrize("shape", [(38, 2), (6, 20), (48, 10), (7, 3)])
def test_round_trip_join_split_and_bits_near_the_information(shape: tuple[int, int]) -> None:
    codes = skewed_codes(400, *shape)
    coder = CategoricalPrefixCoder(*shape).fit(codes)
    items = coder.encode(codes)
    assert np.array_equal(coder.decode(items, verify=True), codes)
    assert coder.split(coder.join(items), len(items)) == items
    coded, ideal = coder.coded_bits(codes), coder.information_bits(codes)
    assert len(coder.join(items)) == -(-int(coded.sum()) // 8)  # saved: the bits alone, padded once
    assert ideal.mean() <= coded.mean() <= ideal.mean() + len(coder.spans)  # Huffman: < 1 bit a symbol above


def test_beats_per_item_range_coding_where_words_dominate() -> None:
    codes = skewed_codes(2000, 6, 20)
    prefix, ranged = CategoricalPrefixCoder(6, 20).fit(codes), CategoricalRangeCoder(6, 20).fit(codes)
    assert prefix.coded_bits(codes).mean() + prefix.length_bits < ranged.coded_bits(codes).mean() + ranged.length_bits


@pytest.mark.parametrize("make, message", [
    (lambda: CategoricalPrefixCoder(0, 2), "latents >= 1"),
    (lambda: CategoricalPrefixCoder(2, 2, max_alphabet=1), "max_alphabet"),
    (lambda: CategoricalPrefixCoder(2, 3, [1, 2, 3]), "counts must be 9 integers"),
    (lambda: CategoricalPrefixCoder(1, 2, [-1, 2]), "counts must lie"),
    (lambda: CategoricalPrefixCoder(2, 3).encode(np.array([[0, 3]])), r"codes must lie in \[0, 3\)"),
    (lambda: CategoricalPrefixCoder(2, 3).decode([b"\x00"]), "closing bit"),
    (lambda: CategoricalPrefixCoder(4, 3).split(b"\x01", 3), "3 items"),
    (lambda: CategoricalPrefixCoder(2, 2).split(b"\x83", 1), "zero padding"),
    (lambda: CategoricalPrefixCoder.from_shared(2, 3, b"\0" * 5), "has 18 bytes"),
])
def test_bad_arguments_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_another_models_items_are_caught_by_verify() -> None:
    codes = skewed_codes(40, 8, 4)
    coder = CategoricalPrefixCoder(8, 4).fit(codes)
    with pytest.raises(ValueError, match="wrong model"):
        CategoricalPrefixCoder(8, 4).decode(coder.encode(codes), verify=True)


# -- the store ---------------------------------------------------------------------------------------------------------


def test_charges_the_exact_bits_with_no_length_field_and_saves_them(tmp_path: Any) -> None:
    budget = Budget.images(12, (1, 8, 8), 4)  # the (16, 4) model, 8 groups of 16 counts, is 2,048 bits of it
    store = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, seed=0, coder="prefix")
    stream(store, 100)
    coder, ledger = store.codec.coder, store.ledger()
    bits = sum(coder.item_bits(item) for item in store.coded_items())
    assert ledger.payload == 8 * len(coder.shared) + bits and ledger.index == 0
    assert ledger.charged(budget) <= budget.bits
    state = store.state_dict()
    assert state["payload"].size == len(coder.shared) + -(-bits // 8) and state["lengths"].size == 0
    opened = memstore.open(store.save(tmp_path / "s"))
    assert opened.codec.coder == coder and opened.ledger() == ledger and opened.coder_name == "prefix"
    assert "coder='prefix'" in repr(opened)


def test_holds_more_items_than_the_range_coder_on_short_codes() -> None:
    budget = Budget.images(30, (1, 8, 8), 4)
    untrained = Stabilisation(steps=0)
    stores = [EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=6, classes=20, seed=0, coder=coder,
                                            stabilisation=untrained) for coder in ("range", "prefix")]
    for store in stores:
        stream(store, 600)
    assert len(stores[1]) > len(stores[0])


def test_a_model_that_does_not_match_its_bits_and_an_unknown_coder_are_refused() -> None:
    budget = Budget.images(12, (1, 8, 8), 4)  # the (16, 4) model, 8 groups of 16 counts, is 2,048 bits of it
    store = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, seed=0, coder="prefix")
    stream(store, 100)
    state = store.state_dict()
    payload = state["payload"].copy()
    uniform = CategoricalPrefixCoder(16, 4).shared
    payload[:len(uniform)] = np.frombuffer(uniform, dtype=np.uint8)
    fresh = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, seed=0, coder="prefix")
    with pytest.raises(InvalidInputError, match="does not decode|does not match"):
        fresh.load_state_dict({**state, "payload": payload})
    assert len(fresh) == 0
    with pytest.raises(InvalidInputError, match="coder must be one of"):
        EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, coder="huffman")


def test_loading_re_encodes_the_items_once(monkeypatch: Any) -> None:
    budget = Budget.images(12, (1, 8, 8), 4)
    store = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, seed=0, coder="prefix")
    stream(store, 100)
    state = store.state_dict()
    encoded: list[int] = []
    original = CategoricalPrefixCoder.encode

    def counting(self: CategoricalPrefixCoder, codes: np.ndarray) -> list[bytes]:
        encoded.append(int(codes.shape[0]))
        return original(self, codes)

    monkeypatch.setattr(CategoricalPrefixCoder, "encode", counting)
    fresh = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, seed=0, coder="prefix")
    fresh.load_state_dict(state)
    assert sum(encoded) == len(store) > 0  # split's check, once per item; no second verify pass
    assert fresh.ledger() == store.ledger()


def test_prefix_coding_is_the_default_and_a_spec_names_the_range_coder() -> None:
    from benchmarks.parameters import resolve
    from benchmarks.specs import STORES

    budget = Budget.images(20, (1, 8, 8), 4)  # the default design's model fits
    assert EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=5, classes=3).coder_name == "prefix"
    for text, coder in (("recollection:entropy=true", "prefix"), ("recollection:entropy=true,coder=range", "range")):
        store = resolve(text, STORES, "store").build(budget, (1, 8, 8), 4, seed=0, num_tasks=None)
        assert store.coder_name == coder
    with pytest.raises(ValueError, match="give entropy=true"):
        resolve("recollection:coder=range", STORES, "store").build(budget, (1, 8, 8), 4, seed=0, num_tasks=None)
