"""The ``photos`` data set: crops of natural photographs, one class a photograph, test blocks never trained on."""

import hashlib
import importlib.util
import sys

import pytest
import torch

from benchmarks import datasets
from benchmarks.datasets import PHOTOS, DataNotFoundError, load_photos
from benchmarks.streams import Split

BLOCK, CROP = 48, 32
needs_skimage = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                   reason="scikit-image not installed (the photos extra)")


def _digest(x: torch.Tensor) -> str:
    return hashlib.sha256(torch.round(x * 255).to(torch.uint8).numpy().tobytes()).hexdigest()[:16]


@needs_skimage
def test_photos_are_the_recorded_pixels_on_the_uint8_grid():
    """The cells recorded on ``photos`` ran these pixels (Pillow decodes and resizes the photographs): a Pillow or
    scikit-image that gives others fails here, before its cells are compared with the recorded ones."""
    photos = load_photos()
    assert photos.train_x.shape == (6000, 3, 32, 32) and photos.test_x.shape == (1000, 3, 32, 32)
    assert photos.num_classes == len(PHOTOS) == 10
    assert torch.equal(torch.round(photos.train_x * 255) / 255, photos.train_x)
    assert photos.train_y.bincount().tolist() == [600] * 10 and photos.test_y.bincount().tolist() == [100] * 10
    assert (_digest(photos.train_x), _digest(photos.test_x)) == ("ae3e79029f39aaa9", "0a67df977916dc77")
    stream = Split(examples_per_task=1000).build(photos, torch.Generator().manual_seed(0))
    assert stream.item_shape == (3, 32, 32) and [t.classes for t in stream] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


def _coordinates(name: str) -> torch.Tensor:
    """A stand-in photograph whose pixels say where they are: (row, column, class), 192 rows, 192 or 240 columns."""
    label = PHOTOS.index(name)
    rows, cols = 192, 192 + 48 * (label % 2)
    grid = torch.stack(torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij"))
    return torch.cat([grid, torch.full((1, rows, cols), label)]).to(torch.uint8)


def _placement(crop: torch.Tensor) -> tuple[int, int, int, bool]:
    """(class, top row, left column, mirrored) of a crop of a :func:`_coordinates` photograph."""
    pixels = torch.round(crop * 255).to(torch.int64)
    rows, cols = pixels[0, :, 0], pixels[1, 0, :]
    assert torch.equal(rows, rows[0] + torch.arange(CROP)), "rows of a crop are consecutive"
    mirrored = bool(cols[0] > cols[-1])
    cols = cols.flip(0) if mirrored else cols
    assert torch.equal(cols, cols[0] + torch.arange(CROP)), "columns of a crop are consecutive, or mirrored"
    return int(pixels[2, 0, 0]), int(rows[0]), int(cols[0]), mirrored


def test_each_crop_lies_in_one_block_and_no_test_block_is_trained_on(monkeypatch):
    monkeypatch.setattr(datasets, "_photograph", _coordinates)
    photos = load_photos()
    for label in range(len(PHOTOS)):
        blocks, mirrored = {}, []
        for split, x, y in (("train", photos.train_x, photos.train_y), ("test", photos.test_x, photos.test_y)):
            placed = [_placement(crop) for crop in x[y == label]]
            assert {p[0] for p in placed} == {label}
            assert all(r % BLOCK <= BLOCK - CROP and c % BLOCK <= BLOCK - CROP for _, r, c, _ in placed)
            blocks[split] = {(r // BLOCK, c // BLOCK) for _, r, c, _ in placed}
            mirrored += [m for *_, m in placed]
        every = 4 * (4 + label % 2)
        assert len(blocks["test"]) == every // 5 and not blocks["train"] & blocks["test"]
        assert len(blocks["train"]) == every - every // 5  # 600 draws reach every training block
        assert 0.4 < sum(mirrored) / len(mirrored) < 0.6


def test_photos_without_scikit_image_say_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.data", None)  # importing it now raises ImportError
    with pytest.raises(DataNotFoundError, match=r"pip install -e '\.\[photos\]'"):
        load_photos()
