"""Specs with parameters: ``name:field=value,...`` resolves to the registered spec with those fields replaced."""

from __future__ import annotations

import pytest

from benchmarks.parameters import resolve, split_names
from benchmarks.runner import Grid, key_fields
from benchmarks.specs import LEARNERS, SETTINGS, STORES, BudgetSpec, LosslessSpec, MLPSpec, RecollectionSpec
from benchmarks.stream_length import with_stream_length
from benchmarks.streams import Split


def test_a_registered_name_resolves_to_its_spec() -> None:
    assert resolve("lossless", STORES, "store") is STORES["lossless"]


def test_parameters_replace_fields_by_their_types() -> None:
    assert resolve("lossless:codec=png,level=6,quantise=false", STORES, "store") == LosslessSpec("png", 6, False)
    assert resolve("lossless:level=none", STORES, "store") == LosslessSpec(level=None)
    spec = resolve("recollection:latents=38,classes=2,steps=4,lr=3e-3,per_task=yes,anchor_every=0", STORES, "store")
    assert spec == RecollectionSpec(38, 2, steps=4, lr=3e-3, per_task=True, refresh=False, anchor_every=0)
    defaults = resolve("recollection", STORES, "store")
    assert (defaults.refresh, defaults.anchor_every) == (False, 100)  # decision 0028
    assert defaults.warmup_steps is None  # the store's choice: 5,000 on colour items, none on one channel (0038)
    recorded = resolve("recollection:refresh=true,anchor_every=0", STORES, "store")  # the cells before 0028
    assert (recorded.refresh, recorded.anchor_every) == (True, 0)


def test_the_recollection_spec_passes_its_stabilisation_to_the_store() -> None:
    from memstore import Budget, Stabilisation

    spec = resolve("recollection:latents=5,classes=3,anchor_every=7,warmup_steps=3,warmup_per_item=2,anchor_weight=2.5",
                   STORES, "store")
    store = spec.build(Budget(10**4), (1, 8, 8), 10, seed=0, num_tasks=None)
    assert store.stabilisation == Stabilisation(anchor_every=7, warmup_steps=3, warmup_per_item=2, anchor_weight=2.5)
    assert "anchor_weight" not in key_fields(resolve("recollection", STORES, "store"))  # recorded cells keep keys
    assert key_fields(spec)["anchor_weight"] == 2.5
    colour = (3, 32, 32)  # decision 0029: the budget picks a 4×4 code map here unless the spec pins the paper's
    budget = Budget.images(100, colour, 10)
    default = resolve("recollection", STORES, "store").build(budget, colour, 10, seed=0, num_tasks=None)
    assert default.code_side == 4 and default.stabilisation.warmup_steps == 5000  # decision 0038
    pinned = resolve("recollection:code_side=2", STORES, "store").build(budget, colour, 10, seed=0, num_tasks=None)
    assert pinned.code_side == 2 and pinned.latents * pinned.classes <= 256


@pytest.mark.parametrize("text, message", [
    ("jpg", "unknown store 'jpg'"),
    ("lossless:colour=3", r"parameters are \['codec', 'level', 'quantise'\]"),
    ("lossless:level", "key=value"),
    ("lossless:level=high", "cannot read level='high' as int"),
    ("lossless:quantise=maybe", "cannot read quantise='maybe' as bool"),
    ("dgma:variant=dgmw", "cannot make it another store"),
    ("dgmw:variant=dgmx", "variant must be 'dgmw' or 'dgma'"),
])
def test_bad_specs_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(text, STORES, "store")


def test_comma_lists_keep_parameter_lists_together() -> None:
    assert split_names("raw, lossless:codec=png,level=6 ,jpeg,") == ("raw", "lossless:codec=png,level=6", "jpeg")
    assert split_names("er,naive") == ("er", "naive")


def test_grids_check_and_build_parameterised_cells() -> None:
    grid = Grid("digits", Split(), SETTINGS["mir"], MLPSpec((10,)), ("lossless:codec=png",), (BudgetSpec(images=5),),
                ("er",), (0,))
    assert [cell.store for cell in grid.cells()] == ["lossless:codec=png"]
    with pytest.raises(ValueError, match="unknown learner"):
        Grid("digits", Split(), SETTINGS["mir"], MLPSpec((10,)), ("raw",), (BudgetSpec(images=5),), ("err",), (0,))
    assert "er" in LEARNERS


def test_lossless_spec_refuses_a_level_without_a_codec() -> None:
    from memstore import Budget

    with pytest.raises(ValueError, match="zstd or png"):
        LosslessSpec(level=3).build(Budget.images(5, (1, 8, 8), 10), (1, 8, 8), 10, seed=0, num_tasks=None)


def test_jpeg_auto_quality_is_chosen_from_the_first_task() -> None:
    from memstore import Budget

    from benchmarks.datasets import load_digits

    spec = resolve("jpeg:quality=auto", STORES, "store")
    budget = Budget.images(20, (1, 8, 8), 10)
    x = load_digits().train_x[:200]
    store = spec.build(budget, (1, 8, 8), 10, seed=0, num_tasks=None, calibration=x)
    assert store.quality == store.quality_choice.quality and store.quality_choice.items
    fixed = resolve("jpeg:quality=30", STORES, "store").build(budget, (1, 8, 8), 10, seed=0, num_tasks=None)
    assert fixed.quality == 30
    with pytest.raises(ValueError, match="first task's inputs"):
        spec.build(budget, (1, 8, 8), 10, seed=0, num_tasks=None)
    with pytest.raises(ValueError, match="'auto'"):
        resolve("jpeg:quality=best", STORES, "store")
    big = Budget.images(400, (1, 8, 8), 10)  # q25 fits about 1,300 digits here, q95 about 400
    streamed = resolve("jpeg:quality=auto,expected_items=200", STORES, "store")
    capped = streamed.build(big, (1, 8, 8), 10, seed=0, num_tasks=None, calibration=x)
    uncapped = spec.build(big, (1, 8, 8), 10, seed=0, num_tasks=None, calibration=x)
    assert capped.quality == 95 and uncapped.quality < 95  # every quality holds the 200 items: the best one
    assert capped.quality_choice.expected_items == 200
    with pytest.raises(ValueError, match="with jpeg:quality=auto"):  # refused as the spec is read, before any cell
        resolve("jpeg:quality=30,expected_items=200", STORES, "store")
    with pytest.raises(ValueError, match="expected_items must be in"):
        resolve("jpeg:quality=auto,expected_items=0", STORES, "store")


@pytest.mark.parametrize("name", ["jpeg:quality=auto", "recollection"])
def test_expected_items_stream_is_read_as_the_runners_to_fill_in(name) -> None:
    from benchmarks.datasets import load_digits
    from memstore import Budget

    spec = resolve(f"{name},expected_items=stream" if ":" in name else f"{name}:expected_items=stream", STORES,
                   "store")
    assert spec.expected_items == "stream"
    assert with_stream_length(spec, 5000).expected_items == 5000
    assert with_stream_length(STORES["raw"], 5000) is STORES["raw"]  # a store without the field is left alone
    budget = Budget.images(20, (1, 8, 8), 10)
    with pytest.raises(ValueError, match="runner's to fill in"):  # built outside the runner: said, not guessed
        spec.build(budget, (1, 8, 8), 10, seed=0, num_tasks=None, calibration=load_digits().train_x[:100])
    with pytest.raises(ValueError, match="positive int or 'stream'"):
        resolve(f"{name},expected_items=streams" if ":" in name else f"{name}:expected_items=streams", STORES,
                "store")


def test_gmed_specs_name_their_direction_and_sign():
    from benchmarks.specs import LEARNERS
    from learners import GradientDirection, RandomDirection, SlotDirection

    editor = resolve("er-gmed:random_edit=true,per_slot=true", LEARNERS, "learner").editor()
    assert isinstance(editor.direction, SlotDirection) and not editor.official_sign
    assert editor.direction.keep_norm  # the same stride convention as the other random edit
    fixed = resolve("er-gmed:alpha=0.1,random_edit=true,fixed_stride=true,per_slot=true", LEARNERS, "learner").editor()
    assert isinstance(fixed.direction, SlotDirection) and not fixed.direction.keep_norm
    assert isinstance(resolve("er-gmed:random_edit=true", LEARNERS, "learner").editor().direction, RandomDirection)
    plain = resolve("er-gmed:official_sign=true", LEARNERS, "learner").editor()
    assert isinstance(plain.direction, GradientDirection) and plain.official_sign
    with pytest.raises(ValueError, match="per_slot is a random-edit direction"):
        resolve("er-gmed:per_slot=true", LEARNERS, "learner").editor()


def test_self_recall_takes_the_official_divergence_and_no_clamp():
    from memstore import Budget

    store = resolve("self-recall:divergence_form=official,clamp=false", STORES, "store").build(
        Budget(0), (1, 8, 8), 10, seed=0, num_tasks=5)
    assert store.objective.divergence_form == "official" and not store.objective.clamp
    assert resolve("self-recall", STORES, "store").build(Budget(0), (1, 8, 8), 10, seed=0,
                                                         num_tasks=5).objective.divergence_form == "js"


def test_xavier_init_is_seeded_has_zero_biases_and_leaves_the_global_rng_alone():
    import math

    import torch

    state = torch.random.get_rng_state()
    a, b = (MLPSpec((32,), init="xavier").seeded((1, 8, 8), 10, seed=3) for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    for la, lb in zip(a, b, strict=True):
        if isinstance(la, torch.nn.Linear):
            assert torch.equal(la.weight, lb.weight) and not la.bias.any()
            bound = math.sqrt(6 / (la.in_features + la.out_features))
            assert float(la.weight.detach().abs().max()) <= bound
    default = MLPSpec((32,)).seeded((1, 8, 8), 10, seed=3)
    assert default[1].bias.any()  # PyTorch's default init draws biases
    with pytest.raises(ValueError, match="init"):
        MLPSpec((32,), init="he")
