"""ARM's Fig. 2 on our implementation: recalled samples above the real images they were initialised from.

``python -m benchmarks.arm_figure`` trains the `arm-split-mnist-mir` protocol's ARM (MLP 2x400, lag = one task, Table 6
settings) on the first ``--tasks`` tasks of Split MNIST, then, on ``--batches`` real batches of the next task, runs
recall exactly as training does (Algorithm 1, lines 5–8: a step on the batch, then S ascent steps from M = 10 of its
items) and draws each recalled batch (top row, labelled with the old model's class and confidence) over its
initialisation (bottom row, with the true class)::

    model ─ARM on tasks 0..k-1─▶ f_θ (kept by the store) ─ step on B ─▶ f_θ' ─ store.sample(10, context) ─▶ B̂ ─▶ PNG
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from learners import ARM
from memstore import Batch, RecallContext
from memstore.capabilities import RecallsFromModel, require

from .arguments import output_file, positive_int, refusing_bad_input
from .datasets import load_dataset
from .learner_specs import ARMSpec
from .specs import SETTINGS, BudgetSpec, MLPSpec, SelfRecallSpec
from .streams import Split

__all__ = ["main", "recall_pairs"]


def recall_pairs(seed: int, tasks: int, batches: int, data_root: str | None = None) -> list[tuple[Batch, Batch]]:
    """(real batch, recalled batch) pairs from ARM trained on ``tasks`` tasks, recalled during task ``tasks``."""
    stream = Split(examples_per_task=1010).build(load_dataset("mnist", data_root), torch.Generator().manual_seed(seed))
    model = MLPSpec((400, 400)).seeded(stream.item_shape, stream.num_classes, seed)
    budget = BudgetSpec(bits=0).resolve(stream.item_shape, stream.num_classes)
    store = SelfRecallSpec().build(budget, stream.item_shape, stream.num_classes, seed=seed, num_tasks=len(stream))
    require(store, RecallsFromModel, "the ARM figure")
    learner = ARMSpec().build(model, store, SETTINGS["mir"], torch.Generator().manual_seed(seed))
    assert isinstance(learner, ARM)
    for task in list(stream)[:tasks]:
        for x, y in task.batches(10):
            learner.observe(x, y, task=task.index)
        learner.end_task(task.index)
    pairs, settings = [], store.objective
    for x, y in list(stream.tasks[tasks].batches(10))[:batches]:
        learner.update(x, y, None)  # line 5: the real step that recall compensates for
        context = RecallContext(model, None, Batch(x, y))
        recalled = store.sample(10, context=context, generator=torch.Generator().manual_seed(seed))
        store.objective = dataclasses.replace(settings, steps=0)  # S = 0 with the same generator: the starting items
        start = store.sample(10, context=context, generator=torch.Generator().manual_seed(seed))
        store.objective = settings
        pairs.append((Batch(start.x, y[_rows_of(start.x, x)]), recalled))
    return pairs


def _rows_of(items: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """For each of ``items``, the row of ``batch`` it equals (to read its true label)."""
    return (items.flatten(1)[:, None] == batch.flatten(1)[None]).all(dim=2).float().argmax(dim=1)


def draw(pairs: list[tuple[Batch, Batch]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(pairs[0][0])
    fig, axes = plt.subplots(2 * len(pairs), columns, figsize=(columns * 0.95, len(pairs) * 2.3))
    for row, (real, recalled) in enumerate(pairs):
        assert recalled.soft is not None
        for col in range(columns):
            top, bottom = axes[2 * row, col], axes[2 * row + 1, col]
            top.imshow(recalled.x[col, 0], cmap="gray", vmin=0, vmax=1)
            top.set_title(f"{int(recalled.y[col])} ({float(recalled.soft[col].max()):.2f})", fontsize=7)
            bottom.imshow(real.x[col, 0], cmap="gray", vmin=0, vmax=1)
            bottom.set_title(f"init {int(real.y[col])}", fontsize=7)
            for ax in (top, bottom):
                ax.set_xticks([])
                ax.set_yticks([])
    fig.suptitle("ARM recall (top: recalled, old model's class and confidence; bottom: its initialisation)",
                 fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@refusing_bad_input
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.arm_figure", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", type=int, choices=range(1, 5), default=2, metavar="{1-4}",
                   help="tasks learned before recall is drawn (1-4)")
    p.add_argument("--batches", type=positive_int, default=3, help="recalled batches to draw")
    p.add_argument("--data-root")
    p.add_argument("--out", type=output_file, default=Path("docs/img/arm_recall.png"), help="a .png file")
    args = p.parse_args(argv)
    if args.out.suffix != ".png":
        p.error(f"--out must name a .png file, got {str(args.out)!r}")
    torch.set_num_threads(1)
    draw(recall_pairs(args.seed, args.tasks, args.batches, args.data_root), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
