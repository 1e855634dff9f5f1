"""The ``photos`` data set: crops of natural photographs, one class a photograph, test blocks never trained on."""

import sys

import pytest
import torch

pytest.importorskip("skimage")

from benchmarks.datasets import PHOTOS, DataNotFoundError, _photograph, load_photos  # noqa: E402
from benchmarks.streams import Split  # noqa: E402

BLOCK, CROP = 48, 32


@pytest.fixture(scope="module")
def photos():
    return load_photos()


def test_photos_are_the_same_everywhere_and_on_the_uint8_grid(photos):
    again = load_photos()
    assert photos.train_x.shape == (6000, 3, 32, 32) and photos.test_x.shape == (1000, 3, 32, 32)
    assert photos.num_classes == len(PHOTOS) == 10
    assert torch.equal(photos.train_x, again.train_x) and torch.equal(photos.test_x, again.test_x)
    assert torch.equal(torch.round(photos.train_x * 255) / 255, photos.train_x)
    assert photos.train_y.bincount().tolist() == [600] * 10 and photos.test_y.bincount().tolist() == [100] * 10
    stream = Split(examples_per_task=1000).build(photos, torch.Generator().manual_seed(0))
    assert stream.item_shape == (3, 32, 32) and [t.classes for t in stream] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


def _corners(photo: torch.Tensor, crop: torch.Tensor) -> set[tuple[int, int]]:
    """Every top-left corner where ``crop`` or its mirror image lies in ``photo`` (uint8 (3, H, W))."""
    windows = photo.unfold(1, CROP, 1).unfold(2, CROP, 1)  # (3, H', W', 32, 32)
    found = set()
    for candidate in (crop, crop.flip(-1)):
        same = (windows == candidate[:, None, None]).all(-1).all(-1).all(0)
        found |= {tuple(p) for p in same.nonzero().tolist()}
    return found


@pytest.mark.parametrize("label", [0, 7])
def test_crops_are_pieces_of_their_photograph_and_test_blocks_are_never_trained_on(photos, label):
    photo = _photograph(PHOTOS[label])
    assert min(photo.shape[1:]) == 192 and photo.dtype == torch.uint8

    def blocks(x: torch.Tensor, y: torch.Tensor, count: int) -> set[tuple[int, int]]:
        seen = set()
        for crop in x[y == label][:count]:
            corners = _corners(photo, torch.round(crop * 255).to(torch.uint8))
            assert corners, "a crop that is not a piece of its photograph"
            # a crop lies inside one 48x48 block: some place it matches starts at most 16 pixels into a block
            inside = {(r // BLOCK, c // BLOCK) for r, c in corners
                      if r % BLOCK <= BLOCK - CROP and c % BLOCK <= BLOCK - CROP}
            assert inside, "a crop that straddles two blocks"
            if len(inside) == 1:  # flat crops (sky) can match in several blocks: only unambiguous ones count
                seen |= inside
        return seen

    train, test = blocks(photos.train_x, photos.train_y, 40), blocks(photos.test_x, photos.test_y, 40)
    assert train and test and not train & test


def test_photos_without_scikit_image_say_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.data", None)  # importing it now raises ImportError
    with pytest.raises(DataNotFoundError, match=r"memstore\[photos\]"):
        load_photos()
