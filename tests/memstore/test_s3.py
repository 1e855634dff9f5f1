"""Stores on S3 through fsspec / s3fs, against a real S3-compatible server (moto's) started here on 127.0.0.1:
the same atomic generations, checksums and concurrent-reader guarantee as on a local disk."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from memstore import CorruptStoreError, InvalidInputError
from memstore import open as open_store
from memstore.persist import inspect_store
from memstore.testing.stress import is_prefix_store, sequence_store

moto_server = pytest.importorskip("moto.server", reason="the remote extra (moto[server], s3fs) is not installed")
s3fs = pytest.importorskip("s3fs", reason="the remote extra (moto[server], s3fs) is not installed")


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, Any]]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing",
               "client_kwargs": {"region_name": "us-east-1"}}
    import boto3

    boto3.client("s3", endpoint_url=options["endpoint_url"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="memstore-test")
    yield options
    server.stop()


def url() -> str:
    return f"s3://memstore-test/{uuid.uuid4().hex}.zarr"


def test_save_open_resave_and_inspect(s3: dict[str, Any]) -> None:
    target, store = url(), sequence_store(40)
    store.save(target, storage_options=s3)
    assert is_prefix_store(open_store(target, storage_options=s3))
    store.write(torch.full((1, 1, 8, 8), 40 / 255), torch.tensor([0]))
    store.save(target, storage_options=s3)
    store.save(target, storage_options=s3)
    reopened = open_store(target, storage_options=s3)
    assert len(reopened) == 41 and is_prefix_store(reopened)
    saved = inspect_store(target, storage_options=s3)
    assert saved.generation == "g000003" and saved.digest_verified and saved.payload_bytes == 41 * 64
    listing = s3fs.S3FileSystem(**s3, skip_instance_cache=True).ls(target.removeprefix("s3://"), detail=False)
    assert sorted(name.rsplit("/", 1)[1] for name in listing) == ["g000002", "g000003", "zarr.json"]


def test_a_flipped_byte_on_s3_is_refused(s3: dict[str, Any]) -> None:
    target = url()
    sequence_store(10).save(target, storage_options=s3)
    fs = s3fs.S3FileSystem(**s3, skip_instance_cache=True)
    chunk = f"{target.removeprefix('s3://')}/g000001/payload/c/0"
    data = bytearray(fs.cat(chunk))
    data[3] ^= 0x10
    fs.pipe(chunk, bytes(data))
    with pytest.raises(CorruptStoreError, match="checksum"):
        open_store(target, storage_options=s3)


def test_readers_get_a_complete_store_while_a_writer_resaves(s3: dict[str, Any]) -> None:
    target, store = url(), sequence_store(20)
    store.save(target, storage_options=s3)
    stop, outcomes = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            try:
                outcomes.append(is_prefix_store(open_store(target, storage_options=s3)))
            except CorruptStoreError:
                outcomes.append("refused")
            except Exception as error:  # a raw error in a thread would only warn: record it so the assert sees it
                outcomes.append(repr(error))
                return

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for item in range(20, 32):
        store.write(torch.full((1, 1, 8, 8), item / 255), torch.tensor([item % 4]))
        store.save(target, storage_options=s3)
    stop.set()
    for reader in readers:
        reader.join()
    assert len(outcomes) > 4 and set(outcomes) == {True}


def test_storage_options_are_only_for_urls(tmp_path: Any) -> None:
    with pytest.raises(InvalidInputError, match="storage_options"):
        sequence_store(2).save(tmp_path / "local", storage_options={"anon": True})


def test_a_save_interrupted_on_s3_keeps_the_previous_store(s3: dict[str, Any], monkeypatch: Any) -> None:
    from memstore import persist

    target, store = url(), sequence_store(10)
    store.save(target, storage_options=s3)
    store.write(torch.full((1, 1, 8, 8), 10 / 255), torch.tensor([2]))
    real, calls = persist._write_array, []

    def dies_midway(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        real(*args)

    monkeypatch.setattr(persist, "_write_array", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        store.save(target, storage_options=s3)
    monkeypatch.setattr(persist, "_write_array", real)
    assert len(open_store(target, storage_options=s3)) == 10
    store.save(target, storage_options=s3)  # the next save replaces the torn generation and cleans up
    assert len(open_store(target, storage_options=s3)) == 11


def test_a_live_payload_kept_in_s3_samples_as_one_kept_in_memory(s3: dict[str, Any]) -> None:
    """RecollectionStore(path=<a zarr FsspecStore>): the live code bitstream stays in S3; draws read its chunks."""
    from zarr.storage import FsspecStore

    from memstore import Budget, RecollectionStore, Stabilisation

    remote = FsspecStore.from_url(url(), storage_options={**s3, "asynchronous": True})
    stores = [RecollectionStore(Budget(200 * 24), (1, 8, 8), 10, latents=20, classes=2, seed=0,
                                stabilisation=Stabilisation(steps=0), path=where) for where in (None, remote)]
    x = torch.randint(0, 256, (150, 1, 8, 8), generator=torch.Generator().manual_seed(0)).float() / 255
    y = torch.arange(150) % 10
    for store in stores:
        store.write(x, y)
    memory, in_s3 = (store.sample(12, generator=torch.Generator().manual_seed(3)) for store in stores)
    assert torch.equal(memory.keys, in_s3.keys) and torch.equal(memory.x, in_s3.x)
    assert stores[1].chunks_read > 0
    listing = s3fs.S3FileSystem(**s3, skip_instance_cache=True).find(remote.path)
    assert any(name.rsplit("/", 1)[1].isdigit() or "/c/" in name for name in listing)  # chunks written to S3
