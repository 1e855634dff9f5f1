"""The ``memstore`` command: subcommands reach the benchmarks, ``inspect`` verifies, ``--help`` imports no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.command import main
from memstore import Budget, RawStore


def test_help_imports_no_torch() -> None:
    code = "import sys, benchmarks.command as c; c._parser().format_help(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_inspect_reports_the_store_and_what_was_verified(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = RawStore(Budget.images(8, (1, 4, 4), 3), (1, 4, 4), 3, seed=0)
    store.write(torch.rand(5, 1, 4, 4).mul(255).round().div(255), torch.arange(5) % 3)
    store.save(tmp_path / "s")
    assert main(["inspect", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "RawStore (format 2, generation g000001)" in out and "items held     5 of at most 8" in out
    assert f"payload      {5 * 16 * 8} bits" in out and "verified       digest and" in out


def test_inspect_refuses_a_corrupt_store_with_status_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = RawStore(Budget.images(8, (1, 4, 4), 3), (1, 4, 4), 3, seed=0)
    store.save(tmp_path / "s")
    meta = tmp_path / "s" / "g000001" / "zarr.json"
    meta.write_text(meta.read_text().replace('"seed": 0', '"seed": 1'))
    assert main(["inspect", str(tmp_path / "s")]) == 1
    assert "CorruptStoreError" in capsys.readouterr().err


@pytest.mark.parametrize("target, message", [("missing", "no such file or folder"),
                                             ("nosuch://x", "Protocol not known")])
def test_inspect_of_nothing_saved_is_a_usage_error_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 target: str, message: str) -> None:
    assert main(["inspect", str(tmp_path / target) if target == "missing" else target]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "missing").exists()


def test_python_dash_m_memstore_is_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "memstore", "inspect", "/nonexistent/store"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "no such file or folder" in done.stderr


def test_bench_passes_its_arguments_on(capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "--list-configs"]) == 0
    assert "frontier-split-mnist" in capsys.readouterr().out


def test_choose_is_the_store_choice_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["choose", "--help"])
    assert exit_.value.code == 0 and "python -m benchmarks.store_choice" in capsys.readouterr().out
