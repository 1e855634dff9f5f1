"""Throughput of write(10) and sample(10) per step, JPEGStore against RawStore, on real MNIST items.

Both stores get the same budget (``--budget`` raw images) and the same stream of MNIST training images (JPEG sizes
depend on content, so noise would be unfair). Write and sample are timed separately; stores alternate in rounds and
the median round is reported. Also reports batch decode time per item (``sample(n)`` for a large ``n``).

    python -m benchmarks.store_speed [--steps 2000] [--rounds 3] [--budget 500] [--quality 50] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from memstore import Budget, JPEGStore, MemoryStore, RawStore

from .arguments import output_file, positive_int, refusing_bad_input
from .datasets import load_dataset

BATCH = 10


def time_store(store: MemoryStore, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(µs per write of BATCH, µs per sample of BATCH) over the stream."""
    write = sample = 0.0
    for i in range(0, x.shape[0], BATCH):
        start = time.perf_counter()
        store.write(x[i:i + BATCH], y[i:i + BATCH])
        mid = time.perf_counter()
        store.sample(BATCH)
        sample += time.perf_counter() - mid
        write += mid - start
    steps = x.shape[0] // BATCH
    return write / steps * 1e6, sample / steps * 1e6


def decode_us_per_item(store: MemoryStore, n: int = 500, repeats: int = 5) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        batch = store.sample(n)
    return (time.perf_counter() - start) / (repeats * len(batch)) * 1e6


def run(steps: int, rounds: int, budget_images: int, quality: int) -> dict[str, object]:
    torch.set_num_threads(1)
    data = load_dataset("mnist", None)
    x, y = data.train_x[: steps * BATCH], data.train_y[: steps * BATCH]
    budget = Budget.images(budget_images, (1, 28, 28), 10)
    builders: dict[str, Callable[[], MemoryStore]] = {
        "raw": lambda: RawStore(budget, (1, 28, 28), 10, seed=0),
        f"jpeg_q{quality}": lambda: JPEGStore(budget, (1, 28, 28), 10, seed=0, quality=quality),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in builders}
    stores: dict[str, MemoryStore] = {}
    for _ in range(rounds):
        for name, build in builders.items():
            stores[name] = build()
            times[name].append(time_store(stores[name], x, y))
    result: dict[str, object] = {"steps": steps, "rounds": rounds, "budget_images": budget_images}
    for name, rows in times.items():
        result[name] = {
            "write_us_per_step": statistics.median(r[0] for r in rows),
            "sample_us_per_step": statistics.median(r[1] for r in rows),
            "items_held": len(stores[name]),
            "decode_us_per_item_batch500": decode_us_per_item(stores[name]),
        }
    return result


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=positive_int, default=2000)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--budget", type=positive_int, default=500, help="budget in raw MNIST images")
    parser.add_argument("--quality", type=int, choices=range(1, 101), default=50, metavar="{1-100}")
    parser.add_argument("--out", type=output_file, default=None)
    args = parser.parse_args(argv)
    result = run(args.steps, args.rounds, args.budget, args.quality)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
