"""Time per ER step with memstore.distributed: 2 ranks (replicated, sharded) against 1 rank, and bytes communicated.

Each rank runs the GMED protocol's step on MNIST-shaped random items (MLP 784-400-400-10 in DistributedDataParallel,
SGD lr 0.05, stream batch 10 per rank, replay 10 from a RawStore memory of ``--images`` raw images' bits), gloo on
127.0.0.1, one torch thread per rank; the 1-rank row is the same loop without DDP or a wrapper. The memory's traffic
is what the wrapper counts (``bytes_sent``); DDP's own is its gradient all-reduce, 4 bytes per parameter a step::

    python -m benchmarks.ddp_timing [--steps 300 --images 500 --out docs/results/ddp_timing.json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import socket
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from memstore import Budget, RawStore
from memstore.distributed import ReplicatedMemory, ShardedMemory, shard_budget

from .arguments import output_file, positive_int, refusing_bad_input
from .models import MLPSpec
from .provenance import provenance

SHAPE, CLASSES = (1, 28, 28), 10


def _model() -> nn.Module:
    return MLPSpec((400, 400)).seeded(SHAPE, CLASSES, 0)  # the same init on every rank


def _loop(model: nn.Module, memory, steps: int, rank: int) -> float:
    """Seconds per step of ``steps`` ER steps (after 20 warm-up steps)."""
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(rank)
    start = 0.0
    for step in range(steps + 20):
        if step == 20:
            start = time.perf_counter()
        x = torch.randint(0, 256, (10, *SHAPE), generator=generator).float() / 255
        y = torch.randint(0, CLASSES, (10,), generator=generator)
        loss = F.cross_entropy(model(x), y)
        if len(memory):
            replay = memory.sample(10)
            loss = loss + F.cross_entropy(model(replay.x), replay.y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        memory.write(x, y)
    return (time.perf_counter() - start) / steps


def _worker(rank: int, world: int, port: int, mode: str, args: argparse.Namespace, out: str) -> None:
    torch.set_num_threads(1)
    budget = Budget.images(args.images, SHAPE, CLASSES)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        if mode == "replicated":
            memory = ReplicatedMemory(RawStore(budget, SHAPE, CLASSES, seed=0))
        else:
            memory = ShardedMemory(RawStore(shard_budget(budget, rank, world), SHAPE, CLASSES, seed=rank), budget)
        model = DistributedDataParallel(_model())
        seconds = _loop(model, memory, args.steps, rank)
        sent = memory.bytes_sent / (args.steps + 20)
        Path(out, f"{rank}.pkl").write_bytes(pickle.dumps({"seconds": seconds, "sent_per_step": sent}))
    finally:
        dist.destroy_process_group()


def _ranks(mode: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as out:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(_worker, args=(2, port, mode, args, out), nprocs=2, join=True)
        ranks = [pickle.loads(Path(out, f"{r}.pkl").read_bytes()) for r in range(2)]
    return {"ms_per_step": 1000 * max(r["seconds"] for r in ranks),
            "memory_bytes_sent_per_step_per_rank": ranks[0]["sent_per_step"]}


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=positive_int, default=300)
    parser.add_argument("--images", type=positive_int, default=500)
    parser.add_argument("--out", type=output_file, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    budget = Budget.images(args.images, SHAPE, CLASSES)
    single = 1000 * _loop(_model(), RawStore(budget, SHAPE, CLASSES, seed=0), args.steps, 0)
    params = sum(p.numel() for p in _model().parameters())
    result = {"steps": args.steps, "images": args.images, "one_rank_ms_per_step": single,
              "ddp_gradient_bytes_per_step": 4 * params,
              "replicated": _ranks("replicated", args), "sharded": _ranks("sharded", args),
              "provenance": provenance()}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
