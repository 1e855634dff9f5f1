"""Every learner of issue 5 runs a short task sequence with a RawStore (and the bench specs build them)."""

import pytest
import torch

from learners import AGEM, ERGMED, GEM, MIR, MIRGMED, GMEDEdit, LwF, RandomDirection
from memstore import Budget, PerTask, RawStore

from .conftest import CLASSES, SHAPE, make_batch, make_model

TASKS = [(0, 1), (2, 3), (4, 5)]


def _reservoir():
    return RawStore(Budget.images(24, SHAPE, CLASSES), SHAPE, CLASSES, seed=0)


def _per_task():
    return RawStore(Budget.images(24, SHAPE, CLASSES, num_tasks=3), SHAPE, CLASSES, seed=0, policy=PerTask(),
                    num_tasks=3)


BUILDERS = {
    "gem": (lambda m, g: GEM(m, _per_task(), lr=0.1, generator=g), True),
    "agem": (lambda m, g: AGEM(m, _reservoir(), lr=0.1, reference_size=16, generator=g), False),
    "mir": (lambda m, g: MIR(m, _reservoir(), lr=0.1, replay_size=4, candidates=10, generator=g), False),
    "er-gmed": (lambda m, g: ERGMED(m, _reservoir(), lr=0.1, editor=GMEDEdit(1.0, 0.01), generator=g), False),
    "er-gmed-random": (lambda m, g: ERGMED(m, _reservoir(), lr=0.1, editor=GMEDEdit(1.0, 0.01, RandomDirection()),
                                           generator=g), False),
    "mir-gmed": (lambda m, g: MIRGMED(m, _reservoir(), lr=0.1, editor=GMEDEdit(1.0, 0.01), replay_size=4,
                                      candidates=10, generator=g), False),
    "lwf": (lambda m, g: LwF(m, lr=0.1, generator=g), True),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_learner_runs_a_stream_end_to_end(name):
    build, task_aware = BUILDERS[name]
    model = make_model()
    start = [p.detach().clone() for p in model.parameters()]
    learner = build(model, torch.Generator().manual_seed(0))
    losses = []
    for t, classes in enumerate(TASKS):
        for b in range(5):
            step = learner.observe(*make_batch(classes, seed=10 * t + b), task=t if task_aware else None)
            losses.append(step.loss)
        if task_aware:
            learner.end_task(t)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(a, p) for a, p in zip(start, model.parameters()))
    if learner.store is not None:
        assert len(learner.store) == 24
        assert learner.store.ledger().charged(learner.store.budget) <= learner.store.budget.bits


def test_gmed_keeps_every_stored_input_in_the_unit_interval():
    store = _reservoir()
    learner = ERGMED(make_model(), store, lr=0.5, editor=GMEDEdit(50.0, 0.0),
                     generator=torch.Generator().manual_seed(0))
    for b in range(20):
        learner.observe(*make_batch((0, 1, 2), seed=b))
    x = store.sample(24).x
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_bench_specs_build_every_new_learner():
    from benchmarks.learner_specs import PAPER_LEARNERS, gmed_learner
    from benchmarks.parameters import resolve
    from benchmarks.specs import LEARNERS, SETTINGS, STORES

    assert set(PAPER_LEARNERS) <= set(LEARNERS)
    split, permuted = (resolve(gmed_learner("er-gmed", kind), LEARNERS, "learner") for kind in ("split", "permuted"))
    assert split.alpha == 5.0 and permuted.beta == 0.001
    assert resolve(gmed_learner("mir-gmed", "rotated"), LEARNERS, "learner").alpha == 1.0
    for name, spec in PAPER_LEARNERS.items():
        task_aware = name in ("gem", "lwf")
        setting = SETTINGS["gmed-task-aware" if task_aware else "gmed"]
        store = resolve("raw:per_task=true" if name == "gem" else "raw", STORES, "store").build(
            Budget.images(24, SHAPE, CLASSES, num_tasks=3 if task_aware else None), SHAPE, CLASSES, seed=0,
            num_tasks=3 if task_aware else None)
        learner = spec.build(make_model(), store if spec.uses_memory else None, setting, torch.Generator())
        assert learner.lr == 0.05


def _jpeg_store(shape):
    from memstore import JPEGStore

    return JPEGStore(Budget.images(20, shape, 4), shape, 4, seed=0, quality=50)


def _recollection_store(shape):
    from memstore import RecollectionStore, Stabilisation

    # Algorithm 1 off (steps=0): the decoder stays fixed, so only re-encoded edits change what the store returns
    return RecollectionStore(Budget(20 * (16 * 3 + 2)), shape, 4, latents=16, classes=8, seed=0,
                             stabilisation=Stabilisation(steps=0))


@pytest.mark.parametrize("make_store", [_jpeg_store, _recollection_store], ids=["jpeg", "recollection"])
@pytest.mark.parametrize("cls", [ERGMED, MIRGMED])
def test_gmed_edits_an_encoded_store_through_the_contract(cls, make_store):
    from torch import nn

    shape = (1, 8, 8)
    store = make_store(shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    kwargs = {"candidates": 10} if cls is MIRGMED else {}
    learner = cls(model, store, lr=0.1, editor=GMEDEdit(5.0, 0.01), replay_size=5,
                  generator=torch.Generator().manual_seed(0), **kwargs)
    g = torch.Generator().manual_seed(0)
    learner.observe(torch.rand((10, *shape), generator=g), torch.randint(4, (10,), generator=g))
    before = store.sample(len(store), generator=torch.Generator().manual_seed(1))
    learner.observe(torch.rand((1, *shape), generator=g), torch.randint(4, (1,), generator=g))
    after = store.read(before.keys.numpy())  # the one new item may have replaced a slot; most are the same items
    changed = (after.x - before.x).flatten(1).abs().amax(1) > 1e-6
    assert 1 <= int(changed.sum()) <= 6  # the edited items (5) re-encoded, plus at most one admitted by the write
    assert store.ledger().charged(store.budget) <= store.budget.bits
