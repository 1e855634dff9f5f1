"""Mnemonics Training's N-phase class-incremental protocol, scaled to MNIST (Liu et al., Table 2 ablation).

    python -m benchmarks.mnemonics --seeds 0-4 --threads 1            # every method, 5 seeds (resumable)
    python -m benchmarks.mnemonics --seeds 0 --methods random          # one cell
    python -m benchmarks.mnemonics --seeds 0-4 --collect                # summarise finished cells only
    python -m benchmarks.mnemonics --figure docs/img/mnemonics_pca.png   # the PCA and exemplar pictures (seed 0)

Protocol: a seeded permutation of the 10 classes; phase 0 learns the first 5, phases 1..5 one class each (N = 5);
PhaseLearner (learners/phases.py) on an MLP 784-400-400-10; after every phase the model is scored on the test data of
the classes seen so far (A_i). Reported per cell: the average incremental accuracy Ā = mean_i A_i and the paper's
forgetting rate F = A_0^Z − A_N^Z (accuracy on phase 0's classes, after phase 0 minus after phase N), besides
Chaudhry et al.'s forgetting over the six phase groups. Phase 0's training does not depend on the method, so its
model is cached once per seed (``phase0-s{seed}.pt``) and every method starts its exemplar step from it.

Each (method, seed) is one JSON under ``results/mnemonics/``; finished cells are skipped, so a killed run resumes.
The summary (mean ± std over seeds) goes to ``docs/results/mnemonics.json``; methods not in the run keep their rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from learners import AccuracyMatrix
from learners.phases import PhaseConfig, PhaseLearner
from memstore import Budget, Herding, Mnemonics, MnemonicsStore, RandomSelection, Selection

from .cli import parse_seeds
from .datasets import Dataset, load_dataset
from .specs import MLPSpec

__all__ = ["METHODS", "Method", "Protocol", "run_cell", "main"]


@dataclass(frozen=True)
class Protocol:
    """The N-phase protocol and every model-level setting; the store's budget is ``budget_per_class`` float32
    exemplars per class of all classes (so uint8 methods get exactly the same bits)."""

    dataset: str = "mnist"
    base_classes: int = 5
    phases: int = 5
    budget_per_class: int = 20
    hidden: tuple[int, ...] = (400, 400)
    learner: PhaseConfig = field(default_factory=PhaseConfig)

    def budget(self, item_shape: tuple[int, ...], num_classes: int) -> Budget:
        per_item = 32 * int(np.prod(item_shape)) + (num_classes - 1).bit_length()
        return Budget(self.budget_per_class * num_classes * per_item)

    def class_order(self, seed: int, num_classes: int) -> list[list[int]]:
        order = np.random.default_rng(seed).permutation(num_classes).tolist()
        rest = order[self.base_classes:]
        step = -(-len(rest) // self.phases)
        return [order[: self.base_classes], *[rest[i:i + step] for i in range(0, len(rest), step)]]


@dataclass(frozen=True)
class Method:
    """A row of the table: a selection strategy, the stored dtype and exemplars per class."""

    name: str
    selection: Callable[[], Selection]
    dtype: torch.dtype = torch.float32
    per_class: int = 20

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "selection": self.selection().get_config(), "dtype": str(self.dtype),
                "per_class": self.per_class}


#: Mnemonics' exemplar-level settings for MNIST (sized for the CPU budget; docs/backends/mnemonics.md).
MNEMONICS = {"inner_steps": 5, "inner_lr": 0.1, "outer_steps": 20, "outer_lr": 100.0, "batch_size": 128}

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("random", RandomSelection),
    Method("herding", Herding),
    Method("mnemonics-noadj", lambda: Mnemonics(**MNEMONICS, adjust=False)),
    Method("mnemonics", lambda: Mnemonics(**MNEMONICS, adjust=True)),
    Method("mnemonics-uint8-80", lambda: Mnemonics(**MNEMONICS, adjust=True), torch.uint8, 80),
    Method("random-uint8-80", RandomSelection, torch.uint8, 80),
    Method("mnemonics-beta2-10", lambda: Mnemonics(**MNEMONICS, adjust=True, adjust_lr=10.0)),
)}


def _model(protocol: Protocol, data: Dataset, seed: int) -> torch.nn.Module:
    return MLPSpec(protocol.hidden).seeded(data.item_shape, data.num_classes, seed)


def _phase0_model(protocol: Protocol, data: Dataset, seed: int, classes: list[int], cache: Path) -> dict[str, Any]:
    """Phase 0's trained model (method-independent), from ``cache`` or trained and cached."""
    path = cache / f"phase0-s{seed}-{_digest(protocol)}.pt"
    if path.exists():
        return torch.load(path)
    model = _model(protocol, data, seed)
    store = MnemonicsStore(protocol.budget(data.item_shape, data.num_classes), data.item_shape, data.num_classes,
                           selection=RandomSelection(), seed=seed)
    learner = PhaseLearner(model, store, data.num_classes, config=protocol.learner,
                           generator=torch.Generator().manual_seed(seed))
    rows = torch.isin(data.train_y, torch.tensor(classes))
    learner.train_phase(data.train_x[rows], data.train_y[rows])
    state = {"model": model.state_dict(), "generator": learner.generator.get_state()}
    torch.save(state, path)
    return state


def _digest(protocol: Protocol) -> str:
    import hashlib

    text = json.dumps(asdict(protocol), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def run_cell(protocol: Protocol, method: Method, seed: int, data: Dataset, cache: Path,
             keep: Path | None = None) -> dict[str, Any]:
    """One (method, seed): every phase, scored; returns the JSON-ready result."""
    start = time.perf_counter()
    groups = protocol.class_order(seed, data.num_classes)
    model = _model(protocol, data, seed)
    budget = protocol.budget(data.item_shape, data.num_classes)
    store = MnemonicsStore(budget, data.item_shape, data.num_classes, selection=method.selection(), dtype=method.dtype,
                           per_class=method.per_class, seed=seed)
    learner = PhaseLearner(model, store, data.num_classes, config=protocol.learner,
                           generator=torch.Generator().manual_seed(seed))
    test_groups = [torch.isin(data.test_y, torch.tensor(g)) for g in groups]
    rows: list[list[float]] = []
    seen_accuracy: list[float] = []
    exemplars: list[int] = []
    for phase, classes in enumerate(groups):
        train = torch.isin(data.train_y, torch.tensor(classes))
        x, y = data.train_x[train], data.train_y[train]
        if phase == 0:
            state = _phase0_model(protocol, data, seed, classes, cache)
            model.load_state_dict(state["model"])
            learner.generator.set_state(state["generator"])
            learner.seen[torch.tensor(classes)] = True
        else:
            learner.train_phase(x, y)
        learner.consolidate(x, y)
        seen = torch.stack(test_groups[: phase + 1]).any(dim=0)
        seen_accuracy.append(learner.accuracy(data.test_x[seen], data.test_y[seen]))
        rows.append([learner.accuracy(data.test_x[g], data.test_y[g]) if j <= phase else 0.0
                     for j, g in enumerate(test_groups)])
        exemplars.append(len(store))
    if keep is not None:
        ex_x, ex_y = store.exemplars()
        torch.save({"model": model.state_dict(), "x": ex_x, "y": ex_y, "groups": groups}, keep)
    matrix = AccuracyMatrix.from_rows(rows, [int(g.sum()) for g in test_groups])
    ledger = store.ledger()
    return {
        "method": method.config(), "seed": seed, "protocol": asdict(protocol), "class_groups": groups,
        "accuracy_seen": seen_accuracy, "matrix": rows,
        "average_incremental_accuracy": statistics.fmean(seen_accuracy),
        "forgetting_rate": rows[0][0] - rows[-1][0],
        "forgetting_chaudhry": matrix.forgetting(),
        "exemplars": exemplars, "bits_charged": ledger.charged(budget), "budget_bits": budget.bits,
        "payload_bits": ledger.payload, "label_bits": ledger.labels, "seconds": time.perf_counter() - start,
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds, per method, of Ā and the two forgetting measures (percent)."""
    table: dict[str, Any] = {}
    for name in dict.fromkeys(r["method"]["name"] for r in results):
        cells = [r for r in results if r["method"]["name"] == name]
        row: dict[str, Any] = {"seeds": sorted(r["seed"] for r in cells), "method": cells[0]["method"]}
        for key in ("average_incremental_accuracy", "forgetting_rate", "forgetting_chaudhry"):
            values = [100 * r[key] for r in cells]
            row[key] = {"mean": statistics.fmean(values),
                        "std": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}
        row["bits_charged"] = cells[0]["bits_charged"]
        row["budget_bits"] = cells[0]["budget_bits"]
        row["seconds_per_cell"] = statistics.fmean(r["seconds"] for r in cells)
        table[name] = row
    return table


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
        model = MLPSpec(Protocol().hidden).build(data.item_shape, data.num_classes)
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
    p.add_argument("--seeds", type=parse_seeds, default=(0, 1, 2, 3, 4), help="e.g. 0-4")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=Path("results/mnemonics"))
    p.add_argument("--summary", type=Path, default=Path("docs/results/mnemonics.json"))
    p.add_argument("--collect", action="store_true", help="only summarise the cells already finished")
    p.add_argument("--figure", type=Path, default=None, help="draw the exemplar PCA (seed 0) to this PNG and stop")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    protocol, data = Protocol(), load_dataset("mnist", args.data_root)
    if args.figure is not None:
        plot_exemplars(args.out, args.figure, data, ("random", "herding", "mnemonics-noadj", "mnemonics"))
        plot_exemplar_images(args.out, args.figure.with_name("mnemonics_exemplars.png"),
                             ("random", "mnemonics-noadj", "mnemonics", "mnemonics-uint8-80"))
        return {}
    cells = [(METHODS[name], seed) for seed in args.seeds for name in args.methods]
    results = []
    for method, seed in tqdm(cells, desc="mnemonics cells"):
        path = args.out / f"{method.name}-s{seed}-{_digest(protocol)}.json"
        if args.collect and not path.exists():
            continue
        if not path.exists():
            keep = args.out / f"exemplars-{method.name}-s{seed}.pt" if seed == 0 else None
            result = run_cell(protocol, method, seed, data, args.out, keep)
            path.write_text(json.dumps(result, indent=1, default=str))
        results.append(json.loads(path.read_text()))
    table = summarise(results)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(args.summary.read_text()) if args.summary.exists() else {}
    args.summary.write_text(json.dumps(kept | table, indent=1))  # methods not run this time keep their rows
    for name, row in table.items():
        a, f = row["average_incremental_accuracy"], row["forgetting_rate"]
        print(f"{name:20s} A={a['mean']:.2f}±{a['std']:.2f}  F={f['mean']:.2f}±{f['std']:.2f}  seeds={row['seeds']}")
    return table


if __name__ == "__main__":
    main()
