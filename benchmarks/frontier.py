"""The compression frontier (Riemer et al., Fig. 3): bits per image against mean L1 distortion on MNIST.

Series: JPEG at several qualities, the lossless codecs (zstd, PNG: distortion 0), and any other series already in the
JSON (recollections, written by benchmarks.recollection_frontier).

Distortion is mean |decode(encode(x)) − x| over pixels scaled to [0, 1] (pixels / 255), averaged over the first
``--images`` MNIST training images. JPEG bits per image are 8 × its scan bytes plus, "with header", the shared header
amortised over the images (header once per store: ``8·len(shared) / images``) and its length field; "standalone
file" is every image as its own JPEG file (header paid per image). Raw uint8 is the reference (6,272 bits,
distortion 0).

Points go to a JSON file that later backends add their own series to (``--merge`` keeps series of other names);
the PNG plots every series in it::

    python -m benchmarks.frontier [--images 10000] [--qualities 1,5,10,25,50,75,95]
        [--json docs/results/frontier.json] [--png docs/img/frontier.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from memstore.codecs.base import VariableLengthCodec
from memstore.codecs.jpeg import JPEGCodec
from memstore.codecs.lossless import LosslessCodec, PNGCodec, ZstdCodec

from .datasets import load_dataset

__all__ = ["jpeg_points", "lossless_points", "main", "measure", "plot"]

QUALITIES = (1, 5, 10, 25, 50, 75, 95)


def measure(codec: VariableLengthCodec, x: torch.Tensor) -> dict[str, Any]:
    """A variable-size codec on ``x``: bits per image without and with the shared bytes (amortised over the images,
    plus the length field), L1 distortion and timings."""
    start = time.perf_counter()
    items = codec.encode(x)
    encoded = time.perf_counter()
    decoded = codec.decode(items)
    done = time.perf_counter()
    item_bits = 8 * sum(map(len, items)) / len(items)
    return {
        "bits_per_image_no_header": item_bits,
        "bits_per_image_with_header": item_bits + 8 * len(codec.shared) / len(items) + codec.length_bits,
        "header_bits": 8 * len(codec.shared),
        "length_field_bits": codec.length_bits,
        "l1_distortion": float((decoded - x).abs().mean()),
        "encode_us_per_image": (encoded - start) / len(items) * 1e6,
        "decode_us_per_image": (done - encoded) / len(items) * 1e6,
    }


def jpeg_points(x: torch.Tensor, qualities: tuple[int, ...]) -> list[dict[str, Any]]:
    """One point per quality, as :func:`measure`, and the bits of every image as its own JPEG file."""
    points = []
    for quality in qualities:
        codec = JPEGCodec(tuple(x.shape[1:]), quality)
        point = {"quality": quality, **measure(codec, x)}
        point["bits_per_image_standalone_file"] = point["bits_per_image_no_header"] + 8 * len(codec.shared)
        points.append(point)
    return points


def lossless_points(x: torch.Tensor) -> list[dict[str, Any]]:
    """LosslessStore's codecs (zstd at levels 3 and 19, PNG at 9), as :func:`measure`; distortion is measured (0 for
    items on the 1/255 grid, as MNIST's are)."""
    shape = tuple(x.shape[1:])
    codecs: list[tuple[str, LosslessCodec]] = [("zstd-3", ZstdCodec(shape, 3)), ("zstd-19", ZstdCodec(shape, 19)),
                                               ("png-9", PNGCodec(shape, 9))]
    return [{"label": label, **measure(codec, x)} for label, codec in codecs]


def plot(series: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, entry in series.items():
        for key, style in (("bits_per_image_with_header", "-o"), ("bits_per_image_no_header", "--x"),
                           ("bits_per_image_standalone_file", ":s")):
            points = [p for p in entry["points"] if key in p]
            if points:
                ax.plot([p[key] for p in points], [p["l1_distortion"] for p in points], style,
                        label=f"{name} ({key.split('_image_')[1].replace('_', ' ')})")
                for p in points:
                    if "quality" in p and key.endswith("with_header"):
                        ax.annotate(str(p["quality"]), (p[key], p["l1_distortion"]), fontsize=7)
                    elif "label" in p and (key.endswith("no_header") or "bits_per_image_no_header" not in p):
                        # learned-code points (recollections): (c, l); lossless: codec-level, slanted (they share L1 0)
                        rotation = 40 if p["l1_distortion"] == 0 else 0
                        ax.annotate(p["label"], (p[key], p["l1_distortion"]), fontsize=7, rotation=rotation)
    ax.axvline(8 * 784, color="grey", lw=0.8, ls=":", label="raw uint8 (6272 bits)")
    ax.set_xscale("log")
    lowest = min((p[k] for e in series.values() for p in e["points"] for k in p if k.startswith("bits_per")),
                 default=300)
    ticks = [t for t in (30, 100, 300, 500, 1000, 2000, 3000, 6272) if t >= lowest * 0.8 or t >= 300]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("bits per image")
    ax.set_ylabel("mean L1 distortion (pixels / 255)")
    ax.set_title("MNIST compression frontier (first 10,000 training images)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10000, help="first N MNIST training images")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)))
    parser.add_argument("--data-root", default=None, help="folder holding MNIST/raw (default as benchmarks)")
    parser.add_argument("--json", type=Path, default=Path("docs/results/frontier.json"))
    parser.add_argument("--png", type=Path, default=Path("docs/img/frontier.png"))
    parser.add_argument("--merge", action="store_true", help="keep the other series already in --json")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images must be a positive int, got {args.images}")
    try:
        qualities = tuple(int(q) for q in args.qualities.split(","))
    except ValueError:
        parser.error(f"--qualities takes JPEG qualities in [1, 100] separated by commas, got {args.qualities!r}")
    if not all(1 <= q <= 100 for q in qualities):
        parser.error(f"--qualities must lie in [1, 100], got {args.qualities!r}")
    torch.set_num_threads(1)
    x = load_dataset("mnist", args.data_root).train_x[: args.images]
    series = json.loads(args.json.read_text())["series"] if args.merge and args.json.exists() else {}
    series["jpeg"] = {"images": int(x.shape[0]), "points": jpeg_points(x, qualities)}
    series["lossless"] = {"images": int(x.shape[0]), "points": lossless_points(x)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"dataset": "mnist-train-first", "series": series}, indent=1) + "\n")
    plot(series, args.png)
    for p in series["jpeg"]["points"]:
        print(f"q={p['quality']:3d}  bits/img {p['bits_per_image_no_header']:8.1f}"
              f" (+header {p['bits_per_image_with_header']:8.1f})  L1 {p['l1_distortion']:.4f}"
              f"  enc {p['encode_us_per_image']:.0f} µs  dec {p['decode_us_per_image']:.0f} µs")
    for p in series["lossless"]["points"]:
        print(f"{p['label']:8s} bits/img {p['bits_per_image_no_header']:8.1f}"
              f" (+header {p['bits_per_image_with_header']:8.1f})  L1 {p['l1_distortion']:.4f}"
              f"  enc {p['encode_us_per_image']:.0f} µs  dec {p['decode_us_per_image']:.0f} µs")


if __name__ == "__main__":
    main()
