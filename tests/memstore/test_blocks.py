"""Columns on disk are saved and opened a block at a time: same bytes, checked hashes, memory bounded by a block."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

import memstore
from memstore import Budget, RawStore, RecollectionStore
from memstore import blocks as blocks_module
from memstore.blocks import ByteBlocks
from memstore.errors import CorruptStoreError, InvalidInputError
from memstore.integrity import checksum
from memstore.persist import stored_payload_bytes
from memstore.testing.strategies import snapshot, state_equal

SHAPE = (1, 28, 28)


def items(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *SHAPE), generator=generator).float() / 255
    return x, torch.randint(0, 10, (n,), generator=generator)


def filled_on_disk(path: Path, n: int, capacity: int | None = None) -> RawStore:
    store = RawStore(Budget.images(capacity or n, SHAPE, 10), SHAPE, 10, seed=0, path=path)
    for start in range(0, n, 250):
        store.write(*items(min(250, n - start), seed=start))
    return store


def flip_saved_payload_byte(target: Path, chunk: int, offset: int) -> None:
    generation = zarr.open_group(target, mode="r").attrs["memstore"]["current"]
    path = target / generation / "payload" / "c" / str(chunk)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x10
    path.write_bytes(bytes(raw))


def assert_open_writes_on_as_the_original(store: memstore.MemoryStore, target: Path, work: Path) -> None:
    reopened = memstore.open(target, path=work)
    x, y = items(30, seed=1234)
    reopened.write(x, y)
    store.write(x, y)
    assert state_equal(reopened.state_dict(), store.state_dict())


def test_blocks_hash_as_the_manifest_and_refuse_other_bytes_after_the_last_block() -> None:
    data = np.random.default_rng(0).integers(0, 256, 1000).astype(np.uint8)
    seen: list[tuple[int, int]] = []
    found = ByteBlocks(1000, lambda a, b: data[a:b], block_bytes=64).copy_to(lambda at, b: seen.append((at, b.size)))
    assert found == checksum(data)
    assert seen[0] == (0, 64) and seen[-1] == (960, 40) and len(seen) == 16
    assert np.array_equal(np.asarray(ByteBlocks(1000, lambda a, b: data[a:b], expected=found, block_bytes=64)), data)
    tampered = data.copy()
    tampered[999] ^= 1
    blocks = ByteBlocks(1000, lambda a, b: tampered[a:b], expected=found, block_bytes=64)
    with pytest.raises(CorruptStoreError, match="checksum"):
        np.asarray(blocks)


def test_a_store_on_disk_saves_and_opens_block_by_block_seed_for_seed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 4096)
    store = filled_on_disk(tmp_path / "work", 300, capacity=200)
    state = store.state_dict()
    assert isinstance(state["payload"], ByteBlocks)
    target = tmp_path / "saved"
    store.save(target)
    group = zarr.open_group(target, mode="r")
    payload = group[group.attrs["memstore"]["current"]]["payload"]
    assert payload.shape == (200 * 784,) and payload.chunks == (4021,)  # 39 even chunks of at most 4096 bytes
    padding = stored_payload_bytes(target) - store.ledger().payload_bytes()
    assert 0 <= padding < 39  # what Zarr pads the last chunk with
    for opened in (memstore.open(target), memstore.open(target, path=tmp_path / "work2")):
        assert state_equal(opened.state_dict(), store.state_dict()) and opened.ledger() == store.ledger()
        a, b = opened.sample(50, generator=torch.Generator().manual_seed(1)), store.sample(
            50, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert_open_writes_on_as_the_original(store, target, tmp_path / "work3")


def test_a_state_dict_of_a_store_on_disk_refuses_to_read_after_the_store_changes(tmp_path: Path) -> None:
    store = filled_on_disk(tmp_path / "work", 20)
    state = store.state_dict()
    store.write(*items(5, seed=3))
    with pytest.raises(InvalidInputError, match="take a new state_dict"):
        np.asarray(state["payload"])


def test_in_memory_and_dvae_stores_keep_arrays_in_their_state(tmp_path: Path) -> None:
    store = RawStore(Budget.images(10, SHAPE, 10), SHAPE, 10, seed=0)
    store.write(*items(5, seed=0))
    assert isinstance(store.state_dict()["payload"], np.ndarray)
    recollection = RecollectionStore(Budget.images(10, SHAPE, 10), SHAPE, 10, seed=0)
    recollection.write(*items(5, seed=0))
    assert isinstance(recollection.state_dict()["payload"], np.ndarray)


def test_save_and_open_of_a_store_on_disk_hold_a_block_not_the_payload(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 1 << 18)
    store = filled_on_disk(tmp_path / "work", 10_000)  # a 7.8 MB payload
    payload = 10_000 * 784
    tracemalloc.start()
    try:
        store.save(tmp_path / "saved")
        save_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        opened = memstore.open(tmp_path / "saved", path=tmp_path / "work2")
        open_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(opened) == 10_000
    assert save_peak < payload / 4 and open_peak < payload / 4, (save_peak, open_peak)


def jpeg_on_disk(path: Path, n: int) -> memstore.JPEGStore:
    store = memstore.JPEGStore(Budget.images(n, SHAPE, 10), SHAPE, 10, quality=90, seed=0, path=path)
    for start in range(0, 4 * n, 100):
        store.write(*items(100, seed=start))
    return store


@pytest.mark.parametrize("codec", ["jpeg", "zstd"])
def test_variable_size_items_on_disk_save_and_open_block_by_block(tmp_path: Path, monkeypatch, codec: str) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 1000)  # rows straddle blocks
    if codec == "jpeg":
        store = jpeg_on_disk(tmp_path / "work", 60)
    else:
        store = memstore.LosslessStore(Budget.images(60, SHAPE, 10), SHAPE, 10, seed=0, path=tmp_path / "work")
        for start in range(0, 240, 60):
            store.write(*items(60, seed=start))
    state = store.state_dict()
    assert isinstance(state["payload"], ByteBlocks) and state["payload"].nbytes > 3000
    target = tmp_path / "saved"
    store.save(target)
    for opened in (memstore.open(target), memstore.open(target, path=tmp_path / "work2")):
        assert state_equal(opened.state_dict(), store.state_dict()) and opened.ledger() == store.ledger()
        assert opened.coded_items() == store.coded_items()
    assert_open_writes_on_as_the_original(store, target, tmp_path / "work3")


@pytest.mark.parametrize(("kind", "block_bytes", "chunk"), [("raw", 4096, 7), ("jpeg", 1000, 2)])
def test_a_flipped_byte_in_a_later_block_refuses_the_open(tmp_path: Path, monkeypatch, kind: str, block_bytes: int,
                                                          chunk: int) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", block_bytes)
    make = filled_on_disk if kind == "raw" else jpeg_on_disk
    store = make(tmp_path / "work", 100 if kind == "raw" else 40)
    target = tmp_path / "saved"
    store.save(target)
    flip_saved_payload_byte(target, chunk=chunk, offset=500)
    for path in (None, tmp_path / "work2"):
        with pytest.raises(CorruptStoreError):
            memstore.open(target, path=path)


def entropy_on_disk(path: Path) -> memstore.EntropyCodedRecollectionStore:
    store = memstore.EntropyCodedRecollectionStore(Budget.images(4, (1, 8, 8), 4), (1, 8, 8), 4, latents=5,
                                                   classes=3, seed=0, coder="range", path=path)
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        store.write(torch.rand(10, 1, 8, 8, generator=generator), torch.randint(0, 4, (10,), generator=generator))
    return store


def test_an_entropy_coded_store_on_disk_opens_block_by_block(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 64)  # items straddle blocks
    store = entropy_on_disk(tmp_path / "work")
    state = store.state_dict()
    assert isinstance(state["payload"], ByteBlocks) and state["payload"].nbytes > 3 * 64
    target = tmp_path / "saved"
    store.save(target)
    for opened in (memstore.open(target), memstore.open(target, path=tmp_path / "work2")):
        assert opened.coded_items() == store.coded_items() and opened.ledger() == store.ledger()
        assert opened.codec.coder == store.codec.coder


def test_an_entropy_model_that_does_not_match_its_blocks_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 64)
    store = entropy_on_disk(tmp_path / "work")
    saved = np.asarray(store.state_dict()["payload"]).copy()
    saved[0] ^= 0x40  # a count of the model: every item still parses, but does not re-encode to its bytes
    other = entropy_on_disk(tmp_path / "other")
    before = snapshot(other.state_dict())
    tampered = ByteBlocks(saved.size, lambda start, stop: saved[start:stop], block_bytes=64)
    with pytest.raises(InvalidInputError, match="does not match its entropy model"):
        other.load_state_dict({**store.state_dict(), "payload": tampered})
    assert state_equal(snapshot(other.state_dict()), before)
