"""What a RecollectionStore's held codes decode to at the end of a stream, against the images they were made from.

``distortion()`` measures each item's round trip when it is written; this measures it when the stream is over, after
the decoder has moved on (decision 0028), beside each code as it decoded right after its write (what codes written
by a barely trained dVAE lose, apart from what drift loses later). The budget must hold every stream image (200 raw
images' worth holds all 1,347 digits), so slot ``i`` holds the ``i``-th image and no original has to be kept by the
store. Per task it prints the held codes' mean L1, the same codes as decoded right after their write ("written"),
the same images passed through the final dVAE ("fresh"), the write-time meter and the mean image's L1.
``--examples-per-task`` takes the frontier's streams (1,000 a task) instead of every image. ``--classify`` also
trains :mod:`benchmarks.codec_probe`'s MLPs on the held recollections and tests them on real test images: on the
recollections alone (and on the final dVAE's fresh round trip of the same images, which tells what the code can
carry at all from what the held codes kept), and on the recollections of the old classes with the real images of
the newest two (a replaying learner's position at the end of the stream)::

    python -m benchmarks.held_codes [--dataset digits --budget 200 --seed 0 --store recollection:refresh=true]
    python -m benchmarks.held_codes --dataset colour-mnist --budget 100 --examples-per-task 1000 --classify
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from memstore.stores.recollection import OnlineDVAE

from .codec_probe import mixed_accuracies, predictions
from .datasets import load_dataset
from .parameters import resolve
from .specs import STORES, BudgetSpec
from .streams import Split

__all__ = ["held_and_fresh", "main"]


def held_and_fresh(dataset: str, budget_images: int, seed: int, store_spec: str, *,
                   examples_per_task: int | None = None, classify: bool = False,
                   data_root: str | None = None) -> dict[str, list[float] | float]:
    """Per task: mean L1 of the held codes' decodings at the end and right after their write, and of the final
    dVAE's round trip, against the originals;
    with ``classify``, the probe MLPs' test accuracies on the held recollections (``mixed_accuracies``)."""
    data = load_dataset(dataset, data_root)
    stream = Split(examples_per_task=examples_per_task).build(data, torch.Generator().manual_seed(seed))
    budget = BudgetSpec(images=budget_images).resolve(data.item_shape, data.num_classes)
    store = resolve(store_spec, STORES, "store").build(budget, data.item_shape, data.num_classes, seed=seed,
                                                       num_tasks=None)
    if not isinstance(store, OnlineDVAE):
        raise ValueError(f"{store_spec!r} is not a store of dVAE codes")
    originals, written, seen = [], [], 0
    for task in stream:
        for x, y in task.batches(10):
            store.write(x, y)
            originals.append(x)
            seen += len(x)
            if len(store) != seen:
                raise ValueError(f"the store held {len(store)} of {seen} images: give a larger --budget")
            written.append(store.read(np.arange(seen - len(x), seen)).x)
    images = torch.cat(originals)
    held = torch.cat([store.read(np.arange(i, min(i + 500, len(store)))).x for i in range(0, len(store), 500)])
    codec = store.learned_codec  # its round trip, channel ranges included where the codes carry them
    fresh = codec.decode(codec.encode(images))
    bounds = np.cumsum([0] + [len(task.train_y) for task in stream])

    def per_task(decoded: torch.Tensor) -> list[float]:
        l1 = (decoded - images).abs().mean(dim=(1, 2, 3))
        return [round(l1[a:b].mean().item(), 3) for a, b in zip(bounds[:-1], bounds[1:])]

    mean_image = (images.mean(0, keepdim=True) - images).abs().mean().item()
    result = {"held": per_task(held), "written": per_task(torch.cat(written)), "fresh": per_task(fresh),
              "write_time": round(store.distortion().l1, 3),
              "mean_image": round(mean_image, 3)}
    if classify:
        labels = torch.cat([task.train_y for task in stream])
        newest = stream.tasks[-1].classes
        on_held, old, new = mixed_accuracies(held, images, labels, data.test_x, data.test_y, data.num_classes,
                                             seed + 2, newest)

        def accuracy_trained_on(x: torch.Tensor) -> float:
            hits = predictions(x, labels, data.test_x, data.num_classes, seed + 2) == data.test_y
            return round(100 * hits.float().mean().item(), 1)

        result |= {"mlp_on_real": accuracy_trained_on(images), "mlp_on_fresh": accuracy_trained_on(fresh),
                   "mlp_on_held": on_held, "mixed_old_classes": old, "mixed_newest_two": new}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="digits (embedded), colour, mnist (from the data root)")
    parser.add_argument("--budget", type=int, default=200, help="raw images' worth of bits (must hold the stream)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default="recollection", help="a recollection spec, e.g. recollection:refresh=true")
    parser.add_argument("--examples-per-task", type=int, default=None, help="images a task (default: all)")
    parser.add_argument("--classify", action="store_true", help="also train and test the probe's MLPs on them")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(held_and_fresh(args.dataset, args.budget, args.seed, args.store, examples_per_task=args.examples_per_task,
                         classify=args.classify, data_root=args.data_root))


if __name__ == "__main__":
    main()
