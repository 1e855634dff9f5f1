"""Speed of RawStore against two buffers without checks: µs per step of write(B) + sample(B), bytes per item.

The baselines: a Mammoth-style reservoir written the way Mammoth's ``utils/buffer.py`` is (float32 storage, a
per-sample Python loop for admission, ``np.random.choice`` for sampling and a per-sample stack of the chosen items;
its global RNG, as Mammoth does, allowed here below benchmarks/), and a plain vectorised uint8 tensor reservoir (one
draw for a batch's slots, one indexed assignment, one gather). A fourth variant, RawStore with its input checks
skipped, prices those checks (a measurement, not a library mode). A fifth, a checked numpy reservoir, checks
every value as RawStore does but does the rest in numpy: the headroom a leaner engine would have. All see the same
stream of MNIST-shaped items; they run in alternating rounds and the median round is reported, so background load
affects them alike. Each ``CAPACITYxBATCH`` size is one row.

    python -m benchmarks.speed [--sizes 500x10,5000x10,50000x10,500x128] [--steps 3000] [--rounds 5] [--out F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from memstore import Budget, RawStore

from .arguments import output_file, pairs, positive_int, refusing_bad_input
from .provenance import machine, provenance

ITEM_SHAPE, NUM_CLASSES = (1, 28, 28), 10


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


class VectorisedUint8Reservoir:
    """The plain vectorised alternative: a uint8 tensor of the capacity, reservoir slots for a whole batch in one
    draw, one indexed assignment per write and one gather per sample. Its replay draws are with replacement (the
    cheapest draw; RawStore's are without), and it checks nothing."""

    def __init__(self, capacity: int, item_shape: tuple[int, ...]) -> None:
        self.capacity, self.seen = capacity, 0
        self.examples = torch.zeros((capacity, *item_shape), dtype=torch.uint8)
        self.labels = torch.zeros(capacity, dtype=torch.int64)
        self.generator = torch.Generator().manual_seed(0)

    def add_data(self, x: torch.Tensor, y: torch.Tensor) -> None:
        positions = torch.arange(self.seen, self.seen + x.shape[0])
        draws = (torch.rand(x.shape[0], generator=self.generator, dtype=torch.float64) * (positions + 1)).long()
        slots = torch.where(positions < self.capacity, positions, draws)
        kept = slots < self.capacity
        self.examples[slots[kept]] = (x[kept] * 255).round_().to(torch.uint8)
        self.labels[slots[kept]] = y[kept]
        self.seen += x.shape[0]

    def get_data(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        held = min(self.seen, self.capacity)
        choice = torch.randint(held, (n,), generator=self.generator)
        return self.examples[choice].float().div_(255), self.labels[choice]


class CheckedNumpyReservoir:
    """What a leaner engine could do: a pass over every value (finite, in [0, 1]: a min and a max of the float32
    bits read as int32, without RawStore's float fallback, so −0.0 is refused; RawStore now takes one max of them
    read as uint32; labels in range), slots for a whole batch in one ``torch.Generator`` draw, and the copying
    done by numpy, whose calls cost a fraction of torch's on tensors this small. Replay draws with replacement, as the
    uint8 reservoir's. A measurement of the headroom, not a store: no ledger, no task ids, no persistence."""

    ONE_BITS = int(np.float32(1.0).view(np.int32))

    def __init__(self, capacity: int, item_shape: tuple[int, ...]) -> None:
        self.capacity, self.seen, self.item_shape = capacity, 0, item_shape
        self.examples = np.zeros((capacity, int(np.prod(item_shape))), dtype=np.uint8)
        self.labels = np.zeros(capacity, dtype=np.int64)
        self.generator = torch.Generator().manual_seed(0)

    def add_data(self, x: torch.Tensor, y: torch.Tensor) -> None:
        values, labels = x.detach().numpy().reshape(x.shape[0], -1), y.numpy()
        bits = values.view(np.int32)
        if bits.min() < 0 or bits.max() > self.ONE_BITS:  # NaN, infinities, negatives, above 1 (−0.0 refused too)
            raise ValueError("x must be finite and in [0, 1]")
        if labels.min() < 0 or labels.max() >= NUM_CLASSES:
            raise ValueError(f"labels must lie in [0, {NUM_CLASSES})")
        positions = np.arange(self.seen, self.seen + values.shape[0])
        draws = (torch.rand(values.shape[0], generator=self.generator, dtype=torch.float64).numpy() * (positions + 1))
        slots = np.where(positions < self.capacity, positions, draws.astype(np.int64))
        kept = slots < self.capacity
        if kept.any():
            self.examples[slots[kept]] = np.rint(values[kept] * 255).astype(np.uint8)
            self.labels[slots[kept]] = labels[kept]
        self.seen += values.shape[0]

    def get_data(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        choice = torch.randint(min(self.seen, self.capacity), (n,), generator=self.generator).numpy()
        items = self.examples[choice].astype(np.float32).reshape(n, *self.item_shape) / np.float32(255)
        return torch.from_numpy(items), torch.from_numpy(self.labels[choice])


def stream(steps: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (steps * batch, *ITEM_SHAPE), generator=generator).float() / 255
    return x, torch.randint(0, NUM_CLASSES, (steps * batch,), generator=generator)


class UncheckedRawStore(RawStore):
    """A measurement aid, not a mode of the library: RawStore with its input checks skipped, to price them."""

    def check_write(self, x: torch.Tensor, y: torch.Tensor, task: int | None) -> None:
        pass


def time_steps(write: Callable[[torch.Tensor, torch.Tensor], object], sample: Callable[[int], object],
               x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """µs per step of ``write(batch)`` + ``sample(batch)`` over the stream."""
    start = time.perf_counter()
    for i in range(0, x.shape[0], batch):
        write(x[i:i + batch], y[i:i + batch])
        sample(batch)
    return (time.perf_counter() - start) / (x.shape[0] // batch) * 1e6


def buffers(capacity: int) -> dict[str, tuple[Callable, Callable]]:
    """Each variant's (write, sample), freshly built at ``capacity`` items."""
    budget = Budget.images(capacity, ITEM_SHAPE, NUM_CLASSES)
    raw = RawStore(budget, ITEM_SHAPE, NUM_CLASSES, seed=0)
    unchecked = UncheckedRawStore(budget, ITEM_SHAPE, NUM_CLASSES, seed=0)
    mammoth = MammothStyleReservoir(capacity, ITEM_SHAPE)
    vectorised = VectorisedUint8Reservoir(capacity, ITEM_SHAPE)
    lean = CheckedNumpyReservoir(capacity, ITEM_SHAPE)
    return {"memstore": (raw.write, raw.sample), "memstore_without_input_checks": (unchecked.write, unchecked.sample),
            "mammoth_style": (mammoth.add_data, mammoth.get_data),
            "vectorised_uint8": (vectorised.add_data, vectorised.get_data),
            "checked_numpy": (lean.add_data, lean.get_data)}


def run_size(capacity: int, batch: int, steps: int, rounds: int) -> dict[str, float]:
    """Median µs per step of each variant at one capacity and batch size, in alternating rounds."""
    x, y = stream(steps, batch)
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, (write, sample) in buffers(capacity).items():
            times.setdefault(name, []).append(time_steps(write, sample, x, y, batch))
    medians = {f"{name}_us_per_step": statistics.median(values) for name, values in times.items()}
    return {"capacity": capacity, "batch": batch, "steps": steps, "rounds": rounds, **medians,
            "ratio_to_mammoth_style": medians["memstore_us_per_step"] / medians["mammoth_style_us_per_step"],
            "ratio_to_vectorised_uint8": medians["memstore_us_per_step"] / medians["vectorised_uint8_us_per_step"],
            "checked_numpy_ratio_to_mammoth_style":
                medians["checked_numpy_us_per_step"] / medians["mammoth_style_us_per_step"]}


def run(sizes: list[tuple[int, int]], steps: int, rounds: int) -> dict[str, object]:
    torch.set_num_threads(1)
    np.random.seed(0)
    rows = [run_size(capacity, batch, steps, rounds) for capacity, batch in sizes]
    store = RawStore(Budget.images(1, ITEM_SHAPE, NUM_CLASSES), ITEM_SHAPE, NUM_CLASSES, seed=0)
    return {"rows": rows, "memstore_bytes_per_item": store.bits_per_item / 8,
            "mammoth_style_bytes_per_item": MammothStyleReservoir(1, ITEM_SHAPE).bytes_per_item(),
            "provenance": {**provenance(), **machine()}}  # after set_num_threads(1): both record one thread


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=pairs, default="500x10,5000x10,50000x10,500x128",
                        help="comma list of CAPACITYxBATCH (default: 500x10,5000x10,50000x10,500x128)")
    parser.add_argument("--steps", type=positive_int, default=3000)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--out", type=output_file, default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = run(list(args.sizes), args.steps, args.rounds)
    rows = result["rows"]
    print("| capacity | batch | memstore µs | unchecked µs | Mammoth-style µs | vectorised uint8 µs "
          "| checked numpy µs | vs Mammoth | vs uint8 | checked numpy vs Mammoth |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:  # type: ignore[attr-defined]
        print(f"| {row['capacity']} | {row['batch']} | {row['memstore_us_per_step']:.1f} | "
              f"{row['memstore_without_input_checks_us_per_step']:.1f} | {row['mammoth_style_us_per_step']:.1f} | "
              f"{row['vectorised_uint8_us_per_step']:.1f} | {row['checked_numpy_us_per_step']:.1f} | "
              f"{row['ratio_to_mammoth_style']:.2f} | {row['ratio_to_vectorised_uint8']:.2f} | "
              f"{row['checked_numpy_ratio_to_mammoth_style']:.2f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
