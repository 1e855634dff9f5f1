"""RecollectionStore's ``device``: the dVAE computes there, items and saved state stay CPU tensors.

The CUDA tests run only where a GPU is present (skipped on the CPU CI); the CPU ones check the argument and that an
explicit ``"cpu"`` is the default's exact behaviour."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from memstore import Budget, RecollectionStore
from memstore.errors import InvalidInputError
from memstore.nn import DiscreteVAE, DVAEConfig
from memstore.persist import open_store
from memstore.testing import random_items, state_equal

TINY = {"latents": 5, "classes": 3}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
pytestmark = pytest.mark.usefixtures("one_thread")


def items(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return random_items(n, (1, 8, 8), 10, torch.Generator().manual_seed(seed))


def store_on(device: str, seed: int = 0) -> RecollectionStore:
    return RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=seed, device=device)


def test_explicit_cpu_is_the_default() -> None:
    default, explicit = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0), store_on("cpu")
    for store in (default, explicit):
        store.write(*items(20))
    assert explicit.device == torch.device("cpu")
    assert state_equal(default.state_dict(), explicit.state_dict())


@pytest.mark.parametrize("device", ["bogus", "cuda:99" if torch.cuda.is_available() else "cuda", 3.5])
def test_an_unusable_device_is_refused(device: Any) -> None:
    with pytest.raises(InvalidInputError, match="device"):
        store_on(device)


@needs_cuda
def test_a_cuda_store_computes_there_and_hands_back_cpu_tensors(tmp_path: Any) -> None:
    store = store_on("cuda", seed=3)
    assert store.device.type == "cuda" and store.model.device.type == "cuda"
    for seed in range(3):
        store.write(*items(10, seed))
    batch = store.sample(8)
    assert batch.x.device.type == "cpu" and batch.keys is not None
    store.edit(batch.keys[:2], items(2, seed=7)[0])
    state = store.state_dict()
    assert all(t.device.type == "cpu" for t in state["dvae"].values())
    assert all(t.device.type == "cpu" for t in state["adam"]["exp_avg"].values())
    store.save(tmp_path / "s")
    reopened = open_store(tmp_path / "s")  # reopens on the CPU: the device is not part of the saved store
    assert reopened.device.type == "cpu" and state_equal(state, reopened.state_dict())


@needs_cuda
def test_the_same_dvae_codes_alike_on_cpu_and_cuda() -> None:
    model = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3), torch.Generator().manual_seed(0))
    on_gpu = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3), torch.Generator().manual_seed(0)).to("cuda")
    x = items(200)[0]
    codes, gpu_codes = model.encode(x), on_gpu.encode(x)
    assert gpu_codes.device.type == "cpu"
    assert float((codes == gpu_codes).float().mean()) > 0.99  # TF32 convolutions may flip a near-tie
    assert float((model.decode(codes) - on_gpu.decode(codes)).abs().max()) < 1e-2
