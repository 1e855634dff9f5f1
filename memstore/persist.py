"""Save and open stores as Zarr v3 groups (the working copy in Zarr chunks is `stores/zarr_payload.py`'s).

Layout of a saved store (``target`` is a path, an fsspec URL, a ``zarr.storage`` store, or None for memory)::

    target/                      attrs: {"memstore": {"format_version", "current": "g000002", "generation", "digest"}}
    ├── g000001/                 the previous generation, kept until the next save (readers still on it finish)
    └── g000002/                 attrs: store_type, config, ledger, values (non-array state), tensors, arrays (manifest)
        ├── payload              uint8, exactly ceil(ledger.payload / 8) bytes, uncompressed
        ├── labels, tasks, ...   every array of the store's state_dict, nested groups for nested dicts

Saving is atomic: a save writes a new generation beside the old ones, then flips ``current`` in the root
attributes (one key, written atomically by zarr's stores), then deletes every generation but the new one and the
one before it, and any partial file a killed save left. A save killed before the flip leaves the previous
generation current and loadable. Opening verifies everything before trusting it (:mod:`memstore.integrity`), and
a reader that loses its generation to a concurrent save reads the new one: it gets the store before the save or
the store after it, never a refusal and never a mix. One writer at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import zarr
import zarr.storage
from zarr.abc.store import Store
from zarr.core.sync import sync

from . import blocks, integrity
from .blocks import ByteBlocks
from .budget import Ledger
from .errors import CorruptStoreError, IncompatibleStoreError, InvalidInputError, StoreFormatError
from .integrity import FORMAT_VERSION
from .store import STORE_TYPES, MemoryStore
from .stores.zarr_payload import check_working_path, file_in_the_way, refuse_if_claimed

__all__ = ["FORMAT_VERSION", "SavedStore", "inspect_store", "save", "open_store", "stored_payload_bytes"]

ROOT_KEY = "memstore"
#: how many times a reader follows ``current`` when concurrent saves move it while the reader reads
READ_ATTEMPTS = 20
_PARTIAL_FILE = re.compile(r".*\.[0-9a-f]{32}\.partial")


def _zarr_store(target: Any, *, read_only: bool, storage_options: dict[str, Any] | None = None) -> Store:
    text = os.fspath(target) if isinstance(target, (str, os.PathLike)) else None
    if storage_options is not None and (text is None or "://" not in text or text.startswith("file://")):
        raise InvalidInputError("storage_options apply to fsspec URLs (s3://, gs://, ...), not to this target")
    if storage_options is not None and not isinstance(storage_options, dict):
        raise InvalidInputError(f"storage_options must be a dict, got {type(storage_options).__name__}")
    if text == "":
        raise InvalidInputError("target is an empty path: name a folder (or None for memory)")
    if target is None:
        return zarr.storage.MemoryStore()
    if isinstance(target, Store):
        return target
    if text is not None:
        if text.startswith("file://"):
            return zarr.storage.LocalStore(text.removeprefix("file://"), read_only=read_only)
        if "://" in text:
            try:
                return zarr.storage.FsspecStore.from_url(text, read_only=read_only, storage_options=storage_options)
            except ImportError as exc:
                raise InvalidInputError(f"{text.split('://')[0]}:// needs fsspec and its backend: "
                                        "pip install -e '.[remote]'") from exc
            except ValueError as exc:  # fsspec: "Protocol not known"
                raise InvalidInputError(f"cannot open {text!r}: {exc}") from exc
        return zarr.storage.LocalStore(text, read_only=read_only)
    raise InvalidInputError(f"target must be None, a path, an fsspec URL or a zarr store, got {type(target).__name__}")


def _flatten(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Split a nested state dict into arrays (by path), plain values (by path) and the paths that were tensors."""
    arrays: dict[str, np.ndarray | ByteBlocks] = {}
    values: dict[str, Any] = {}
    tensors: list[str] = []
    for key, value in state.items():
        if "/" in key:
            raise ValueError(f"state keys may not contain '/': {key!r}")
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            sub_arrays, sub_values, sub_tensors = _flatten(value, f"{path}/")
            arrays.update(sub_arrays)
            values.update(sub_values)
            tensors += sub_tensors
            values.setdefault(f"{path}/", {})  # marks an (even empty) nested dict
        elif isinstance(value, torch.Tensor):
            arrays[path] = value.detach().cpu().numpy()
            tensors.append(path)
        elif isinstance(value, (np.ndarray, ByteBlocks)):
            arrays[path] = value
        else:
            values[path] = value
    return arrays, values, tensors


def _unflatten(arrays: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for path, value in [*values.items(), *arrays.items()]:
        *parents, leaf = path.rstrip("/").split("/")
        node = state
        for part in parents:
            node = node.setdefault(part, {})
        if path.endswith("/"):
            node.setdefault(leaf, {})
        else:
            node[leaf] = value
    return state


def _write_array(group: zarr.Group, path: str, array: np.ndarray | ByteBlocks) -> dict[str, Any]:
    """Write one array of a generation; returns its manifest entry. An in-memory array is one chunk; ByteBlocks
    (a column on disk) are written and hashed a block at a time, a chunk a block."""
    *parents, name = path.split("/")
    for part in parents:
        group = group.require_group(part)
    blocked = isinstance(array, ByteBlocks)
    if blocked:
        array = array.even_blocks()  # one chunk a block; Zarr pads the last chunk to the chunk size
    chunks = (array.block_bytes,) if blocked else tuple(max(1, d) for d in array.shape)
    # write_empty_chunks: an all-zero payload (e.g. dVAE codes that are all class 0) must still be on disk
    stored = group.create_array(name, shape=array.shape, dtype=array.dtype, chunks=chunks, compressors=None,
                                fill_value=0, config={"write_empty_chunks": True})
    if blocked:
        def put(offset: int, block: np.ndarray) -> None:
            stored[offset:offset + block.size] = block

        return integrity.array_entry(array, sha256=array.copy_to(put))
    if array.size:
        stored[...] = array
    return integrity.array_entry(array)


def save(store: MemoryStore, target: Any = None, *, storage_options: dict[str, Any] | None = None) -> Store:
    """Write ``store`` to ``target`` atomically; returns the zarr store written (pass it to :func:`open_store`).
    ``storage_options`` go to fsspec for URLs (e.g. ``{"endpoint_url": ...}`` for an S3-compatible server)."""
    if not isinstance(store, MemoryStore):
        raise InvalidInputError(f"save takes a MemoryStore, got {type(store).__name__}")
    zstore = _zarr_store(target, read_only=False, storage_options=storage_options)
    before = _keys_of_a_saving_target(zstore, target)  # what earlier saves left: generations, orphans, partial files
    root = zarr.open_group(zstore, mode="a", zarr_format=3)
    if ROOT_KEY not in root.attrs:  # claim the root before any generation exists: later saves may delete those
        root.attrs[ROOT_KEY] = {}
    previous = root.attrs.get(ROOT_KEY, {})
    previous = previous if isinstance(previous, dict) else {}
    generation = max([0, *(int(key[1:]) for key in before if integrity.GENERATION_NAME.fullmatch(key))]) + 1
    name = f"g{generation:06d}"
    arrays, values, tensors = _flatten(store.state_dict())
    group = root.create_group(name, overwrite=True)
    entries = {path: _write_array(group, path, array) for path, array in arrays.items()}
    group.attrs.update({
        "store_type": store.store_type,
        "config": store.config(),
        "ledger": vars(store.ledger()),
        "values": values,
        "tensors": tensors,
        "arrays": entries,
    })
    written = zarr.open_group(zstore, path=name, mode="r").attrs.asdict()  # hash what a reader will parse
    meta = {"format_version": FORMAT_VERSION, "current": name, "generation": generation}
    root.attrs[ROOT_KEY] = {**meta, "digest": integrity.digest(meta, written)}
    _remove_leftovers(zstore, before, keep={name, previous.get("current")})
    return zstore


def _keys_of_a_saving_target(zstore: Store, target: Any) -> list[str]:
    """The keys at ``target``'s root, which may hold only what saves write there: a root group, generations (only
    under a root a save has claimed, whose attributes name ``memstore``) and partial files. A save deletes old
    generations, so anything else is refused before a byte is written, as are a read-only store, a path that is a
    file or lies under one, and a root that is an array."""
    if zstore.read_only:
        raise InvalidInputError(f"cannot save into {target!r}: the zarr store is read-only")
    if isinstance(zstore, zarr.storage.LocalStore):
        blocking = file_in_the_way(os.fspath(zstore.root))
        if blocking is not None:
            raise InvalidInputError(f"cannot save into {target!r}: {blocking!r} is a file, not a folder")
    keys = sync(_listing(zstore))
    claimed = False
    if "zarr.json" in keys:
        try:
            claimed = ROOT_KEY in zarr.open_group(zstore, mode="r", zarr_format=3).attrs
        except Exception as exc:
            raise InvalidInputError(f"{target!r} is not a zarr v3 group, so not a saved store: {exc}") from exc
    ours = [key for key in keys if key == "zarr.json" or _PARTIAL_FILE.fullmatch(key)
            or (claimed and integrity.GENERATION_NAME.fullmatch(key))]
    if len(ours) < len(keys):
        foreign = sorted(set(keys) - set(ours))
        raise InvalidInputError(f"{target!r} holds {foreign[:5]}{' ...' if len(foreign) > 5 else ''}, which no save "
                                "of a memstore store wrote: save into a new or empty folder, or over a saved store")
    return keys


async def _listing(zstore: Store) -> list[str]:
    return [key async for key in zstore.list_dir("")]


def _remove_leftovers(zstore: Store, keys: list[str], keep: set[Any]) -> None:
    """Delete, of the root's ``keys``, old and orphaned generations (all but ``keep``) and killed saves' partial
    files."""
    for key in keys:
        if integrity.GENERATION_NAME.fullmatch(key) and key not in keep:
            sync(zstore.delete_dir(key))
        elif _PARTIAL_FILE.fullmatch(key):
            sync(zstore.delete(key))


def _read_arrays(group: zarr.Group, entries: dict[str, dict[str, Any]]) -> dict[str, np.ndarray | ByteBlocks]:
    """Every array of a generation, checked against the manifest: read and hashed now, or, for byte arrays larger
    than a block, as ByteBlocks that the store copies a block at a time and that check their hash after the last."""
    members = dict(_array_members(group))
    integrity.check_manifest(entries, {path: (array.dtype.str, array.shape) for path, array in members.items()})
    block_bytes = blocks.BLOCK_BYTES
    large = {path for path, array in members.items()
             if array.dtype == np.uint8 and array.ndim == 1 and array.shape[0] > block_bytes}
    arrays: dict[str, np.ndarray | ByteBlocks] = {
        path: np.asarray(array[...]) for path, array in members.items() if path not in large}
    bad = [path for path, array in arrays.items() if integrity.checksum(array) != entries[path]["sha256"]]
    if bad:
        raise CorruptStoreError(f"checksum mismatch in {bad}")
    for path in large:  # a block a saved chunk (a chunk size smaller than a sixteenth of a block is not trusted)
        block = min(block_bytes, max(members[path].chunks[0], block_bytes // 16))
        arrays[path] = ByteBlocks(members[path].shape[0], _reader(members[path]), expected=entries[path]["sha256"],
                                  block_bytes=block)
    return arrays


def _reader(array: zarr.Array) -> Callable[[int, int], np.ndarray]:
    return lambda start, stop: np.asarray(array[start:stop])


def _array_members(group: zarr.Group, prefix: str = "") -> list[tuple[str, zarr.Array]]:
    found: list[tuple[str, zarr.Array]] = []
    for key, member in group.members():
        if isinstance(member, zarr.Group):
            found += _array_members(member, f"{prefix}{key}/")
        else:
            found.append((f"{prefix}{key}", member))
    return found


def _current_generation(root: zarr.Group) -> tuple[zarr.Group, dict[str, Any], int]:
    """The verified current generation: its group, its attributes (digest checked) and the format version."""
    meta = root.attrs.get(ROOT_KEY)
    version = integrity.check_root(meta)
    try:
        group = root[meta["current"]]
    except KeyError as exc:
        raise CorruptStoreError(f"the current generation {meta['current']!r} is missing") from exc
    if not isinstance(group, zarr.Group):
        raise CorruptStoreError("the current generation is not a group")
    attrs = group.attrs.asdict()
    if version >= integrity.FIRST_DIGEST_VERSION:
        integrity.check_digest(meta, attrs)
    return group, attrs, version


class _NoWorkingPath(InvalidInputError):
    """``open(path=...)`` of a store that takes no ``path``: the caller's mistake, not the file's."""


def _load(group: zarr.Group, attrs: dict[str, Any], version: int, path: Any = None) -> MemoryStore:
    cls = STORE_TYPES.get(attrs.get("store_type", ""))
    if cls is None:
        raise IncompatibleStoreError(f"unknown store type {attrs.get('store_type')!r}")
    config = attrs.get("config")
    if not isinstance(config, dict):
        raise CorruptStoreError(f"the saved config is not a mapping: {type(config).__name__}")
    if path is not None and "path" not in cls.runtime_options:
        raise _NoWorkingPath(f"a {cls.__name__} keeps its working copy in memory: open it without path")
    named = sorted(set(config) & cls.runtime_options)
    if named:  # where a store lives is the opener's choice, never the file's (a saved "path" would be written to)
        raise CorruptStoreError(f"the saved config names {named}, which no saved {cls.__name__} holds")
    arrays = _read_arrays(group, integrity.manifest(attrs, version))
    tensors = set(attrs["tensors"])
    state = _unflatten({p: torch.from_numpy(np.array(a)) if p in tensors else a for p, a in arrays.items()},
                       attrs["values"])
    store = cls.from_config(config if path is None else {**config, "path": path})
    store.load_state_dict(state)
    if store.ledger() != Ledger(**attrs["ledger"]):
        raise CorruptStoreError(f"ledger {store.ledger()} does not match the saved ledger {attrs['ledger']}")
    return store


def _open_root(zstore: Store, target: Any) -> zarr.Group:
    try:
        return zarr.open_group(zstore, mode="r", zarr_format=3)
    except Exception as exc:
        raise CorruptStoreError(f"no readable zarr group at {target!r}: {exc}") from exc


def _verified(root: zarr.Group, path: Any = None) -> tuple[MemoryStore, zarr.Group, dict[str, Any], int]:
    """The store of ``root``'s current generation (its working copy at ``path``), with that generation, its
    attributes and the format version."""
    try:
        group, attrs, version = _current_generation(root)
        return _load(group, attrs, version, path), group, attrs, version
    except (StoreFormatError, _NoWorkingPath):
        raise
    except Exception as exc:  # anything else raised while interpreting saved bytes means they are malformed
        raise CorruptStoreError(f"saved store is malformed: {type(exc).__name__}: {exc}") from exc


def _current_name(root: zarr.Group) -> Any:
    """The generation ``root`` named when it was opened (zarr reads a group's attributes once, at open)."""
    meta = root.attrs.get(ROOT_KEY)
    return meta.get("current") if isinstance(meta, dict) else None


def _open_following_saves(zstore: Store, target: Any,
                          path: Any = None) -> tuple[MemoryStore, zarr.Group, dict[str, Any], int]:
    """:func:`_verified` on the current generation; when it fails because a concurrent save moved ``current``,
    again on the new one (up to ``READ_ATTEMPTS`` opens)."""
    root = _open_root(zstore, target)
    for _ in range(READ_ATTEMPTS - 1):
        try:
            return _verified(root, path)
        except CorruptStoreError:
            fresh = _open_root(zstore, target)
            if _current_name(root) is None or _current_name(fresh) == _current_name(root):
                raise
            root = fresh
    return _verified(root, path)


def open_store(target: Any, *, storage_options: dict[str, Any] | None = None, path: Any = None) -> MemoryStore:
    """Open a store saved by :func:`save` (``memstore.open``); ``path``: where the opened store keeps its working
    copy (an item store's ``path``: a folder or a zarr store), instead of memory.

    A reader whose generation a concurrent save removed follows ``current`` to the new one (up to
    ``READ_ATTEMPTS`` times), so it gets the store before or after the save; a store that fails its checks while
    ``current`` stays put is refused with :class:`CorruptStoreError`.
    """
    check_working_path(path)
    refuse_if_claimed(path)
    zstore = _zarr_store(target, read_only=True, storage_options=storage_options)
    return _open_following_saves(zstore, target, path)[0]


@dataclass(frozen=True)
class SavedStore:
    """What ``memstore inspect`` reports: the opened (so fully verified) store and where it sits in the file."""

    store: MemoryStore
    format_version: int
    generation: str
    arrays_verified: int
    digest_verified: bool
    payload_bytes: int


def inspect_store(target: Any, *, storage_options: dict[str, Any] | None = None) -> SavedStore:
    """Open ``target`` (every check of :func:`open_store`, once) and describe it."""
    zstore = _zarr_store(target, read_only=True, storage_options=storage_options)
    store, group, attrs, version = _open_following_saves(zstore, target)
    return SavedStore(store, version, group.path, len(integrity.manifest(attrs, version)),
                      version >= integrity.FIRST_DIGEST_VERSION, _payload_bytes(zstore, group.path))


def stored_payload_bytes(target: Any, *, storage_options: dict[str, Any] | None = None) -> int:
    """Bytes the saved payload's chunks occupy in ``target``'s storage: what the ledger's payload costs on disk."""
    zstore = _zarr_store(target, read_only=True, storage_options=storage_options)
    root = zarr.open_group(zstore, mode="r", zarr_format=3)
    return _payload_bytes(zstore, _current_generation(root)[0].path)


def _payload_bytes(zstore: Store, generation: str) -> int:
    return int(sync(zstore.getsize_prefix(f"{generation}/payload/c")))
