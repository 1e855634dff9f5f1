"""Recollection points on the MNIST compression frontier (Riemer et al., Table 5 / Fig. 2–3).

For each (c, l): a fresh :class:`~memstore.nn.DiscreteVAE` (init from ``--seed``) is trained offline on the first
``--images`` MNIST training images (Adam, ``--lr``, batch ``--batch``, ``--epochs`` passes), then every image is encoded
to its argmax code and decoded; distortion = mean |x̂ − x| with pixels / 255, as the paper's appendix defines it. Bits
per image = c·ceil(log2 l) (the codes as a RecollectionStore packs them; the dVAE itself is not amortised here, as in
the paper's compression column). Baselines (all-black, dataset mean, per-class mean) are computed on the same images.
The series ``recollection`` (ours; a point replaces the earlier point of the same (c, l), the others are kept) and
``recollection-paper`` (Table 5) are merged into the frontier JSON and the plot is redrawn::

    python -m benchmarks.recollection_frontier [--points 38x2:10,6x20:10,48x10:4] [--seed 0]
        [--entropy] [--series recollection]

``--entropy`` also range-codes each point's codes per item (``entropy_point``) into the series
``<series>-entropy``: the same L1, fewer bits. ``--series`` names the series (a short run can go beside the
40-epoch one instead of replacing it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from memstore.budget import index_bits
from memstore.codecs.entropy import CategoricalRangeCoder
from memstore.codecs.prefix import CategoricalPrefixCoder
from memstore.nn import DiscreteVAE, DVAEConfig, pretrain

from .arguments import device, output_file, pairs, positive_int, positive_real, refusing_bad_input
from .datasets import load_dataset
from .frontier import plot

__all__ = ["PAPER", "baselines", "coded_sizes", "distortion", "main", "merge_points"]

#: Riemer et al., Table 5: (c, l) -> L1 distortion on MNIST train
PAPER = {(38, 2): 0.05785, (48, 10): 0.01649, (6, 20): 0.06609, (104, 4): None, (139, 8): None}


@torch.no_grad()
def distortion(model: DiscreteVAE, x: torch.Tensor, batch: int = 500) -> float:
    """Mean L1 of decode(encode(x)) against x (the stored path: argmax codes)."""
    total = sum(float((model.decode(model.encode(x[i:i + batch])) - x[i:i + batch]).abs().sum())
                for i in range(0, x.shape[0], batch))
    return total / x.numel()


def baselines(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    per_class = torch.stack([x[y == k].mean(0) for k in range(10)])
    return {
        "all_black": float(x.abs().mean()),
        "dataset_mean": float((x - x.mean(0)).abs().mean()),
        "per_class_mean": float((x - per_class[y]).abs().mean()),
    }


def entropy_point(model: DiscreteVAE, x: torch.Tensor, point: dict[str, Any], batch: int = 500) -> dict[str, Any]:
    """The same codes range-coded per item under a categorical model per latent fitted to them (what an
    EntropyCodedRecollectionStore holding these images stores): :func:`coded_sizes` of the point's codes."""
    codes = torch.cat([model.encode(x[i:i + batch]) for i in range(0, x.shape[0], batch)]).numpy()
    return {"label": point["label"], **coded_sizes(codes, point["c"], point["l"], point["bits_per_image_no_header"]),
            "l1_distortion": point["l1_distortion"], "epochs": point["epochs"], "seed": point["seed"]}


def coded_sizes(codes: Any, c: int, l: int, fixed_bits: int) -> dict[str, Any]:
    """Codes (N, c) of ``l`` values, coded per item by the range coder and by the prefix coder under models fitted to
    them: mean coded bits per item, the ideal ``−log2 p`` bits under the same model, each model's own bits, and
    items per fixed-width item (``fixed_bits`` each) at equal bits (label 4 bits and each store's per-item fields
    included; the models amortised over the N items)."""
    count = len(codes)
    coder = CategoricalRangeCoder(c, l).fit(codes)
    coded = coder.coded_bits(codes).mean()
    fixed_item = fixed_bits + 4
    coded_item = coded + coder.length_bits + 4 + 8 * len(coder.shared) / count
    prefix = CategoricalPrefixCoder(c, l).fit(codes)
    prefix_item = prefix.coded_bits(codes).mean() + 4 + 8 * len(prefix.shared) / count
    return {"c": c, "l": l, "bits_per_image_no_header": float(coded),
            "information_bits": float(coder.information_bits(codes).mean()), "model_bits": 8 * len(coder.shared),
            "length_field_bits": coder.length_bits, "items_vs_fixed_width": fixed_item / coded_item,
            "prefix_bits_per_image": float(prefix.coded_bits(codes).mean()),
            "prefix_model_bits": 8 * len(prefix.shared),
            "prefix_information_bits": float(prefix.information_bits(codes).mean()),
            "prefix_items_vs_fixed_width": fixed_item / prefix_item}


def merge_points(earlier: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``new`` plus the ``earlier`` points of other (c, l) labels, by bits per image."""
    labels = {point["label"] for point in new}
    kept = [point for point in earlier if point["label"] not in labels]
    return sorted(kept + new, key=lambda point: point["bits_per_image_no_header"])


def fit_point(x: torch.Tensor, c: int, l: int, epochs: int, args: argparse.Namespace) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(args.seed)
    model = DiscreteVAE(DVAEConfig(tuple(x.shape[1:]), c, l), generator).to(args.device)
    curve: list[float] = []
    start = time.perf_counter()
    pretrain(model, x, epochs=epochs, batch_size=args.batch, lr=args.lr, generator=generator,
             on_epoch=lambda epoch, m: curve.append(distortion(m, x)))
    bits = c * index_bits(l)
    point = {"label": f"({c},{l})", "c": c, "l": l, "bits_per_image_no_header": bits, "compression": 6272 / bits,
             "l1_distortion": curve[-1], "l1_by_epoch": curve, "epochs": epochs, "lr": args.lr, "batch": args.batch,
             "seed": args.seed, "device": args.device, "params": sum(p.numel() for p in model.parameters()),
             "train_seconds": time.perf_counter() - start, "paper_l1": PAPER.get((c, l))}
    print(json.dumps({k: v for k, v in point.items()}), flush=True)
    if args.entropy:
        point["entropy"] = entropy_point(model.cpu(), x, point)
        print(json.dumps(point["entropy"]), flush=True)
    return point


def code_points(text: str) -> tuple[tuple[int, int, int], ...]:
    """``--points``: a comma list of ``CxL:EPOCHS``, each an int >= 1."""
    try:
        return tuple((*pairs(shape)[0], positive_int(epochs))
                     for shape, epochs in (item.split(":") for item in text.split(",")))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected a comma list of CxL:EPOCHS such as 38x2:10, got {text!r}") from None


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=code_points, default="38x2:10,6x20:10,48x10:4",
                        help="cxl:epochs, comma separated")
    parser.add_argument("--images", type=positive_int, default=10000)
    parser.add_argument("--epochs-scale", type=positive_real, default=1.0)
    parser.add_argument("--lr", type=positive_real, default=1e-3)
    parser.add_argument("--batch", type=positive_int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=device, default="cpu", help="where the dVAE trains, e.g. cuda")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--entropy", action="store_true",
                        help="also range-code the codes (series recollection-entropy)")
    parser.add_argument("--series", default="recollection", help="name of the series the points go to")
    parser.add_argument("--json", type=output_file, default=Path("docs/results/frontier.json"),
                        help="the frontier's series; points are merged into it")
    parser.add_argument("--png", type=output_file, default=Path("docs/img/frontier.png"))
    args = parser.parse_args(argv)
    try:  # before any training: the points are merged into this file's series at the end
        series = json.loads(args.json.read_text())["series"] if args.json.exists() else {}
        if not isinstance(series, dict):
            raise TypeError(type(series).__name__)
    except (ValueError, KeyError, TypeError):
        parser.error(f"--json {args.json} is not a frontier file (JSON with a 'series' object)")
    torch.set_num_threads(1)
    data = load_dataset("mnist", args.data_root)
    x, y = data.train_x[: args.images], data.train_y[: args.images]
    print(json.dumps({"baselines": baselines(x, y)}), flush=True)
    points = []
    for c, l, epochs in args.points:
        points.append(fit_point(x, c, l, max(1, round(int(epochs) * args.epochs_scale)), args))
    entropy = [point.pop("entropy") for point in points if "entropy" in point]
    if entropy:
        series[f"{args.series}-entropy"] = {"images": int(x.shape[0]), "points": merge_points(
            series.get(f"{args.series}-entropy", {}).get("points", []), entropy)}
    points = merge_points(series.get(args.series, {}).get("points", []), points)
    series[args.series] = {"images": int(x.shape[0]), "baselines": baselines(x, y), "points": points}
    series["recollection-paper"] = {"points": [
        {"label": f"({c},{l})", "bits_per_image_no_header": c * index_bits(l), "l1_distortion": value}
        for (c, l), value in PAPER.items() if value is not None]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"dataset": "mnist-train-first", "series": series}, indent=1) + "\n")
    plot(series, args.png)


if __name__ == "__main__":
    main()
