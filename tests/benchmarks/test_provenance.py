"""Provenance: what a cell's and a timing's records say about the code and the machine that produced them."""

from pathlib import Path

import torch

from benchmarks import provenance as where
from benchmarks.provenance import accelerator, cpu_model, machine, provenance


def test_provenance_takes_the_commit_from_the_environment_when_named(monkeypatch):
    monkeypatch.delenv("MEMSTORE_COMMIT", raising=False)
    from_git = provenance.__wrapped__()
    assert set(from_git) == {"torch", "cpu", "threads", "commit", "dirty"} and from_git["commit"] != "f" * 40
    monkeypatch.setenv("MEMSTORE_COMMIT", "f" * 40)  # a copy whose git is not its files' (an accelerator machine's)
    assert provenance.__wrapped__() == {"torch": torch.__version__, "cpu": cpu_model(),
                                        "threads": torch.get_num_threads(), "commit": "f" * 40,
                                        "commit_from": "MEMSTORE_COMMIT"}


def test_the_cpu_model_is_the_processors_name_and_never_empty(monkeypatch):
    assert where.cpu_model()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        assert where.cpu_model() == (names[0] if names else where.platform.processor() or where.platform.machine())
    monkeypatch.setattr(where.platform, "processor", lambda: "")
    monkeypatch.setattr(where, "open", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("no cpuinfo")),
                        raising=False)
    assert where.cpu_model() == where.platform.machine()  # no /proc, no processor name: the architecture


def test_the_cpu_records_no_accelerator():
    assert accelerator("cpu") == {} and machine("cpu")["device_name"] is None
    assert machine()["torch_threads"] == torch.get_num_threads()
