"""The choosers of a store's codec from the first task (:func:`choose_quality`, :func:`choose_lossless` and the
stores' ``auto``): bad arguments are typed errors, and a first task without any volume still gets a choice."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from memstore import Budget, JPEGStore, LosslessStore, choose_lossless, choose_quality
from memstore.codecs.lossless import PNGCodec, ZstdCodec
from memstore.errors import InvalidInputError

SHAPE = (1, 8, 8)
BUDGET = Budget.images(20, SHAPE, 4)


def first_task(n: int = 12) -> torch.Tensor:
    return torch.round(torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(0)) * 255) / 255


def test_an_all_black_first_task_gets_the_quality_that_fits_most_of_those_that_keep_it_black() -> None:
    choice = choose_quality(BUDGET, 4, torch.zeros(6, *SHAPE))
    assert set(choice.volume_ratio) <= {1.0, float("inf")} and 1.0 in choice.volume_ratio  # kept, or given volume
    kept = [items for items, ratio in zip(choice.items, choice.volume_ratio) if ratio == 1.0]
    assert choice.volume_ratio[choice.candidates.index(choice.quality)] == 1.0
    assert choice.items[choice.candidates.index(choice.quality)] == max(kept)
    assert JPEGStore.auto(BUDGET, SHAPE, 4, torch.zeros(6, *SHAPE)).quality == choice.quality


def test_candidates_may_be_any_iterable() -> None:
    listed = choose_quality(BUDGET, 4, first_task(), candidates=[50, 90])
    assert choose_quality(BUDGET, 4, first_task(), candidates=(q for q in (50, 90))) == listed
    default = choose_lossless(first_task())
    given = choose_lossless(first_task(), candidates=(c for c in (ZstdCodec(SHAPE), PNGCodec(SHAPE))))
    assert given.mean_bytes == default.mean_bytes and given.candidates == default.candidates


@pytest.mark.parametrize("call", [
    lambda x: choose_quality(BUDGET, 4, x, probe=0),
    lambda x: choose_quality(BUDGET, 4, x, candidates=[]),
    lambda x: choose_quality(BUDGET, 4, x, epsilon=float("nan")),
    lambda x: choose_quality(BUDGET, 4, x, generator=5),
    lambda x: choose_quality(BUDGET, 4, x * float("nan")),
    lambda x: choose_quality(BUDGET, 4, x * 2),
    lambda x: choose_quality(BUDGET, 4, x.double()),
    lambda x: JPEGStore.auto(BUDGET, SHAPE, 4, x, seed=1.5),
    lambda x: JPEGStore.auto(BUDGET, (3, 8, 8), 4, x),
    lambda x: choose_lossless(x, probe=0),
    lambda x: choose_lossless(x, candidates=[]),
    lambda x: choose_lossless(x, generator=5),
    lambda x: choose_lossless(x - 1),
    lambda x: LosslessStore.auto(BUDGET, SHAPE, 4, x, seed=1.5),
    lambda x: LosslessStore.auto(BUDGET, (1, 4, 4), 4, x),
], ids=["probe-0", "no-candidates", "epsilon-nan", "generator-int", "nan-items", "items-above-1", "float64",
        "auto-seed-float", "auto-other-shape", "lossless-probe-0", "lossless-no-candidates", "lossless-generator-int",
        "lossless-negative", "lossless-auto-seed-float", "lossless-auto-other-shape"])
def test_bad_arguments_are_typed_errors(call: Any) -> None:
    with pytest.raises(InvalidInputError):
        call(first_task())
