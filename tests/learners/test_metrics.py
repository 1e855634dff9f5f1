import math

import pytest
import torch
from torch import nn

from learners import AccuracyMatrix, average_accuracy, forgetting, learning_accuracy, retention, score

# a[i][j]: accuracy on task j after training through task i (hand-made, 3 tasks)
ROWS = [
    [0.90, 0.10, 0.00],
    [0.95, 0.80, 0.20],
    [0.50, 0.50, 0.70],
]
SIZES = [100, 200, 100]


def test_average_accuracy_is_mean_of_final_row():
    m = AccuracyMatrix.from_rows(ROWS, SIZES)
    assert average_accuracy(m) == pytest.approx((0.5 + 0.5 + 0.7) / 3)
    assert m.average_accuracy() == pytest.approx((0.5 + 0.5 + 0.7) / 3)


def test_forgetting_uses_best_earlier_accuracy_and_skips_last_task():
    # j=0: max(0.90, 0.95) - 0.5 = 0.45 (the best row is not the task's own); j=1: max(0.10, 0.80) - 0.5 = 0.30
    m = AccuracyMatrix.from_rows(ROWS, SIZES)
    assert forgetting(m) == pytest.approx((0.45 + 0.30) / 2)


def test_forgetting_excludes_final_row_from_the_max_and_can_be_negative():
    rows = [[0.6, 0.0], [0.9, 0.8]]  # task 0 improved after task 1: backward transfer, negative forgetting
    assert forgetting(AccuracyMatrix.from_rows(rows)) == pytest.approx(0.6 - 0.9)


def test_retention_weights_tasks_by_test_size():
    m = AccuracyMatrix.from_rows(ROWS, SIZES)
    assert retention(m) == pytest.approx((0.5 * 100 + 0.5 * 200 + 0.7 * 100) / 400)
    equal = AccuracyMatrix.from_rows(ROWS, [1, 1, 1])
    assert retention(equal) == pytest.approx(average_accuracy(equal))


def test_learning_accuracy_is_the_mean_of_the_diagonal_unweighted_by_test_size():
    m = AccuracyMatrix.from_rows(ROWS, SIZES)
    assert learning_accuracy(m) == pytest.approx((0.90 + 0.80 + 0.70) / 3)  # not (90 + 160 + 70) / 400
    assert m.learning_accuracy() == pytest.approx((0.90 + 0.80 + 0.70) / 3)
    with pytest.raises(ValueError, match="1 of 3 rows"):
        learning_accuracy(AccuracyMatrix((ROWS[0],), SIZES))


def test_single_task_forgetting_is_undefined():
    assert math.isnan(forgetting(AccuracyMatrix.from_rows([[0.7]])))


def test_incomplete_matrix_refuses_summaries_and_grows_by_rows():
    m = AccuracyMatrix((), (10, 10))
    with pytest.raises(ValueError):
        m.average_accuracy()
    m = m.with_row([0.5, 0.0]).with_row([0.4, 0.9])
    assert m.complete and m.average_accuracy() == pytest.approx(0.65)


@pytest.mark.parametrize("rows, sizes", [([[0.1, 0.2, 0.3]], [1, 1]), ([[0.1]], [0]), ([[0.1], [0.2]], [1])])
def test_malformed_matrices_are_rejected(rows, sizes):
    with pytest.raises(ValueError):
        AccuracyMatrix.from_rows(rows, sizes)


def test_score_counts_correct_argmax_in_eval_mode_and_restores_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]).reshape(3, 1, 1, 2)
    y = torch.tensor([0, 1, 1])
    model.train()
    result = score(model, x, y, batch_size=2)
    assert (result.correct, result.total) == (2, 3)
    assert result.accuracy == pytest.approx(2 / 3)
    assert model.training


def test_average_incremental_accuracy_pools_the_tasks_seen_so_far():
    # after task 0: 0.9 on task 0; after task 1: (0.6·10 + 0.8·30) / 40 = 0.75; mean 0.825
    matrix = AccuracyMatrix.from_rows([[0.9, 0.0], [0.6, 0.8]], [10, 30])
    assert matrix.average_incremental_accuracy() == pytest.approx((0.9 + 0.75) / 2)
    with pytest.raises(ValueError, match="rows"):
        AccuracyMatrix.from_rows([[0.9, 0.0]], [10, 30]).average_incremental_accuracy()


def test_score_among_seen_classes_and_through_another_forward():
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))  # unmasked, every item is class 2
    x, y = torch.zeros(4, 2), torch.tensor([1, 1, 1, 1])
    assert score(model, x, y).correct == 0
    assert score(model, x, y, seen=torch.tensor([True, True, False])).correct == 4
    assert score(model, x, y, logits=lambda batch: -model(batch)).correct == 0  # argmax of -bias is class 0
    assert score(model, x, torch.zeros(4, dtype=torch.long), logits=lambda batch: -model(batch)).correct == 4
