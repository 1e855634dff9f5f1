"""Speed of RawStore against a Mammoth-style reservoir buffer: µs per step of write(10) + sample(10), bytes per item.

A third variant, RawStore with its input checks skipped, prices those checks (a measurement, not a library mode).
The baseline is a minimal tensor reservoir written the way Mammoth's ``utils/buffer.py`` is: float32 storage,
a per-sample Python loop for admission, ``np.random.choice`` for sampling and a per-sample stack of the chosen items
(its global RNG, as Mammoth does; allowed here, below benchmarks/). Both see the same stream of MNIST-shaped items. The two implementations run in
alternating rounds and the median round is reported, so background load affects both alike.

    python -m benchmarks.speed [--steps 3000] [--rounds 5] [--out docs/results/speed.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from memstore import Budget, RawStore

ITEM_SHAPE, NUM_CLASSES, CAPACITY, BATCH = (1, 28, 28), 10, 500, 10


class MammothStyleReservoir:
    """Mammoth's ``utils/buffer.py`` pattern: float32 tensors, one Python iteration per incoming sample, global-RNG
    reservoir, a per-sample ``.to(device)`` on admission, and ``get_data`` stacking the chosen samples one by one
    through an (identity) transform before moving the batch to the device, as Mammoth's does."""

    def __init__(self, capacity: int, item_shape: tuple[int, ...], device: str = "cpu") -> None:
        self.capacity, self.seen, self.device = capacity, 0, device
        self.examples = torch.zeros((capacity, *item_shape), dtype=torch.float32, device=device)
        self.labels = torch.zeros(capacity, dtype=torch.int64, device=device)

    def add_data(self, x: torch.Tensor, y: torch.Tensor) -> None:
        for i in range(x.shape[0]):
            index = self._reservoir()
            self.seen += 1
            if index >= 0:
                self.examples[index] = x[i].to(self.device)
                self.labels[index] = y[i].to(self.device)

    def _reservoir(self) -> int:
        if self.seen < self.capacity:
            return self.seen
        pick = np.random.randint(0, self.seen + 1)
        return pick if pick < self.capacity else -1

    def get_data(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        held = min(self.seen, self.capacity)
        choice = np.random.choice(held, size=min(n, held), replace=False)
        examples = torch.stack([self._transform(item.cpu()) for item in self.examples[choice]]).to(self.device)
        return examples, self.labels[choice]

    @staticmethod
    def _transform(item: torch.Tensor) -> torch.Tensor:
        return item

    def bytes_per_item(self) -> int:
        return self.examples[0].numel() * self.examples.element_size() + self.labels.element_size()


def stream(steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (steps * BATCH, *ITEM_SHAPE), generator=generator).float() / 255
    return x, torch.randint(0, NUM_CLASSES, (steps * BATCH,), generator=generator)


class UncheckedRawStore(RawStore):
    """A measurement aid, not a mode of the library: RawStore with its input checks skipped, to price them."""

    def check_write(self, x: torch.Tensor, y: torch.Tensor, task: int | None) -> None:
        pass


def time_raw_store(x: torch.Tensor, y: torch.Tensor, store_class: type[RawStore] = RawStore) -> float:
    store = store_class(Budget.images(CAPACITY, ITEM_SHAPE, NUM_CLASSES), ITEM_SHAPE, NUM_CLASSES, seed=0)
    start = time.perf_counter()
    for i in range(0, x.shape[0], BATCH):
        store.write(x[i:i + BATCH], y[i:i + BATCH])
        store.sample(BATCH)
    return (time.perf_counter() - start) / (x.shape[0] // BATCH) * 1e6


def time_mammoth_style(x: torch.Tensor, y: torch.Tensor) -> float:
    buffer = MammothStyleReservoir(CAPACITY, ITEM_SHAPE)
    start = time.perf_counter()
    for i in range(0, x.shape[0], BATCH):
        buffer.add_data(x[i:i + BATCH], y[i:i + BATCH])
        buffer.get_data(BATCH)
    return (time.perf_counter() - start) / (x.shape[0] // BATCH) * 1e6


def raw_bytes_per_item() -> float:
    store = RawStore(Budget.images(CAPACITY, ITEM_SHAPE, NUM_CLASSES), ITEM_SHAPE, NUM_CLASSES, seed=0)
    return store.bits_per_item / 8


def run(steps: int, rounds: int) -> dict[str, float]:
    torch.set_num_threads(1)
    np.random.seed(0)
    x, y = stream(steps)
    memstore_us, unchecked_us, mammoth_us = [], [], []
    for _ in range(rounds):
        memstore_us.append(time_raw_store(x, y))
        unchecked_us.append(time_raw_store(x, y, UncheckedRawStore))
        mammoth_us.append(time_mammoth_style(x, y))
    return {
        "steps": steps,
        "rounds": rounds,
        "memstore_us_per_step": statistics.median(memstore_us),
        "memstore_without_input_checks_us_per_step": statistics.median(unchecked_us),
        "mammoth_style_us_per_step": statistics.median(mammoth_us),
        "memstore_bytes_per_item": raw_bytes_per_item(),
        "mammoth_style_bytes_per_item": MammothStyleReservoir(1, ITEM_SHAPE).bytes_per_item(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = run(args.steps, args.rounds)
    for key, value in result.items():
        print(f"{key:32s} {value:10.1f}" if isinstance(value, float) else f"{key:32s} {value:10d}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
