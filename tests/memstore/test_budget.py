"""Exact integer bit arithmetic."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from memstore import Budget, Ledger, label_bits, mask_bits, param_bits


@pytest.mark.parametrize(("classes", "bits"),
                         [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (10, 4), (16, 4), (17, 5), (100, 7)])
def test_label_bits_is_ceil_log2(classes: int, bits: int) -> None:
    assert label_bits(classes) == bits


@given(st.integers(1, 10**12))
def test_label_bits_matches_definition(n: int) -> None:
    bits = label_bits(n)
    assert 2**bits >= n and (bits == 0 or 2 ** (bits - 1) < n)


def test_budget_constructors() -> None:
    assert Budget.bytes(3).bits == 24
    assert Budget.images(10, (1, 28, 28), 10).bits == 10 * (784 * 8 + 4)
    assert Budget.images(10, (3, 32, 32), 100, num_tasks=20).bits == 10 * (3072 * 8 + 7 + 5)
    assert Budget.images(2, (1, 1, 1), 2, charge_models=True).charge_models


@pytest.mark.parametrize("bad", [-1, 1.5, True, "8"])
def test_budget_rejects_non_integers_with_a_memstore_error(bad: object) -> None:
    from memstore.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="non-negative int"):
        Budget(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="non-negative int"):
        Budget.bytes(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="non-negative int"):
        Budget.images(bad, (1, 2, 2), 10)  # type: ignore[arg-type]


def test_ledger_total_and_charged() -> None:
    ledger = Ledger(payload=100, labels=10, index=5, models=1000)
    assert ledger.total == 1115
    assert ledger.charged(Budget(2000)) == 115
    assert ledger.charged(Budget(2000, charge_models=True)) == 1115
    assert Ledger(payload=9).payload_bytes() == 2
    with pytest.raises(ValueError):
        Ledger(payload=-1)


def test_param_bits_counts_every_parameter_at_its_dtype() -> None:
    layer = torch.nn.Linear(3, 2)  # 6 weights + 2 biases
    assert param_bits(layer) == 8 * 32
    assert param_bits(layer, torch.float16) == 8 * 16
    assert param_bits([torch.zeros(5, dtype=torch.uint8)]) == 40


def test_mask_bits_is_the_smaller_of_dense_and_sparse() -> None:
    dense_mask = torch.ones(100, dtype=torch.bool)
    assert mask_bits(dense_mask) == 100  # 100 indices × 7 bits would be 700
    sparse_mask = torch.zeros(1000, dtype=torch.bool)
    sparse_mask[[3, 500]] = True
    assert mask_bits(sparse_mask) == 2 * 10  # two 10-bit indices beat a 1000-bit map
    assert mask_bits(torch.zeros(64, dtype=torch.bool)) == 0
    assert mask_bits(torch.zeros(0)) == 0


def test_capacity_is_the_one_rule() -> None:
    from memstore import Budget

    assert Budget(1000).capacity(100) == 10 and Budget(999).capacity(100) == 9
    assert Budget(1000).capacity(100, shared_bits=150) == 8
    assert Budget(1000).capacity(100, model_bits=500) == 10  # incremental storage: models are not charged
    assert Budget(1000, charge_models=True).capacity(100, model_bits=500) == 5
    assert Budget(1000).capacity(333.5) == 2 and Budget(100).capacity(50, shared_bits=200) == 0
    with pytest.raises(ValueError, match="item_bits must be positive"):
        Budget(1000).capacity(0)


def test_the_bit_helpers_refuse_what_they_cannot_count() -> None:
    import numpy as np

    from memstore import dtype_bits, mask_bits, param_bits
    from memstore.distributed import shard_budget
    from memstore.errors import InvalidInputError

    for call in (lambda: dtype_bits("float32"), lambda: mask_bits([1]), lambda: param_bits(5),
                 lambda: param_bits([1, 2]), lambda: Budget(100).capacity("3"),
                 lambda: Budget(100).capacity(10, shared_bits=float("nan")), lambda: shard_budget(Budget(10), 0, 0),
                 lambda: shard_budget(Budget(10), -1, 2), lambda: shard_budget(Budget(10), 2, 2)):
        with pytest.raises(InvalidInputError):
            call()
    assert Budget(100).capacity(np.int64(10)) == 10 and Budget(100).capacity(np.float64(12.5)) == 8


def test_capacity_takes_any_size_of_int() -> None:
    assert Budget(100).capacity(10**400) == 0
