"""Mnemonics' eq. 8-9 over the classes seen (the growing head), and the released code's objective
(:class:`~memstore.MnemonicsCode`): herding start, a cosine class-mean loss, no unrolled step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memstore import Budget, Herding, Mnemonics, MnemonicsCode, MnemonicsStore, TaskContext, open
from memstore.errors import InvalidInputError, MissingContextError
from memstore.stores.exemplar_selection import penultimate_features, seen_logits, selection_from_config, unrolled_loss

SHAPE = (1, 4, 4)


def model(seed: int = 0, classes: int = 6) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, classes))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return net


def data(classes: list[int], per: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(classes).repeat_interleave(per)
    return torch.rand(y.numel(), *SHAPE, generator=g), y


def store(selection, per_class: int = 3) -> MnemonicsStore:
    return MnemonicsStore(Budget(6 * per_class * (32 * 16 + 3)), SHAPE, 6, selection=selection, per_class=per_class,
                          seed=0)


def test_seen_logits_score_a_label_among_the_seen_classes_only() -> None:
    logits = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, 2, 0, 2])
    seen = torch.tensor([0, 2])
    want = F.cross_entropy(logits[:, [0, 2]], torch.tensor([0, 1, 1, 0, 1]))
    assert torch.allclose(F.cross_entropy(seen_logits(logits, seen), y), want)
    assert torch.equal(seen_logits(logits, None), logits)


def test_unrolled_loss_with_seen_classes_equals_a_head_cut_to_them() -> None:
    net = model()
    params = {k: v.detach() for k, v in net.named_parameters()}
    ex, ey = data([1, 3], per=3)
    vx, vy = data([1, 3], per=5, seed=1)
    masked = unrolled_loss(net, params, ex, ey, vx, vy, steps=2, lr=0.3, seen=torch.tensor([1, 3]))
    # the same two steps on a 2-class head made of rows 1 and 3 of the last layer
    cut = {**params, "3.weight": params["3.weight"][[1, 3]], "3.bias": params["3.bias"][[1, 3]]}
    small = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    relabel = {1: 0, 3: 1}
    want = unrolled_loss(small, cut, ex, torch.tensor([relabel[int(c)] for c in ey]), vx,
                         torch.tensor([relabel[int(c)] for c in vy]), steps=2, lr=0.3)
    assert torch.allclose(masked, want, atol=1e-6)
    full = unrolled_loss(net, params, ex, ey, vx, vy, steps=2, lr=0.3)
    assert not torch.allclose(masked, full)


def test_masked_mnemonics_optimises_other_exemplars_than_unmasked() -> None:
    outs = []
    for masked in (True, False):
        s = store(Mnemonics(inner_steps=1, outer_steps=2, outer_lr=50.0, batch_size=8, masked=masked))
        s.end_task(TaskContext(task=0, model=model(), x=data([0, 1])[0], y=data([0, 1])[1]))
        outs.append(s.exemplars()[0])
    assert outs[0].shape == outs[1].shape and not torch.allclose(outs[0], outs[1])


def test_code_variant_at_lr_zero_keeps_herding_exemplars() -> None:
    x, y = data([0, 1, 2])
    code, herd = store(MnemonicsCode(lr=0.0)), store(Herding())
    for s in (code, herd):
        s.end_task(TaskContext(task=0, model=model(), x=x, y=y))
    assert torch.equal(code.exemplars()[0], herd.exemplars()[0])
    assert torch.equal(code.exemplars()[1], herd.exemplars()[1])


def ncm_loss(net: nn.Module, exemplars: torch.Tensor, ey: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """The code variant's objective on the whole of (x, y), every class's mean from the exemplars."""
    classes = torch.unique(ey)
    feats = penultimate_features(net, exemplars)
    means = F.normalize(torch.stack([feats[ey == c].mean(0) for c in classes.tolist()]), dim=1)
    logits = F.normalize(penultimate_features(net, x), dim=1) @ means.T
    return float(F.cross_entropy(logits, torch.searchsorted(classes, y)))


def test_code_variant_lowers_its_class_mean_loss_and_stays_in_range() -> None:
    net = model(3)
    x, y = data([0, 1, 2], per=20)
    start = store(Herding())
    start.end_task(TaskContext(task=0, model=net, x=x, y=y))
    trained = store(MnemonicsCode(lr=5.0, epochs=20, batch_size=16, momentum=0.0, weight_decay=0.0))
    trained.end_task(TaskContext(task=0, model=net, x=x, y=y))
    before, after = (ncm_loss(net, *s.exemplars(), x, y) for s in (start, trained))
    assert after < before - 0.01  # cosine logits without a scale: the loss moves little from log(3) either way
    ex = trained.exemplars()[0]
    assert float(ex.min()) >= 0.0 and float(ex.max()) <= 1.0


def test_code_variant_holds_old_means_and_leaves_old_exemplars() -> None:
    net = model(2)
    s = store(MnemonicsCode(lr=0.5, epochs=3, batch_size=8))
    x0, y0 = data([0, 1])
    s.end_task(TaskContext(task=0, model=net, x=x0, y=y0))
    old_x, old_y = (t.clone() for t in s.exemplars())
    x1, y1 = data([2, 3], seed=1)
    s.end_task(TaskContext(task=1, model=net, x=x1, y=y1))
    x, y = s.exemplars()
    for c in (0, 1):  # the old classes' exemplars are kept as they were (their first m), not adjusted
        assert torch.equal(x[y == c], old_x[old_y == c][: int((y == c).sum())])
    assert set(torch.unique(y).tolist()) == {0, 1, 2, 3}


def test_code_variant_checks_its_settings_and_needs_a_model() -> None:
    for bad in ({"lr": float("nan")}, {"epochs": -1}, {"batch_size": 0}, {"momentum": 1.5}):
        with pytest.raises(InvalidInputError):
            MnemonicsCode(**bad)
    s = store(MnemonicsCode())
    with pytest.raises(MissingContextError):
        s.end_task(TaskContext(task=0, x=data([0])[0], y=data([0])[1]))
    assert len(s) == 0


def test_variants_round_trip_through_config_and_a_saved_store(tmp_path) -> None:
    for selection in (MnemonicsCode(lr=2e-5, epochs=2), Mnemonics(masked=False)):
        assert selection_from_config(selection.get_config()) == selection
    s = store(MnemonicsCode(lr=0.1))
    s.end_task(TaskContext(task=0, model=model(), x=data([0, 1])[0], y=data([0, 1])[1]))
    s.save(tmp_path / "m.zarr")
    back = open(tmp_path / "m.zarr")
    assert back.selection == s.selection
    assert np.array_equal(back.exemplars()[0].numpy(), s.exemplars()[0].numpy())
