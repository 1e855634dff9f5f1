"""Save and open stores as Zarr v3 groups: the only module that touches zarr.

Layout of a saved store (``target`` is a path, an fsspec URL, a ``zarr.storage`` store, or None for memory)::

    target/                      attrs: {"memstore": {"format_version", "current": "g000002", "generation": 2}}
    └── g000002/                 attrs: store_type, config, ledger, values (non-array state), checksums
        ├── payload              uint8, exactly ceil(ledger.payload / 8) bytes, uncompressed
        ├── labels, tasks, ...   every array of the store's state_dict, nested groups for nested dicts

Saving is atomic: a save writes a new generation beside the old one, then flips ``current`` in the root
attributes (one key, written atomically by zarr's stores), then deletes the old generation. A save killed
before the flip leaves the previous generation current and loadable. Opening checks the format version
and every array's SHA-256, and refuses a corrupt or newer store with a typed error.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import numpy as np
import torch
import zarr
import zarr.storage
from zarr.abc.store import Store
from zarr.core.sync import sync

from .budget import Ledger
from .errors import CorruptStoreError, IncompatibleStoreError, MemstoreError, StoreFormatError
from .store import STORE_TYPES, MemoryStore

__all__ = ["FORMAT_VERSION", "save", "open_store", "stored_payload_bytes"]

FORMAT_VERSION = 1
ROOT_KEY = "memstore"


def _zarr_store(target: Any, *, read_only: bool) -> Store:
    if target is None:
        return zarr.storage.MemoryStore()
    if isinstance(target, Store):
        return target
    if isinstance(target, (str, os.PathLike)):
        text = os.fspath(target)
        if "://" in text:
            return zarr.storage.FsspecStore.from_url(text, read_only=read_only)
        return zarr.storage.LocalStore(text, read_only=read_only)
    raise TypeError(f"target must be None, a path, an fsspec URL or a zarr store, got {type(target).__name__}")


def _checksum(array: np.ndarray) -> str:
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _flatten(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, np.ndarray], dict[str, Any], list[str]]:
    """Split a nested state dict into arrays (by path), plain values (by path) and the paths that were tensors."""
    arrays: dict[str, np.ndarray] = {}
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
        elif isinstance(value, np.ndarray):
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


def _write_array(group: zarr.Group, path: str, array: np.ndarray) -> None:
    *parents, name = path.split("/")
    for part in parents:
        group = group.require_group(part)
    chunks = tuple(max(1, d) for d in array.shape)
    # write_empty_chunks: an all-zero payload (e.g. dVAE codes that are all class 0) must still be on disk
    stored = group.create_array(name, shape=array.shape, dtype=array.dtype, chunks=chunks, compressors=None,
                                fill_value=0, config={"write_empty_chunks": True})
    if array.size:
        stored[...] = array


def save(store: MemoryStore, target: Any = None) -> Store:
    """Write ``store`` to ``target`` atomically; returns the zarr store written (pass it to :func:`open_store`)."""
    zstore = _zarr_store(target, read_only=False)
    root = zarr.open_group(zstore, mode="a", zarr_format=3)
    meta = dict(root.attrs.get(ROOT_KEY, {}))
    generation = int(meta.get("generation", 0)) + 1
    name = f"g{generation:06d}"
    arrays, values, tensors = _flatten(store.state_dict())
    group = root.create_group(name, overwrite=True)
    for path, array in arrays.items():
        _write_array(group, path, array)
    group.attrs.update({
        "store_type": store.store_type,
        "config": store.config(),
        "ledger": vars(store.ledger()),
        "values": values,
        "tensors": tensors,
        "checksums": {path: _checksum(array) for path, array in arrays.items()},
    })
    root.attrs[ROOT_KEY] = {"format_version": FORMAT_VERSION, "current": name, "generation": generation}
    for old in [key for key in root.group_keys() if key != name]:
        del root[old]
    return zstore


def _read_arrays(group: zarr.Group, prefix: str = "") -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for key, member in group.members():
        if isinstance(member, zarr.Group):
            arrays.update(_read_arrays(member, f"{prefix}{key}/"))
        else:
            arrays[f"{prefix}{key}"] = np.asarray(member[...])
    return arrays


_GENERATION_NAME = re.compile(r"g\d{6,}")


def _current_generation(root: zarr.Group) -> zarr.Group:
    meta = root.attrs.get(ROOT_KEY)
    if not isinstance(meta, dict) or "format_version" not in meta or "current" not in meta:
        raise CorruptStoreError("not a memstore store: the root group has no memstore attributes")
    version = meta["format_version"]
    if type(version) is not int or version < 1:  # a bool, a float, a string or null is not a format version
        raise CorruptStoreError(f"format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise IncompatibleStoreError(
            f"store format {version} is newer than this memstore reads ({FORMAT_VERSION}); upgrade memstore"
        )
    if not isinstance(meta["current"], str) or not _GENERATION_NAME.fullmatch(meta["current"]):
        raise CorruptStoreError(f"current must name a generation like 'g000001', got {meta['current']!r}")
    try:
        group = root[meta["current"]]
    except KeyError as exc:
        raise CorruptStoreError(f"the current generation {meta['current']!r} is missing") from exc
    if not isinstance(group, zarr.Group):
        raise CorruptStoreError("the current generation is not a group")
    return group


def _load(group: zarr.Group) -> MemoryStore:
    attrs = group.attrs.asdict()
    cls = STORE_TYPES.get(attrs.get("store_type", ""))
    if cls is None:
        raise IncompatibleStoreError(f"unknown store type {attrs.get('store_type')!r}")
    arrays = _read_arrays(group)
    checksums = attrs["checksums"]
    if set(arrays) != set(checksums):
        raise CorruptStoreError(f"arrays {sorted(set(arrays) ^ set(checksums))} are missing or unexpected")
    bad = [path for path, array in arrays.items() if _checksum(array) != checksums[path]]
    if bad:
        raise CorruptStoreError(f"checksum mismatch in {bad}")
    config = attrs.get("config")
    if not isinstance(config, dict):
        raise CorruptStoreError(f"the saved config is not a mapping: {type(config).__name__}")
    named = sorted(set(config) & cls.runtime_options)
    if named:  # where a store lives is the opener's choice, never the file's (a saved "path" would be written to)
        raise CorruptStoreError(f"the saved config names {named}, which no saved {cls.__name__} holds")
    tensors = set(attrs["tensors"])
    state = _unflatten({p: torch.from_numpy(a.copy()) if p in tensors else a for p, a in arrays.items()},
                       attrs["values"])
    store = cls.from_config(config)
    store.load_state_dict(state)
    if store.ledger() != Ledger(**attrs["ledger"]):
        raise CorruptStoreError(f"ledger {store.ledger()} does not match the saved ledger {attrs['ledger']}")
    return store


def open_store(target: Any) -> MemoryStore:
    """Open a store saved by :func:`save` (``memstore.open``)."""
    zstore = _zarr_store(target, read_only=True)
    try:
        root = zarr.open_group(zstore, mode="r", zarr_format=3)
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.BaseZarrError) as exc:
        raise CorruptStoreError(f"no readable zarr group at {target!r}: {exc}") from exc
    group = _current_generation(root)
    try:
        return _load(group)
    except StoreFormatError:
        raise
    except (MemstoreError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise CorruptStoreError(f"saved store is malformed: {exc}") from exc


def stored_payload_bytes(target: Any) -> int:
    """Bytes the saved payload's chunks occupy in ``target``'s storage: what the ledger's payload costs on disk."""
    zstore = _zarr_store(target, read_only=True)
    root = zarr.open_group(zstore, mode="r", zarr_format=3)
    current = _current_generation(root).path
    return int(sync(zstore.getsize_prefix(f"{current}/payload/c")))
