import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from benchmarks.datasets import load_dataset, load_digits, load_mnist, resolve_data_root
from benchmarks.streams import Permuted, Phases, Rotated, Split


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_digits_dataset_is_scaled_and_split_deterministically(digits):
    assert digits.item_shape == (1, 8, 8)
    assert digits.train_x.dtype == torch.float32 and digits.train_y.dtype == torch.int64
    assert float(digits.train_x.min()) == 0.0 and float(digits.train_x.max()) == 1.0
    assert len(digits.train_y) + len(digits.test_y) == 1797
    assert len(digits.test_y) == 450
    fresh = load_digits()
    assert torch.equal(fresh.test_x, digits.test_x) and torch.equal(fresh.train_y, digits.train_y)


def test_split_tasks_hold_consecutive_class_pairs(digits):
    stream = Split(examples_per_task=100).build(digits, _gen(0))
    assert len(stream) == 5
    for t, task in enumerate(stream):
        pair = {2 * t, 2 * t + 1}
        assert set(task.train_y.tolist()) == pair  # {0,1},{2,3},...,{8,9}: not the off-by-one split
        assert set(task.test_y.tolist()) == pair
        assert task.train_x.shape == (100, 1, 8, 8)
        assert len(task.test_y) == int(torch.isin(digits.test_y, torch.tensor(sorted(pair))).sum())
    assert sum(stream.test_sizes) == len(digits.test_y)


def test_split_with_all_examples_and_a_test_cap(digits):
    stream = Split(examples_per_task=None, test_cap=20).build(digits, _gen(0))
    for task in stream:
        classes = torch.tensor(task.classes)
        assert len(task.train_y) == int(torch.isin(digits.train_y, classes).sum())
        assert len(task.test_y) == 20


def test_split_refuses_more_examples_than_exist(digits):
    with pytest.raises(ValueError, match="requested"):
        Split(examples_per_task=1000).build(digits, _gen(0))


def test_streams_are_deterministic_under_a_seed(digits):
    specs = (Split(examples_per_task=50), Permuted(num_tasks=2, examples_per_task=50))
    specs += (Rotated(num_tasks=2, examples_per_task=50),)
    for spec in specs:
        a, b, c = (spec.build(digits, _gen(s)) for s in (3, 3, 4))
        for ta, tb, tc in zip(a, b, c):
            assert torch.equal(ta.train_x, tb.train_x) and torch.equal(ta.train_y, tb.train_y)
            assert torch.equal(ta.test_x, tb.test_x)
            assert not torch.equal(ta.train_x, tc.train_x)


def test_stream_order_is_shuffled_within_a_task(digits):
    task = Split(examples_per_task=None).build(digits, _gen(0)).tasks[0]
    labels = task.train_y.tolist()
    assert labels != sorted(labels)
    batches = list(task.batches(10))
    assert sum(len(y) for _, y in batches) == len(labels) and len(batches[0][1]) == 10


def test_permuted_tasks_permute_pixels_of_the_full_test_set(digits):
    stream = Permuted(num_tasks=3, examples_per_task=200).build(digits, _gen(1))
    assert len(stream) == 3
    flat = digits.test_x.flatten(1)
    for task in stream:
        assert torch.equal(task.test_y, digits.test_y)
        assert len(task.train_y) == 200
        assert torch.equal(task.test_x.flatten(1).sort(dim=1).values, flat.sort(dim=1).values)
        assert not torch.equal(task.test_x.flatten(1), flat)
    assert not torch.equal(stream.tasks[0].test_x, stream.tasks[1].test_x)


def test_rotation_angles_are_drawn_evenly_over_0_to_180():
    spec = Rotated(num_tasks=20)
    angles = spec.angles(_gen(0))
    assert len(angles) == 20
    for k, a in enumerate(angles):
        assert 9 * k <= a <= 9 * (k + 1)
    assert angles == spec.angles(_gen(0)) and angles != spec.angles(_gen(1))


def test_rotated_tasks_rotate_the_test_set_by_their_angle(digits):
    spec = Rotated(num_tasks=4, examples_per_task=100, test_cap=50)
    stream = spec.build(digits, _gen(5))
    assert len(stream) == 4 and all(len(t.test_y) == 50 and len(t.train_y) == 100 for t in stream)
    # rebuild the same draws: the cap subset first, then the angles
    g = _gen(5)
    keep = torch.randperm(len(digits.test_y), generator=g)[:50].sort().values
    angles = spec.angles(g)
    for task, angle in zip(stream, angles):
        expected = TF.rotate(digits.test_x[keep], angle, interpolation=InterpolationMode.BILINEAR).clamp(0, 1)
        torch.testing.assert_close(task.test_x, expected)
        assert f"{angle:.1f}" in task.description
    assert float(stream.tasks[0].test_x.min()) >= 0 and float(stream.tasks[3].test_x.max()) <= 1
    assert not torch.allclose(stream.tasks[3].test_x, digits.test_x[keep])  # ~135-180 degrees: far from upright


def test_data_root_resolution(monkeypatch, tmp_path):
    assert resolve_data_root(tmp_path) == tmp_path
    monkeypatch.setenv("MEMSTORE_DATA", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"


def test_missing_mnist_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST"):
        load_mnist(tmp_path)


@pytest.mark.usefixtures("mnist_root")
def test_mnist_split_uses_1010_images_per_task_when_asked():
    mnist = load_dataset("mnist")
    assert mnist.train_x.shape == (60000, 1, 28, 28) and len(mnist.test_y) == 10000
    assert float(mnist.train_x.max()) == 1.0 and mnist.train_x.dtype == torch.float32
    stream = Split(examples_per_task=1010).build(mnist, _gen(0))
    assert [len(t.train_y) for t in stream] == [1010] * 5
    assert sum(stream.test_sizes) == 10000


def test_colour_images_are_the_same_everywhere_and_on_the_uint8_grid():
    from benchmarks.datasets import load_colour

    first, again = load_colour(), load_colour()
    assert first.train_x.shape == (6000, 3, 32, 32) and first.test_x.shape == (1000, 3, 32, 32)
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_y, again.test_y)
    assert torch.equal(torch.round(first.train_x * 255) / 255, first.train_x)
    assert first.train_y.bincount().tolist() == [600] * 10 and 0 <= float(first.train_x.min()) < 0.5
    stream = Split(examples_per_task=1000).build(first, _gen(0))
    assert stream.item_shape == (3, 32, 32) and [t.classes for t in stream] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


@pytest.mark.usefixtures("mnist_root")
def test_inverted_mnist_is_one_minus_mnist():
    mnist, inverted = load_dataset("mnist"), load_dataset("mnist-inverted")
    assert torch.equal(inverted.train_x[:100], 1 - mnist.train_x[:100]) and torch.equal(inverted.test_y, mnist.test_y)


@pytest.mark.usefixtures("mnist_root")
def test_colour_mnist_is_each_digit_in_two_colours_of_its_own():
    mnist, colour = load_dataset("mnist"), load_dataset("colour-mnist")
    assert colour.train_x.shape == (60000, 3, 32, 32) and torch.equal(colour.test_y, mnist.test_y)
    assert torch.equal(torch.round(colour.train_x * 255) / 255, colour.train_x)
    gray = torch.nn.functional.pad(mnist.train_x[:50], (2, 2, 2, 2))
    backgrounds, foregrounds = [], []
    for image, x in zip(colour.train_x[:50], gray):
        background, foreground = image[:, x[0] == 0], image[:, x[0] == 1]
        assert torch.equal(background, background[:, :1].expand_as(background))  # one colour off the digit
        assert foreground.numel() == 0 or torch.equal(foreground, foreground[:, :1].expand_as(foreground))
        backgrounds.append(background[:, 0])
        if foreground.numel():
            foregrounds.append(foreground[:, 0])
            assert abs(float(background[:, 0].mean() - foreground[:, 0].mean())) >= 0.3 - 1 / 255
    assert len({tuple(c.tolist()) for c in backgrounds}) > 40  # drawn per image


def test_phases_hold_the_base_classes_then_the_rest_in_a_seeded_order(digits):
    stream = Phases(base_classes=4, phases=3).build(digits, _gen(0))
    groups = [task.classes for task in stream]
    assert [len(g) for g in groups] == [4, 2, 2, 2]
    assert sorted(c for g in groups for c in g) == list(range(10))
    for task in stream:
        assert set(torch.unique(task.test_y).tolist()) == set(task.classes)
        assert int(task.train_y.numel()) == int(torch.isin(digits.train_y, torch.tensor(task.classes)).sum())
    again = Phases(base_classes=4, phases=3).build(digits, _gen(0))
    assert [t.classes for t in again] == groups
    assert [t.classes for t in Phases(base_classes=4, phases=3).build(digits, _gen(1))] != groups


def test_phases_refuse_more_groups_than_classes(digits):
    with pytest.raises(ValueError, match="more than 10 classes"):
        Phases(base_classes=5, phases=6).build(digits, _gen(0))
    with pytest.raises(ValueError, match="phases"):
        Phases(phases=0)


def test_nearest_rotation_keeps_the_images_values_and_bilinear_blends_them():
    from benchmarks.datasets import Dataset

    x = (torch.rand(40, 1, 8, 8, generator=_gen(0)) > 0.5).float()  # binary images: nearest keeps them binary
    y = torch.arange(40) % 10
    data = Dataset("binary", x, y, x[:10], y[:10], 10)
    nearest = Rotated(num_tasks=2, examples_per_task=20, interpolation="nearest").build(data, _gen(1))
    bilinear = Rotated(num_tasks=2, examples_per_task=20).build(data, _gen(1))
    assert set(torch.unique(nearest.tasks[1].train_x).tolist()) <= {0.0, 1.0}
    assert len(torch.unique(bilinear.tasks[1].train_x)) > 2
    with pytest.raises(ValueError, match="interpolation"):
        Rotated(interpolation="bicubic")


def test_split_can_keep_only_its_first_tasks(digits):
    full, first = Split(examples_per_task=50).build(digits, _gen(3)), Split(examples_per_task=50, tasks=2)
    kept = first.build(digits, _gen(3))
    assert first.num_tasks(10) == 2 and len(kept.tasks) == 2
    for a, b in zip(kept.tasks, full.tasks[:2]):
        assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    with pytest.raises(ValueError, match="not 6"):
        Split(tasks=6).num_tasks(10)


def test_split_per_class_draws_that_many_of_each_class_in_one_shuffled_order(digits):
    stream = Split(examples_per_task=None, per_class=20).build(digits, _gen(1))
    for task in stream.tasks:
        counts = torch.bincount(task.train_y, minlength=10)
        assert sorted(counts[counts > 0].tolist()) == [20, 20] and len(task.train_y) == 40
        assert len(set(task.train_y[:20].tolist())) == 2  # shuffled across the task, not class after class
    again = Split(examples_per_task=None, per_class=20).build(digits, _gen(1))
    assert torch.equal(again.tasks[3].train_x, stream.tasks[3].train_x)
    with pytest.raises(ValueError, match="per_class"):
        Split(per_class=20)  # examples_per_task's default of 1000 as well
    with pytest.raises(ValueError, match="available"):
        Split(examples_per_task=None, per_class=10_000).build(digits, _gen(0))
