"""Where a store may be saved (issue 17): a save deletes its target's old generations, so it writes only into a new
or empty folder, or over an earlier save; every other target is a typed error before a byte is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import zarr
import zarr.storage

import memstore
from memstore import Budget, RawStore
from memstore.errors import InvalidInputError
from memstore.testing import random_items


def _store() -> RawStore:
    store = RawStore(Budget.images(10, (1, 8, 8), 10), (1, 8, 8), 10, seed=0)
    store.write(*random_items(6, (1, 8, 8), 10, torch.Generator().manual_seed(0)))
    return store


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("contents", [["notes.txt"], ["g000007/precious.txt"], ["zarr.json", "data/x"]])
def test_a_folder_holding_anything_a_save_did_not_write_is_refused_and_left_as_it_was(
        tmp_path: Path, contents: list[str]) -> None:
    for name in contents:
        (tmp_path / "target" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "target" / name).write_text('{"zarr_format": 3, "node_type": "group"}' if name == "zarr.json"
                                                else "mine")
    before = _tree(tmp_path / "target")
    with pytest.raises(InvalidInputError, match="no save of a memstore store wrote"):
        _store().save(tmp_path / "target")
    assert _tree(tmp_path / "target") == before


def test_a_member_named_like_a_generation_is_not_taken_for_one_unless_a_save_marked_the_root(tmp_path: Path) -> None:
    group = zarr.open_group(str(tmp_path / "theirs"), mode="w")
    group.create_array("g000001", shape=(2,), dtype="u1")
    before = _tree(tmp_path / "theirs")
    with pytest.raises(InvalidInputError, match=r"\['g000001'\]"):
        _store().save(tmp_path / "theirs")
    assert _tree(tmp_path / "theirs") == before


def test_a_save_killed_after_marking_the_root_is_saved_over(tmp_path: Path) -> None:
    store = _store()
    store.save(tmp_path / "target")  # the marked root of a killed first save: the mark, an orphan, a partial file
    zarr.open_group(str(tmp_path / "target"), mode="r+").attrs["memstore"] = {}
    (tmp_path / "target" / "g000001").rename(tmp_path / "target" / "g000007")
    (tmp_path / "target" / f"zarr.{'a' * 32}.partial").write_text("")
    store.save(tmp_path / "target")
    assert memstore.open(tmp_path / "target").ledger() == store.ledger()
    assert sorted(p.name for p in (tmp_path / "target").iterdir()) == ["g000008", "zarr.json"]


def test_a_save_goes_over_an_earlier_save_and_into_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    store = _store()
    for target in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        store.save(target)
        store.save(target)
        assert memstore.open(target).ledger() == store.ledger()


def test_a_root_that_is_an_array_is_refused(tmp_path: Path) -> None:
    zarr.create_array(str(tmp_path / "array"), shape=(2,), dtype="u1")
    with pytest.raises(InvalidInputError, match="not a zarr v3 group"):
        _store().save(tmp_path / "array")


def test_a_file_on_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    for target in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(InvalidInputError, match="is a file"):
            _store().save(target)
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("call", [
    lambda tmp: _store().save(""),
    lambda tmp: _store().save(zarr.storage.LocalStore(str(tmp), read_only=True)),
    lambda tmp: _store().save("foo://somewhere"),
    lambda tmp: memstore.open("foo://somewhere"),
    lambda tmp: _store().save("memory://x", storage_options="x"),
    lambda tmp: memstore.save(123, tmp / "target"),
], ids=["empty-path", "read-only", "unknown-protocol-save", "unknown-protocol-open", "options-not-a-dict",
        "not-a-store"])
def test_bad_targets_are_typed_errors(tmp_path: Path, call: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # an empty path must not become the working directory
    with pytest.raises(InvalidInputError):
        call(tmp_path)
    assert not (tmp_path / "target").exists() and not (tmp_path / "zarr.json").exists()
