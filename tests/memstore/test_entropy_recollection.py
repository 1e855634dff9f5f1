"""Entropy-coded recollections: the range coder (constriction), the composite codec, and the store on the
variable-size engine: conformance, refits that re-code every item, exact bits, a model that does not match its codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import memstore
from memstore import (
    Budget, ClassBalanced, EntropyCodedRecollectionStore, RecollectionStore, Reservoir, Ring, Stabilisation,
)
from memstore.budget import label_bits
from memstore.codecs.entropy import CategoricalRangeCoder
from memstore.errors import InvalidInputError
from memstore.testing import StoreConformance, random_items

TINY = {"latents": 5, "classes": 3, "coder": "range"}  # the prefix coder is the default (0039)

pytestmark = pytest.mark.usefixtures("one_thread")


class TestEntropyCodedRecollectionStore(StoreConformance):
    exact = False
    tolerance = 1e-5  # against the store's own round trip
    fixed_item_bits = False
    option_sets = ({}, {"policy": ClassBalanced()}, {"policy": Ring()}, {"policy": Reservoir(), "num_tasks": 3})
    stateful_examples = 10

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        return EntropyCodedRecollectionStore(budget, item_shape, num_classes, **TINY, **options)

    def symbols(self, item_shape: tuple[int, ...], num_classes: int) -> int:
        """Symbols a code of this shape holds, each modelled by the coder: the latents, and on items of more than one
        channel the channel ranges' digits (read from a store, not restated here)."""
        return self.make_store(Budget(1 << 40), item_shape, num_classes).codec.dvae.symbols

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        # the model's counts, then about `items` items of one or two words per five symbols
        symbols = self.symbols(item_shape, num_classes)
        coder = CategoricalRangeCoder(symbols, TINY["classes"])
        return Budget(8 * len(coder.shared)
                      + items * (48 * -(-symbols // 5) + coder.length_bits + label_bits(num_classes) + 2))

    def reconstruction(self, store: Any, x: torch.Tensor) -> torch.Tensor:
        return store.codec.decode(store.codec.encode(x))


class TestAnchoredEntropyCodedRecollectionStore(TestEntropyCodedRecollectionStore):
    """The conformance suite with the warm-up and the anchor on: anchored recollections read the stored codes back
    through the entropy coder."""

    stateful_examples = 6

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> Any:
        settings = Stabilisation(batch_size=3, warmup_steps=6, warmup_per_item=2, anchor_every=4, refresh=False)
        return EntropyCodedRecollectionStore(budget, item_shape, num_classes, **TINY, stabilisation=settings,
                                             **options)


# -- the range coder ---------------------------------------------------------------------------------------------------


def skewed_codes(n: int, latents: int, classes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.full(classes, 0.3), size=latents)
    return np.stack([[rng.choice(classes, p=p) for p in probabilities] for _ in range(n)])


def test_round_trip_and_coded_length_near_the_information() -> None:
    codes = skewed_codes(300, 48, 10)
    coder = CategoricalRangeCoder(48, 10).fit(codes)
    items = coder.encode(codes)
    assert np.array_equal(coder.decode(items, verify=True), codes)
    coded, ideal = coder.coded_bits(codes), coder.information_bits(codes)
    assert np.all(coded % 32 == 0) and np.all(coded >= ideal) and np.all(coded <= ideal + 64)
    assert coded.mean() < 0.8 * 48 * 4  # the fitted model beats 4 bits a latent on skewed codes


def test_the_model_is_its_shared_bytes() -> None:
    coder = CategoricalRangeCoder(6, 20).fit(skewed_codes(50, 6, 20))
    again = CategoricalRangeCoder.from_shared(6, 20, coder.shared)
    assert again == coder and len(coder.shared) == 2 * 6 * 20
    assert again.encode(skewed_codes(5, 6, 20, seed=1)) == coder.encode(skewed_codes(5, 6, 20, seed=1))


def test_fit_scales_counts_into_sixteen_bits() -> None:
    codes = np.zeros((70000, 2), dtype=np.int64)
    codes[:10, 1] = 1
    coder = CategoricalRangeCoder(2, 2).fit(codes)
    assert int(coder.counts.max()) == 65535 and coder.counts[1, 1] == 10 * 65535 // 70000


def test_golden_bytes() -> None:
    """Bytes coded by this version must stay decodable: the coder's output for a fixed model and codes is pinned
    (recorded with constriction 0.5.0)."""
    coder = CategoricalRangeCoder(4, 6, np.arange(24).reshape(4, 6) % 5)
    codes = np.array([[0, 1, 2, 3], [5, 4, 3, 2], [1, 1, 1, 1]])
    golden = [bytes.fromhex(h) for h in ("ffa76403", "c624d4fd", "9e56f814")]
    assert coder.encode(codes) == golden and np.array_equal(coder.decode(golden, verify=True), codes)


@pytest.mark.parametrize("make, message", [
    (lambda: CategoricalRangeCoder(0, 2), "latents >= 1"),
    (lambda: CategoricalRangeCoder(2, 2, [[1, 2, 3], [1, 2, 3]]), r"shape \(2, 2\)"),
    (lambda: CategoricalRangeCoder(1, 2, [[-1, 2]]), "counts must lie"),
    (lambda: CategoricalRangeCoder(1, 2, [[0.5, 2.0]]), "integers"),
    (lambda: CategoricalRangeCoder(2, 3).encode(np.array([[0, 3]])), r"codes must lie in \[0, 3\)"),
    (lambda: CategoricalRangeCoder(2, 3).decode([b"abc"]), "32-bit words"),
    (lambda: CategoricalRangeCoder(1, 2, [[1000, 0]]).decode([b"\xff" * 8]), "not a range-coded item"),
    (lambda: CategoricalRangeCoder.from_shared(2, 3, b"\0" * 5), "has 12 bytes"),
])
def test_bad_arguments_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_another_models_items_are_caught_by_verify() -> None:
    codes = skewed_codes(40, 8, 4)
    coder = CategoricalRangeCoder(8, 4).fit(codes)
    uniform = CategoricalRangeCoder(8, 4)
    with pytest.raises(ValueError, match="wrong model"):
        uniform.decode(coder.encode(codes), verify=True)


# -- the store ---------------------------------------------------------------------------------------------------------


def stream(store: Any, n: int, seed: int = 0) -> None:
    x, y = random_items(n, (1, 8, 8), 4, torch.Generator().manual_seed(seed))
    for start in range(0, n, 10):
        store.write(x[start:start + 10], y[start:start + 10])


def test_refits_recode_every_item_and_charge_the_real_bytes() -> None:
    budget = Budget.images(4, (1, 8, 8), 4)
    store = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=16, classes=4, seed=0,
                                          coder="range")
    stream(store, 60)
    assert int(store.codec.coder.counts.sum()) == 0  # not yet fitted: the first refit comes at 64 items written
    stream(store, 10, seed=1)
    coder = store.codec.coder
    fitted = int(coder.counts.sum())  # fitted to the codes it held then (a refit may evict some afterwards)
    assert fitted % 16 == 0 and 16 * len(store) <= fitted <= 16 * 70
    ledger = store.ledger()
    assert ledger.payload == 8 * (len(coder.shared) + sum(map(len, store.coded_items())))
    assert ledger.index == len(store) * coder.length_bits and ledger.charged(budget) <= budget.bits
    codes = coder.decode(store.coded_items(), verify=True)
    assert torch.allclose(store.read(np.arange(len(store))).x, store.model.decode(torch.from_numpy(codes)))


@pytest.mark.parametrize("coder", ["range", "prefix"])
def test_a_refit_a_chunk_at_a_time_codes_every_item_as_one_pass_would(coder, tmp_path, monkeypatch) -> None:
    from memstore.codecs import byte_column

    def refitted(rows_at_a_time: int, path: Any) -> list[bytes]:
        monkeypatch.setattr(byte_column, "ROWS_AT_A_TIME", rows_at_a_time)
        store = EntropyCodedRecollectionStore(Budget.images(4, (1, 8, 8), 4), (1, 8, 8), 4,
                                              **{**TINY, "coder": coder}, seed=0, path=path)
        stream(store, 120)
        store.refit()
        assert store.ledger().payload == 8 * len(store.codec.shared) + sum(map(store.codec.item_bits,
                                                                                store.coded_items()))
        return store.coded_items()

    whole = refitted(10**6, None)
    assert refitted(7, None) == whole and refitted(7, tmp_path / "w") == whole


def test_holds_more_items_than_fixed_width_once_fitted_on_low_entropy_codes() -> None:
    budget = Budget.images(30, (1, 8, 8), 4)  # the (48, 10) model's 7,680 bits are most of 15 images' worth
    untrained = Stabilisation(steps=0)
    fixed = RecollectionStore(budget, (1, 8, 8), 4, latents=48, classes=10, seed=0, stabilisation=untrained)
    coded = EntropyCodedRecollectionStore(budget, (1, 8, 8), 4, latents=48, classes=10, seed=0,
                                          stabilisation=untrained, coder="range")
    prototypes, y = random_items(3, (1, 8, 8), 4, torch.Generator().manual_seed(0))
    pick = torch.randint(3, (400,), generator=torch.Generator().manual_seed(1))
    for store in (fixed, coded):
        for start in range(0, 400, 10):
            store.write(prototypes[pick[start:start + 10]], y[pick[start:start + 10]])
    assert len(coded) > len(fixed)  # three distinct items: codes of at most log2(3) bits a latent, not 4


def test_a_growing_store_refits_each_time_it_has_doubled(tmp_path: Any) -> None:
    # writes of 10: refits at 70, 140 and 280 items written, not only at the first 64 (in task-free use, with no
    # end_task, later tasks' codes would otherwise stay coded under a model of the first 70); a saved store goes on
    store = EntropyCodedRecollectionStore(Budget.images(200, (1, 8, 8), 4), (1, 8, 8), 4, **TINY, seed=0)
    stream(store, 250)
    assert int(store.codec.coder.counts.sum()) == TINY["latents"] * 140
    opened = memstore.open(store.save(tmp_path / "s"))
    for each in (store, opened):
        stream(each, 30, seed=1)
        assert len(each) == 280 and int(each.codec.coder.counts.sum()) == TINY["latents"] * 280


def test_a_state_saved_before_the_refit_count_goes_on_from_the_items_it_held() -> None:
    grown = EntropyCodedRecollectionStore(Budget.images(200, (1, 8, 8), 4), (1, 8, 8), 4, **TINY, seed=0)
    stream(grown, 100)  # refitted at 70 items written, 30 written since
    state = grown.state_dict()
    old = {key: value for key, value in state.items() if key != "held_at_refit"}
    for saved, refits_at in ((state, 140), (old, 170)):  # 70 written since the refit at 70, or 100 since the 100 held
        store = EntropyCodedRecollectionStore(Budget.images(200, (1, 8, 8), 4), (1, 8, 8), 4, **TINY, seed=0)
        store.load_state_dict(saved)
        stream(store, 80, seed=1)
        assert int(store.codec.coder.counts.sum()) == TINY["latents"] * refits_at


def test_end_task_refits() -> None:
    store = EntropyCodedRecollectionStore(Budget.images(4, (1, 8, 8), 4), (1, 8, 8), 4, **TINY, seed=0)
    stream(store, 20)
    store.end_task(memstore.TaskContext(task=0))
    assert int(store.codec.coder.counts.sum()) == 5 * len(store)


def test_save_open_keeps_the_model_and_refuses_one_that_does_not_match(tmp_path: Any) -> None:
    store = EntropyCodedRecollectionStore(Budget.images(4, (1, 8, 8), 4), (1, 8, 8), 4, latents=16, classes=4,
                                          seed=0, coder="range")
    stream(store, 100)
    opened = memstore.open(store.save(tmp_path / "s"))
    assert opened.codec.coder == store.codec.coder and opened.ledger() == store.ledger()
    state = store.state_dict()
    payload = state["payload"].copy()
    model_bytes = 2 * 16 * 4
    payload[:model_bytes] = np.frombuffer(CategoricalRangeCoder(16, 4).shared, dtype=np.uint8)  # the uniform model
    fresh = EntropyCodedRecollectionStore(Budget.images(4, (1, 8, 8), 4), (1, 8, 8), 4, latents=16, classes=4, seed=0,
                                          coder="range")
    with pytest.raises(InvalidInputError, match="does not match its entropy model"):
        fresh.load_state_dict({**state, "payload": payload})
    assert len(fresh) == 0
    garbled = state["payload"].copy()
    garbled[-8:] = 0xFF  # words no item under the saved model ends in: constriction refuses them with an assertion
    with pytest.raises(InvalidInputError, match="does not match its entropy model"):
        fresh.load_state_dict({**state, "payload": garbled})
    assert len(fresh) == 0


def test_the_code_map_side_travels_in_the_nested_dvae_config(tmp_path: Any) -> None:
    store = EntropyCodedRecollectionStore(Budget.images(4, (1, 8, 8), 4), (1, 8, 8), 4, latents=16, classes=4,
                                          code_side=4, seed=0, coder="range")
    stream(store, 40)
    assert store.model.config.code_side == 4 and store.config()["codec"]["dvae"]["code_side"] == 4
    opened = memstore.open(store.save(tmp_path / "s"))
    assert opened.code_side == 4 and opened.ledger() == store.ledger()
    assert torch.equal(opened.model.decode(torch.zeros(1, 16, dtype=torch.int64)),
                       store.model.decode(torch.zeros(1, 16, dtype=torch.int64)))
