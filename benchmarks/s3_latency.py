"""``python -m benchmarks.s3_latency``: save and open latency on an S3-compatible server (moto's, started here on
127.0.0.1) against a local folder, for a 500-item RawStore and a 50,000-item RecollectionStore (issue 19).

Items are random MNIST-shaped images on the 1/255 grid; the RecollectionStore takes no training steps
(``Stabilisation(steps=0)``), so its 50,000 writes only encode. Median of ``--repeats`` saves and opens.

Then ``sample(10)`` on a 50,000-item RecollectionStore whose live payload stays where ``path=`` puts it: in memory,
a local folder, or S3 (a zarr ``FsspecStore`` on the same server); each draw reads only the chunks holding its ten
codes. Median of ``--draws`` draws.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from memstore import Budget, MemoryStore, RawStore, RecollectionStore, Stabilisation
from memstore import open as open_store

from .arguments import positive_int, refusing_bad_input

SHAPE = (1, 28, 28)


def filled(make: Callable[[], MemoryStore], items: int) -> MemoryStore:
    store, generator = make(), torch.Generator().manual_seed(0)
    for start in range(0, items, 500):
        x = torch.randint(0, 256, (500, *SHAPE), generator=generator).float() / 255
        store.write(x, torch.randint(0, 10, (500,), generator=generator))
    return store


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@refusing_bad_input
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="saves and opens timed per store (default 5)")
    parser.add_argument("--draws", type=positive_int, default=50,
                        help="sample(10) calls timed per payload (default 50)")
    args = parser.parse_args(argv)
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's per-request log
    torch.set_num_threads(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing"}
    boto3.client("s3", endpoint_url=options["endpoint_url"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="bench")
    stores = {
        "RawStore, 500 items": filled(lambda: RawStore(Budget.images(500, SHAPE, 10), SHAPE, 10, seed=0), 500),
        "RecollectionStore (38, 2), 50,000 items": filled(lambda: RecollectionStore(
            Budget(50_000 * 44), SHAPE, 10, latents=38, classes=2, stabilisation=Stabilisation(steps=0), seed=0),
            50_000),
    }
    print("| store | target | save (median s) | open (median s) |\n|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name, store in stores.items():
            for target, opts in ((f"s3://bench/{len(store)}.zarr", options), (str(Path(folder) / name), None)):
                save = median_seconds(lambda: store.save(target, storage_options=opts), args.repeats)
                opened = median_seconds(lambda: open_store(target, storage_options=opts), args.repeats)
                print(f"| {name} | {'S3 (moto, 127.0.0.1)' if opts else 'local folder'} | {save:.3f} | "
                      f"{opened:.3f} |", flush=True)
        sample_latency(options, Path(folder) / "live", args.draws)
    server.stop()


def sample_latency(options: dict, folder: Path, draws: int) -> None:
    """``sample(10)`` with the payload in memory, in a local folder and in S3."""
    from zarr.storage import FsspecStore

    remote = FsspecStore.from_url("s3://bench/live.zarr", storage_options={**options, "asynchronous": True})
    print("\n| payload kept in | sample(10), median ms | chunks read per draw |\n|---|---:|---:|")
    for where, path in (("memory", None), ("local folder", folder), ("S3 (moto, 127.0.0.1)", remote)):
        store = filled(lambda: RecollectionStore(Budget(50_000 * 44), SHAPE, 10, latents=38, classes=2,
                                                 stabilisation=Stabilisation(steps=0), seed=0, path=path), 50_000)
        generator = torch.Generator().manual_seed(1)
        before = store.chunks_read
        seconds = median_seconds(lambda: store.sample(10, generator=generator), draws)
        chunks = (store.chunks_read - before) / draws
        print(f"| {where} | {1000 * seconds:.2f} | {chunks:.1f} |", flush=True)


if __name__ == "__main__":
    main()
