"""Which half of DGM forgets a class: the generator or the solver (issue 16).

A DGM run that ends with one old class lost can have lost it in two places: the generator may no longer draw that
class (its replay no longer looks like it), or the solver (the discriminator's class head, retrained every task on
real current data and generated old classes) may misplace real items of a class the generator still draws well.
For each kept store this trains an independent MLP on the real training images of the classes the store has
seen, then reports per class::

    store.sample(n, classes=[k]) ──independent MLP──▶ % recognised as k        (the generator's replay of k)
    real test items of k ──the same MLP──▶ % classified as k                   (the judge's own accuracy)
    real test items of k ──store.discriminator.classify──▶ % classified as k   (the solver, as the cell scores it)
    real test items of k ──the solver, its batch norms' statistics recomputed──▶ % classified as k

The last column asks whether a solver's miss is its batch norms' running statistics. Those are a moving average
over every batch the discriminator saw while it trained as a critic too: real items, the generator's fakes and
their interpolations. The check recomputes them (a plain average over batches) on the store's own replay,
``per_class`` items of every class it has seen; no weight changes and no real training item is used.

and, for a DGMa store with the released code's mask placement, its replay of k again with every unit outside k's
task mask set to 0 after the batch norm (``mask_activations``, decision 0042): how much of that replay reaches the
image through units its mask leaves out, whose outgoing weights later tasks were free to change.

    python -m benchmarks.dgm_replay_check --cells DIR/cells --data-root D     # stores kept with --keep-stores
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memstore import open as open_store

from .arguments import refusing_bad_input
from .datasets import load_dataset
from .dgm import cells
from .models import MLPSpec

__all__ = ["RENORM_SEED_OFFSET", "ClassCheck", "check_store", "main", "renormalised_solver", "train_reference"]

RENORM_SEED_OFFSET = 1_000_003  # the renormalising replay's draws: seed + this, apart from the per-class draws


@dataclass(frozen=True)
class ClassCheck:
    """One class of one store: how its generated items and its real test items are classified (counts by class)."""

    label: int
    generated_as: tuple[int, ...]
    solver_as: tuple[int, ...]
    reference_as: tuple[int, ...]
    masked_as: tuple[int, ...] | None = None  # generated with units outside the class's mask at 0 (DGMa only)
    renormed_as: tuple[int, ...] | None = None  # by the solver with its batch norms' statistics recomputed

    @property
    def generated_recognised(self) -> float:
        """% of the generated items the independent classifier puts in their own class."""
        return _share(self.generated_as, self.label)

    @property
    def masked_recognised(self) -> float | None:
        """% of the items generated with units outside the mask at 0 that the classifier puts in their class."""
        return None if self.masked_as is None else _share(self.masked_as, self.label)

    @property
    def renormed_recognised(self) -> float | None:
        """% of the real test items the solver puts in their class with its batch norms' statistics recomputed."""
        return None if self.renormed_as is None else _share(self.renormed_as, self.label)

    @property
    def reference_recognised(self) -> float:
        """% of the real test items the independent classifier puts in their own class: the judge's own accuracy."""
        return _share(self.reference_as, self.label)

    @property
    def solver_recognised(self) -> float:
        """% of the real test items the store's solver puts in their own class."""
        return _share(self.solver_as, self.label)


def train_reference(x: Tensor, y: Tensor, classes: int, generator: torch.Generator, epochs: int = 2) -> nn.Module:
    """An MLP 784-400-``classes`` trained by SGD (lr 0.1, batch 64) on real items: the independent judge."""
    seed = int(torch.randint(2**31, (1,), generator=generator))
    model = MLPSpec((400,)).seeded(tuple(x.shape[1:]), classes, seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimiser.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    return model.eval()


@torch.no_grad()
def check_store(store, reference: nn.Module, test_x: Tensor, test_y: Tensor, *, per_class: int = 500,
                seed: int = 0) -> list[ClassCheck]:
    """Per class the store has seen: ``per_class`` generated items judged by ``reference``, and the real test
    items of that class judged by the store's solver (logits over the seen classes only, as a cell scores them),
    as it is and with its batch norms renormalised on the store's replay (:func:`renormalised_solver`)."""
    seen = torch.nonzero(store.class_slot >= 0).flatten().tolist()
    renormed = renormalised_solver(store, seen, per_class, seed)
    store.discriminator.eval()
    masked = activation_masked(store)
    rows = []
    for label in seen:
        drawn = store.sample(per_class, classes=[label], generator=torch.Generator().manual_seed(seed + label)).x
        generated = reference(drawn).argmax(1)
        real = test_x[test_y == label]
        solver_as = _classified(store.discriminator, real, seen)
        renormed_as = None
        if renormed is not None:
            renormed_as = _classified(renormed, real, seen)
        masked_as = None
        if masked is not None:  # the same noise, through the same weights, off units at 0
            again = masked.sample(per_class, classes=[label], generator=torch.Generator().manual_seed(seed + label))
            masked_as = _counts(reference(again.x).argmax(1), seen)
        rows.append(ClassCheck(label, _counts(generated, seen), solver_as,
                               _counts(reference(real).argmax(1), seen), masked_as, renormed_as))
    return rows


@torch.no_grad()
def renormalised_solver(store, seen: list[int], per_class: int, seed: int, batch: int = 64) -> nn.Module | None:
    """A copy of the store's discriminator whose batch norms' running statistics are the plain average over
    batches of the store's own replay (``per_class`` items of each class in ``seen``, shuffled), in eval mode;
    None when it has no batch norm. The store and its discriminator are left as they were."""
    solver = copy.deepcopy(store.discriminator)
    norms = [layer for layer in solver.modules() if isinstance(layer, nn.BatchNorm2d)]
    if not norms:
        return None
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
    generator = torch.Generator().manual_seed(seed + RENORM_SEED_OFFSET)
    replay = torch.cat([store.sample(per_class, classes=[label], generator=generator).x for label in seen])
    solver.train()
    for rows in torch.randperm(len(replay), generator=generator).split(batch):
        solver.classify(replay[rows])
    return solver.eval()


def activation_masked(store):
    """A copy of a DGMa store whose generator puts units outside a task's mask at 0 after the batch norm (HAT's
    placement); None for a store that already does, or whose masks are per weight (DGMw)."""
    if not store.variant.masks_units or store.spec.mask_activations:
        return None
    masked = copy.deepcopy(store)
    masked.model.spec = masked.spec = replace(store.spec, mask_activations=True)
    return masked


def _counts(predicted: Tensor, seen: list[int]) -> tuple[int, ...]:
    return tuple(int((predicted == label).sum()) for label in range(max(seen) + 1))


def _classified(solver: nn.Module, real: Tensor, seen: list[int]) -> tuple[int, ...]:
    """Counts by class of ``solver``'s calls on ``real``, its logits restricted to the classes seen (as a cell
    scores them)."""
    return _counts(torch.tensor(seen)[solver.classify(real)[:, seen].argmax(1)], seen)


def _share(counts: tuple[int, ...], label: int) -> float:
    """% of the items counted that went to ``label``."""
    return 100 * counts[label] / sum(counts)


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=Path, required=True, help="a DGM config's cells, kept with --keep-stores")
    parser.add_argument("--data-root", default=None, help="MNIST's root (torchvision layout)")
    parser.add_argument("--seed", type=int, default=0, help="the reference classifier's and the draws' seed")
    args = parser.parse_args(argv)
    if not args.cells.is_dir():
        parser.error(f"--cells {args.cells} is not a folder")
    try:
        kept = [cell for cell in cells(args.cells) if cell["store_path"] is not None
                and str(cell["config"].get("learner")).startswith("dgm")]
    except ValueError as exc:
        parser.error(str(exc))
    if not kept:
        parser.error(f"no kept stores under {args.cells}: run the config with --keep-stores")
    data = load_dataset(kept[0]["config"]["dataset"], args.data_root)
    references: dict[int, nn.Module] = {}
    print("| cell | class | generated, recognised by an independent MLP | the same, units outside the mask at 0 | "
          "real test, by that MLP | real test, by the store's solver | the same, batch norms renormalised on replay |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cell in kept:
        store = open_store(cell["store_path"])
        classes = int((store.class_slot >= 0).sum())
        if classes not in references:
            keep = data.train_y < classes
            references[classes] = train_reference(data.train_x[keep], data.train_y[keep], classes,
                                                  torch.Generator().manual_seed(args.seed))
        for row in check_store(store, references[classes], data.test_x, data.test_y, seed=args.seed):
            masked = "—" if row.masked_recognised is None else f"{row.masked_recognised:.1f} %"
            renormed = "—" if row.renormed_recognised is None else f"{row.renormed_recognised:.1f} %"
            print(f"| {cell['store_path'].stem} | {row.label} | {row.generated_recognised:.1f} % | {masked} | "
                  f"{row.reference_recognised:.1f} % | {row.solver_recognised:.1f} % | {renormed} |")


if __name__ == "__main__":
    main()
