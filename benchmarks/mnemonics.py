"""Pictures of Mnemonics Training's exemplars (Liu et al., Fig. 5 on MNIST); the runs are the grid runner's.

    python -m benchmarks --config mnemonics-mnist --seeds 0-4                 # Table 2's four rows (resumable)
    python -m benchmarks --config mnemonics-mnist --stores "mnemonics:dtype=uint8,per_class=80,masked=false"  # a row
    python -m benchmarks --config mnemonics-mnist-pairs                      # 2 + 4x2, masked, the code variant
    python -m benchmarks --config mnemonics-photos-pairs                     # the same on crops of photographs
    python -m benchmarks.mnemonics --figure docs/img/mnemonics_pca.png        # the PCA and exemplar pictures

The protocol is the runner's phase protocol (``benchmarks/phase_specs.py``, config ``mnemonics-mnist``): a seeded
class order, 5 classes in phase 0 and one per phase after, :class:`~learners.phases.PhaseLearner` on an MLP 2x400,
the average incremental accuracy Ā. The pictures need the trained seed-0 models and exemplars, which a cell's result
does not keep: ``--figure`` runs each seed-0 cell once more and keeps them under ``--out``
(``exemplars-<store>-s0.pt``; a file already there is reused).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from .configs import CONFIGS
from .datasets import Dataset, load_dataset
from .runner import build_cell, train_and_evaluate

__all__ = ["FIGURE_STORES", "keep_exemplars", "main", "plot_exemplar_images", "plot_exemplars"]

CONFIG = "mnemonics-mnist"
#: the pictures' rows, by store spec (as docs/img's pictures were made: before eq. 8-9 were masked)
FIGURE_STORES = {"random": "exemplars", "herding": "exemplars:selection=herding",
                 "mnemonics-noadj": "mnemonics:adjust=false,masked=false", "mnemonics": "mnemonics:masked=false",
                 "mnemonics-uint8-80": "mnemonics:dtype=uint8,per_class=80,masked=false"}


def keep_exemplars(out: Path, name: str, data_root: str | None) -> Path:
    """Run the seed-0 cell of ``FIGURE_STORES[name]`` and keep its final model, exemplars and class groups."""
    path = out / f"exemplars-{name}-s0.pt"
    if path.exists():
        return path
    grid = replace(CONFIGS[CONFIG], stores=(FIGURE_STORES[name],), seeds=(0,))
    (cell,) = grid.cells()
    parts = build_cell(cell, data_root=data_root)
    train_and_evaluate(parts.learner, parts.stream, batch_size=cell.setting.batch_size, task_aware=True)
    x, y = parts.store.exemplars()
    groups = [list(task.classes) for task in parts.stream]
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": parts.learner.model.state_dict(), "x": x, "y": y, "groups": groups}, path)
    return path


def plot_exemplars(out: Path, image: Path, data: Dataset, methods: tuple[str, ...], shown: int = 5) -> None:
    """Their Fig. 5 on MNIST: PCA of the final model's penultimate features (seed 0), test data light, exemplars dark.

    One panel per method; ``shown`` classes (the first of phase 0 and of the later phases, alternately).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    from memstore.stores.exemplar_selection import penultimate_features

    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 4))
    for ax, name in zip(axes, methods, strict=True):
        kept = torch.load(out / f"exemplars-{name}-s0.pt")
        model = CONFIGS[CONFIG].model.build(data.item_shape, data.num_classes)
        model.load_state_dict(kept["model"])
        groups = kept["groups"]
        classes = [c for pair in zip(groups[0], [g[0] for g in groups[1:]], strict=False) for c in pair][:shown]
        test = torch.isin(data.test_y, torch.tensor(classes))
        feats = penultimate_features(model, data.test_x[test])
        pca = PCA(n_components=2).fit(feats.numpy())
        ex = torch.isin(kept["y"], torch.tensor(classes))
        points, marks = pca.transform(feats.numpy()), pca.transform(penultimate_features(model, kept["x"][ex]).numpy())
        for k, c in enumerate(classes):
            colour = plt.cm.tab10(k)
            ax.scatter(*points[(data.test_y[test] == c).numpy()].T, s=2, color=colour, alpha=0.08)
            ax.scatter(*marks[(kept["y"][ex] == c).numpy()].T, s=18, color=colour, edgecolor="black", linewidth=0.4,
                       label=f"class {c}")
        ax.set_title(f"{name} (seed 0, after phase {len(groups) - 1})")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="best", fontsize=7)
    fig.tight_layout()
    image.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(image, dpi=110)


def plot_exemplar_images(out: Path, image: Path, methods: tuple[str, ...], count: int = 10) -> None:
    """The first ``count`` seed-0 exemplars of phase 0's first class, one row per method. Random selection and
    mnemonics' random start draw the same phase-0 subset, so the rows show what eq. 9 (and eq. 10) did to it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(methods), count, figsize=(count * 0.9, len(methods) * 1.0))
    for row, name in zip(axes, methods, strict=True):
        kept = torch.load(out / f"exemplars-{name}-s0.pt")
        shown = kept["x"][kept["y"] == kept["groups"][0][0]][:count]
        for ax, item in zip(row, shown, strict=False):
            ax.imshow(item[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(image, dpi=110)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mnemonics", description=__doc__.split("\n")[0])
    p.add_argument("--figure", type=Path, required=True, help="the PCA picture (PNG); the exemplar grid goes beside it")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=Path("results/mnemonics-mnist/figure"),
                   help="where the seed-0 models and exemplars are kept")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in FIGURE_STORES:
        keep_exemplars(args.out, name, args.data_root)
    data = load_dataset(CONFIGS[CONFIG].dataset, args.data_root)
    plot_exemplars(args.out, args.figure, data, ("random", "herding", "mnemonics-noadj", "mnemonics"))
    plot_exemplar_images(args.out, args.figure.with_name("mnemonics_exemplars.png"),
                         ("random", "mnemonics-noadj", "mnemonics", "mnemonics-uint8-80"))


if __name__ == "__main__":
    main()
