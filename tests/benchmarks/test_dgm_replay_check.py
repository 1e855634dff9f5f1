"""The replay check tells a generator that forgot a class from a solver that did."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from benchmarks.datasets import load_dataset
from benchmarks.dgm_replay_check import check_store, train_reference
from memstore import Batch


class _Stub:
    """A 'store' that has seen classes 0..2, draws real training items of the class asked for (of ``forgot`` it
    draws class 1's instead), and whose solver is the reference itself."""

    def __init__(self, x, y, judge, forgot):
        self.x, self.y, self.forgot = x, y, forgot
        self.class_slot = torch.tensor([0, 1, 2, -1, -1, -1, -1, -1, -1, -1])
        self.discriminator = SimpleNamespace(eval=lambda: None, classify=judge)

    def sample(self, n, *, classes, generator):
        label = 1 if classes[0] == self.forgot else classes[0]
        pool = torch.nonzero(self.y == label).flatten()
        rows = pool[torch.randint(len(pool), (n,), generator=generator)]
        return Batch(self.x[rows], self.y[rows], None, None)


def test_a_forgotten_class_is_the_generators_and_the_others_are_recognised():
    data = load_dataset("digits")
    keep = data.train_y < 3
    judge = train_reference(data.train_x[keep], data.train_y[keep], 3, torch.Generator().manual_seed(0), epochs=5)
    rows = check_store(_Stub(data.train_x, data.train_y, judge, forgot=2), judge, data.test_x, data.test_y,
                       per_class=100)
    assert [row.label for row in rows] == [0, 1, 2]
    assert all(row.reference_recognised > 80 and row.solver_recognised > 80 for row in rows)
    assert rows[0].generated_recognised > 90 and rows[1].generated_recognised > 90
    assert rows[2].generated_recognised < 10 and rows[2].generated_as[1] > 90
