"""DGM's strictly class-incremental Split MNIST (Ostapenko et al. 2019, Table 1, Fig. 4, Table 4), reduced for CPU.

    python -m benchmarks.dgm --variant dgmw --seeds 0            # one run per seed, resumable task by task
    python -m benchmarks.dgm --plot --seeds 0                     # docs/img/dgm_growth.png and dgm_samples.png

Protocol: 10 tasks, task t = every MNIST training image of class t (one class per task, their MNIST setup); single
head over the classes seen so far; no real sample is kept (the store generates). After task t two solvers are scored
on the real MNIST test images of classes 0..t (A_t = the mean over those classes of per-class accuracy):

- ``dgm``: the AC-GAN discriminator's auxiliary head, DGM's own solver (trained in ``end_task`` on real current data
  plus generated earlier classes);
- ``replay_mlp``: an MLP 2×400 trained online (one pass, batch 10, SGD lr 0.1) by :class:`learners.GenerativeReplay`
  with 10 generated items of earlier classes per step (memstore's store/learner split).

Each task is checkpointed under ``results/dgm/<variant>-s<seed>/`` (the store via ``save``, the MLP's weights, the
rows so far); a rerun resumes after the last finished task. Results: ``docs/results/dgm_<variant>_s<seed>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks.cli import parse_seeds
from benchmarks.datasets import load_mnist
from benchmarks.specs import MLPSpec
from learners import GenerativeReplay
from memstore import Budget, GenerativeStore
from memstore import open as open_store
from memstore.nn import GANTraining
from memstore.nn.masks import MASK_VARIANTS

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "results" / "dgm"
RESULTS = ROOT / "docs" / "results"


@dataclass(frozen=True)
class Protocol:
    """The reduced protocol's settings (everything that differs from the paper is here)."""

    iterations: int = 500
    batch_size: int = 32
    widths: tuple[int, int] = (32, 16)
    critic_widths: tuple[int, int] = (16, 32)
    latent: int = 32
    tasks: int = 10
    mlp_lr: float = 0.1
    replay_size: int = 10
    lambda_ru: float = MASK_VARIANTS["dgmw"].lambda_ru


@dataclass(frozen=True)
class Run:
    """One variant at one seed: accuracy rows (after task t, per class 0..t), A5/A10 of both solvers, growth, sizes."""

    variant: str
    seed: int
    protocol: Protocol
    dgm_rows: list[list[float]] = field(default_factory=list)
    mlp_rows: list[list[float]] = field(default_factory=list)
    growth: list[dict] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    machine: str = ""

    def summary(self) -> dict:
        def a(rows: list[list[float]], t: int) -> float | None:
            return 100 * sum(rows[t - 1]) / t if len(rows) >= t else None
        return {"dgm_A5": a(self.dgm_rows, 5), "dgm_A10": a(self.dgm_rows, 10),
                "mlp_A5": a(self.mlp_rows, 5), "mlp_A10": a(self.mlp_rows, 10)}


def per_class_accuracy(logits_of, x: torch.Tensor, y: torch.Tensor, seen: int) -> list[float]:
    """Accuracy on each class 0..seen-1, predicting among the seen classes only (single head over Y^t)."""
    with torch.no_grad():
        pred = torch.cat([logits_of(x[i:i + 1000])[:, :seen].argmax(1) for i in range(0, len(x), 1000)])
    return [float((pred[y == c] == c).float().mean()) for c in range(seen)]


def run(variant: str, seed: int, protocol: Protocol, data_root: str | None) -> Run:
    data = load_mnist(data_root)
    folder = CHECKPOINTS / f"{variant}-s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    progress_file = folder / "progress.json"
    store = GenerativeStore(Budget(0), data.item_shape, 10, seed=seed, variant=MASK_VARIANTS[variant](),
                            latent=protocol.latent, widths=protocol.widths, critic_widths=protocol.critic_widths,
                            training=GANTraining(iterations=protocol.iterations, batch_size=protocol.batch_size,
                                                lambda_ru=protocol.lambda_ru))
    mlp = MLPSpec((400, 400)).seeded(data.item_shape, 10, seed)
    state = {"protocol": asdict(protocol), "dgm_rows": [], "mlp_rows": [], "cpu": 0.0, "wall": 0.0}
    if progress_file.exists():
        state = json.loads(progress_file.read_text())
        if state.get("protocol") != json.loads(json.dumps(asdict(protocol))):
            raise SystemExit(f"{folder} holds a run with another protocol ({state.get('protocol')}); "
                             "move it away to start this one")
        store = open_store(folder / "store")
        mlp.load_state_dict(torch.load(folder / "mlp.pt"))
    learner = GenerativeReplay(mlp, store, lr=protocol.mlp_lr, replay_size=protocol.replay_size,
                               generator=torch.Generator().manual_seed(seed + 1000))
    order = torch.Generator().manual_seed(seed)
    for t in tqdm(range(len(state["dgm_rows"]), protocol.tasks), desc=f"{variant} seed {seed}", unit="task"):
        cpu, wall = time.process_time(), time.time()
        rows = torch.nonzero(data.train_y == t).flatten()
        rows = rows[torch.randperm(rows.numel(), generator=order)]
        for i in range(0, rows.numel(), 10):
            learner.observe(data.train_x[rows[i:i + 10]], data.train_y[rows[i:i + 10]], task=t)
        learner.end_task(t)  # the store trains its AC-GAN on the task's batches
        test = data.test_y <= t
        state["dgm_rows"].append(per_class_accuracy(store.discriminator.classify, data.test_x[test],
                                                    data.test_y[test], t + 1))
        mlp.eval()
        state["mlp_rows"].append(per_class_accuracy(mlp, data.test_x[test], data.test_y[test], t + 1))
        state["cpu"] += time.process_time() - cpu
        state["wall"] += time.time() - wall
        store.save(folder / "store")
        torch.save(mlp.state_dict(), folder / "mlp.pt")
        progress_file.write_text(json.dumps(state))
        tqdm.write(f"task {t}: dgm A={100 * sum(state['dgm_rows'][-1]) / (t + 1):.2f}  "
                   f"mlp A={100 * sum(state['mlp_rows'][-1]) / (t + 1):.2f}  widths={store.model.widths}")
    return Run(variant, seed, protocol, state["dgm_rows"], state["mlp_rows"],
               [g.to_json() for g in store.growth], state["cpu"], state["wall"],
               f"{platform.machine()} CPU, torch threads {torch.get_num_threads()}, shared 2-core host")


def write(result: Run) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"dgm_{result.variant}_s{result.seed}.json"
    path.write_text(json.dumps({**asdict(result), "summary": result.summary()}, indent=1))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=sorted(MASK_VARIANTS), default="dgmw")
    parser.add_argument("--seeds", type=parse_seeds, default=(0,), help="e.g. 0, 0-4 or 0,3")
    parser.add_argument("--iterations", type=int, default=Protocol.iterations, help="GAN iterations per task")
    parser.add_argument("--lambda-ru", type=float, default=None,
                        help="λ_RU of eq. 6's regulariser (default: the variant's, DGMw 0.75, DGMa 0.03)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--report", action="store_true", help="only print the markdown tables of the results")
    parser.add_argument("--plot", action="store_true",
                        help="only draw docs/img/dgm_growth.png and dgm_samples.png for the first of --seeds")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.report:
        print(report())
        return
    if args.plot:
        plot_growth(ROOT / "docs" / "img" / "dgm_growth.png", args.seeds[0])
        plot_samples(ROOT / "docs" / "img" / "dgm_samples.png", args.seeds[0])
        return
    lambda_ru = MASK_VARIANTS[args.variant].lambda_ru if args.lambda_ru is None else args.lambda_ru
    protocol = Protocol(iterations=args.iterations, lambda_ru=lambda_ru)
    for seed in args.seeds:
        print(write(run(args.variant, seed, protocol, args.data_root)))


def report() -> str:
    """Markdown: A5/A10 of both solvers, growth per task, and Table 4's disk sizes (MB = 10^6 bytes) per run."""
    lines = ["| run | dgm A5 | dgm A10 | replay-MLP A5 | replay-MLP A10 | CPU min | wall min |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("dgm_*_s*.json"))]
    fmt = lambda v: "—" if v is None else f"{v:.2f}"
    for run in runs:
        s = run["summary"]
        lines.append(f"| {run['variant']} s{run['seed']} | {fmt(s['dgm_A5'])} | {fmt(s['dgm_A10'])} | "
                     f"{fmt(s['mlp_A5'])} | {fmt(s['mlp_A10'])} | {run['cpu_seconds'] / 60:.1f} | "
                     f"{run['wall_seconds'] / 60:.1f} |")
    lines += ["", "| run | hidden units after task 0..9 (initial " + "+".join(map(str, Protocol.widths)) + ") |",
              "|---|---|"]
    lines += [f"| {r['variant']} s{r['seed']} | " + ", ".join(str(sum(g["widths"])) for g in r["growth"]) + " |"
              for r in runs]
    lines += ["", "| run | weights MB (5) | masks MB (5) | total (5) | weights MB (10) | masks MB (10) | total (10) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        cells = []
        for t in (5, 10):
            if len(r["growth"]) >= t:
                g = r["growth"][t - 1]
                w, m = g["weight_bits"] / 8e6, g["mask_bits"] / 8e6
                cells += [f"{w:.3f}", f"{m:.3f}", f"{w + m:.3f}"]
            else:
                cells += ["—"] * 3
        lines.append(f"| {r['variant']} s{r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_growth(path: Path, seed: int = 0) -> None:
    """Their Fig. 4: hidden units of the generator after each task, DGMw against DGMa (one seed), with linear growth."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    initial = 0
    results = sorted(RESULTS.glob(f"dgm_*_s{seed}.json"))
    if not results:
        raise SystemExit(f"no results for seed {seed} in {RESULTS}: run the variants first")
    for result in results:
        run = json.loads(result.read_text())
        initial = sum(run["protocol"]["widths"])
        units = [initial] + [sum(g["widths"]) for g in run["growth"]]
        ax.plot(range(len(units)), units, marker="o", label=run["variant"].upper())
    ax.plot([0, 10], [initial, 2 * initial + 9 * initial], ls="--", c="gray", label="linear growth (all reserved)")
    ax.set_xlabel("tasks learned")
    ax.set_ylabel("generator hidden units")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_samples(path: Path, seed: int = 0) -> None:
    """Their Fig. 5: 8 generated samples of each class (rows 0..9) after the last task, one panel per variant."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    folders = sorted(CHECKPOINTS.glob(f"*-s{seed}"))
    if not folders:
        raise SystemExit(f"no checkpoints for seed {seed} under {CHECKPOINTS}: run the variants first")
    fig, axes = plt.subplots(1, len(folders), figsize=(4 * len(folders), 5), squeeze=False)
    for ax, folder in zip(axes[0], folders):
        store = open_store(folder / "store")
        classes = torch.nonzero(store.class_slot >= 0).flatten().tolist()
        x = torch.cat([store.sample(8, classes=[c], generator=torch.Generator().manual_seed(c)).x for c in classes])
        ax.imshow(make_grid(x, nrow=8, pad_value=1).permute(1, 2, 0))
        ax.set_title(f"{folder.name} after {len(store.growth)} tasks")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
