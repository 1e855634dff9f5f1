"""JPEGStore passes the conformance suite; JPEG bits, variable-size admission, edits, auto quality, golden file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from memstore import Budget, ClassBalanced, JPEGStore, PerTask, RawStore, Reservoir, Ring, choose_quality
from memstore.codecs.jpeg import JPEGCodec, split_header
from memstore.errors import InvalidInputError
from memstore.testing import StoreConformance, random_items

FIXTURES = Path(__file__).parent.parent / "fixtures"


def noise_item_bits(item_shape: tuple[int, ...], num_classes: int, quality: int) -> tuple[int, int]:
    """(shared bits, bits of the largest of 8 noise items incl. label and length field) at ``quality``."""
    codec = JPEGCodec(item_shape, quality)
    x, _ = random_items(8, item_shape, num_classes, torch.Generator().manual_seed(0))
    largest = max(len(scan) for scan in codec.encode(x))
    return 8 * len(codec.shared), 8 * largest + (num_classes - 1).bit_length() + codec.length_bits


class TestJPEGStore(StoreConformance):
    exact = False
    tolerance = 4.5 / 255  # quality 100, 4:4:4: measured max error 4/255 on noise of every shape the suite draws
    fixed_item_bits = False
    option_sets = ({}, {"policy": ClassBalanced()}, {"policy": Ring()}, {"policy": Reservoir(), "num_tasks": 3})
    stateful_examples = 15

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> JPEGStore:
        return JPEGStore(budget, item_shape, num_classes, quality=100, **options)

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        """The shared header plus ``items`` noise items (noise is JPEG's worst case, so about ``items`` fit)."""
        shared, per_item = noise_item_bits(item_shape, num_classes, 100)
        return Budget(shared + items * (per_item + 3))  # + task-id bits when the store keeps them


# -- bits --------------------------------------------------------------------------------------------------------------


def test_header_is_measured_and_items_reassemble_exactly() -> None:
    codec = JPEGCodec((1, 28, 28), quality=50)
    pixels = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=50, subsampling=0, optimize=False)
    data = out.getvalue()
    assert codec.header == data[:split_header(data)] and codec.shared == codec.header + b"\xff\xd9"
    scan = codec.encode(torch.from_numpy(pixels).float().div(255).reshape(1, 1, 28, 28))[0]
    assert codec.header + scan + b"\xff\xd9" == data  # decoding input is byte-identical to Pillow's file
    assert codec.length_bits == 13  # fixed width: bound 13,840 bytes for 28x28 grayscale


def test_ledger_charges_header_once_scans_and_length_fields() -> None:
    budget = Budget.images(20, (1, 28, 28), 10)
    store = JPEGStore(budget, (1, 28, 28), 10, seed=0, quality=25)
    assert store.ledger().total == 0  # an empty store holds no header
    x, y = random_items(7, (1, 28, 28), 10, torch.Generator().manual_seed(0))
    store.write(x, y)
    scans = store.codec.encode(x)
    ledger = store.ledger()
    assert ledger.payload == 8 * (len(store.codec.shared) + sum(map(len, scans)))
    assert (ledger.labels, ledger.index) == (7 * 4, 7 * 13)


def test_variable_admission_evicts_until_the_item_fits() -> None:
    # Budget for a few plain items; then noise items (3x the bytes) must evict several small ones each.
    shared, _ = noise_item_bits((1, 28, 28), 10, 50)
    flat = torch.full((30, 1, 28, 28), 0.5)
    store = JPEGStore(Budget(shared + 30 * 400), (1, 28, 28), 10, seed=0, quality=50, policy=Ring())
    store.write(flat, torch.zeros(30, dtype=torch.int64))
    small = len(store)
    noise, labels = random_items(3, (1, 28, 28), 10, torch.Generator().manual_seed(1))
    assert store.write(noise, labels) == 3
    assert len(store) < small and store.ledger().charged(store.budget) <= store.budget.bits
    assert set(store.sample(len(store)).y.tolist()) >= set(labels.tolist())  # all three newcomers are held


def test_an_item_larger_than_the_budget_is_refused() -> None:
    shared, per_item = noise_item_bits((1, 28, 28), 10, 95)
    store = JPEGStore(Budget(shared + per_item // 4), (1, 28, 28), 10, seed=0, quality=95)
    x, y = random_items(2, (1, 28, 28), 10, torch.Generator().manual_seed(0))
    assert store.write(x, y) == 0 and len(store) == 0 and store.ledger().total == 0


def test_edit_that_outgrows_the_budget_is_partial_never_over() -> None:
    shared, _ = noise_item_bits((1, 28, 28), 10, 95)
    store = JPEGStore(Budget(shared + 10 * 1200), (1, 28, 28), 10, seed=0, quality=95)
    store.write(torch.full((10, 1, 28, 28), 0.5), torch.zeros(10, dtype=torch.int64))
    count = len(store)
    noise, _ = random_items(count, (1, 28, 28), 10, torch.Generator().manual_seed(2))
    store.edit(torch.arange(count), noise)
    assert len(store) == count and store.ledger().charged(store.budget) <= store.budget.bits
    assert 0 < int((store.edit_fractions == 1).sum()) < count  # some fit in full, the rest moved part-way or not
    assert set(store.edit_fractions.tolist()) <= {1.0, 0.5, 0.25, 0.125, 0.0}


def test_per_task_policy_needs_fixed_slots() -> None:
    with pytest.raises(InvalidInputError, match="fixed-size"):
        JPEGStore(Budget.images(100, (1, 4, 4), 2, num_tasks=2), (1, 4, 4), 2, policy=PerTask(), num_tasks=2)


def test_bad_quality_is_a_typed_error() -> None:
    for quality in (0, 101, 2.5):
        with pytest.raises(InvalidInputError, match="quality"):
            JPEGStore(Budget.images(100, (1, 4, 4), 2), (1, 4, 4), 2, quality=quality)  # type: ignore[arg-type]


def test_rgb_subsampling_makes_items_smaller() -> None:
    x, _ = random_items(4, (3, 16, 16), 2, torch.Generator().manual_seed(0))
    sizes = [sum(map(len, JPEGCodec((3, 16, 16), 75, sub).encode(x))) for sub in (0, 2)]
    assert sizes[1] < sizes[0]


def test_same_budget_holds_more_jpeg_items_than_raw() -> None:
    x = torch.zeros(400, 1, 28, 28)
    x[:, :, 8:20, 10:18] = 1.0  # digit-like: mostly flat
    y = torch.randint(0, 10, (400,), generator=torch.Generator().manual_seed(0))
    budget = Budget.images(20, (1, 28, 28), 10)
    stores = [RawStore(budget, (1, 28, 28), 10, seed=0), JPEGStore(budget, (1, 28, 28), 10, seed=0, quality=25)]
    for store in stores:
        store.write(x, y)
    assert len(stores[0]) == 20 and len(stores[1]) > 3 * 20


# -- automatic quality -------------------------------------------------------------------------------------------------


def _smooth_items() -> torch.Tensor:
    """128 smooth 28×28 images (uniform noise averaged over 3×3), the same every call."""
    noise = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.avg_pool2d(noise, 3, 1, 1)


def test_auto_quality_trades_quantity_for_volume() -> None:
    x = _smooth_items()
    budget = Budget.images(50, (1, 28, 28), 10)
    choice = choose_quality(budget, 10, x, candidates=(1, 25, 95), probe=64, epsilon=0.05)
    assert list(choice.items) == sorted(choice.items, reverse=True)  # lower quality, more items
    assert choice.distortion[0] > choice.distortion[-1]
    passing = [q for q, r in zip(choice.candidates, choice.volume_ratio) if abs(r - 1) <= 0.05]
    assert choice.quality == (min(passing) if passing else 95)
    store = JPEGStore.auto(budget, (1, 28, 28), 10, x, seed=0, candidates=(1, 25, 95), probe=64)
    assert store.quality == store.quality_choice.quality
    strict = choose_quality(budget, 10, x, candidates=(1, 25, 95), probe=64, epsilon=0.0)
    assert strict.quality == 95  # nothing keeps the volume exactly: the highest quality
    assert f"quality={store.quality}" in repr(store)  # the chosen quality is visible
    with pytest.raises(InvalidInputError, match="budget must be a memstore.Budget"):
        choose_quality(x, budget, 10)  # type: ignore[arg-type]  # the old argument order


def test_the_stream_length_caps_the_items_a_quality_is_credited_with() -> None:
    """With ``expected_items``, qualities that would hold more than the stream tie on it, and the highest of them wins;
    the table still reports what each quality fits."""
    x, budget, candidates = _smooth_items(), Budget.images(400, (1, 28, 28), 10), (1, 25, 50, 75, 95)
    free = choose_quality(budget, 10, x, candidates=candidates, probe=64, epsilon=1.0)  # every quality passes
    assert free.quality == 1 and free.items[0] > free.items[2] > 1000
    capped = choose_quality(budget, 10, x, candidates=candidates, probe=64, epsilon=1.0, expected_items=1000)
    assert capped.items == free.items  # what fits is measured as before
    holding_all = [q for q, n in zip(capped.candidates, capped.items) if n >= 1000]
    assert capped.quality == max(holding_all) and capped.quality > 1
    assert capped.expected_items == 1000 and free.expected_items is None  # the table says what it was chosen under
    long = choose_quality(budget, 10, x, candidates=candidates, probe=64, epsilon=1.0, expected_items=10**9)
    assert long.quality == 1  # a stream no quality can hold: the most items, as without the cap
    assert choose_quality(budget, 10, x, candidates=candidates, probe=64, epsilon=1.0,
                          expected_items=np.int64(1000)).quality == capped.quality
    store = JPEGStore.auto(budget, (1, 28, 28), 10, x, seed=0, candidates=candidates, probe=64, epsilon=1.0,
                           expected_items=1000)
    assert store.quality == capped.quality and "expected_items" not in json.dumps(store.config())
    for bad in (0, -5, 1.5, True):
        with pytest.raises(InvalidInputError, match="expected_items"):
            choose_quality(budget, 10, x, expected_items=bad)


def test_the_stream_length_never_picks_a_quality_that_fails_the_volume_check() -> None:
    """The cap ranks only the qualities that keep the volume: a failing quality that would hold the whole stream
    loses to a passing one that holds less."""
    x, budget, candidates = _smooth_items(), Budget.images(400, (1, 28, 28), 10), (1, 25, 50, 75, 95)
    table = choose_quality(budget, 10, x, candidates=candidates, probe=64, epsilon=1.0)
    ratios = sorted(abs(r - 1) for r in table.volume_ratio)
    epsilon = (ratios[-2] + ratios[-1]) / 2  # every quality passes but the farthest from the originals' volume
    worst = candidates[max(range(len(candidates)), key=lambda i: abs(table.volume_ratio[i] - 1))]
    holding = table.items[candidates.index(worst)]  # a stream exactly as long as the failing quality holds
    choice = choose_quality(budget, 10, x, candidates=candidates, probe=64, epsilon=epsilon, expected_items=holding)
    assert choice.quality != worst and abs(choice.volume_ratio[candidates.index(choice.quality)] - 1) <= epsilon


# -- golden file -------------------------------------------------------------------------------------------------------


def test_golden_store_still_opens_and_decodes() -> None:
    """tests/fixtures/jpeg_store/ was saved by this version; its scans must keep decoding to the recorded pixels."""
    import memstore

    store = memstore.open(FIXTURES / "jpeg_store")
    expected = json.loads((FIXTURES / "jpeg_store.json").read_text())
    assert isinstance(store, JPEGStore) and len(store) == expected["items"] and store.quality == expected["quality"]
    batch = store.read(np.arange(len(store)))
    assert torch.equal(batch.y, torch.tensor(expected["labels"]))
    assert batch.x.mul(255).round().to(torch.int64).sum(dim=(1, 2, 3)).tolist() == expected["pixel_sums"]
    assert store.ledger().payload == expected["payload_bits"]


def test_state_over_the_budget_is_refused() -> None:
    big = JPEGStore(Budget.images(50, (1, 8, 8), 2), (1, 8, 8), 2, seed=0, quality=90)
    big.write(*random_items(50, (1, 8, 8), 2, torch.Generator().manual_seed(0)))
    small = JPEGStore(Budget.images(10, (1, 8, 8), 2), (1, 8, 8), 2, seed=0, quality=90)
    with pytest.raises(InvalidInputError):
        small.load_state_dict(big.state_dict())
    assert len(small) == 0


def test_config_nests_the_codec_config_and_refuses_another_codec(tmp_path) -> None:
    import memstore

    store = JPEGStore(Budget.images(50, (1, 8, 8), 2), (1, 8, 8), 2, seed=0, quality=30, subsampling=0)
    config = store.config()
    assert config["codec"] == store.codec.get_config() and "quality" not in config
    assert JPEGStore.from_config(config).quality == 30
    store.save(tmp_path / "s.zarr")
    assert memstore.open(tmp_path / "s.zarr").config() == config
    with pytest.raises(InvalidInputError, match="not a JPEG codec"):
        JPEGStore.from_config({**config, "codec": {"id": "zstd", "level": 3}})
    with pytest.raises(InvalidInputError, match="item_shape"):
        JPEGStore.from_config({**config, "codec": {**config["codec"], "item_shape": [1, 9, 9]}})
