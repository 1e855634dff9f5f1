"""What a dVAE code's reconstructions give away to a classifier (decision 0036).

    python -m benchmarks.codec_probe --dataset colour-mnist --latents 439 --classes 2 --code-side 4 --ranges
    python -m benchmarks.codec_probe --dataset colour --jpeg 1          # JPEG's round trip, the same measures

A :class:`~memstore.codecs.dvae.DVAECodec` is trained offline on ``--items`` training images (``--steps`` Adam steps
on batches of 20 drawn with replacement), then an MLP (2×400, centred on its training mean, Adam at 1e-3, 15
epochs) is trained twice and tested on real test images::

    images ──dVAE round trip──▶ reconstructions ──▶ MLP (a): reconstructions of every class
                                               └──▶ MLP (b): reconstructions of the old classes + real newest two

(b) is a replaying learner's position at the end of a class-incremental stream: old classes seen only through the
store, the newest as real images. Its accuracy on the old classes' real test images falls far below (a)'s when the
reconstructions can be told from real images (colour, blur), because the MLP learns that difference instead.
``inactive_units`` is the share of the decoder's first-layer channels negative for all of 512 random codes
(:meth:`~memstore.nn.dvae.DiscreteVAE.inactive_decoder_units`; dead ones under ReLU, decision 0037).
Random streams: the dVAE's weights from ``seed``, its batches and Gumbel noise from ``seed + 1``, the MLPs from
``seed + 2``, the images from ``seed + 3``, the random codes from ``seed + 4``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from memstore.codecs import JPEGCodec
from memstore.codecs.dvae import DVAECodec

from .arguments import non_negative_int, positive_int, refusing_bad_input
from .datasets import DATASETS, load_dataset
from .models import MLPSpec

__all__ = ["ProbeResult", "mixed_accuracies", "predictions", "probe", "probe_jpeg"]


@dataclass(frozen=True)
class ProbeResult:
    l1: float  # mean L1 of the round trip over the training images
    colour_error: float  # mean |per-channel mean of the round trip − of the image|
    on_reconstructions: float  # test accuracy of MLP (a), %
    old_classes_mixed: float  # test accuracy of MLP (b) on the old classes, %
    new_classes_mixed: float  # test accuracy of MLP (b) on the newest two classes, %
    inactive_units: float | None  # share of the decoder's first-layer channels negative for every random code (dVAE)
    coarse_l1: float  # mean L1 of the 8×8 block means (the ``colour`` set's class signal is a 4×4 grid of them)


def predictions(x: Tensor, y: Tensor, test_x: Tensor, num_classes: int, seed: int) -> Tensor:
    """Each test image's class by the MLP trained on (x, y) (:class:`MLPSpec`, centred on ``x``'s mean)."""
    generator = torch.Generator().manual_seed(seed)
    model = MLPSpec((400, 400), centre=True).seeded(tuple(x.shape[1:]), num_classes, seed, calibration=x)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(15):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], 50):
            batch = order[start:start + 50]
            optimiser.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        return model(test_x).argmax(1)


def mixed_accuracies(recon: Tensor, x: Tensor, y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int,
                     seed: int, newest: tuple[int, ...] | None = None) -> tuple[float, float, float]:
    """Test accuracies (%) of MLP (a) on ``recon``, and of MLP (b) (``recon`` of the old classes, ``x`` of the
    ``newest``, by default the last two class ids) on the old classes and on the newest (see the module docstring)."""
    newest_ids = torch.tensor(newest if newest is not None else (num_classes - 2, num_classes - 1))
    old = ~torch.isin(y, newest_ids)
    hits = predictions(recon, y, test_x, num_classes, seed) == test_y
    mixed_hits = predictions(torch.where(old[:, None, None, None], recon, x), y, test_x, num_classes, seed) == test_y
    test_old = ~torch.isin(test_y, newest_ids)
    return (round(100 * hits.float().mean().item(), 1), round(100 * mixed_hits[test_old].float().mean().item(), 1),
            round(100 * mixed_hits[~test_old].float().mean().item(), 1))


def _images(dataset: str, items: int, tests: int, seed: int,
            data_root: str | None) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """``items`` training images drawn with seed ``seed + 3``, their labels, the first ``tests`` test images and
    labels, and the class count."""
    data = load_dataset(dataset, data_root)
    pick = torch.randperm(data.train_x.shape[0], generator=torch.Generator().manual_seed(seed + 3))[:items]
    return data.train_x[pick], data.train_y[pick], data.test_x[:tests], data.test_y[:tests], data.num_classes


def _result(recon: Tensor, x: Tensor, y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int, seed: int,
            inactive_units: float | None) -> ProbeResult:
    on_recon, old_mixed, new_mixed = mixed_accuracies(recon, x, y, test_x, test_y, num_classes, seed + 2)
    coarse = F.avg_pool2d(recon, 8) - F.avg_pool2d(x, 8) if min(x.shape[2:]) >= 8 else recon - x
    return ProbeResult(
        l1=round((recon - x).abs().mean().item(), 4),
        colour_error=round((recon.mean((2, 3)) - x.mean((2, 3))).abs().mean().item(), 4),
        on_reconstructions=on_recon, old_classes_mixed=old_mixed, new_classes_mixed=new_mixed,
        inactive_units=inactive_units, coarse_l1=round(coarse.abs().mean().item(), 4))


def probe_jpeg(dataset: str, quality: int, *, items: int = 5000, tests: int = 2000, seed: int = 0,
               data_root: str | None = None) -> ProbeResult:
    """The same probe on JPEG's round trip at ``quality`` (nothing to train)."""
    x, y, test_x, test_y, num_classes = _images(dataset, items, tests, seed, data_root)
    codec = JPEGCodec(tuple(x.shape[1:]), quality)
    recon = codec.decode(codec.encode(x))
    return _result(recon, x, y, test_x, test_y, num_classes, seed, None)


def probe(dataset: str, latents: int, classes: int, code_side: int, ranges: bool, *, steps: int = 2000,
          items: int = 5000, tests: int = 2000, seed: int = 0, data_root: str | None = None,
          activation: str = "elu") -> ProbeResult:
    x, y, test_x, test_y, num_classes = _images(dataset, items, tests, seed, data_root)
    item_shape = tuple(x.shape[1:])
    codec = DVAECodec(item_shape, latents, classes, code_side=code_side, seed=seed, ranges=ranges,
                      activation=activation)
    draws = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        codec.train_step(x[torch.randint(0, x.shape[0], (20,), generator=draws)], draws)
    with torch.no_grad():
        recon = torch.cat([codec.decode(codec.encode(x[i:i + 500])) for i in range(0, x.shape[0], 500)])
    random_codes = codec.model.random_codes(512, torch.Generator().manual_seed(seed + 4))
    inactive = codec.model.inactive_decoder_units(random_codes)
    return _result(recon, x, y, test_x, test_y, num_classes, seed, round(inactive, 3))


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.codec_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="colour-mnist")
    parser.add_argument("--latents", type=int, default=439)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--code-side", type=int, default=4)
    parser.add_argument("--ranges", action="store_true", help="codes carry their channel ranges (decision 0036)")
    parser.add_argument("--activation", default="elu", help="the dVAE's nonlinearity: elu or relu (decision 0037)")
    parser.add_argument("--steps", type=non_negative_int, default=2000)
    parser.add_argument("--items", type=positive_int, default=5000)
    parser.add_argument("--tests", type=positive_int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--jpeg", type=int, default=None, metavar="QUALITY",
                        help="probe JPEG's round trip at this quality instead of a dVAE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.jpeg is not None:
        result = probe_jpeg(args.dataset, args.jpeg, items=args.items, tests=args.tests, seed=args.seed,
                            data_root=args.data_root)
        print(json.dumps({"dataset": args.dataset, "jpeg": args.jpeg, "items": args.items, "tests": args.tests,
                          "seed": args.seed, **asdict(result)}))
        return
    result = probe(args.dataset, args.latents, args.classes, args.code_side, args.ranges, steps=args.steps,
                   items=args.items, tests=args.tests, seed=args.seed, data_root=args.data_root,
                   activation=args.activation)
    print(json.dumps({**vars(args), **asdict(result)}))


if __name__ == "__main__":
    main()
