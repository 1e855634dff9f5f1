"""Bad arguments to the public helpers, codecs and learners raise memstore's typed errors (still ``ValueError``s),
and the randomness a method draws comes from an injected generator, never the global stream."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from learners import AGEM, ER, GEM, MIR, GMEDEdit, LwF, RandomDirection
from learners.metrics import AccuracyMatrix
from learners.phases import PhaseConfig
from memstore import Budget, BudgetTooSmallError, InvalidInputError, Ledger, RawStore, design_latents
from memstore.budget import index_bits
from memstore.codecs import DVAECodec, JPEGCodec, ZstdCodec
from memstore.codecs.base import codec_from_config
from memstore.codecs.bitpack import PackedArray, pack
from memstore.codecs.entropy import CategoricalRangeCoder, EntropyCodedDVAE, coder_from_config
from memstore.codecs.prefix import CategoricalPrefixCoder
from memstore.nn.dvae import gumbel_softmax_hard
from memstore.policies import policy_from_config


def _store() -> RawStore:
    return RawStore(Budget.images(5, (1, 4, 4), 2), (1, 4, 4), 2, seed=0)


BAD_CALLS: dict[str, Callable[[], object]] = {
    "index_bits(0)": lambda: index_bits(0),
    "capacity of a zero-bit item": lambda: Budget(100).capacity(0),
    "negative ledger": lambda: Ledger(payload=-1),
    "policy config with an unknown field": lambda: policy_from_config({"id": "reservoir", "size": 3}),
    "policy config that is not a mapping": lambda: policy_from_config("reservoir"),
    "codec config that is not a mapping": lambda: codec_from_config("zstd"),
    "JPEG quality 0": lambda: JPEGCodec((1, 8, 8), quality=0),
    "JPEG subsampling 3": lambda: JPEGCodec((3, 8, 8), subsampling=3),
    "pack width 65": lambda: pack(np.zeros(3, np.uint8), 65),
    "packed array of -1 rows": lambda: PackedArray(-1, 4, 3),
    "range coder of one class": lambda: CategoricalRangeCoder(4, 1),
    "prefix coder alphabet 1": lambda: CategoricalPrefixCoder(4, 4, max_alphabet=1),
    "unknown symbol coder": lambda: coder_from_config({"id": "arithmetic"}, 4, 4),
    "symbol coder option it does not take": lambda: coder_from_config({"id": "categorical-range", "max_alphabet": 4},
                                                                      4, 4),
    "Gumbel noise without a generator": lambda: gumbel_softmax_hard(torch.zeros(2, 3, 4), 1.0, None),
    "random edit direction without a generator": lambda: RandomDirection()(torch.ones(2, 3), None, torch.arange(2)),
    "ER at lr 0": lambda: ER(nn.Linear(16, 2), _store(), lr=0.0),
    "ER without a store": lambda: ER(nn.Linear(16, 2), None, lr=0.1),
    "GEM with a negative margin": lambda: GEM(nn.Linear(16, 2), RawStore(
        Budget.images(5, (1, 4, 4), 2, num_tasks=2), (1, 4, 4), 2, seed=0, num_tasks=2), lr=0.1, margin=-1.0),
    "A-GEM without a store": lambda: AGEM(nn.Linear(16, 2), None, lr=0.1),
    "MIR with fewer candidates than its replay": lambda: MIR(nn.Linear(16, 2), _store(), lr=0.1, replay_size=10,
                                                             candidates=5),
    "LwF at temperature 0": lambda: LwF(nn.Linear(16, 2), _store(), lr=0.1, temperature=0.0),
    "GMED stride below 0": lambda: GMEDEdit(-1.0, 0.0),
    "phase lam above 1": lambda: PhaseConfig(lam=1.5),
    "accuracy matrix of no task": lambda: AccuracyMatrix((), ()),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_arguments_raise_typed_errors(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidInputError):
        call()


def test_a_latent_design_that_cannot_fit_is_a_budget_error() -> None:
    with pytest.raises(BudgetTooSmallError, match="no latent shape fits"):
        design_latents(Budget(40), 10, 10, (1, 28, 28), 10)


def test_gumbel_noise_follows_its_generator_and_not_the_global_stream() -> None:
    logits = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)
    first = gumbel_softmax_hard(logits, 1.0, torch.Generator().manual_seed(7))
    torch.manual_seed(456)
    second = gumbel_softmax_hard(logits, 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)


@pytest.mark.parametrize("coder", [CategoricalRangeCoder(5, 3), CategoricalPrefixCoder(5, 3, max_alphabet=8)])
def test_an_entropy_coded_codec_rebuilds_from_its_own_config(coder) -> None:
    codec = EntropyCodedDVAE(DVAECodec((1, 8, 8), 5, 3, seed=0), coder)
    rebuilt = codec_from_config(codec.get_config())
    assert rebuilt.get_config() == codec.get_config()
    assert coder_from_config(coder.get_config(), 5, 3).get_config() == coder.get_config()
    with pytest.raises(InvalidInputError, match="not for the dVAE's 6 latents"):
        coder_from_config(coder.get_config(), 6, 3)


def test_a_codec_config_with_a_field_the_codec_does_not_take_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="ZstdCodec"):
        codec_from_config({**ZstdCodec((1, 8, 8)).get_config(), "window": 3})
