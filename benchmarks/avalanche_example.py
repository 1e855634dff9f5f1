"""``python -m benchmarks.avalanche_example``: Avalanche's ``Naive`` + ``ReplayPlugin`` on Split digits (sklearn's
8x8 digits on the 1/255 grid, 5 experiences of 2 classes, an MLP 64-100-10, SGD lr 0.1, minibatch 10, one epoch),
with three memories at the same bits (``--images`` raw images' worth): memstore's JPEGStore (q50) and RawStore
through :class:`~memstore.integrations.avalanche.MemstoreStoragePolicy`, and Avalanche's own
``ReservoirSamplingBuffer`` of that many images. Reports final accuracy on the whole test set, items held, the
ledger, and the time per training step; seeds 0-2.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from memstore import Budget, JPEGStore, RawStore

from .arguments import positive_int, refusing_bad_input
from .datasets import load_digits

SHAPE, CLASSES = (1, 8, 8), 10


def run(memory: str, images: int, seed: int) -> tuple[float, int, str, float]:
    from avalanche.benchmarks import tensors_benchmark
    from avalanche.training.plugins import ReplayPlugin
    from avalanche.training.storage_policy import ReservoirSamplingBuffer
    from avalanche.training.supervised import Naive

    from memstore.integrations.avalanche import MemstoreStoragePolicy

    data = load_digits()
    x, tx = ((d * 255).round() / 255 for d in (data.train_x, data.test_x))
    parts = [(x[(data.train_y // 2) == k], data.train_y[(data.train_y // 2) == k]) for k in range(5)]
    tests = [(tx[(data.test_y // 2) == k], data.test_y[(data.test_y // 2) == k]) for k in range(5)]
    bench = tensors_benchmark(train_tensors=parts, test_tensors=tests, task_labels=[0] * 5)
    budget = Budget.images(images, SHAPE, CLASSES)
    store = {"jpeg q50": lambda: JPEGStore(budget, SHAPE, CLASSES, seed=seed, quality=50),
             "raw": lambda: RawStore(budget, SHAPE, CLASSES, seed=seed)}.get(memory)
    policy = MemstoreStoragePolicy(store()) if store else ReservoirSamplingBuffer(images)
    torch.manual_seed(seed)  # Avalanche's loaders and its reservoir draw from the global RNG
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    learner = Naive(model, torch.optim.SGD(model.parameters(), lr=0.1), train_mb_size=10, train_epochs=1,
                    plugins=[ReplayPlugin(mem_size=policy.max_size, storage_policy=policy)], evaluator=None)
    start, steps = time.perf_counter(), 0
    for experience in bench.train_stream:
        learner.train(experience)
        steps += -(-len(experience.dataset) // 10)
    seconds = (time.perf_counter() - start) / steps
    with torch.no_grad():
        accuracy = float((model(tx).argmax(1) == data.test_y).float().mean())
    held = len(policy.buffer)
    ledger = str(policy.store.ledger()) if store else f"{held} float32 images (not counted in bits)"
    return accuracy, held, ledger, seconds


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=positive_int, default=50, help="the budget in raw images (default 50)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds 0..N-1 (default 3)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print("| memory | accuracy % (seeds) | items held | ledger (seed 0) | ms per step |\n|---|---|---:|---|---:|")
    for memory in ("jpeg q50", "raw", "avalanche reservoir"):
        runs = [run(memory, args.images, seed) for seed in range(args.seeds)]
        accs = [100 * r[0] for r in runs]
        print(f"| {memory} | {statistics.mean(accs):.1f} ({', '.join(f'{a:.1f}' for a in accs)}) | {runs[0][1]} | "
              f"{runs[0][2]} | {1000 * statistics.median(r[3] for r in runs):.2f} |", flush=True)


if __name__ == "__main__":
    main()
