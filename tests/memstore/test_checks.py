"""Bad settings fail at construction with a typed error naming the setting; good ones pass unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

from memstore import (
    Budget,
    GenerativeStore,
    InvalidInputError,
    JPEGStore,
    Mnemonics,
    MnemonicsStore,
    RawStore,
    RecallObjective,
    RecollectionStore,
    Stabilisation,
    TaskContext,
)
from memstore import open as open_store
from memstore.checks import check_int, check_real
from memstore.errors import LabelError, NonFiniteError
from memstore.nn import GANTraining

NAN, INF = float("nan"), float("inf")
B = Budget.images(20, (1, 8, 8), 10)

BAD: dict[str, tuple[Callable[[], Any], str]] = {
    "RecollectionStore tau nan": (lambda: RecollectionStore(B, (1, 8, 8), 10, tau=NAN), "tau"),
    "RecollectionStore latents 1.5": (lambda: RecollectionStore(B, (1, 8, 8), 10, latents=1.5, classes=2), "latents"),
    "RecollectionStore device meta": (lambda: RecollectionStore(B, (1, 8, 8), 10, device="meta"), "meta"),
    "Stabilisation lr inf": (lambda: Stabilisation(lr=INF), "Stabilisation.lr"),
    "Stabilisation lr 1e30": (lambda: Stabilisation(lr=1e30), "Stabilisation.lr"),
    "Stabilisation steps 1.5": (lambda: Stabilisation(steps=1.5), "Stabilisation.steps"),
    "Stabilisation refresh 1": (lambda: Stabilisation(refresh=1), "Stabilisation.refresh"),
    "Stabilisation anchor_weight nan": (lambda: Stabilisation(anchor_weight=NAN), "Stabilisation.anchor_weight"),
    "Stabilisation anchor_weight -1": (lambda: Stabilisation(anchor_weight=-1), "Stabilisation.anchor_weight"),
    "RecallObjective l2 nan": (lambda: RecallObjective(l2=NAN), "RecallObjective.l2"),
    "RecallObjective tv inf": (lambda: RecallObjective(tv=INF), "RecallObjective.tv"),
    "RecallObjective steps True": (lambda: RecallObjective(steps=True), "RecallObjective.steps"),
    "GANTraining lr inf": (lambda: GANTraining(lr=INF), "GANTraining.lr"),
    "GANTraining lambda_gp nan": (lambda: GANTraining(lambda_gp=NAN), "GANTraining.lambda_gp"),
    "GANTraining betas": (lambda: GANTraining(betas=(0.5, 1.0)), "GANTraining.betas"),
    "GANTraining iterations 2.0": (lambda: GANTraining(iterations=2.0), "GANTraining.iterations"),
    "GenerativeStore latent 2.0": (lambda: GenerativeStore(Budget(0), (1, 8, 8), 10, latent=2.0), "ACGANSpec"),
    "GenerativeStore training": (lambda: GenerativeStore(Budget(0), (1, 8, 8), 10, training="fast"), "GANTraining"),
    "Mnemonics outer_lr nan": (lambda: Mnemonics(outer_lr=NAN), "Mnemonics.outer_lr"),
    "JPEGStore side too long": (lambda: JPEGStore(Budget.images(2, (1, 70000, 1), 10), (1, 70000, 1), 10), "65500"),
    "seed 2**64": (lambda: RawStore(B, (1, 8, 8), 10, seed=2**64), "seed"),
    "num_classes 2**33": (lambda: RawStore(Budget.images(2, (1, 8, 8), 2**33), (1, 8, 8), 2**33), "num_classes"),
    "num_tasks 0": (lambda: RawStore(B, (1, 8, 8), 10, num_tasks=0), "num_tasks"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_setting_is_a_typed_error_that_names_it(case: str) -> None:
    make, name = BAD[case]
    with pytest.raises(InvalidInputError, match=name.replace(".", r"\.")):
        make()


def test_the_checks_take_good_values_and_report_the_range() -> None:
    assert check_real("lr", 1, low=0, open_low=True) == 1.0 and check_int("n", 3, low=1, high=3) == 3
    with pytest.raises(InvalidInputError, match=r"lr must be in \(0, 10\], got 0"):
        check_real("lr", 0, low=0, high=10, open_low=True)
    with pytest.raises(InvalidInputError, match=r"n must be in \[1, 3\], got 4"):
        check_int("n", 4, low=1, high=3)
    for bad in (True, np.bool_(True), "1", None, 1.0, np.float64(1.0)):
        with pytest.raises(InvalidInputError, match="must be an int"):
            check_int("n", bad)
    assert RawStore(B, (1, 8, 8), 10, seed=-1).seed == -1  # torch takes negative seeds; so do stores


def test_a_meta_device_batch_is_a_typed_error() -> None:
    store = RawStore(B, (1, 8, 8), 10, seed=0)
    with pytest.raises(InvalidInputError, match="meta"):
        store.write(torch.zeros(2, 1, 8, 8, device="meta"), torch.zeros(2, dtype=torch.int64))
    assert len(store) == 0


def test_mnemonics_refuses_exemplars_made_nan_by_a_nan_model() -> None:
    store = MnemonicsStore(Budget.images(20, (1, 8, 8), 10), (1, 8, 8), 10, seed=0,
                           selection=Mnemonics(inner_steps=1, outer_steps=1, batch_size=8))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.fill_(NAN)
    x, y = torch.rand(20, 1, 8, 8), torch.arange(20) % 2
    state = store.generator.get_state()
    with pytest.raises(NonFiniteError, match="NaN"):
        store.end_task(TaskContext(task=0, model=model, x=x, y=y))
    assert len(store) == 0 and torch.equal(store.generator.get_state(), state)


def test_save_targets_are_checked_and_file_urls_are_local(tmp_path: Path) -> None:
    store = RawStore(B, (1, 8, 8), 10, seed=0)
    store.write(torch.rand(3, 1, 8, 8).mul(255).round().div(255), torch.arange(3))
    with pytest.raises(InvalidInputError, match="target must be"):
        store.save(123)
    url = f"file://{tmp_path / 'new' / 'store.zarr'}"
    store.save(url)
    assert len(open_store(url)) == 3 and (tmp_path / "new" / "store.zarr" / "zarr.json").exists()


def test_numpy_scalars_are_taken_as_the_python_numbers_they_equal() -> None:
    """A setting computed with NumPy (``np.arange``, ``np.float32``) behaves as its Python value: the store, its
    config (JSON, as a save writes it) and the dataclasses hold plain ints and floats."""
    assert type(check_int("n", np.int64(3), low=1)) is int and type(check_real("x", np.float32(0.5))) is float
    with pytest.raises(InvalidInputError, match=r"x must be finite, got np.float32\(nan\)"):
        check_real("x", np.float32(NAN))
    plain = RecollectionStore(B, (1, 8, 8), 10, latents=6, classes=4, tau=0.5, seed=3, num_tasks=2,
                              stabilisation=Stabilisation(lr=0.5, steps=2, anchor_every=50))
    numpy = RecollectionStore(Budget.images(np.int64(20), tuple(np.array([1, 8, 8])), np.int64(10)),
                              tuple(np.array([1, 8, 8])), np.int64(10), latents=np.int64(6), classes=np.int32(4),
                              tau=np.float64(0.5), seed=np.int64(3), num_tasks=np.int64(2),
                              stabilisation=Stabilisation(lr=np.float32(0.5), steps=np.int64(2),
                                                          anchor_every=np.int16(50)))
    assert json.dumps(numpy.config()) == json.dumps(plain.config())
    assert numpy.stabilisation == plain.stabilisation and type(numpy.stabilisation.steps) is int
    assert JPEGStore(B, (1, 8, 8), 10, quality=np.int64(40)).config() == JPEGStore(B, (1, 8, 8), 10,
                                                                                   quality=40).config()
    training = GANTraining(iterations=np.int64(5), betas=(np.float32(0.5), 0.9), lambda_ru=np.float64(0.1))
    assert training == GANTraining(iterations=5, betas=(0.5, 0.9), lambda_ru=0.1)
    assert type(training.iterations) is int and all(type(beta) is float for beta in training.betas)
    assert TaskContext(task=np.int64(1)).task == 1 and type(TaskContext(task=np.int64(1)).task) is int
    # a NumPy int in a float field is the int a literal would be (the same config, the same cell digest)
    assert RecallObjective(rate=np.int64(25)) == RecallObjective(rate=25) and type(RecallObjective(
        rate=np.int64(25)).rate) is int
    store = RawStore(B, (1, 8, 8), 10, seed=0)
    store.write(torch.rand(4, 1, 8, 8), torch.arange(4))
    assert len(store.sample(np.int64(2), classes=np.int64(1))) == 1
    for one_bool in (True, np.bool_(True)):  # an id, not an iterable: refused as a label, as before
        with pytest.raises(LabelError, match="classes"):
            store.sample(2, classes=one_bool)
    betas = GANTraining(betas=[np.float64(0.5), 0]).betas
    assert betas == [0.5, 0] and type(betas[0]) is float and type(betas[1]) is int
