"""Speed of each admission policy at every store size: µs per step of write(10) + sample(10) on a full RawStore.

Each store is first filled from a stream of MNIST-shaped items with labels in 10 classes, then timed over further
steps; the policies run in alternating rounds at each capacity and the median round is reported, so background
load affects them alike. Class-balanced admission reads the store's class slots (:mod:`memstore.class_slots`);
before it did, it read every label for every item admitted, and its step grew with the capacity.

    python -m benchmarks.policy_speed [--capacities 500,5000,50000] [--steps 1000] [--rounds 3] [--out F]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from memstore import Budget, ClassBalanced, RawStore, Reservoir, Ring
from memstore.policies import Policy

from .arguments import output_file, positive_int, positive_ints, refusing_bad_input
from .speed import ITEM_SHAPE, NUM_CLASSES, stream, time_steps

POLICIES: dict[str, Policy] = {"reservoir": Reservoir(), "class_balanced": ClassBalanced(), "ring": Ring()}
BATCH = 10


def full_store(policy: Policy, capacity: int) -> RawStore:
    """A RawStore of ``capacity`` MNIST-shaped items, filled (a thousand items a write) under ``policy``."""
    store = RawStore(Budget.images(capacity, ITEM_SHAPE, NUM_CLASSES), ITEM_SHAPE, NUM_CLASSES, seed=0, policy=policy)
    x, y = stream(capacity // 1000 + 1, 1000, seed=1)
    for start in range(0, x.shape[0], 1000):
        store.write(x[start:start + 1000], y[start:start + 1000])
    return store


def run(capacities: list[int], steps: int, rounds: int) -> dict[str, object]:
    torch.set_num_threads(1)
    x, y = stream(steps, BATCH)
    rows = []
    for capacity in capacities:
        times: dict[str, list[float]] = {name: [] for name in POLICIES}
        for _ in range(rounds):
            for name, policy in POLICIES.items():
                store = full_store(policy, capacity)
                times[name].append(time_steps(store.write, store.sample, x, y, BATCH))
        rows.append({"capacity": capacity, "batch": BATCH, "steps": steps, "rounds": rounds,
                     **{f"{name}_us_per_step": statistics.median(values) for name, values in times.items()}})
    return {"rows": rows}


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacities", type=positive_ints, default="500,5000,50000",
                        help="comma list of store capacities in items")
    parser.add_argument("--steps", type=positive_int, default=1000)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--out", type=output_file, default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = run(list(args.capacities), args.steps, args.rounds)
    print("| capacity | " + " | ".join(f"{name} (µs/step)" for name in POLICIES) + " |")
    print("|---:|" + "---:|" * len(POLICIES))
    for row in result["rows"]:
        print(f"| {row['capacity']:,} | " + " | ".join(f"{row[f'{n}_us_per_step']:.1f}" for n in POLICIES) + " |")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
