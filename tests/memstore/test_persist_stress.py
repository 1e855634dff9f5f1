"""Readers during re-saves, saves killed mid-way, and the leftovers they leave: real processes on this machine."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import torch

from memstore import open as open_store
from memstore.testing.stress import is_prefix_store, kill_a_save, read_loop, resave_loop, sequence_store


def test_readers_always_get_a_complete_store_while_a_writer_resaves(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    sequence_store(200).save(path)
    context = multiprocessing.get_context("spawn")
    with context.Pool(5) as pool:
        writer = pool.apply_async(resave_loop, (path, 4.0, 200))
        readers = [pool.apply_async(read_loop, (path, 4.0)) for _ in range(4)]
        saves = writer.get(timeout=120)
        counts = [reader.get(timeout=120) for reader in readers]
    assert saves > 10
    assert sum(c.opened for c in counts) > 10
    assert [c.refused for c in counts] == [0] * 4, counts
    assert [c.torn for c in counts] == [0] * 4, counts


def test_killed_saves_leave_a_loadable_store_and_the_next_save_cleans_up(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):
        kill_a_save(path, tmp_path, float(torch.rand((), generator=generator)) * 0.3)
        reopened = open_store(path)
        assert len(reopened) >= 50 and is_prefix_store(reopened)
    survivor = open_store(path)
    survivor.save(path)
    names = sorted(p.name for p in Path(path).iterdir())
    assert [n for n in names if n.endswith(".partial")] == []
    assert len([n for n in names if n.startswith("g")]) == 2  # the new generation and the one before it
    assert is_prefix_store(open_store(path))


def test_an_orphaned_generation_is_removed_by_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = sequence_store(10)
    store.save(path)
    (path / "g000009" / "payload").mkdir(parents=True)  # a killed save's folder, without zarr.json
    (path / "zarr.0123456789abcdef0123456789abcdef.partial").write_bytes(b"{")
    store.save(path)
    store.save(path)
    names = sorted(p.name for p in path.iterdir())
    assert names == ["g000010", "g000011", "zarr.json"]  # g000009 went at the first save
    assert len(open_store(path)) == 10
