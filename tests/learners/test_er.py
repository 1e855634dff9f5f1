import copy

import pytest
import torch
import torch.nn.functional as F

from learners import ER, Naive
from memstore import Budget, Herding, MnemonicsStore, TaskContext
from memstore.capabilities import MissingCapabilityError

from .conftest import CLASSES, SHAPE, make_batch, make_model, make_store


def _sgd(model, loss, lr):
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p -= lr * g


def _filled_store(model=None, **kwargs):
    store = make_store(30, model=model, **kwargs)
    for seed in range(5):
        store.write(*make_batch((0, 1, 2, 3), n=6, seed=100 + seed), task=0 if kwargs.get("num_tasks") else None)
    store.calls.clear()
    store.params_at_write.clear()
    return store


def test_er_loss_is_stream_mean_plus_replay_mean():
    lr = 0.1
    model = make_model()
    manual = copy.deepcopy(model)
    store = _filled_store()
    x, y = make_batch((4, 5), n=4, seed=1)  # stream batch of 4, replay batch of 10: a single mean would differ
    replay = store.sample(10, generator=torch.Generator().manual_seed(7))
    assert len(replay) == 10

    learner = ER(model, store, lr=lr, replay_size=10, generator=torch.Generator().manual_seed(7))
    step = learner.observe(x, y)

    expected = F.cross_entropy(manual(x), y) + F.cross_entropy(manual(replay.x), replay.y)
    one_mean = F.cross_entropy(manual(torch.cat([x, replay.x])), torch.cat([y, replay.y]))
    assert step.replayed == 10
    assert step.loss == pytest.approx(float(expected.detach()), rel=1e-6)
    assert abs(float(one_mean.detach()) - float(expected.detach())) > 1e-3
    _sgd(manual, expected, lr)
    for p, q in zip(model.parameters(), manual.parameters()):
        torch.testing.assert_close(p, q)


def test_memory_is_written_after_the_update():
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    store = make_store(20, model=model)
    learner = ER(model, store, lr=0.5)
    learner.observe(*make_batch((0, 1), seed=2))
    assert store.calls == ["write"]  # empty memory: nothing to replay on the first batch
    after = [p.detach() for p in model.parameters()]
    assert any(not torch.equal(b, a) for b, a in zip(before, after))
    for at_write, a in zip(store.params_at_write[0], after):
        assert torch.equal(at_write, a)


def test_task_free_setting_replays_whole_memory_from_the_second_batch():
    store = make_store(50)
    learner = ER(make_model(), store, lr=0.1, replay_past_tasks_only=False)
    first = learner.observe(*make_batch((0, 1), seed=0))
    second = learner.observe(*make_batch((0, 1), seed=1))
    assert first.replayed == 0
    assert second.replayed == 4  # only the first batch's 4 items are stored: the current task is replayed
    assert set(store.samples[-1][1].tolist()) <= {0, 1}
    assert store.samples[-1][0] is None  # no task filter


def test_mir_setting_never_replays_the_current_task():
    tasks = [(0, 1), (2, 3), (4, 5)]
    store = make_store(40, num_tasks=3)
    learner = ER(make_model(), store, lr=0.1, replay_past_tasks_only=True, generator=torch.Generator().manual_seed(0))
    replayed_per_task = []
    for t, classes in enumerate(tasks):
        replayed = 0
        for b in range(8):
            store.samples.clear()
            replayed += learner.observe(*make_batch(classes, seed=10 * t + b), task=t).replayed
            earlier = {c for prev in tasks[:t] for c in prev}
            for task_filter, labels in store.samples:
                assert task_filter == list(range(t))
                assert set(labels.tolist()) <= earlier
        learner.end_task(t)
        replayed_per_task.append(replayed)
    assert replayed_per_task[0] == 0  # no replay during the first task
    assert replayed_per_task[1] > 0 and replayed_per_task[2] > 0
    assert sorted(set(store.sample(40).y.tolist())) == [0, 1, 2, 3, 4, 5]  # the current task *is* in memory


def test_past_tasks_setting_refuses_a_store_without_task_ids():
    # declared, not probed: the refusal comes at construction, typed, before any step
    with pytest.raises(MissingCapabilityError, match="samples by task"):
        ER(make_model(), make_store(20), lr=0.1, replay_past_tasks_only=True)
    ER(make_model(), make_store(20), lr=0.1)  # the whole-memory setting needs no task ids


def test_whole_memory_setting_does_replay_the_current_task():
    # the positive control of the test above: without the flag, current-task items come back
    store = make_store(40, num_tasks=2)
    learner = ER(make_model(), store, lr=0.1, generator=torch.Generator().manual_seed(0))
    for b in range(5):
        learner.observe(*make_batch((0, 1), seed=b), task=0)
    learner.end_task(0)
    seen = set()
    for b in range(10):
        store.samples.clear()
        learner.observe(*make_batch((2, 3), seed=50 + b), task=1)
        seen |= set(store.samples[0][1].tolist())
    assert seen & {2, 3}


def test_end_task_forwards_a_task_context_and_advances_the_task():
    model = make_model()
    store = make_store(20, num_tasks=3)
    learner = ER(model, store, lr=0.1, replay_past_tasks_only=True)
    learner.observe(*make_batch((0, 1)), task=0)
    learner.end_task()
    assert learner.current_task == 1
    assert isinstance(store.contexts[0], TaskContext)
    assert store.contexts[0].task == 0 and store.contexts[0].model is model
    learner.observe(*make_batch((2, 3)))  # no task given: continues with task 1, replaying task 0
    assert store.samples[-1][0] == [0]


def test_phase_data_hands_each_tasks_batches_to_end_task_once():
    store = make_store(20, num_tasks=2)
    learner = ER(make_model(), store, lr=0.1, phase_data=True)
    batches = [make_batch((0, 1), seed=s) for s in range(3)]
    for x, y in batches:
        learner.observe(x, y, task=0)
    learner.end_task()
    later = make_batch((2, 3), seed=9)
    learner.observe(*later, task=1)
    learner.end_task()
    first, second = store.contexts
    assert torch.equal(first.x, torch.cat([x for x, _ in batches]))
    assert torch.equal(first.y, torch.cat([y for _, y in batches]))
    assert torch.equal(second.x, later[0]) and torch.equal(second.y, later[1])  # the first task's batches are gone


def test_without_phase_data_or_task_ids_end_task_gets_no_items():
    store = make_store(20, num_tasks=2)
    learner = ER(make_model(), store, lr=0.1)
    learner.observe(*make_batch((0, 1)), task=0)
    learner.end_task()
    task_free_store = make_store(20)
    task_free = ER(make_model(), task_free_store, lr=0.1, phase_data=True)
    task_free.observe(*make_batch((0, 1)))  # task-free use: nothing is held, as no end_task is expected to take it
    task_free.end_task(0)
    assert store.contexts[0].x is None and task_free_store.contexts[0].x is None


def test_an_exemplar_store_selects_from_the_phase_data_an_er_learner_hands_it():
    store = MnemonicsStore(Budget.images(6, SHAPE, CLASSES, num_tasks=2), SHAPE, CLASSES, selection=Herding(),
                           dtype=torch.uint8, seed=0, num_tasks=2)
    learner = ER(make_model(), store, lr=0.1, phase_data=True)
    for seed in range(4):
        learner.observe(*make_batch((0, 1), n=6, seed=seed), task=0)
    learner.end_task()
    assert store.last_phase.new_classes == (0, 1) and store.last_phase.per_class == 3
    assert sorted(store.exemplars()[1].tolist()) == [0, 0, 0, 1, 1, 1]


def test_writes_carry_task_ids_only_when_known():
    store = make_store(20, num_tasks=2)
    learner = ER(make_model(), store, lr=0.1)
    learner.observe(*make_batch((2, 3)), task=1)
    assert store.sample(10, tasks=[1]).y.numel() == 4
    assert store.sample(10, tasks=[0]).y.numel() == 0


def test_naive_is_plain_sgd_on_the_stream_and_ignores_the_store():
    lr = 0.2
    model = make_model()
    manual = copy.deepcopy(model)
    store = _filled_store()
    learner = Naive(model, store, lr=lr)
    x, y = make_batch((4, 5), seed=3)
    step = learner.observe(x, y)
    assert step.replayed == 0 and store.calls == []
    _sgd(manual, F.cross_entropy(manual(x), y), lr)
    for p, q in zip(model.parameters(), manual.parameters()):
        torch.testing.assert_close(p, q)


def test_learner_owns_plain_sgd():
    learner = ER(make_model(), make_store(), lr=0.03)
    assert type(learner.optimizer) is torch.optim.SGD
    group = learner.optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.03, 0, 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        ER(make_model(), None, lr=0.1)
    with pytest.raises(ValueError):
        Naive(make_model(), lr=0.0)


def test_one_mean_is_one_cross_entropy_over_the_stream_and_the_replay():
    from memstore import Batch

    x, y = make_batch((4, 5), n=1, seed=1)
    replay = Batch(*make_batch((0, 1, 2), n=5, seed=2))
    model = make_model()
    one = ER(model, make_store(), lr=0.1, one_mean=True).loss(x, y, replay)
    two = ER(model, make_store(), lr=0.1).loss(x, y, replay)
    torch.testing.assert_close(one, F.cross_entropy(model(torch.cat([x, replay.x])), torch.cat([y, replay.y])))
    torch.testing.assert_close(two, F.cross_entropy(model(x), y) + F.cross_entropy(model(replay.x), replay.y))
    assert not torch.allclose(one, two)
