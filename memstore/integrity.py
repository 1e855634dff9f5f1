"""What a saved store must prove before anything in it is trusted: the root pointer, the digest, the manifest.

A saved store (format 2) carries two kinds of check, and :func:`persist.open_store` verifies them in this order::

    root attrs   {"format_version": 2, "current": "g000007", "generation": 7, "digest": sha256(...)}
                                                                                      │
    g000007 attrs {store_type, config, ledger, values, tensors, arrays: {path: {dtype, shape, sha256}}}
                      └───────────── all of it, with the three root fields, hashed into "digest" ─┘
    g000007/<path>   each array's bytes, hashed with its dtype and shape into arrays[path].sha256

1. the root fields are checked for type and range (a newer ``format_version`` is *incompatible*, anything
   else malformed is *corrupt*);
2. the digest over the root fields and every attribute of the generation is recomputed; one flipped byte
   anywhere in them changes it;
3. each array's dtype and shape are compared with the manifest *before* its chunks are read, so a corrupt
   shape cannot make the reader allocate;
4. each array's SHA-256 is compared with the manifest.

Format 1 (saved before attribute digests) has only step 4, with the manifest's hashes in ``checksums``; it is read
so that old stores still open, and re-saving writes format 2.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from .errors import CorruptStoreError, IncompatibleStoreError

__all__ = ["FORMAT_VERSION", "array_entry", "check_root", "digest", "check_digest", "check_manifest", "checksum",
           "checksum_start"]

FORMAT_VERSION = 2
FIRST_DIGEST_VERSION = 2
GENERATION_NAME = re.compile(r"g\d{6,}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_ROOT_FIELDS = ("format_version", "current", "generation")


def checksum_start(dtype: Any, shape: tuple[int, ...]) -> Any:
    """The SHA-256 state an array's bytes are fed into: its dtype and shape first (see :func:`checksum`)."""
    return hashlib.sha256(f"{np.dtype(dtype).str}{tuple(shape)}".encode())


def checksum(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    hashed = checksum_start(array.dtype, array.shape)
    hashed.update(np.ascontiguousarray(array).tobytes())
    return hashed.hexdigest()


def array_entry(array: Any, sha256: str | None = None) -> dict[str, Any]:
    """The manifest entry of one saved array (anything with ``dtype`` and ``shape``); ``sha256``: its
    :func:`checksum` when already computed (an array hashed block by block as it was written)."""
    hashed = checksum(array) if sha256 is None else sha256
    return {"dtype": array.dtype.str, "shape": list(array.shape), "sha256": hashed}


def digest(root: dict[str, Any], attrs: dict[str, Any]) -> str:
    """SHA-256 of the root fields and every attribute of the generation, in canonical JSON."""
    covered = {"root": {key: root.get(key) for key in _ROOT_FIELDS}, "generation": attrs}
    text = json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def check_root(meta: Any) -> int:
    """Validate the root attributes; returns the format version. Raises before anything else is read."""
    if not isinstance(meta, dict) or "format_version" not in meta or "current" not in meta:
        raise CorruptStoreError("not a memstore store: the root group has no memstore attributes")
    version = meta["format_version"]
    if type(version) is not int or version < 1:  # a bool, a float, a string or null is not a format version
        raise CorruptStoreError(f"format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise IncompatibleStoreError(
            f"store format {version} is newer than this memstore reads ({FORMAT_VERSION}); upgrade memstore"
        )
    current = meta["current"]
    if not isinstance(current, str) or not GENERATION_NAME.fullmatch(current):
        raise CorruptStoreError(f"current must name a generation like 'g000001', got {current!r}")
    if version >= FIRST_DIGEST_VERSION:
        generation = meta.get("generation")
        if type(generation) is not int or f"g{generation:06d}" != current:
            raise CorruptStoreError(f"generation {generation!r} does not match current {current!r}")
        if not isinstance(meta.get("digest"), str) or not _HEX_DIGEST.fullmatch(meta["digest"]):
            raise CorruptStoreError(f"digest must be 64 hex digits, got {meta.get('digest')!r}")
    return version


def check_digest(meta: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Refuse a generation whose attributes (or the root fields naming it) are not the ones saved."""
    if digest(meta, attrs) != meta["digest"]:
        raise CorruptStoreError("the digest of the store's attributes does not match: they were changed after saving")


def manifest(attrs: dict[str, Any], version: int) -> dict[str, dict[str, Any]]:
    """``{path: {"dtype", "shape", "sha256"}}`` from a generation's attributes; format 1 has hashes only."""
    if version >= FIRST_DIGEST_VERSION:
        entries = attrs.get("arrays")
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            raise CorruptStoreError("the generation's array manifest is not a mapping of entries")
        return entries
    checksums = attrs.get("checksums")
    if not isinstance(checksums, dict):
        raise CorruptStoreError("the generation has no checksums")
    return {path: {"sha256": value} for path, value in checksums.items()}


def check_manifest(entries: dict[str, dict[str, Any]], found: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """Compare the arrays present (path → dtype string, shape) with the manifest, before reading any chunk."""
    if set(found) != set(entries):
        raise CorruptStoreError(f"arrays {sorted(set(found) ^ set(entries))} are missing or unexpected")
    for path, (dtype, shape) in found.items():
        want = entries[path]
        if "dtype" in want and (want["dtype"] != dtype or want.get("shape") != list(shape)):
            raise CorruptStoreError(f"array {path!r} is {dtype}{list(shape)}, "
                                    f"saved as {want['dtype']}{want.get('shape')}")
