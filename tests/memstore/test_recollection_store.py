"""RecollectionStore: conformance, exact bits, Gumbel straight-through, Algorithm 1 on write, Zarr chunk reads,
total-storage charging, the eq. 4/5 latent design, and save/open with the dVAE."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import zarr.storage

from memstore import (
    Budget,
    ClassBalanced,
    RecollectionStore,
    Reservoir,
    Ring,
    Stabilisation,
    default_latents,
    design_latents,
    param_bits,
)
from memstore import integrity
from memstore.budget import label_bits
from memstore.codecs.bitpack import PackedArray
from memstore.codecs.dvae import DVAECodec
from memstore.errors import BudgetTooSmallError, InvalidInputError
from memstore.nn import DiscreteVAE, DVAEConfig, gumbel_softmax_hard
from memstore.persist import open_store
from memstore.stores.zarr_payload import ZarrPackedArray
from memstore.testing import StoreConformance, random_items, state_equal

TINY = {"latents": 5, "classes": 3}  # 5 latents × 2 bits = 10 bits per item; 2 filters per layer: fast


pytestmark = pytest.mark.usefixtures("one_thread")


class CountingStore(zarr.storage.WrapperStore):
    """Counts the chunk keys read."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.gets: list[str] = []

    async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        self.gets.append(key)
        return await self._store.get(key, *args, **kwargs)


class TestRecollectionStore(StoreConformance):
    exact = False
    tolerance = 1e-5  # against the store's own round trip (see reconstruction), not against the input
    option_sets = ({}, {"policy": ClassBalanced()}, {"policy": Ring()}, {"policy": Reservoir(), "num_tasks": 3})
    stateful_examples = 12
    symbols = TINY["latents"]  # symbols of 2 bits a code holds

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int,
                   **options: Any) -> RecollectionStore:
        return RecollectionStore(budget, item_shape, num_classes, **TINY, **options)

    def budget_for(self, items: int, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        # + task-id bits when the store keeps them
        return Budget(items * (2 * self.symbols + label_bits(num_classes) + 2))

    def reconstruction(self, store: RecollectionStore, x: torch.Tensor) -> torch.Tensor:
        """A learned lossy codec returns decode(encode(x)) under its current dVAE, not x."""
        return store.codec.decode(store.codec.encode(x))


def items(n: int, shape: tuple[int, ...] = (1, 8, 8), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return random_items(n, shape, 10, torch.Generator().manual_seed(seed))


def test_bits_per_item_are_c_times_ceil_log2_l() -> None:
    for c, l, width in [(38, 2, 1), (48, 10, 4), (6, 20, 5), (104, 4, 2), (139, 8, 3), (7, 3, 2)]:
        store = RecollectionStore(Budget(10**6), (1, 8, 8), 10, latents=c, classes=l, seed=0)
        assert store.codec.item_bits == c * width and store.bits_per_item == c * width + 4
    store = RecollectionStore(Budget(38 * 7 + 4 * 7), (1, 8, 8), 10, latents=38, classes=2, seed=0)
    assert store.capacity == 7
    store.write(*items(20))
    assert store.ledger().payload == 7 * 38 and store.state_dict()["payload"].size == -(-7 * 38 // 8)


def test_codes_round_trip_through_bitpack() -> None:
    codec = DVAECodec((1, 8, 8), 6, 20, seed=1)
    codes = np.random.default_rng(0).integers(0, 20, (9, 6))
    packed = PackedArray(9, codec.symbols, codec.symbol_bits)
    packed.write(np.arange(9), codes)
    assert np.array_equal(packed.read(np.arange(9)), codes) and packed.nbytes(9) == -(-9 * 30 // 8)
    x, _ = items(4)
    assert np.array_equal(codec.encode(x), codec.model.logits(x).argmax(-1).numpy())


def test_gumbel_is_hard_forward_and_soft_backward() -> None:
    logits = torch.randn(4, 7, 5, requires_grad=True)
    z = gumbel_softmax_hard(logits, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(z.detach().sum(-1), torch.ones(4, 7)) and set(z.detach().unique().tolist()) == {0.0, 1.0}
    (z * torch.randn(4, 7, 5)).sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0
    model = DiscreteVAE(DVAEConfig((1, 28, 28), 6, 4), torch.Generator().manual_seed(0))
    model.loss(torch.rand(2, 1, 28, 28), torch.Generator().manual_seed(1)).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.encoder.parameters())


def test_dvae_init_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a = RecollectionStore(Budget(10**5), (1, 28, 28), 10, seed=3).model.state_dict()
    assert torch.equal(state, torch.random.get_rng_state())
    b = RecollectionStore(Budget(10**5), (1, 28, 28), 10, seed=3).model.state_dict()
    c = RecollectionStore(Budget(10**5), (1, 28, 28), 10, seed=4).model.state_dict()
    assert state_equal(a, b) and not state_equal(a, c)
    assert DVAEConfig((1, 28, 28), 38, 2).filters == 19 and DVAEConfig((1, 28, 28), 7, 3).filters == 6


def test_total_storage_charges_exactly_param_bits() -> None:
    shape, budget_bits = (1, 28, 28), 2_000_000
    free = RecollectionStore(Budget(budget_bits), shape, 10, latents=38, classes=2, seed=0)
    total = RecollectionStore(Budget(budget_bits, charge_models=True), shape, 10, latents=38, classes=2, seed=0)
    model = param_bits(total.model)
    assert model == 32 * DVAEConfig(shape, 38, 2).num_params == total.model_bits()
    assert free.capacity == budget_bits // 42 and total.capacity == (budget_bits - model) // 42
    total.write(*items(50, shape))
    ledger = total.ledger()
    assert ledger.models == model and ledger.charged(total.budget) == model + len(total) * 42
    with pytest.raises(BudgetTooSmallError, match="models"):
        RecollectionStore(Budget(model, charge_models=True), shape, 10, latents=38, classes=2, seed=0)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 5, 9)])
def test_every_class_of_a_latent_has_its_own_logit(shape: tuple[int, int, int]) -> None:
    # 8×8 digits once reached a 1×1 code map spread over 2×2: a latent's classes shared one logit, so every code was 0
    model = DiscreteVAE(DVAEConfig(shape, 16, 4), torch.Generator().manual_seed(0))
    logits = model.logits(torch.rand(3, *shape, generator=torch.Generator().manual_seed(1)))
    assert logits.shape == (3, 16, 4) and bool((logits.std(-1) > 0).all())
    assert model.decode(model.encode(torch.rand(2, *shape))).shape == (2, *shape)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_a_4x4_code_map_holds_a_code_16_filters_wide(shape: tuple[int, int, int]) -> None:
    config = DVAEConfig(shape, 64, 4, code_side=4)  # c·l = 256 on a 4×4 map: 16 filters, not the paper's 64
    model = DiscreteVAE(config, torch.Generator().manual_seed(0))
    assert config.filters == 16 and config.num_params == sum(p.numel() for p in model.parameters())
    logits = model.logits(torch.rand(3, *shape, generator=torch.Generator().manual_seed(1)))
    assert logits.shape == (3, 64, 4) and bool((logits.std(-1) > 0).all())
    assert model.decode(model.encode(torch.rand(2, *shape))).shape == (2, *shape)
    paper = DiscreteVAE(DVAEConfig(shape, 64, 4), torch.Generator().manual_seed(0))
    assert paper.config.filters == 64 and paper.config.code_side == 2  # the default is the paper's 2×2 map
    with pytest.raises(InvalidInputError, match="code_side"):
        DVAEConfig(shape, 64, 4, code_side=3)


def test_latent_design_hand_computed() -> None:
    # 1000 bits for 10 items (ρ = 10/100): 100 bits each, 4 of label, 96 for the code. Every power of two gives
    # C = 96; the smaller network c·l (192 for (96,2) and (48,4)) then the smaller c pick (48, 4).
    design = design_latents(Budget(1000), 100, 10, (1, 28, 28), 10, classes=(2, 3, 4, 8))
    assert (design.latents, design.classes, design.item_bits, design.items) == (48, 4, 100, 10)
    assert design.capacity_bits == 96 and design.stored_fraction == 0.1
    # l = 3 alone: ceil(log2 3) = 2 bits per latent, c = 48, C = 48·log2 3.
    only3 = design_latents(Budget(1000), 100, 10, (1, 28, 28), 10, classes=(3,))
    assert (only3.latents, only3.classes) == (48, 3)
    # eq. 5: the dVAE's bits come first; (c, l) shrinks until items·S + |θ|·32 fits.
    budget = Budget(2_000_000, charge_models=True)
    eq5 = design_latents(budget, 10_000, 1000, (1, 28, 28), 10, classes=(2,))
    used = 1000 * eq5.item_bits + 32 * DVAEConfig((1, 28, 28), eq5.latents, 2).num_params
    over = 1000 * (eq5.item_bits + 1) + 32 * DVAEConfig((1, 28, 28), eq5.latents + 1, 2).num_params
    assert used <= budget.bits < over and eq5.model_bits > 0 and eq5.items >= 1000


def test_default_latents_follow_the_budget_and_the_stream_length() -> None:
    shape = (1, 28, 28)
    budget = Budget.images(100, shape, 10)  # 627,600 bits: 100 raw images
    store = RecollectionStore(budget, shape, 10, seed=0)
    design = default_latents(budget, shape, 10)
    assert (store.latents, store.classes) == (design.latents, design.classes)
    # 50 × the 100 raw images: 5,000 items of at most 125 bits (4 of them the label), at most 64 filters
    assert design.items >= 5000 and design.item_bits <= 627_600 // 5000
    assert design.latents * design.classes <= 256 and store.capacity == design.items
    # a stream of 2,000 items: every one held, with wider codes; a stream longer than 50× changes nothing
    short = default_latents(budget, shape, 10, expected_items=2000)
    assert short.items >= 2000 and short.capacity_bits > design.capacity_bits
    assert default_latents(budget, shape, 10, expected_items=10**6) == design
    assert RecollectionStore(budget, shape, 10, expected_items=2000, seed=0).latents == short.latents
    # small images keep 64-bit codes at least, holding fewer of them
    tiny = default_latents(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10)
    assert tiny.item_bits - label_bits(10) >= 64 - 3  # 64 code bits, less what index_bits(l) rounds away
    assert design.code_side == tiny.code_side == store.code_side == 2  # codes the 2×2 map holds keep it


def test_default_latents_widen_the_code_map_only_for_codes_the_2x2_cap_cannot_hold() -> None:
    shape = (3, 32, 32)
    budget = Budget.images(100, shape, 10)  # 50 × 100 items of about 490 bits: more than c·l ≤ 256 holds
    # colour items carry their channel ranges by default (decision 0036)
    wide, paper = (default_latents(budget, shape, 10, ranges=True, code_side=side) for side in (None, 2))
    assert wide.code_side == 4 and 256 < wide.latents * wide.classes <= 16 * 64
    assert paper.code_side == 2 and paper.latents * paper.classes <= 256
    assert wide.capacity_bits > 3 * paper.capacity_bits and wide.items >= 5000
    store = RecollectionStore(budget, shape, 10, seed=0)
    assert (store.latents, store.classes, store.code_side) == (wide.latents, wide.classes, 4)
    assert store.model.config.filters <= 64
    assert RecollectionStore(budget, shape, 10, seed=0, code_side=2).latents == paper.latents
    assert RecollectionStore(budget, shape, 10, latents=38, classes=2, seed=0).code_side == 2  # given (c, l)
    for bad in (3, 4.0, True, "4"):
        with pytest.raises(InvalidInputError, match="code_side"):
            RecollectionStore(budget, shape, 10, seed=0, code_side=bad)  # type: ignore[arg-type]


def test_a_4x4_code_map_is_saved_and_configs_without_it_reopen_on_2x2(tmp_path: Any) -> None:
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, code_side=4, seed=0)
    store.write(*items(6))
    store.save(tmp_path / "s")
    reopened = open_store(tmp_path / "s")
    assert reopened.code_side == 4 and reopened.model.config.filters == 1
    assert torch.equal(reopened.sample(4, generator=torch.Generator().manual_seed(2)).x,
                       store.sample(4, generator=torch.Generator().manual_seed(2)).x)
    config = store.config()
    del config["codec"]["code_side"]  # as saved before decision 0029
    assert RecollectionStore.from_config(config).code_side == 2


def test_latent_design_bad_arguments() -> None:
    shape = (1, 28, 28)
    with pytest.raises(InvalidInputError, match="both latents and classes"):
        RecollectionStore(Budget.images(10, shape, 10), shape, 10, latents=38)
    with pytest.raises(BudgetTooSmallError, match="no latent shape fits"):
        RecollectionStore(Budget(3), shape, 10)  # not even one 1-bit code beside its 4-bit label
    with pytest.raises(InvalidInputError, match="Stabilisation"):
        Stabilisation(steps=1.5)  # type: ignore[arg-type]
    for bad in (0, -5, 2.5):
        with pytest.raises(InvalidInputError, match="expected_items"):
            RecollectionStore(Budget.images(10, shape, 10), shape, 10, expected_items=bad)  # type: ignore[arg-type]
    capped = design_latents(Budget(10**6), 100, 100, shape, 10, classes=(2,), max_filters=8)
    assert (capped.latents, capped.classes) == (16, 2)  # c·l ≤ 4·8
    for options in ({"classes": [1]}, {"classes": []}, {"max_filters": 2.5}, {"ranges": "yes"}):
        with pytest.raises(InvalidInputError):
            design_latents(Budget(10**6), 100, 100, shape, 10, **options)
    for items_held, budget in ((1.5, Budget(10**6)), (100, "bits")):
        with pytest.raises(InvalidInputError):
            design_latents(budget, 100, items_held, shape, 10)  # type: ignore[arg-type]


def test_default_stabilisation_takes_one_step_per_incoming_item() -> None:
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, stabilisation=Stabilisation(batch_size=4))
    store.write(*items(6))
    store.write(*items(5, seed=1))
    assert store.recollections_used == 5 * 4  # the second write: 5 items, 5 steps of 4 recollections each


def test_warmup_front_loads_extra_steps_until_spent() -> None:
    settings = Stabilisation(warmup_steps=25, warmup_per_item=4)
    assert [settings.steps_for(5, seen) for seen in (0, 5, 10, 15)] == [5 + 20, 5 + 5, 5, 5]  # 20 + 5 = 25 spent
    assert Stabilisation(steps=2, warmup_steps=3, warmup_per_item=1).steps_for(10, 0) == 2 + 3
    assert Stabilisation().steps_for(7, 10**6) == 7  # no warm-up by default: one step per incoming item
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0,
                              stabilisation=Stabilisation(batch_size=4, warmup_steps=10, warmup_per_item=2))
    store.write(*items(4))  # 4 + 8 steps, from an empty buffer
    store.write(*items(3, seed=1))  # 3 + the 2 warm-up steps left, 4 recollections each
    assert store.recollections_used == (3 + 2) * 4
    for bad in ({"warmup_steps": -1}, {"warmup_per_item": 1.5}):
        with pytest.raises(InvalidInputError, match="Stabilisation.warmup"):
            Stabilisation(**bad)  # type: ignore[arg-type]


def test_colour_items_warm_up_by_default_and_one_channel_does_not(tmp_path) -> None:
    from memstore import EntropyCodedRecollectionStore
    from memstore.stores.stabilisation import COLOUR_WARMUP_STEPS

    colour, grey = (3, 8, 8), (1, 8, 8)
    for store_type in (RecollectionStore, EntropyCodedRecollectionStore):
        assert store_type(Budget(10**5), colour, 10, **TINY, seed=0).stabilisation.warmup_steps == COLOUR_WARMUP_STEPS
        assert store_type(Budget(10**5), grey, 10, **TINY, seed=0).stabilisation.warmup_steps == 0
    assert Stabilisation().warmup_steps is None  # the store chooses (decision 0038)
    given = RecollectionStore(Budget(10**5), colour, 10, **TINY, seed=0, stabilisation=Stabilisation(warmup_steps=0))
    assert given.stabilisation.warmup_steps == 0  # an explicit choice is kept
    pretrained = RecollectionStore(Budget(10**5), colour, 10, **TINY, seed=0, dvae=given.model.state_dict())
    assert pretrained.stabilisation.warmup_steps == 0  # a trained dVAE writes good codes from the first item
    store = RecollectionStore(Budget(10**5), colour, 10, **TINY, seed=0, stabilisation=Stabilisation(batch_size=2))
    store.write(*items(3, colour))
    assert store.recollections_used == 0  # an empty buffer has no recollections: the steps train on x alone
    store.write(*items(2, colour, seed=1))
    assert store.recollections_used == (2 + 9 * 2) * 2  # one step per item plus the warm-up's 9, 2 recollections each
    store.save(tmp_path / "colour.zarr")
    assert open_store(tmp_path / "colour.zarr").stabilisation.warmup_steps == COLOUR_WARMUP_STEPS


def test_stores_saved_before_the_warmup_and_the_anchor_reopen_without_them() -> None:
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0)
    config = store.config()
    for key in ("warmup_steps", "warmup_per_item", "anchor_every"):
        del config["stabilisation"][key]
    settings = RecollectionStore.decode_config(config)["stabilisation"]
    assert (settings.warmup_steps, settings.anchor_every) == (0, 0)  # as they ran
    assert Stabilisation().anchor_every == 100 and not Stabilisation().refresh  # what a new store gets (0028)


class TestAnchoredRecollectionStore(TestRecollectionStore):
    """The conformance suite again with the warm-up and the anchor on (a snapshot every 4 items seen)."""

    stateful_examples = 6

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int,
                   **options: Any) -> RecollectionStore:
        settings = Stabilisation(batch_size=3, warmup_steps=6, warmup_per_item=2, anchor_every=4, refresh=False)
        return RecollectionStore(budget, item_shape, num_classes, **TINY, stabilisation=settings, **options)


class TestWideCodeMapRecollectionStore(TestRecollectionStore):
    """The conformance suite again on the 4×4 code map (decision 0029: the default where codes outgrow the 2×2 one)."""

    stateful_examples = 6

    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int,
                   **options: Any) -> RecollectionStore:
        return RecollectionStore(budget, item_shape, num_classes, **TINY, code_side=4, **options)


def test_anchor_decodes_recollections_and_trains_the_decoder_on_their_codes() -> None:
    settings = Stabilisation(steps=1, batch_size=4, refresh=False, anchor_every=8)
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, stabilisation=settings)
    store.write(*items(6))
    assert store.anchor is None  # 6 items seen: no multiple of 8 crossed yet
    store.write(*items(4, seed=1))  # crosses 8: the write ends by taking the anchor
    assert store.anchor is not None and state_equal(store.anchor.state_dict(), store.model.state_dict())
    assert not any(p.requires_grad for p in store.anchor.parameters())
    anchor_state = {k: v.clone() for k, v in store.anchor.state_dict().items()}
    steps: list[tuple[Any, Any]] = []
    real = store.codec.train_step
    store.codec.train_step = lambda x, g, anchored=None, **kw: steps.append(anchored) or real(x, g, anchored, **kw)
    store.write(*items(2, seed=2))  # 12 items seen: no new anchor, so the step's targets are the anchor's
    codes, targets = steps[0]
    assert codes.shape == (4, 5)
    torch.testing.assert_close(targets, store.anchor.decode(codes))
    assert state_equal(anchor_state, store.anchor.state_dict())
    assert not state_equal(anchor_state, store.model.state_dict())  # the dVAE itself moved on


def test_anchor_survives_save_and_open(tmp_path: Any) -> None:
    settings = Stabilisation(steps=1, batch_size=4, refresh=False, anchor_every=5, anchor_weight=3.0)
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, stabilisation=settings)
    store.write(*items(6))
    store.write(*items(3, seed=1))
    store.save(tmp_path / "m.zarr")
    again = open_store(tmp_path / "m.zarr")
    assert again.stabilisation == store.stabilisation and again.stabilisation.anchor_weight == 3.0
    assert again.anchor is not None and state_equal(again.anchor.state_dict(), store.anchor.state_dict())
    for copy in (store, again):
        copy.write(*items(4, seed=2))
    assert state_equal(again.model.state_dict(), store.model.state_dict())
    assert state_equal(again.anchor.state_dict(), store.anchor.state_dict())


@pytest.mark.parametrize("refresh", [True, False])
def test_refresh_re_encodes_the_recollections_with_the_updated_encoder(refresh: bool) -> None:
    settings = Stabilisation(steps=1, batch_size=4, refresh=refresh)
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, stabilisation=settings)
    store.write(*items(8))
    stale = np.random.default_rng(0).integers(0, 3, size=(8, 5))  # codes no encoder of this dVAE gave
    store._payload.set(np.arange(8), stale)
    before = store._payload.get(np.arange(8)).copy()
    decoded: list[tuple[np.ndarray, torch.Tensor]] = []
    real = store._get
    store._get = lambda slots: decoded.append((slots.copy(), real(slots))) or decoded[-1][1]  # type: ignore
    store.write(*items(2, seed=1))
    slots, recollections = decoded[0]  # the one recollection set, decoded before the Adam step
    after = store._payload.get(np.arange(8))
    untouched = np.setdiff1d(np.arange(8), slots)
    np.testing.assert_array_equal(after[untouched], before[untouched])
    expected = store.codec.encode(recollections) if refresh else before[slots]
    np.testing.assert_array_equal(after[slots], expected)
    assert refresh == (not np.array_equal(after, before))  # re-encoding changed some of the stale codes


def test_write_trains_the_dvae_on_buffer_recollections() -> None:
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0,
                              stabilisation=Stabilisation(steps=2, batch_size=4))
    first = {k: v.clone() for k, v in store.model.state_dict().items()}
    store.write(*items(6))
    assert store.recollections_used == 0  # empty buffer: only the incoming items
    assert not state_equal(first, store.model.state_dict())
    decoded: list[int] = []
    real = store._get
    store._get = lambda slots: decoded.append(len(slots)) or real(slots)  # type: ignore[method-assign]
    store.write(*items(6, seed=1))
    assert store.recollections_used == 8 and decoded[:2] == [4, 4]  # N = 2 batches of 4 decoded from the buffer


def test_code_sampling_uses_random_codes() -> None:
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0,
                              stabilisation=Stabilisation(steps=1, code_sampling=True, batch_size=3))
    store.write(*items(6))
    assert store.recollections_used == 3  # random codes exist before any item is stored
    assert store.recollect(5, code_sampling=True).shape == (5, 1, 8, 8)


def test_zarr_payload_reads_only_the_chunks_it_needs(tmp_path: Any) -> None:
    counting = CountingStore(zarr.storage.LocalStore(str(tmp_path / "live")))
    payload = ZarrPackedArray(1000, 38, 1, store=counting, chunk_bytes=19)  # 4 rows (152 bits = 19 bytes) per chunk
    assert payload.rows_per_chunk == 4
    values = np.random.default_rng(0).integers(0, 2, (1000, 38))
    payload.set(np.arange(1000), values)
    counting.gets.clear()
    read_before = payload.chunks_read
    got = payload.get(np.array([5, 6, 401, 999]))  # chunks 1, 100, 249
    assert np.array_equal(got, values[[5, 6, 401, 999]])
    assert sorted(counting.gets) == ["c/1", "c/100", "c/249"] and payload.chunks_read == read_before + 3
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, path=tmp_path / "store")
    store.write(*items(30))
    assert any((tmp_path / "store").rglob("c/*"))  # the live bitstream is on disk
    before = store.chunks_read
    store.sample(1)
    assert store.chunks_read == before + 1


def test_save_open_restores_dvae_and_continues_identically(tmp_path: Any) -> None:
    store = RecollectionStore(Budget(10**5, charge_models=True), (1, 8, 8), 10, **TINY, seed=2)
    store.write(*items(30))
    store.save(tmp_path / "s")
    reopened = open_store(tmp_path / "s")
    assert isinstance(reopened, RecollectionStore) and state_equal(store.state_dict(), reopened.state_dict())
    assert reopened.ledger() == store.ledger() and reopened.ledger().models == store.model_bits()
    for s in (store, reopened):
        s.write(*items(10, seed=5))
    assert state_equal(store.state_dict(), reopened.state_dict())  # Adam moments and generator restored too
    assert torch.equal(store.sample(5, generator=torch.Generator().manual_seed(0)).x,
                       reopened.sample(5, generator=torch.Generator().manual_seed(0)).x)


def test_warm_start_from_a_pretrained_dvae() -> None:
    pretrained = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3), torch.Generator().manual_seed(9))
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, dvae=pretrained)
    assert state_equal(store.model.state_dict(), pretrained.state_dict())


def test_bad_optimiser_state_is_refused_and_changes_nothing() -> None:
    from memstore.errors import InvalidInputError
    from memstore.testing import state_equal

    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, seed=0)
    store.write(*items(10))
    fresh = RecollectionStore(Budget(10**5), (1, 8, 8), 10, seed=1)
    before = fresh.state_dict()
    state = store.state_dict()
    name = next(iter(state["adam"]["exp_avg"]))
    state["adam"]["exp_avg"][name] = torch.zeros(3)
    with pytest.raises(InvalidInputError, match="adam"):
        fresh.load_state_dict(state)
    assert state_equal(before, fresh.state_dict())


def test_the_learned_codec_owns_its_optimiser_and_training_step() -> None:
    codec = DVAECodec((1, 8, 8), 5, 3, seed=0, lr=1e-2)
    before = {k: v.clone() for k, v in codec.model.state_dict().items()}
    codec.train_step(items(8)[0], torch.Generator().manual_seed(0))
    assert not state_equal(before, codec.model.state_dict())
    state = codec.training_state()
    assert state["steps"] == 1 and state["exp_avg"].keys() == dict(codec.model.named_parameters()).keys()
    rebuilt = codec.optimiser_from(state)
    param = next(codec.model.parameters())
    assert torch.equal(rebuilt.state[param]["exp_avg_sq"], codec.optimiser.state[param]["exp_avg_sq"])
    assert rebuilt.param_groups[0]["lr"] == 1e-2
    bad = {**state, "exp_avg": {name: torch.zeros(1) for name in state["exp_avg"]}}
    with pytest.raises(InvalidInputError, match="moments"):
        codec.optimiser_from(bad)
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0)
    assert store.optimiser is store.codec.optimiser and store.learned_codec is store.codec


def test_config_nests_the_codec_config_and_still_reads_flat_ones() -> None:
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0)
    config = store.config()
    assert config["codec"] == store.codec.get_config() and "latents" not in config
    assert (RecollectionStore.from_config(config).latents, RecollectionStore.from_config(config).classes) == (5, 3)
    flat = {key: value for key, value in config.items() if key != "codec"}  # as stores saved before it was nested
    old_settings = {key: value for key, value in config["stabilisation"].items() if key != "refresh"}
    flat.update(latents=5, classes=3, tau=1.0, stabilisation=old_settings)
    assert RecollectionStore.from_config(flat).config() == {**config, "stabilisation": {**config["stabilisation"],
                                                                                      "refresh": False}}
    with pytest.raises(InvalidInputError, match="not a dVAE codec"):
        RecollectionStore.from_config({**config, "codec": {"id": "jpeg"}})
    with pytest.raises(InvalidInputError, match="item_shape"):
        RecollectionStore.from_config({**config, "codec": {**config["codec"], "item_shape": [1, 9, 9]}})


@pytest.mark.parametrize("option", ["path", "device", "dvae"])
def test_a_saved_config_naming_a_runtime_option_is_refused_and_touches_nothing(tmp_path: Any, option: str) -> None:
    from memstore.errors import CorruptStoreError

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=2)
    store.write(*items(12))
    store.save(tmp_path / "s")
    root = zarr.open_group(str(tmp_path / "s"), mode="r+")
    generation = root[root.attrs["memstore"]["current"]]
    value = {"path": str(victim), "device": "meta", "dvae": {}}[option]
    generation.attrs["config"] = {**generation.attrs["config"], option: value}
    with pytest.raises(CorruptStoreError, match="digest"):  # a changed attribute fails the digest first
        open_store(tmp_path / "s")
    # the digest is no signature: a crafter can recompute it, and the runtime-option rule still refuses the file
    meta = root.attrs["memstore"]
    root.attrs["memstore"] = {**meta, "digest": integrity.digest(meta, generation.attrs.asdict())}
    with pytest.raises(CorruptStoreError, match=option):
        open_store(tmp_path / "s")
    assert (victim / "keep.txt").read_text() == "mine" and sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


def test_two_live_stores_on_one_working_path_are_refused(tmp_path: Any) -> None:
    first = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=2, path=tmp_path / "work")
    first.write(*items(12))
    with pytest.raises(InvalidInputError, match="another live store"):
        RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=3, path=tmp_path / "work")
    assert len(first) == 12 and len(first.sample(12)) == 12  # the first one's payload is untouched
    del first  # dropped by its user: the path is free again
    again = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=3, path=tmp_path / "work")
    assert len(again) == 0


def test_pretrained_weights_that_are_not_finite_are_refused() -> None:
    from memstore.errors import NonFiniteError

    trained = RecollectionStore(Budget(3000), (1, 8, 8), 10, latents=5, classes=3, seed=0)
    weights = {name: value * float("nan") for name, value in trained.model.state_dict().items()}
    with pytest.raises(NonFiniteError, match="NaN"):
        RecollectionStore(Budget(3000), (1, 8, 8), 10, latents=5, classes=3, seed=0, dvae=weights)


@pytest.mark.parametrize("n, options", [(-1, {}), (1.5, {}), (2, {"generator": 5}), (2, {"code_sampling": "x"})],
                         ids=["negative", "float", "generator-int", "sampling-text"])
def test_recollect_refuses_bad_arguments(n: Any, options: dict) -> None:
    from memstore.errors import InvalidInputError

    store = RecollectionStore(Budget(3000), (1, 8, 8), 10, latents=5, classes=3, seed=0)
    with pytest.raises(InvalidInputError):
        store.recollect(n, **options)
