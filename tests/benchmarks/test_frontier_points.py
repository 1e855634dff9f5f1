"""The compression frontier's points: bits measured from the codecs' real bytes, distortion from their round trip."""

from __future__ import annotations

import torch

from benchmarks.frontier import jpeg_points, lossless_points
from memstore.codecs import JPEGCodec


def images(n: int = 12) -> torch.Tensor:
    coarse = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    fine = torch.nn.functional.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)
    return (fine * (fine > 0.6)).mul(255).round().div(255)


def test_lossless_points_are_exact_and_smaller_than_raw() -> None:
    points = lossless_points(images())
    assert [p["label"] for p in points] == ["zstd-3", "zstd-19", "png-9"]
    assert all(p["l1_distortion"] == 0.0 and p["bits_per_image_with_header"] < 8 * 784 for p in points)


def test_jpeg_points_charge_the_header_once_or_per_file() -> None:
    x = images()
    (point,) = jpeg_points(x, (50,))
    codec = JPEGCodec((1, 28, 28), 50)
    scans = codec.encode(x)
    assert point["bits_per_image_no_header"] == 8 * sum(map(len, scans)) / len(scans)
    assert point["bits_per_image_standalone_file"] == point["bits_per_image_no_header"] + 8 * len(codec.shared)
    assert point["l1_distortion"] > 0
