"""Fixtures every test folder may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of tiny networks: thread start-up and contention cost more than the work (10x on
    a shared 2-core machine). The count is restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The data root holding real MNIST (``benchmarks.datasets.resolve_data_root``); a test that asks for it is
    skipped, visibly, on a machine without it."""
    from benchmarks.datasets import DataNotFoundError, resolve_data_root

    try:
        root = resolve_data_root()
    except DataNotFoundError:
        pytest.skip("real MNIST not available: set MEMSTORE_DATA")
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"real MNIST not available under {root}")
    return root
