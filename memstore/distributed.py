"""One logical memory over the ranks of ``torch.distributed`` (DDP training): replicated or sharded.

::

    replicated:  rank r's batch ──all_gather (sizes, then padded x, y)──▶ the global batch, in rank order
                 every rank: store.write(global batch)          same seed + same writes = identical stores
                 sample: each rank's own generator (never the store's, whose state all replicas must share)
    sharded:     rank r's batch ──▶ rank r's store (1/world of the budget)        nothing sent on write
                 sample: from the rank's own shard;  ledger(): all_reduce of every field = the logical ledger

Choose *replicated* when the memory is small beside the model and each rank should replay from everything seen by
every rank (it costs one all_gather of the stream batch per step, and world × the memory); choose *sharded* when the
memory is large, or its writes are expensive (a learned codec trains on every write): each rank stores and replays
its own share of the stream, nothing is sent on write, and the budget is split so the shards together spend at most
the logical budget. Both count the bytes they communicate (``bytes_sent``, ``bytes_received``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from .budget import Budget, Ledger
from .checks import check_int
from .errors import InvalidInputError
from .store import Batch, MemoryStore

__all__ = ["ReplicatedMemory", "ShardedMemory", "shard_budget"]


def _group_size(group: Any) -> tuple[int, int]:
    if not dist.is_available() or not dist.is_initialized():
        raise InvalidInputError("torch.distributed is not initialised: call init_process_group first")
    return dist.get_rank(group), dist.get_world_size(group)


def shard_budget(budget: Budget, rank: int, world_size: int) -> Budget:
    """Rank ``rank``'s share of ``budget``: ``bits // world_size``, the remainder to the first ranks, so the shares
    sum to the budget exactly."""
    if not isinstance(budget, Budget):
        raise InvalidInputError(f"budget must be a memstore.Budget, got {type(budget).__name__}")
    world_size = check_int("world_size", world_size, low=1)
    rank = check_int("rank", rank, low=0, high=world_size - 1)
    share, extra = divmod(budget.bits, world_size)
    return dataclasses.replace(budget, bits=share + (1 if rank < extra else 0))


class _Ranked:
    """What both modes share: the group, the rank's sampling generator, the traffic counters."""

    def __init__(self, store: MemoryStore, group: Any, sample_seed: int | None) -> None:
        if not isinstance(store, MemoryStore):
            raise InvalidInputError(f"store must be a memstore.MemoryStore, got {type(store).__name__}")
        self.rank, self.world_size = _group_size(group)
        self.store, self.group = store, group
        base = store.generator.initial_seed() if sample_seed is None else sample_seed
        self.generator = torch.Generator().manual_seed(base + 1 + self.rank)  # a stream of its own per rank
        self.bytes_sent = self.bytes_received = 0

    def _same_on_every_rank(self, value: Any, what: str) -> None:
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value, group=self.group)
        if any(v != values[0] for v in values):
            raise InvalidInputError(f"every rank must give the same {what}, got {values}")

    def sample(self, n: int, **options: Any) -> Batch:
        """The store's ``sample``, drawn with this rank's own generator unless one is given (never the store's)."""
        if options.get("generator") is None:
            options["generator"] = self.generator
        return self.store.sample(n, **options)

    def __len__(self) -> int:
        return len(self.store)


class ReplicatedMemory(_Ranked):
    """Every rank holds an identical ``store`` (built with the same config and seed on every rank, checked here):
    each ``write`` gathers the ranks' batches and writes the global batch everywhere."""

    def __init__(self, store: MemoryStore, *, group: Any = None, sample_seed: int | None = None) -> None:
        super().__init__(store, group, sample_seed)
        self._same_on_every_rank((store.config(), store.generator.initial_seed(), len(store)), "store config, "
                                 "seed and size")

    def gather(self, x: Tensor, y: Tensor, task: int | None) -> tuple[Tensor, Tensor]:
        """The ranks' batches, concatenated in rank order (every rank must give the same ``task``)."""
        if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.shape[:1] != y.shape[:1]:
            raise InvalidInputError("write needs tensors x (B, C, H, W) and y (B,) of one batch size")
        header = torch.tensor([x.shape[0], -1 if task is None else task], dtype=torch.int64)
        headers = [torch.empty_like(header) for _ in range(self.world_size)]
        dist.all_gather(headers, header, group=self.group)
        if any(int(h[1]) != int(header[1]) for h in headers):
            raise InvalidInputError(f"every rank must write the same task, got {[int(h[1]) for h in headers]}")
        sizes = [int(h[0]) for h in headers]
        longest = max(sizes)
        padded_x = torch.zeros((longest, *x.shape[1:]), dtype=x.dtype)
        padded_y = torch.zeros(longest, dtype=y.dtype)
        padded_x[: x.shape[0]], padded_y[: y.shape[0]] = x.detach().cpu(), y.detach().cpu()
        xs = [torch.empty_like(padded_x) for _ in sizes]
        ys = [torch.empty_like(padded_y) for _ in sizes]
        dist.all_gather(xs, padded_x, group=self.group)
        dist.all_gather(ys, padded_y, group=self.group)
        sent = header.nbytes + padded_x.nbytes + padded_y.nbytes
        self.bytes_sent += sent
        self.bytes_received += sent * (self.world_size - 1)
        return (torch.cat([part[:k] for part, k in zip(xs, sizes)]),
                torch.cat([part[:k] for part, k in zip(ys, sizes)]))

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        """Gather every rank's batch, then write the global batch on every rank; returns the items admitted."""
        global_x, global_y = self.gather(x, y, task)
        return self.store.write(global_x, global_y, task=task)

    def ledger(self) -> Ledger:
        """The one logical memory's ledger (every replica's)."""
        return self.store.ledger()

    def save(self, target: Any, **options: Any) -> Any:
        """Rank 0 saves (the replicas are identical); every rank waits for it."""
        saved = self.store.save(target, **options) if self.rank == 0 else None
        dist.barrier(group=self.group)
        return saved


class ShardedMemory(_Ranked):
    """Rank ``r`` keeps ``store``, built with :func:`shard_budget` (its share of ``budget``, checked here), and writes
    its own batches; ``ledger()`` sums the shards."""

    def __init__(self, store: MemoryStore, budget: Budget, *, group: Any = None,
                 sample_seed: int | None = None) -> None:
        super().__init__(store, group, sample_seed)
        self._same_on_every_rank(budget, "logical budget")
        share = shard_budget(budget, self.rank, self.world_size)
        if store.budget.bits > share.bits or store.budget.charge_models != budget.charge_models:
            raise InvalidInputError(f"rank {self.rank}'s store has {store.budget}; its share is {share} "
                                    "(build it with shard_budget)")
        self.budget = budget

    def write(self, x: Tensor, y: Tensor, *, task: int | None = None) -> int:
        """This rank's batch into this rank's shard (nothing is communicated)."""
        return self.store.write(x, y, task=task)

    def ledger(self) -> Ledger:
        """The logical ledger: every field summed over the shards (one all_reduce)."""
        fields = ("payload", "labels", "index", "models")
        local = self.store.ledger()
        values = torch.tensor([getattr(local, name) for name in fields], dtype=torch.int64)
        dist.all_reduce(values, group=self.group)
        self.bytes_sent += values.nbytes
        self.bytes_received += values.nbytes * (self.world_size - 1)
        return Ledger(**{name: int(v) for name, v in zip(fields, values)})

    def save(self, folder: str | Path, **options: Any) -> Path:
        """Every rank saves its shard as ``folder/shard-<rank>-of-<world>.zarr``; returns this rank's path."""
        path = Path(folder) / f"shard-{self.rank}-of-{self.world_size}.zarr"
        self.store.save(path, **options)
        dist.barrier(group=self.group)
        return path
