"""Stores given a working ``path`` keep payload, labels and task ids in Zarr chunks there (issue 17, out of core):
the conformance suite again on disk, memory flat in the items held, ``open(path=...)``, and one store per path."""

from __future__ import annotations

import os
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import memstore
import tests.memstore.test_jpeg_store as jpeg_tests
import tests.memstore.test_raw_store as raw_tests
from memstore import (
    Budget,
    EntropyCodedRecollectionStore,
    JPEGStore,
    LosslessStore,
    MnemonicsStore,
    RawStore,
    RecollectionStore,
)
from memstore.codecs.byte_column import ByteColumn
from memstore.errors import InvalidInputError
from memstore.stores.zarr_payload import ZarrByteColumn
from memstore.testing import random_items, state_equal


class OnDisk:
    """Mixed into a conformance class: every store it makes works in a fresh folder of its own."""

    @pytest.fixture(autouse=True)
    def _work_root(self, tmp_path_factory: Any) -> None:
        self.work_root = tmp_path_factory.mktemp("work")

    def working_path(self) -> str:
        return tempfile.mkdtemp(dir=self.work_root)


class TestRawStoreOnDisk(OnDisk, raw_tests.TestRawStore):
    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> RawStore:
        return RawStore(budget, item_shape, num_classes, path=self.working_path(), **options)


class TestJPEGStoreOnDisk(OnDisk, jpeg_tests.TestJPEGStore):
    def make_store(self, budget: Budget, item_shape: tuple[int, ...], num_classes: int, **options: Any) -> JPEGStore:
        return JPEGStore(budget, item_shape, num_classes, quality=100, path=self.working_path(), **options)


def cost(value: bytes) -> int:
    return 8 * len(value)


def test_zarr_byte_column_matches_the_list_column(tmp_path: Path) -> None:
    columns = [ByteColumn(cost), ZarrByteColumn(cost, store=tmp_path / "bytes", name="payload", chunk_rows=2)]
    rng = np.random.default_rng(0)
    for step in range(60):
        size = len(columns[0])
        action = rng.integers(3) if size else 0
        value = bytes(rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8))
        for column in columns:
            if action == 0:
                column.set(size, value)
            elif action == 1:
                column.set(int(step % size), value)
            else:
                column.remove(int(step % size))
        assert [len(c) for c in columns] == [len(columns[0])] * 2 and columns[1].bits == columns[0].bits
        assert columns[1].values() == columns[0].values()
    rows = [len(columns[0]) - 1, 0]
    assert columns[1].get(rows) == columns[0].get(rows) and columns[1].chunks_read > 0
    columns[1].replace_all([b"q", b"\x00"])
    assert columns[1].values() == [b"q", b"\x00"] and columns[1].bits == 16
    assert columns[1].to_bytes(b"H", 4)[0].tobytes() == b"Hq\x00"


def _traced_growth(make: Any, batches: int) -> int:
    """Bytes that stay allocated (tracemalloc: Python and numpy) from memstore's code by a store built and fed
    ``batches`` of 100 items (allocations of other threads, such as zarr's I/O loop filling a process-wide cache,
    are not the store's)."""
    x, y = random_items(100, (1, 28, 28), 10, torch.Generator().manual_seed(0))
    mine = [tracemalloc.Filter(True, f"{Path(memstore.__file__).parent}{os.sep}*", all_frames=True)]
    tracemalloc.start(50)
    try:
        before = tracemalloc.take_snapshot().filter_traces(mine)
        store = make()
        for _ in range(batches):
            store.write(x, y)
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().filter_traces(mine).compare_to(
            before, "filename"))
    finally:
        tracemalloc.stop()
    assert len(store) == 100 * batches
    return grown


# JPEG's encoder allocates per image, and tracing each allocation 50 frames deep made 40 batches take 285 s
@pytest.mark.parametrize(("store_type", "batches"), [(RawStore, 40), (JPEGStore, 12)])
def test_memory_stays_flat_with_a_working_path(tmp_path: Path, store_type: type, batches: int) -> None:
    budget = Budget.images(10_000_000, (1, 28, 28), 10)
    held = batches * 100 * 784  # the raw bytes of what is written (noise: JPEG keeps about as many)
    in_memory = _traced_growth(lambda: store_type(budget, (1, 28, 28), 10, seed=0), batches)
    on_disk = _traced_growth(lambda: store_type(budget, (1, 28, 28), 10, seed=0, path=tmp_path / "work"), batches)
    assert on_disk < held / 8 and in_memory > held / 2
    assert sum(f.stat().st_size for f in (tmp_path / "work").rglob("*") if f.is_file()) > held / 2


def test_open_with_a_path_keeps_the_working_copy_there(tmp_path: Path) -> None:
    store = JPEGStore(Budget.images(40, (1, 28, 28), 10), (1, 28, 28), 10, seed=0, num_tasks=2)
    x, y = random_items(60, (1, 28, 28), 10, torch.Generator().manual_seed(1))
    store.write(x, y, task=1)
    store.save(tmp_path / "saved")
    opened = memstore.open(tmp_path / "saved", path=tmp_path / "work")
    assert (tmp_path / "work" / "payload").is_dir() and (tmp_path / "work" / "labels").is_dir()
    assert opened.ledger() == store.ledger() and len(opened) == len(store)
    keys = torch.arange(len(store))
    mine, theirs = store.read(keys.numpy()), opened.read(keys.numpy())
    assert torch.equal(mine.x, theirs.x) and torch.equal(mine.y, theirs.y)
    assert torch.equal(opened.sample(5, tasks=[1]).x, store.sample(5, tasks=[1]).x)


def test_open_with_a_path_refuses_a_store_without_one(tmp_path: Path) -> None:
    store = MnemonicsStore(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10, seed=0)
    store.save(tmp_path / "saved")
    with pytest.raises(InvalidInputError, match="without path"):
        memstore.open(tmp_path / "saved", path=tmp_path / "work")
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("store_type", [RawStore, LosslessStore])
def test_two_live_stores_may_not_share_a_working_path(tmp_path: Path, store_type: type) -> None:
    budget = Budget.images(10, (1, 8, 8), 10)
    first = store_type(budget, (1, 8, 8), 10, seed=0, path=tmp_path / "work")
    with pytest.raises(InvalidInputError, match="own path"):
        store_type(budget, (1, 8, 8), 10, seed=1, path=tmp_path / "work")
    del first
    assert len(store_type(budget, (1, 8, 8), 10, seed=1, path=tmp_path / "work")) == 0


TINY = {"latents": 5, "classes": 3}
SAME_STORES = {
    "raw": lambda **kw: RawStore(Budget.images(30, (1, 8, 8), 10), (1, 8, 8), 10, seed=3, num_tasks=2, **kw),
    "jpeg": lambda **kw: JPEGStore(Budget.images(12, (1, 8, 8), 10), (1, 8, 8), 10, seed=3, **kw),
    "lossless": lambda **kw: LosslessStore(Budget.images(12, (1, 8, 8), 10), (1, 8, 8), 10, seed=3, **kw),
    "recollection": lambda **kw: RecollectionStore(Budget(3000), (1, 8, 8), 10, seed=3, **TINY, **kw),
    "entropy": lambda **kw: EntropyCodedRecollectionStore(Budget(3000), (1, 8, 8), 10, seed=3, **TINY, coder="range",
                                                          **kw),
}


@pytest.mark.parametrize("name", sorted(SAME_STORES))
def test_a_store_on_disk_behaves_exactly_as_in_memory(tmp_path: Path, name: str) -> None:
    stores = [SAME_STORES[name](), SAME_STORES[name](path=tmp_path / "work")]
    x, y = random_items(150, (1, 8, 8), 10, torch.Generator().manual_seed(4))
    for store in stores:
        for start in range(0, 150, 10):
            store.write(x[start:start + 10], y[start:start + 10], task=1 if name == "raw" else None)
        keys = store.sample(4, generator=torch.Generator().manual_seed(5)).keys
        store.edit(keys, x[:4])
    assert stores[0].ledger() == stores[1].ledger() and len(stores[0]) == len(stores[1])
    slots = np.arange(len(stores[0]))
    first, second = stores[0].read(slots), stores[1].read(slots)
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
    assert state_equal(stores[0].state_dict(), stores[1].state_dict())


@pytest.mark.parametrize("path", [123, "s3://bucket/work", b"bytes"])
def test_a_path_that_is_not_a_folder_or_a_zarr_store_is_a_typed_error(path: Any) -> None:
    with pytest.raises(InvalidInputError, match="path"):
        RawStore(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10, path=path)


def test_a_working_path_that_cannot_be_a_folder_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "file").write_text("mine")
    monkeypatch.chdir(tmp_path)
    for path in ("", tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(InvalidInputError, match="path"):
            RawStore(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10, path=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "mine"


def test_open_refuses_a_bad_working_path_as_the_callers_error(tmp_path: Path) -> None:
    store = RawStore(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10, seed=0)
    store.save(tmp_path / "saved")
    (tmp_path / "file").write_text("mine")
    live = RawStore(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10, seed=0, path=tmp_path / "held")
    for path, reason in ((123, "str or os.PathLike"), (tmp_path / "file", "is a file"),
                         (tmp_path / "held", "own path"), ("", "local folder")):
        with pytest.raises(InvalidInputError, match=reason):
            memstore.open(tmp_path / "saved", path=path)
    assert len(live) == 0 and (tmp_path / "file").read_text() == "mine"
