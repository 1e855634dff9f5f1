"""DGM's masks: the annealing of s (eq. 3–4), gradient gating (eq. 5), the regulariser (eq. 6), freezing and growth."""

from __future__ import annotations

import pytest
import torch

from memstore.errors import InvalidInputError
from memstore.nn import ACGANSpec, DGMa, DGMw, MaskedGenerator
from memstore.nn.masks import MaskedLayer, pad_to

SPEC = ACGANSpec((1, 8, 8), 3, latent=4, widths=(4, 3), critic_widths=(2, 2))


def generator(variant: object) -> MaskedGenerator:
    return MaskedGenerator(SPEC, variant, torch.Generator().manual_seed(0))  # type: ignore[arg-type]


def test_annealing_follows_eq_3_and_4() -> None:
    steps, s_max = 100, 400.0
    dgma = [DGMa().scale(b, steps, s_max, 1) for b in range(steps)]
    assert dgma[0] == pytest.approx(1 / s_max) and dgma[-1] == pytest.approx(s_max)
    assert all(a < b for a, b in zip(dgma, dgma[1:]))  # global annealing only
    dgmw = [DGMw().scale(b, steps, s_max, 4) for b in range(steps)]
    assert dgmw[-1] == pytest.approx(s_max)  # last batch of the last epoch reaches s_max
    assert dgmw[75] == pytest.approx(1 / s_max) and dgmw[0] == pytest.approx(s_max)  # eq. 4 read literally:
    last_epoch = dgmw[75:]  # within epoch i, s runs from 1/s^i_max to s^i_max (s^1_max = 1/s_max)
    assert all(a < b for a, b in zip(last_epoch, last_epoch[1:]))
    s2_max = 1 / s_max + (s_max - 1 / s_max) / 3  # eq. 3 for i = 2 of I = 4
    assert dgmw[25] == pytest.approx(1 / s2_max) and dgmw[49] == pytest.approx(s2_max)


@pytest.mark.parametrize("variant", [DGMw(), DGMa()], ids=["dgmw", "dgma"])
def test_gated_gradients_leave_reserved_weights_alone(variant: object) -> None:
    gen = generator(variant)
    bank = gen.bank
    bank.begin_task()
    with torch.no_grad():
        for e in bank.embeddings:
            e.copy_(torch.randn(e.shape, generator=torch.Generator().manual_seed(1)))
    bank.freeze()
    cumulative = bank.cumulative()
    for layer in gen.layers:
        layer.weight.grad, layer.bias.grad = torch.ones_like(layer.weight), torch.ones_like(layer.bias)
    bank.gate_gradients(cumulative)
    for index, layer in enumerate(gen.layers):
        weight_gate, bias_gate = variant.gates(cumulative, index, list(gen.layers), True)  # type: ignore[attr-defined]
        assert torch.equal(layer.weight.grad, torch.ones_like(layer.weight) * weight_gate)
        assert torch.equal(layer.bias.grad, torch.ones_like(layer.bias) * bias_gate)
    first = gen.layers[0]
    if isinstance(variant, DGMw):  # eq. 5: exactly the reserved weights get no gradient
        assert torch.equal(first.weight.grad == 0, cumulative[0]["weight"] == 1)
    else:  # HAT: a reserved unit's incoming weights (inputs are the noise and the condition) are frozen
        assert torch.equal(first.weight.grad[:, 0, 0, 0] == 0, cumulative[0]["unit"] == 1)
        assert float(gen.layers[-1].bias.grad.abs().sum()) == 0  # the pixels count as used


def test_regulariser_is_eq_6_by_hand() -> None:
    bank = generator(DGMa()).bank
    masks = [{"unit": torch.tensor([0.5, 1.0, 0.0, 0.25])}, {"unit": torch.tensor([1.0, 0.0, 0.5])}, {}]
    cumulative = [{"unit": torch.tensor([1.0, 0.0, 0.0, 0.0])}, {"unit": torch.tensor([0.0, 0.0, 1.0])}, {}]
    # reused (cumulative 1) elements are free: (1 + 0 + 0.25) + (1 + 0) over 3 + 2 free elements
    assert float(bank.regulariser(masks, cumulative)) == pytest.approx(2.25 / 5)


def test_freeze_counts_new_reservations_and_growth_keeps_free_capacity() -> None:
    for variant in (DGMw(), DGMa()):
        gen = generator(variant)
        for task in range(2):
            gen.bank.begin_task()
            with torch.no_grad():
                for e in gen.bank.embeddings:
                    e.copy_(torch.randn(e.shape, generator=torch.Generator().manual_seed(task)))
            before = gen.bank.cumulative()
            reserved = gen.bank.freeze()
            after = gen.bank.cumulative()
            for index, masks in enumerate(after):
                assert reserved[index] == sum(int((masks[n] - before[index][n]).sum()) for n in masks)
            added = gen.bank.growth(reserved)
            widths = gen.widths
            gen.grow(added, torch.Generator().manual_seed(9))
            assert gen.widths == tuple(w + a for w, a in zip(widths, added))
            if isinstance(variant, DGMa):  # free units stay at the initial width (§3.2)
                free = [int((1 - pad_to(m["unit"], (w,))).sum()) for m, w in zip(gen.bank.cumulative(), gen.widths)]
                assert free == list(SPEC.widths)
            else:  # free weights per hidden layer never drop below the initial n·p
                for index, layer in enumerate(gen.layers[:-1]):
                    used = int(gen.bank.cumulative()[index]["weight"].sum())
                    assert layer.weight.numel() - used >= layer.fan_in * SPEC.widths[index] - layer.fan_in


def test_layer_growth_keeps_old_outputs_under_padded_masks() -> None:
    g = torch.Generator().manual_seed(0)
    first = MaskedLayer(5, 3, (3, 3), project=True, upsample=1, generator=g)
    second = MaskedLayer(3, 2, (3, 3), project=False, upsample=2, generator=g)
    x = torch.rand(4, 5, generator=g)
    unit = torch.tensor([1.0, 0.0, 1.0])
    before = second(torch.relu(first(x, unit[:, None, None, None], unit)))
    first.grow_out(2, g)
    second.grow_in(2, g)
    padded = pad_to(unit.bool(), (5,))
    after = second(torch.relu(first(x, padded[:, None, None, None], padded)))
    assert torch.allclose(before, after) and first.weight.shape == (5, 5, 3, 3) and second.weight.shape[1] == 5


def _frozen_with_live_off_units(mask_activations: bool) -> tuple[MaskedGenerator, list[int]]:
    """A DGMa generator with task norms and one frozen task whose first-layer units 0 and 1 are off, their batch
    norm shift raised so that, after the norm and ReLU, they would output 1 (the released code's leak)."""
    spec = ACGANSpec((1, 8, 8), 3, latent=4, widths=(4, 3), critic_widths=(2, 2), task_norm=True,
                     mask_activations=mask_activations)
    gen = MaskedGenerator(spec, DGMa(), torch.Generator().manual_seed(0))
    gen.begin_task()
    with torch.no_grad():
        for e in gen.bank.embeddings:
            e.fill_(1.0)
        gen.bank.embeddings[0][:2] = -1.0
        gen.norms[0][0].bias[:2] = 1.0
    gen.bank.freeze()
    return gen, [0, 1]


@pytest.mark.parametrize("mask_activations", [False, True], ids=["released", "hat"])
def test_a_tasks_generation_reads_only_protected_weights_with_activation_masks(mask_activations: bool) -> None:
    gen, off = _frozen_with_live_off_units(mask_activations)
    masks = gen.bank.weight_masks(gen.bank.binary(0))
    z, y = torch.randn(5, 4, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 1, 2, 0, 1])
    with torch.no_grad():
        before = gen(z, y, masks, 0)
    weight_gate, _ = DGMa().gates(gen.bank.cumulative(), 1, list(gen.layers), True)
    assert torch.equal(weight_gate[:, off], torch.ones_like(weight_gate[:, off]))  # free for the next task
    with torch.no_grad():
        gen.layers[1].weight[:, off] += 1.0  # what a later task may do to them
        after = gen(z, y, masks, 0)
    assert torch.equal(before, after) == mask_activations  # HAT's placement: off units give 0, nothing leaks


def test_activation_masks_need_unit_masks() -> None:
    spec = ACGANSpec((1, 8, 8), 3, latent=4, widths=(4, 3), critic_widths=(2, 2), mask_activations=True)
    with pytest.raises(InvalidInputError, match="unit masks"):
        MaskedGenerator(spec, DGMw(), torch.Generator().manual_seed(0))
    with pytest.raises(InvalidInputError, match="mask_activations"):
        ACGANSpec((1, 8, 8), 3, mask_activations=1)  # type: ignore[arg-type]
