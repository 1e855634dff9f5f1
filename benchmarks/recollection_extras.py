"""Recollection measurements beyond the frontier: buffer vs code sampling (Riemer et al., Table 4) and throughput.

``table4``: a (c, l) dVAE trained offline on the first ``--images`` MNIST training images (as the frontier does), its
codes written into a RecollectionStore (warm start, Algorithm 1 off: steps=0) that holds all of them; reconstruction
distortion on the first ``--images`` test images; then ``--samples`` recollections by buffer sampling (stored codes)
and by code sampling (every latent uniform), each scored by the mean per-pixel L1 distance to its nearest training
image (pixels / 255).

``speed``: per stream batch of 10 MNIST images, the time of ``store.write`` (Algorithm 1 with N=1 recollection batch
of 10, encode, pack) and ``store.sample(10)`` (Zarr read, decode) on a store already holding ``--fill`` items, against
one ER step of an MLP 2x200 (forward/backward/SGD on 10 stream + 10 replay items)::

    python -m benchmarks.recollection_extras table4 [--latents 38 --classes 2 --epochs 10 --samples 2000]
    python -m benchmarks.recollection_extras speed [--shapes 38x2,104x4,139x8 --steps 50]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from memstore import Budget, RecollectionStore, Stabilisation
from memstore.nn import DiscreteVAE, DVAEConfig, pretrain

from .arguments import device, non_negative_int, output_file, pairs, positive_int, refusing_bad_input
from .datasets import load_dataset
from .models import MLPSpec
from .recollection_frontier import distortion

__all__ = ["main", "nearest_l1", "speed", "table4"]


#: the MNIST training images the speed run writes from
SPEED_ITEMS = 5000


def nearest_l1(samples: torch.Tensor, reference: torch.Tensor, batch: int = 250) -> float:
    """Mean over ``samples`` of the per-pixel L1 distance to the nearest row of ``reference``."""
    ref = reference.flatten(1)
    best = [torch.cdist(samples[i:i + batch].flatten(1), ref, p=1).min(1).values
            for i in range(0, samples.shape[0], batch)]
    return float(torch.cat(best).mean()) / ref.shape[1]


def table4(args: argparse.Namespace) -> dict:
    data = load_dataset("mnist", args.data_root)
    x, y, test = data.train_x[: args.images], data.train_y[: args.images], data.test_x[: args.images]
    generator = torch.Generator().manual_seed(args.seed)
    model = DiscreteVAE(DVAEConfig((1, 28, 28), args.latents, args.classes), generator).to(args.device)
    pretrain(model, x, epochs=args.epochs, generator=generator)
    budget = Budget(x.shape[0] * (args.latents * (args.classes - 1).bit_length() + 4))
    store = RecollectionStore(budget, (1, 28, 28), 10, latents=args.latents, classes=args.classes, dvae=model,
                              stabilisation=Stabilisation(steps=0), seed=args.seed, device=args.device)
    for start in range(0, x.shape[0], 500):
        store.write(x[start:start + 500], y[start:start + 500])
    sampler = torch.Generator().manual_seed(args.seed + 1)
    buffer = store.recollect(args.samples, generator=sampler)
    codes = store.recollect(args.samples, code_sampling=True, generator=sampler)
    return {"latents": args.latents, "classes": args.classes, "epochs": args.epochs, "items": len(store),
            "samples": args.samples, "reconstruction_l1_test": distortion(model, test),
            "reconstruction_l1_train": distortion(model, x),
            "nn_l1_buffer_sampling": nearest_l1(buffer, x), "nn_l1_code_sampling": nearest_l1(codes, x)}


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def speed(args: argparse.Namespace) -> list[dict]:
    data = load_dataset("mnist", args.data_root)
    x, y = data.train_x[:SPEED_ITEMS], data.train_y[:SPEED_ITEMS]
    rows = []
    for c, l in args.shapes:
        store = RecollectionStore(Budget.images(100, (1, 28, 28), 10), (1, 28, 28), 10, latents=c, classes=l,
                                  seed=0, device=args.device)
        for start in range(0, args.fill, 10):
            store.write(x[start:start + 10], y[start:start + 10])
        model = MLPSpec((200, 200)).seeded((1, 28, 28), 10, 0)
        optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
        times: dict[str, list[float]] = {"write": [], "sample": [], "learner_step": []}
        for step in range(args.steps):
            xs, ys = x[args.fill + 10 * step: args.fill + 10 * step + 10], y[args.fill + 10 * step:][:10]
            replay: list = []
            times["sample"].append(_timed(lambda: replay.append(store.sample(10))))

            def learner_step() -> None:
                optimiser.zero_grad()
                loss = nn.functional.cross_entropy(model(xs), ys) + nn.functional.cross_entropy(
                    model(replay[0].x), replay[0].y)
                loss.backward()
                optimiser.step()
            times["learner_step"].append(_timed(learner_step))
            times["write"].append(_timed(lambda: store.write(xs, ys)))
        median = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in times.items()}
        inside = median["write"] + median["sample"]
        rows.append({"latents": c, "classes": l, "device": args.device, "capacity": store.capacity,
                     "held": len(store),
                     "write_ms": median["write"], "sample_ms": median["sample"],
                     "learner_step_ms": median["learner_step"],
                     "store_share": inside / (inside + median["learner_step"])})
        print(json.dumps(rows[-1]), flush=True)
    return rows


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("table4", "speed"))
    parser.add_argument("--latents", type=int, default=38)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--epochs", type=non_negative_int, default=10)
    parser.add_argument("--images", type=positive_int, default=10000)
    parser.add_argument("--samples", type=positive_int, default=2000)
    parser.add_argument("--shapes", type=pairs, default="38x2,104x4,139x8")
    parser.add_argument("--steps", type=positive_int, default=50)
    parser.add_argument("--fill", type=positive_int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=device, default="cpu", help="where the dVAE computes, e.g. cuda")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", type=output_file, default=None)
    args = parser.parse_args(argv)
    if args.what == "speed" and args.fill + 10 * args.steps > SPEED_ITEMS:
        parser.error(f"speed writes --fill + 10 x --steps items of the first {SPEED_ITEMS} MNIST images; "
                     f"{args.fill} + 10 x {args.steps} is more")
    torch.set_num_threads(1)
    result = table4(args) if args.what == "table4" else speed(args)
    print(json.dumps(result, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
