"""Where a result came from: the code (commit), torch, the processor and the accelerator a cell or a timing ran on.

Every cell's JSON carries :func:`provenance` (plus the store's device); every timing benchmark records
:func:`machine`. Seed-by-seed comparisons of cells hold only within one processor model (:func:`cpu_model`).
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["accelerator", "cpu_model", "device_name", "machine", "provenance"]


@functools.cache
def provenance() -> dict[str, Any]:
    """What produced a result: torch's version, the processor, torch's threads and the checkout's commit (with a flag
    for uncommitted changes), read once per process, when its first cell starts: the code a process runs is the code
    it imported. A copy whose git does not describe its files (an accelerator machine gets today's working tree over
    the session's first commit) names its commit in ``MEMSTORE_COMMIT``; that wins, and the record says so
    (``commit_from``)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    produced = {"torch": torch.__version__, "cpu": cpu_model(), "threads": torch.get_num_threads()}
    if os.environ.get("MEMSTORE_COMMIT"):
        return {**produced, "commit": os.environ["MEMSTORE_COMMIT"], "commit_from": "MEMSTORE_COMMIT"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {**produced, "commit": git("rev-parse", "HEAD"), "dirty": bool(status)}


def cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo; else what :mod:`platform` knows). A network trained on the
    CPU can round differently on another processor model, so a cell whose store trains one (RecollectionStore) may
    not give bit-identical results elsewhere; the raw and JPEG cells compared did (docs/results.md, session 25)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str | None:
    """The accelerator's name (None on the CPU)."""
    if torch.device(device).type != "cuda":
        return None
    return torch.cuda.get_device_name(torch.device(device))


def accelerator(device: str) -> dict[str, str]:
    """The accelerator's name as a provenance field (nothing on the CPU)."""
    name = device_name(device)
    return {} if name is None else {"device_name": name}


def machine(device: str = "cpu") -> dict[str, Any]:
    """Where a measurement ran: the processor and its cores, the accelerator's name (None on the CPU), torch's
    threads in this process now, and the date."""
    return {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "device_name": device_name(device),
            "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}
