"""memstore.distributed with two real ranks: gloo on 127.0.0.1, torch.multiprocessing.spawn, a DDP-wrapped model."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import memstore
from memstore import Budget, JPEGStore, RawStore
from memstore.distributed import ReplicatedMemory, ShardedMemory, shard_budget
from memstore.errors import InvalidInputError
from memstore.testing.strategies import state_equal

SHAPE, CLASSES, WORLD, STEPS = (1, 8, 8), 10, 2, 50
BUDGET = Budget.images(40, SHAPE, CLASSES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_batch(rank: int, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    size = 6 + rank * 4  # the ranks give batches of different sizes
    x = torch.randint(0, 256, (size, *SHAPE), generator=generator).float() / 255
    return x, torch.randint(0, CLASSES, (size,), generator=generator)


def _train(memory: ReplicatedMemory | ShardedMemory, rank: int, budget: Budget) -> list[int]:
    """An ER loop of STEPS steps on a DDP model; returns the logical ledger's charged bits after every write."""
    torch.manual_seed(0)  # the model's init (DDP broadcasts rank 0's anyway)
    model = DistributedDataParallel(nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(100 + rank)
    charged = []
    for step in range(STEPS):
        x, y = _rank_batch(rank, step, generator)
        loss = F.cross_entropy(model(x), y)
        if memory.store.can_sample:
            replay = memory.sample(10)
            loss = loss + F.cross_entropy(model(replay.x), replay.y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        memory.write(x, y)
        charged.append(memory.ledger().charged(budget))
    return charged


def _worker(rank: int, port: int, mode: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        _work(rank, mode, Path(out))
        dist.barrier()  # no rank tears the group down while another is still in a collective with it
    finally:
        dist.destroy_process_group()


def _work(rank: int, mode: str, folder: Path) -> None:
    """One rank's part of ``mode``: its results pickled to ``folder / rank-<rank>.pkl``."""
    if mode == "mismatched":  # rank 1 builds its replica with another seed; its shard takes the whole budget
        errors = []
        for build in (lambda: ReplicatedMemory(RawStore(BUDGET, SHAPE, CLASSES, seed=7 + rank)),
                      lambda: ShardedMemory(RawStore(BUDGET if rank else shard_budget(BUDGET, 0, WORLD), SHAPE,
                                                     CLASSES, seed=0), BUDGET)):
            try:
                build()
                errors.append(None)
            except InvalidInputError as exc:
                errors.append(str(exc))
        (folder / f"rank-{rank}.pkl").write_bytes(pickle.dumps(errors))
        return
    if mode == "replicated":
        memory = ReplicatedMemory(RawStore(BUDGET, SHAPE, CLASSES, seed=7))
        charged = _train(memory, rank, BUDGET)
        memory.save(folder / "saved.zarr")
    else:
        share = shard_budget(BUDGET, rank, WORLD)
        store = (RawStore if rank == 0 else JPEGStore)(share, SHAPE, CLASSES, seed=7 + rank)
        memory = ShardedMemory(store, BUDGET)
        charged = _train(memory, rank, BUDGET)
        memory.save(folder)
    result = {"state": memory.store.state_dict(), "charged": charged, "len": len(memory.store),
              "sent": memory.bytes_sent, "sample": memory.sample(5).keys}
    (folder / f"rank-{rank}.pkl").write_bytes(pickle.dumps(result))


def _run(mode: str, tmp_path: Path) -> list[dict]:
    mp.spawn(_worker, args=(_free_port(), mode, str(tmp_path)), nprocs=WORLD, join=True)
    return [pickle.loads((tmp_path / f"rank-{r}.pkl").read_bytes()) for r in range(WORLD)]


def test_replicated_ranks_hold_identical_stores_and_rank_0_saves_it(tmp_path: Path) -> None:
    first, second = _run("replicated", tmp_path)
    assert state_equal(first["state"], second["state"])  # the same global writes, the same seed
    assert first["len"] == 40 and max(first["charged"]) <= BUDGET.bits
    assert not torch.equal(first["sample"], second["sample"])  # each rank samples with its own generator
    reopened = memstore.open(tmp_path / "saved.zarr")
    assert state_equal(reopened.state_dict(), first["state"])
    assert first["sent"] == second["sent"] > 0


def test_sharded_ledger_sums_the_shards_and_never_exceeds_the_budget(tmp_path: Path) -> None:
    first, second = _run("sharded", tmp_path)
    assert first["charged"] == second["charged"]  # one all_reduced logical ledger
    assert max(first["charged"]) <= BUDGET.bits and first["charged"][-1] > BUDGET.bits // 2
    shards = [memstore.open(tmp_path / f"shard-{r}-of-{WORLD}.zarr") for r in range(WORLD)]
    assert sum(s.ledger().charged(s.budget) for s in shards) == first["charged"][-1]
    assert sum(s.budget.bits for s in shards) == BUDGET.bits
    for shard, result in zip(shards, (first, second)):
        assert state_equal(shard.state_dict(), result["state"])


def test_ranks_that_disagree_are_refused(tmp_path: Path) -> None:
    first, second = _run("mismatched", tmp_path)
    assert "same store config, seed and size" in first[0] and first[0] == second[0]
    assert first[1] is None and "share is" in second[1]


def test_shard_budgets_sum_to_the_budget_and_wrappers_need_a_process_group() -> None:
    assert [shard_budget(Budget(10), r, 3).bits for r in range(3)] == [4, 3, 3]
    with pytest.raises(InvalidInputError, match="not initialised"):
        ReplicatedMemory(RawStore(BUDGET, SHAPE, CLASSES, seed=0))
    with pytest.raises(InvalidInputError, match="Budget"):
        shard_budget(100, 0, 2)  # type: ignore[arg-type]
