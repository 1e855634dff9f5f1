"""``python -m benchmarks.format_reliability``: how the saved format holds up (issue 17's reliability numbers).

Three measurements, each on real files in a temporary folder:

* **corruption fuzz**: for a small store of each backend (sklearn digits, 8x8, 200 written), flip one bit of every
  byte of every ``zarr.json`` and of ``--chunk-bytes`` drawn bytes of each chunk, and open it each time
  (:mod:`memstore.testing.corruption`): typed refusals, identical opens, raw errors, silent changes;
* **concurrent readers**: ``--readers`` processes open the store in a loop while one process re-saves it, one more
  item each time, for ``--seconds``: opens, refusals and torn stores;
* **killed saves**: ``--kills`` saves killed with SIGKILL at a random moment, each followed by an open.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from collections import Counter
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from memstore import (
    Budget,
    EntropyCodedRecollectionStore,
    GenerativeStore,
    JPEGStore,
    LosslessStore,
    MemoryStore,
    MnemonicsStore,
    RawStore,
    RecollectionStore,
    SelfRecallStore,
    TaskContext,
)
from memstore import open as open_store
from memstore.nn import GANTraining
from memstore.testing.corruption import FuzzCounts, flip_bits, fuzz_positions, saved_keys
from memstore.testing.stress import is_prefix_store, kill_a_save, read_loop, resave_loop, sequence_store

from .arguments import choice_list, non_negative_int, positive_int, positive_real, refusing_bad_input
from .datasets import load_digits
from .models import MLPSpec

SHAPE, CLASSES = (1, 8, 8), 10


def _model() -> nn.Module:
    return MLPSpec((16,)).seeded(SHAPE, CLASSES, 0)


def _budget(images: int = 50) -> Budget:
    return Budget.images(images, SHAPE, CLASSES)


BACKENDS: dict[str, Callable[[], MemoryStore]] = {
    "RawStore": lambda: RawStore(_budget(), SHAPE, CLASSES, seed=0),
    "JPEGStore q50": lambda: JPEGStore(_budget(), SHAPE, CLASSES, quality=50, seed=0),
    "LosslessStore": lambda: LosslessStore(_budget(), SHAPE, CLASSES, seed=0),
    "RecollectionStore c5-l3": lambda: RecollectionStore(_budget(), SHAPE, CLASSES, latents=5, classes=3, seed=0),
    "EntropyCodedRecollectionStore c5-l3": lambda: EntropyCodedRecollectionStore(
        _budget(), SHAPE, CLASSES, latents=5, classes=3, seed=0),
    "MnemonicsStore": lambda: MnemonicsStore(Budget.images(200, SHAPE, CLASSES), SHAPE, CLASSES, seed=0),
    "GenerativeStore DGMw-tiny": lambda: GenerativeStore(
        Budget(0), SHAPE, CLASSES, seed=0, latent=4, widths=(4, 3), critic_widths=(2, 2),
        training=GANTraining(iterations=3, batch_size=4, epochs=2)),
    "SelfRecallStore": lambda: SelfRecallStore(Budget(0), SHAPE, CLASSES, seed=0),
}


def filled(make: Callable[[], MemoryStore]) -> MemoryStore:
    data = load_digits()
    x, y = (data.train_x[:200] * 255).round() / 255, data.train_y[:200]
    store = make()
    for start in range(0, 200, 20):
        store.write(x[start:start + 20], y[start:start + 20])
    store.end_task(TaskContext(task=0, model=_model(), x=x, y=y))  # the phase data: MnemonicsStore selects from it
    return store


def fuzz(name: str, chunk_bytes: int) -> tuple[FuzzCounts, float]:
    store = filled(BACKENDS[name])
    zstore = store.save()
    keys = saved_keys(zstore)
    metadata = [key for key in keys if key.endswith("zarr.json")]
    generator = torch.Generator().manual_seed(0)
    positions = fuzz_positions(zstore, metadata, None, generator)
    positions += fuzz_positions(zstore, [key for key in keys if key not in metadata], chunk_bytes, generator)
    started = time.perf_counter()
    return flip_bits(zstore, store, positions), time.perf_counter() - started


def readers(folder: Path, count: int, seconds: float) -> tuple[int, list]:
    path = str(folder / "readers")
    sequence_store(500).save(path)
    with multiprocessing.get_context("spawn").Pool(count + 1) as pool:
        writer = pool.apply_async(resave_loop, (path, seconds, 500))
        reads = [pool.apply_async(read_loop, (path, seconds)) for _ in range(count)]
        return writer.get(), [r.get() for r in reads]


def killed_saves(folder: Path, kills: int) -> tuple[int, dict[str, int]]:
    path = str(folder / "killed")
    generator = torch.Generator().manual_seed(0)
    loadable, failures = 0, Counter()
    for _ in range(kills):
        kill_a_save(path, folder, float(torch.rand((), generator=generator)) * 0.2, start_items=500)
        try:
            loadable += is_prefix_store(open_store(path))
        except Exception as exc:  # noqa: BLE001  counted by type, not raised: the count is the result
            failures[type(exc).__name__] += 1
    return loadable, dict(failures)


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-bytes", type=positive_int, default=64, help="bytes flipped per chunk (default 64)")
    parser.add_argument("--readers", type=positive_int, default=4, help="reader processes (default 4)")
    parser.add_argument("--seconds", type=positive_real, default=20.0, help="length of the reader test (default 20)")
    parser.add_argument("--kills", type=non_negative_int, default=100, help="saves killed (default 100)")
    parser.add_argument("--backends", type=choice_list(BACKENDS), default=",".join(BACKENDS),
                        help="comma list of backends to fuzz")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| backend | flips | refused | identical | raw errors | changed | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.backends:
        counts, seconds = fuzz(name, args.chunk_bytes)
        raw = sum(counts.raw.values())
        print(f"| {name} | {counts.total} | {counts.refused} | {counts.identical} | {raw} {counts.raw or ''} | "
              f"{counts.changed} | {seconds:.0f} |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        saves, reads = readers(Path(tmp), args.readers, args.seconds)
        print(f"\nreaders: {args.readers} readers, 1 writer, {args.seconds:g} s: {saves} saves; opens "
              f"{[r.opened for r in reads]}, refusals {[r.refused for r in reads]}, torn {[r.torn for r in reads]}")
        loadable, failures = killed_saves(Path(tmp), args.kills)
        print(f"killed saves: {loadable} of {args.kills} loadable and complete; failed opens {failures or 'none'}")


if __name__ == "__main__":
    main()
