"""Entropy coding of codes a dVAE writes online: items per fixed-width item at the same L1 (issue 14).

An :class:`~memstore.EntropyCodedRecollectionStore` at (c, l) with a budget that holds the whole stream (the
frontier's Split MNIST, 5 × 1,000 images, stream drawn from ``--seed``) writes every image's code as the store
trains online. Those codes, exactly as stored, are then coded per item under models fitted to them by the range and
the prefix coders (:func:`~benchmarks.recollection_frontier.coded_sizes`: bits, models, items per fixed-width item
with the models amortised over the 5,000 items). Every variant holds the same codes, so the L1 is the same: the
store's write-time meter. Beside them, the information the codes carry under richer models than one categorical
per latent, fitted on the even items and measured on the odd ones (add-one smoothing): given the item's label,
and given the best single earlier latent (the one that predicts latent j best on the fitted half)::

    stream ─▶ store.write (codes as written online) ─▶ codes (5,000, c) ─┬▶ range / prefix coded sizes
                                                                         └▶ held-out bits: marginal, | label, | parent

    python -m benchmarks.online_entropy --shapes 48x10,6x20,38x2,121x2 --seed 0 [--data-root D]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from memstore import EntropyCodedRecollectionStore

from .arguments import pairs, refusing_bad_input
from .datasets import load_dataset
from .recollection_frontier import coded_sizes
from .specs import BudgetSpec
from .streams import Split

__all__ = ["HeldOutBits", "held_out_bits", "main", "online_codes"]


@dataclass(frozen=True)
class HeldOutBits:
    """Mean bits an item's codes take on held-out items under each model (see :func:`held_out_bits`)."""

    marginal: float
    given_label: float
    given_best_earlier_latent: float


def online_codes(c: int, l: int, seed: int, data_root: str | None = None, *, dataset: str = "mnist",
                 examples_per_task: int = 1000) -> tuple[np.ndarray, np.ndarray, float]:
    """The codes (N, c), their labels and the write-time L1 of a (c, l) store that holds the whole stream."""
    data = load_dataset(dataset, data_root)
    stream = Split(examples_per_task=examples_per_task).build(data, torch.Generator().manual_seed(seed))
    total = stream.train_items
    budget = BudgetSpec(images=total).resolve(data.item_shape, data.num_classes)
    store = EntropyCodedRecollectionStore(budget, data.item_shape, data.num_classes, latents=c, classes=l, seed=seed)
    for task in stream:
        for x, y in task.batches(10):
            store.write(x, y)
    if len(store) != total:
        raise RuntimeError(f"the store held {len(store)} items, not the whole stream")
    codes = store.codec.coder.decode(store.coded_items())
    labels = store.read(np.arange(len(store))).y.numpy()
    return codes, labels, store.distortion().l1


def _bits(counts: np.ndarray, symbols: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean −log2 p of ``symbols`` (each item's context, its value) under add-one smoothed ``counts`` (contexts, l)."""
    p = (counts + 1) / (counts + 1).sum(axis=-1, keepdims=True)
    return float(-np.log2(p[symbols]).mean())


def held_out_bits(codes: np.ndarray, labels: np.ndarray, l: int) -> HeldOutBits:
    """Bits an item's codes take on the odd items under models fitted on the even ones: one categorical per latent,
    one per latent and label, and one per latent and value of its best single earlier latent."""
    fit, test = codes[0::2], codes[1::2]
    fit_y, test_y = labels[0::2], labels[1::2]
    classes = int(labels.max()) + 1
    marginal = given_label = given_parent = 0.0
    for j in range(codes.shape[1]):
        alone = _bits(np.bincount(fit[:, j], minlength=l)[None], (np.zeros(len(test), int), test[:, j]))
        marginal += alone
        joint = np.bincount(fit_y * l + fit[:, j], minlength=classes * l).reshape(classes, l)
        given_label += _bits(joint, (test_y, test[:, j]))
        candidates = [np.bincount(fit[:, k] * l + fit[:, j], minlength=l * l).reshape(l, l) for k in range(j)]
        if not candidates:  # the first latent has no earlier one
            given_parent += alone
            continue
        best = min(range(j), key=lambda k: _bits(candidates[k], (fit[:, k], fit[:, j])))
        given_parent += _bits(candidates[best], (test[:, best], test[:, j]))
    return HeldOutBits(marginal, given_label, given_parent)


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=pairs, default="48x10,6x20,38x2,121x2",
                        help="comma-separated CxL code shapes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for c, l in args.shapes:
        codes, labels, l1 = online_codes(c, l, args.seed, args.data_root)
        fixed = c * int(np.ceil(np.log2(l)))
        row: dict[str, Any] = {"c": c, "l": l, "seed": args.seed, "l1": round(l1, 4), "fixed_bits": fixed}
        row |= coded_sizes(codes, c, l, fixed) | {"held_out": asdict(held_out_bits(codes, labels, l))}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
