"""DGM's tables and pictures (Ostapenko et al. 2019, Table 1, Fig. 4, Fig. 5, Table 4) from the runner's cells.

    python -m benchmarks --config dgm-split-mnist --seeds 0-2 --keep-stores   # the runs (resumable, per cell)
    python -m benchmarks.dgm --report                                          # A5 / A10, growth, disk sizes
    python -m benchmarks.dgm --plot --seed 0                  # docs/img/dgm_growth.png and dgm_samples.png
    python -m benchmarks.dgm --curve --cells DIR/cells        # docs/img/dgm_curve.png: A5 against epochs a task

The protocol is the runner's config ``dgm-split-mnist``: one class per task in order 0..9, single head over the
classes seen so far, no real sample kept. A_t = the mean over classes 0..t−1 of the per-class accuracy on the real
test set after t tasks (row t−1 of a cell's accuracy matrix, one task per class). Two learners per store: ``dgm``
(the AC-GAN discriminator's head, DGM's own solver) and ``generative-replay`` (an MLP trained online on generated
replay). Growth and disk sizes come from the trained stores ``--keep-stores`` saves beside the cells.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from memstore import open as open_store

__all__ = ["a_t", "cells", "curve", "main", "plot_curve", "plot_growth", "plot_samples", "report"]

ROOT = Path(__file__).resolve().parent.parent
CELLS = ROOT / "results" / "dgm-split-mnist" / "cells"


def a_t(matrix: list[list[float]], t: int) -> float | None:
    """A_t in percent: the mean accuracy over the first ``t`` tasks (classes) after task ``t``; None if not run."""
    return 100 * sum(matrix[t - 1][:t]) / t if len(matrix) >= t else None


def cells(folder: Path) -> list[dict]:
    """The finished cells of the DGM config under ``folder``, with the kept store's path when there is one;
    ValueError naming a file that is not a cell result."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            cell = json.loads(path.read_text())
            setting = cell["config"]["setting"]["name"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a cell result ({type(exc).__name__}: {exc})") from None
        if setting == "dgm":
            store = path.with_suffix(".store")
            found.append({**cell, "store_path": store if store.exists() else None})
    return found


def _mean(values: list[float]) -> str:
    if not values:
        return "—"
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.2f}{spread}"


def report(folder: Path) -> str:
    """Markdown: A5 / A10 per store and learner (mean ± std over seeds, and per seed), then growth and disk sizes."""
    found = cells(folder)
    rows = ["| store | learner | seeds | A5 | A10 | per seed A5 | per seed A10 |", "|---|---|---|---:|---:|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for cell in found:
        groups.setdefault((cell["config"]["store"], cell["config"]["learner"]), []).append(cell)
    for (store, learner), runs in sorted(groups.items()):
        runs.sort(key=lambda c: c["config"]["seed"])
        a5 = [v for v in (a_t(c["matrix"], 5) for c in runs) if v is not None]
        a10 = [v for v in (a_t(c["matrix"], 10) for c in runs) if v is not None]
        rows.append(f"| {store} | {learner} | {','.join(str(c['config']['seed']) for c in runs)} | {_mean(a5)} | "
                    f"{_mean(a10)} | {' / '.join(f'{v:.2f}' for v in a5)} | {' / '.join(f'{v:.2f}' for v in a10)} |")
    kept = [c for c in found if c["store_path"] is not None]
    if kept:
        rows += ["", "| store, seed (learner) | hidden units after each task | MB after 5 tasks | MB after 10 tasks |",
                 "|---|---|---:|---:|"]
        for cell in kept:
            growth = open_store(cell["store_path"]).growth
            sizes = [f"{(g.weight_bits + g.mask_bits) / 8e6:.3f}" if g else "—"
                     for g in (growth[4] if len(growth) > 4 else None, growth[9] if len(growth) > 9 else None)]
            rows.append(f"| {cell['config']['store']} s{cell['config']['seed']} ({cell['config']['learner']}) | "
                        + ", ".join(str(sum(g.widths)) for g in growth) + f" | {sizes[0]} | {sizes[1]} |")
    return "\n".join(rows)


def curve(folder: Path) -> dict[str, dict[int, list[float]]]:
    """A5 per series and epochs a task, one value per seed, from cells of ``settings=released`` stores; a series is
    the variant, with ``+act`` where DGMa's masks also act after the batch norm (``mask_activations``)."""
    from .parameters import resolve
    from .specs import STORES

    points: dict[str, dict[int, list[float]]] = {}
    for cell in cells(folder):
        spec = resolve(cell["config"]["store"], STORES, "store")
        value = a_t(cell["matrix"], 5)
        if getattr(spec, "settings", None) == "released" and value is not None:
            series = spec.variant + ("+act" if spec.mask_activations else "")
            points.setdefault(series, {}).setdefault(spec.passes, []).append(value)
    return points


def plot_curve(folder: Path, path: Path) -> None:
    """A5 (mean and each seed) against epochs per task, one line per variant, the paper's A5 dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper = {"dgmw": 98.75, "dgma": 99.17}  # Table 1
    fig, ax = plt.subplots(figsize=(5, 3.5))
    measured = curve(folder)
    for series, by_passes in sorted(measured.items()):
        passes = sorted(by_passes)
        variant, _, placement = series.partition("+")
        name = variant.upper() + (", masks after the norm" if placement else "")
        line = ax.plot(passes, [statistics.fmean(by_passes[n]) for n in passes], marker="o",
                       label=f"{name} (mean; dots: seeds)")[0]
        for n in passes:
            ax.scatter([n] * len(by_passes[n]), by_passes[n], s=10, color=line.get_color(), alpha=0.5)
        if not placement:
            ax.axhline(paper[variant], ls="--", color=line.get_color(), lw=0.8)
    ax.set_xscale("log")
    epochs = sorted({n for by_passes in measured.values() for n in by_passes})
    ax.set_xticks(epochs, [str(n) for n in epochs])  # the epochs run, not powers of ten
    ax.minorticks_off()
    ax.set_xlabel("epochs per task (released settings; theirs: 101)")
    ax.set_ylabel("A5 (%); dashed: paper")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _kept(folder: Path, seed: int) -> list[dict]:
    kept = [c for c in cells(folder) if c["store_path"] is not None and c["config"]["seed"] == seed
            and c["config"]["learner"] == "dgm"]
    if not kept:
        raise SystemExit(f"no kept dgm stores for seed {seed} under {folder}: run the config with --keep-stores")
    return kept


def plot_growth(folder: Path, path: Path, seed: int = 0) -> None:
    """Their Fig. 4: the generator's hidden units after each task, one line per variant, with linear growth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    initial = 0
    for cell in _kept(folder, seed):
        store = open_store(cell["store_path"])
        initial = sum(store.spec.widths)
        units = [initial] + [sum(g.widths) for g in store.growth]
        ax.plot(range(len(units)), units, marker="o", label=cell["config"]["store"].upper())
    ax.plot([0, 10], [initial, 11 * initial], ls="--", c="gray", label="linear growth (all reserved)")
    ax.set_xlabel("tasks learned")
    ax.set_ylabel("generator hidden units")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_samples(folder: Path, path: Path, seed: int = 0) -> None:
    """Their Fig. 5: 8 generated samples of each class (rows 0..9) after the last task, one panel per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    kept = _kept(folder, seed)
    fig, axes = plt.subplots(1, len(kept), figsize=(4 * len(kept), 5), squeeze=False)
    for ax, cell in zip(axes[0], kept, strict=True):
        store = open_store(cell["store_path"])
        classes = torch.nonzero(store.class_slot >= 0).flatten().tolist()
        x = torch.cat([store.sample(8, classes=[c], generator=torch.Generator().manual_seed(c)).x for c in classes])
        ax.imshow(make_grid(x, nrow=8, pad_value=1).permute(1, 2, 0))
        ax.set_title(f"{cell['config']['store']} s{seed} after {len(store.growth)} tasks")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=Path, default=CELLS, help=f"the config's cells (default {CELLS})")
    parser.add_argument("--report", action="store_true", help="print the markdown tables")
    parser.add_argument("--plot", action="store_true", help="draw docs/img/dgm_growth.png and dgm_samples.png")
    parser.add_argument("--seed", type=int, default=0, help="the seed --plot draws")
    parser.add_argument("--curve", action="store_true", help="draw docs/img/dgm_curve.png (A5 against epochs a task)")
    args = parser.parse_args(argv)
    if not (args.report or args.plot or args.curve):
        parser.error("give --report, --plot or --curve (the runs are `python -m benchmarks --config dgm-split-mnist`)")
    try:
        found = cells(args.cells)
    except ValueError as exc:  # a file there that is not a cell result
        parser.error(str(exc))
    if not found:  # before any figure is drawn: an empty one would replace the recorded one
        parser.error(f"no DGM cells in {args.cells} (the runner writes them to OUT/cells: "
                     "`python -m benchmarks --config dgm-split-mnist --out OUT`)")
    if args.curve and not curve(args.cells):
        parser.error(f"no cells of the released settings in {args.cells}: nothing to draw a learning curve from")
    if args.curve:
        plot_curve(args.cells, ROOT / "docs" / "img" / "dgm_curve.png")
    if args.report:
        print(report(args.cells))
    if args.plot:
        plot_growth(args.cells, ROOT / "docs" / "img" / "dgm_growth.png", args.seed)
        plot_samples(args.cells, ROOT / "docs" / "img" / "dgm_samples.png", args.seed)


if __name__ == "__main__":
    main()
