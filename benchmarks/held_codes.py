"""What a RecollectionStore's held codes decode to at the end of a stream, against the images they were made from.

``distortion()`` measures each item's round trip when it is written; this measures it when the stream is over, after
the decoder has moved on (decision 0028), beside each code as it decoded right after its write (what codes written
by a barely trained dVAE lose, apart from what drift loses later). The store's admission is watched, so each held
code is compared with the image it was made from whatever the budget: at 200 raw images' worth of digits every
stream image is held; at a smaller budget, the reservoir's share of each task (an entropy-coded store moves its
codes between slots, so it must hold the stream). Per task it prints the held codes' mean L1, the same codes as
decoded right after their write ("written"), the final dVAE's round trip of every stream image ("fresh") and of the
held codes' originals, the codes held a task, the write-time meter and the mean image's L1. ``--examples-per-task``
takes the frontier's streams (1,000 a task) instead of every image. ``--classify`` also trains
:mod:`benchmarks.codec_probe`'s MLPs on the held items and tests them on real test images: on their originals
("real"), on the held recollections, on the same codes as they decoded when written (what the recollections would
give without drift), on the final dVAE's fresh round trip of the originals (what the code can carry at all), and on
the recollections of the old classes with the real images of the newest two (a replaying learner's position at the
end of the stream)::

    python -m benchmarks.held_codes [--dataset digits --budget 200 --seed 0 --store recollection:refresh=true]
    python -m benchmarks.held_codes --dataset colour --budget 10 --examples-per-task 1000 --classify
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from memstore.stores.entropy_recollection import EntropyCodedRecollectionStore
from memstore.stores.recollection import OnlineDVAE

from .arguments import positive_int, refusing_bad_input
from .codec_probe import mixed_accuracies, predictions
from .datasets import DATASETS, load_dataset
from .parameters import resolve
from .specs import STORES, BudgetSpec
from .streams import Split
from .stream_length import with_stream_length

__all__ = ["held_and_fresh", "main"]


class _Admissions:
    """The store's policy, forwarding everything, with the slots of its last ``place`` kept (-1: not admitted)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.last: list[int] = []

    def place(self, *args: Any, **kwargs: Any) -> list[int]:
        self.last = self.policy.place(*args, **kwargs)
        return self.last

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)


def _written_and_origins(store: OnlineDVAE, stream: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stream into ``store``; return every stream image, then for each held slot (in slot order) the stream index
    of the image its code was made from and that code as decoded right after its write. A fixed-slot store's
    admissions are watched; a store of variable-size codes moves codes between slots, so it must hold the stream."""
    tracked = not isinstance(store, EntropyCodedRecollectionStore)
    admissions = store.policy = _Admissions(store.policy)
    originals: list[torch.Tensor] = []
    seen = 0  # stream images written before this batch
    origin: dict[int, int] = {}  # slot -> the stream index of the image its code was made from
    written: dict[int, torch.Tensor] = {}  # slot -> that code as decoded right after its write
    for task in stream:
        for x, y in task.batches(10):
            store.write(x, y)
            originals.append(x)
            slots = admissions.last if tracked else range(seen, seen + len(x))
            placed = [(slot, seen + k) for k, slot in enumerate(slots) if slot >= 0]
            if not tracked and len(store) != seen + len(x):
                raise ValueError(f"the store held {len(store)} of {seen + len(x)} images: a store of variable-size "
                                 "codes moves them between slots, so give a --budget that holds the stream")
            if placed:
                decoded = store.read(np.array([slot for slot, _ in placed])).x
                for (slot, index), item in zip(placed, decoded):
                    origin[slot], written[slot] = index, item
            seen += len(x)
    slots = range(len(store))
    return (torch.cat(originals), torch.tensor([origin[slot] for slot in slots]),
            torch.stack([written[slot] for slot in slots]))


def held_and_fresh(dataset: str, budget_images: int, seed: int, store_spec: str, *,
                   examples_per_task: int | None = None, classify: bool = False,
                   data_root: str | None = None) -> dict[str, Any]:
    """Per task: mean L1 of the held codes' decodings at the end and right after their write, against their
    originals, and of the final dVAE's round trip of the task's images and of the held codes' originals; the codes
    held a task (None for a task that holds none); with ``classify``, the probe MLPs' test accuracies (module
    docstring)."""
    data = load_dataset(dataset, data_root)
    stream = Split(examples_per_task=examples_per_task).build(data, torch.Generator().manual_seed(seed))
    budget = BudgetSpec(images=budget_images).resolve(data.item_shape, data.num_classes)
    spec = with_stream_length(resolve(store_spec, STORES, "store"), stream.train_items)
    store = spec.build(budget, data.item_shape, data.num_classes, seed=seed, num_tasks=None)
    if not isinstance(store, OnlineDVAE):
        raise ValueError(f"{store_spec!r} is not a store of dVAE codes")
    images, index, written = _written_and_origins(store, stream)
    slots = np.arange(len(store))
    held = torch.cat([store.read(slots[i:i + 500]).x for i in range(0, len(slots), 500)])
    codec = store.learned_codec  # its round trip, channel ranges included where the codes carry them
    fresh = codec.decode(codec.encode(images))
    bounds = np.cumsum([0] + [len(task.train_y) for task in stream])
    tasks = len(stream.tasks)

    def task_of(indices: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.searchsorted(bounds, indices.numpy(), side="right") - 1)

    def per_task(decoded: torch.Tensor, indices: torch.Tensor) -> list[float | None]:
        l1, of = (decoded - images[indices]).abs().mean(dim=(1, 2, 3)), task_of(indices)
        return [round(l1[of == t].mean().item(), 3) if (of == t).any() else None for t in range(tasks)]

    mean_image = (images.mean(0, keepdim=True) - images).abs().mean().item()
    result: dict[str, Any] = {
        "held": per_task(held, index), "written": per_task(written, index),
        "fresh": per_task(fresh, torch.arange(len(images))), "fresh_of_held": per_task(fresh[index], index),
        "held_items": torch.bincount(task_of(index), minlength=tasks).tolist(),
        "write_time": round(store.distortion().l1, 3), "mean_image": round(mean_image, 3)}
    if classify:
        labels = torch.cat([task.train_y for task in stream])
        result |= _probe_accuracies(held, written, fresh[index], images[index], labels[index], data, seed,
                                    stream.tasks[-1].classes)
    return result


def _probe_accuracies(held: torch.Tensor, written: torch.Tensor, fresh: torch.Tensor, real: torch.Tensor,
                      labels: torch.Tensor, data: Any, seed: int, newest: tuple[int, ...]) -> dict[str, float]:
    """The probe MLPs' test accuracies (%) trained on each version of the held items (module docstring)."""
    on_held, old, new = mixed_accuracies(held, real, labels, data.test_x, data.test_y, data.num_classes, seed + 2,
                                         newest)

    def accuracy_trained_on(x: torch.Tensor) -> float:
        hits = predictions(x, labels, data.test_x, data.num_classes, seed + 2) == data.test_y
        return round(100 * hits.float().mean().item(), 1)

    return {"mlp_on_real": accuracy_trained_on(real), "mlp_on_written": accuracy_trained_on(written),
            "mlp_on_fresh": accuracy_trained_on(fresh), "mlp_on_held": on_held, "mixed_old_classes": old,
            "mixed_newest_two": new}


def recollection_spec(text: str) -> str:
    """``--store``: a spec of the recollection store (``recollection:refresh=true``), its values parsed here."""
    try:
        resolve(text, STORES, "store")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if text.partition(":")[0] != "recollection":
        raise argparse.ArgumentTypeError(f"expected a store of dVAE codes (recollection:...), got {text!r}")
    return text


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits",
                        help="digits (embedded), colour, mnist (from the data root)")
    parser.add_argument("--budget", type=positive_int, default=200, help="raw images' worth of bits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", type=recollection_spec, default="recollection",
                        help="a recollection spec, e.g. recollection:refresh=true")
    parser.add_argument("--examples-per-task", type=positive_int, default=None, help="images a task (default: all)")
    parser.add_argument("--classify", action="store_true", help="also train and test the probe's MLPs on them")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(held_and_fresh(args.dataset, args.budget, args.seed, args.store, examples_per_task=args.examples_per_task,
                         classify=args.classify, data_root=args.data_root))


if __name__ == "__main__":
    main()
