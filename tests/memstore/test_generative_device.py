"""GenerativeStore's ``device``: the AC-GAN trains and generates there; items, noise and saved state stay on the CPU.

The CUDA test runs only where a GPU is present (skipped on the CPU CI); the CPU ones check the argument and that an
explicit ``"cpu"`` is the default's exact behaviour."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from memstore import Batch, Budget, GenerativeStore, TaskContext
from memstore.errors import InvalidInputError
from memstore.nn import GANTraining
from memstore.persist import open_store
from memstore.testing import random_items, state_equal

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
pytestmark = pytest.mark.usefixtures("one_thread")

NET: dict[str, Any] = {"latent": 6, "widths": (4, 3, 2), "critic_widths": (2, 3, 4), "critic_kernel": 5,
                       "critic_norm": True, "canvas": (16, 16), "signed": True, "task_norm": True,
                       "training": GANTraining(batch_size=8, passes=2, replay_set=True, reinit_critic=True,
                                               generator_aux=False, mask_lr=None, lambda_gp=1.0)}


def store_on(device: str | None) -> GenerativeStore:
    options = {} if device is None else {"device": device}
    return GenerativeStore(Budget(0), (1, 14, 14), 10, seed=1, **NET, **options)


def teach(store: GenerativeStore) -> None:
    held = []
    for task in range(2):
        x, _ = random_items(20, (1, 14, 14), 10, torch.Generator().manual_seed(task))
        y = torch.full((20,), task)
        held.append((x[:4], y[:4]))
        validation = Batch(torch.cat([h[0] for h in held]), torch.cat([h[1] for h in held]))
        store.end_task(TaskContext(task, x=x[4:], y=y[4:], validation=validation))


def test_explicit_cpu_is_the_default() -> None:
    default, explicit = store_on(None), store_on("cpu")
    for store in (default, explicit):
        teach(store)
    assert explicit.device == torch.device("cpu") and "device" not in explicit.config()
    assert state_equal(default.state_dict(), explicit.state_dict())


@pytest.mark.parametrize("device", ["bogus", "cuda:99" if torch.cuda.is_available() else "cuda", "meta"])
def test_an_unusable_device_is_refused(device: str) -> None:
    with pytest.raises(InvalidInputError, match="device"):
        store_on(device)


@needs_cuda
def test_cuda_trains_there_and_hands_back_cpu_tensors(tmp_path: Any) -> None:
    cpu, gpu = store_on("cpu"), store_on("cuda")
    for store in (cpu, gpu):
        teach(store)
    assert next(gpu.model.parameters()).is_cuda and next(gpu.discriminator.parameters()).is_cuda
    batch = gpu.sample(8, generator=torch.Generator().manual_seed(0))
    assert batch.x.device.type == "cpu" and batch.y.device.type == "cpu"
    logits = gpu.discriminator.classify(batch.x)
    assert logits.device.type == "cpu" and logits.shape == (8, 10)
    gpu.save(tmp_path / "s")
    reopened = open_store(tmp_path / "s")
    assert reopened.device == torch.device("cpu") and state_equal(gpu.state_dict(), reopened.state_dict())
