import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.cli import build_parser, grid_from_args, main, parse_seeds
from benchmarks.configs import CONFIGS, EXEMPLAR_STORES
from benchmarks.specs import BudgetSpec

REPO = Path(__file__).resolve().parents[2]


def test_parse_seeds():
    assert parse_seeds("0-3") == (0, 1, 2, 3)
    assert parse_seeds("0,5") == (0, 5)
    assert parse_seeds("0-1,7") == (0, 1, 7)
    for bad in ("5-2,3", "x", "-1", "", "1-"):
        with pytest.raises(argparse.ArgumentTypeError, match="non-negative ints, ranges and commas"):
            parse_seeds(bad)


def _grid(*argv):
    return grid_from_args(build_parser().parse_args(list(argv)))


def test_no_arguments_is_the_embedded_default():
    grid = _grid()
    assert grid == CONFIGS["default"]
    assert grid.dataset == "digits" and grid.stream.name == "split" and set(grid.learners) == {"er", "naive"}
    assert len(grid.budgets) >= 3 and len(grid.seeds) >= 3


def test_flags_override_one_field_each():
    grid = _grid("--config", "split-mnist-er", "--seeds", "0-1", "--budgets", "500,64000bits", "--lr", "0.01")
    assert grid.dataset == "mnist" and grid.stream.examples_per_task == 1010
    assert grid.seeds == (0, 1) and grid.budgets == (BudgetSpec(images=500), BudgetSpec(bits=64000))
    assert grid.setting.name == "mir" and grid.setting.lr == 0.01 and grid.setting.replay_past_tasks_only
    other = _grid("--stream", "rotated", "--num-tasks", "3", "--examples-per-task", "all", "--setting", "gmed")
    assert other.stream.name == "rotated" and other.stream.num_tasks == 3 and other.stream.examples_per_task is None
    assert other.setting.name == "gmed" and not other.setting.task_aware


def test_paper_configs_follow_their_protocols():
    mir, gmed = CONFIGS["split-mnist-er"], CONFIGS["split-mnist-er-gmed"]
    for grid in (mir, gmed):
        assert grid.dataset == "mnist" and grid.model.hidden == (400, 400) and len(grid.seeds) >= 20
        assert {b.images for b in grid.budgets} == {500, 50, 10} and set(grid.learners) == {"er", "naive"}
    assert (mir.stream.examples_per_task, mir.setting.lr) == (1010, 0.1)
    assert (gmed.stream.examples_per_task, gmed.setting.lr) == (1000, 0.05)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    threads = torch.get_num_threads()  # main() sets the thread count for its process
    yield
    torch.set_num_threads(threads)


def test_main_runs_a_tiny_grid_and_writes_the_report(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--seeds", "0", "--budgets", "10", "--examples-per-task", "30", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| digits | split | mir | er | raw | 10 img | 10 |" in out
    cells = len(CONFIGS["default"].stores) + 1  # ER on every store, and naive
    assert f"{cells} cells computed, 0 found finished" in out
    assert all((tmp_path / name).exists() for name in ("results.csv", "results.md", "results.png"))
    assert main(argv) == 0
    assert f"0 cells computed, {cells} found finished" in capsys.readouterr().out


def test_bad_budget_is_a_usage_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--budgets", "many"]) == 2
    assert "cannot read budget" in capsys.readouterr().err


def test_python_dash_m_benchmarks_runs_the_default(tmp_path):
    out = tmp_path / "res"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--out", str(out), "--seeds", "0", "--examples-per-task", "60",
         "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "| digits | split |" in proc.stdout and (out / "results.png").exists()
    assert {"raw", "lossless", "recollection"} <= set(CONFIGS["default"].stores)  # the default is a small frontier
    for store in CONFIGS["default"].stores:
        assert proc.stdout.count(f"| er | {store} |") == len(CONFIGS["default"].budgets)
        assert proc.stdout.count(f"img | {store} |") == len(CONFIGS["default"].budgets)  # and its frontier table
    assert (out / "frontier.md").exists() and "vs raw" in (out / "frontier.md").read_text()


def test_an_unusable_device_is_a_usage_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--device", "bogus", "--no-progress"]) == 2
    assert "--device 'bogus' is not usable" in capsys.readouterr().err
    assert not (tmp_path / "cells").exists()  # refused before anything ran


def test_the_device_reaches_the_store_and_the_provenance_not_the_key(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--seeds", "0", "--budgets", "10", "--examples-per-task", "30", "--no-progress",
            "--stores", "recollection:latents=38,classes=2", "--learners", "er", "--device", "cpu"]
    assert main(argv) == 0
    (cell,) = (tmp_path / "cells").glob("*.json")
    recorded = json.loads(cell.read_text())["provenance"]
    assert recorded["store_device"] == "cpu" and "device_name" not in recorded  # a name for accelerators only
    assert main(argv[:-2]) == 0  # the default device finds the same cell finished
    assert "0 cells computed, 1 found finished" in capsys.readouterr().out


def test_frontier_names_the_frontier_config(capsys):
    from benchmarks.configs import FRONTIER_CONFIG

    frontier = _grid("frontier", "--seeds", "0")
    assert frontier == dataclasses.replace(CONFIGS[FRONTIER_CONFIG], seeds=(0,))
    assert {"raw", "lossless", "jpeg"} <= set(frontier.stores) and frontier.dataset == "mnist"
    with pytest.raises(SystemExit):
        main(["frontier", "--config", "default"])
    assert "frontier is the frontier-split-mnist config" in capsys.readouterr().err


def test_keep_stores_saves_each_computed_cells_store(tmp_path, capsys):
    from memstore import RawStore
    from memstore import open as open_store

    argv = ["--out", str(tmp_path), "--seeds", "0", "--budgets", "10", "--examples-per-task", "30", "--stores", "raw",
            "--learners", "er", "--no-progress", "--keep-stores"]
    assert main(argv) == 0
    (kept,) = (tmp_path / "cells").glob("*.store")
    store = open_store(kept)
    assert isinstance(store, RawStore) and len(store) == 10
    (result,) = (tmp_path / "cells").glob("*.json")
    assert json.loads(result.read_text())["items"] == 10


def test_flags_naming_stores_or_learners_keep_only_their_points():
    full = _grid("frontier")
    assert {(p.learner, p.store) for p in full.points} == {
        ("arm", "self-recall"), ("generative-replay", "dgmw"),
        *(("er:phase_data=true", store) for store in EXEMPLAR_STORES)}
    assert _grid("frontier", "--stores", "raw", "--learners", "er").points == ()
    assert [p.store for p in _grid("frontier", "--stores", "raw,dgmw", "--learners", "er,generative-replay").points] \
        == ["dgmw"]
    assert [p.learner for p in _grid("frontier", "--learners", "arm").points] == ["arm"]
    assert _grid("frontier", "--seeds", "0").points == full.points
    only_arm = _grid("frontier", "--stores", "self-recall", "--learners", "arm")  # the point alone, not crossed
    assert [c.learner for c in only_arm.cells()] == ["arm"] * len(full.seeds)


def test_a_store_both_crossed_and_in_points_stays_crossed_and_budgets_filter_points_on_the_grids_budgets():
    grid = _grid("frontier", "--stores", "raw", "--budgets", "10,50")
    assert grid.stores == ("raw",) and grid.learners == ("er",)  # raw is still crossed with the grid's learner
    exemplar = [p for p in grid.points if p.learner == "er:phase_data=true"]
    assert {(p.store, p.budget.images) for p in exemplar} == {("raw", 10), ("raw", 50)}
    zero_bits = _grid("frontier", "--budgets", "10", "--learners", "arm").points
    assert [(p.learner, p.budget.bits) for p in zero_bits] == [("arm", 0)]  # off the grid's budgets: kept


def test_a_point_learner_with_a_store_of_no_point_is_crossed_under_the_setting_given():
    variant = "mnemonics:adjust=false,dtype=uint8,per_class=none"
    grid = _grid("frontier", "--setting", "gmed-task-aware", "--stores", variant, "--learners", "er:phase_data=true",
                 "--budgets", "10", "--seeds", "0")
    (cell,) = grid.cells()
    assert (cell.learner, cell.store, cell.setting.name) == ("er:phase_data=true", variant, "gmed-task-aware")
    point = next(p for p in CONFIGS["frontier-split-mnist"].points if p.store == EXEMPLAR_STORES[1])
    crossed = _grid("frontier", "--setting", "gmed-task-aware", "--stores", point.store, "--learners", point.learner,
                    "--budgets", "10", "--seeds", "0").cells()
    assert [c.key for c in crossed] == [c.key for c in CONFIGS["frontier-split-mnist"].cells()
                                        if (c.learner, c.store, c.budget) == (point.learner, point.store, point.budget)
                                        and c.seed == 0]  # as a point: the same cell


def test_missing_mnist_is_a_usage_error_that_names_the_layout_and_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--dataset", "mnist", "--data-root", str(tmp_path / "nowhere"), "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "MNIST/raw/train-images-idx3-ubyte" in err and "--data-root" in err
    assert not out.exists()


def test_recompute_runs_finished_cells_again(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--seeds", "0", "--budgets", "10", "--examples-per-task", "20", "--stores", "raw",
            "--learners", "er", "--no-progress"]
    assert main(argv) == 0 and "1 cells computed, 0 found finished" in capsys.readouterr().out
    assert main(argv) == 0 and "0 cells computed, 1 found finished" in capsys.readouterr().out
    assert main([*argv, "--recompute"]) == 0 and "1 cells computed, 0 found finished" in capsys.readouterr().out


def test_every_setting_is_explained_in_help_and_readme() -> None:
    from benchmarks.settings import SETTING_HELP, SETTINGS

    assert set(SETTING_HELP) == set(SETTINGS)
    text = build_parser().format_help()
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name, line in SETTING_HELP.items():
        assert line in text and f"| `{name}` | {line} |" in readme


def test_list_specs_prints_each_name_with_the_parameters_it_takes(capsys):
    assert main(["--list-specs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "store raw: per_task=false" in lines and "learner er: phase_data=false" in lines
    gmed = next(line for line in lines if line.startswith("learner er-gmed:"))
    assert "alpha=5.0,beta=0.01,random_edit=false" in gmed
    recollection = next(line for line in lines if line.startswith("store recollection:"))
    assert "latents=none" in recollection and "anchor_every=100" in recollection


@pytest.mark.parametrize("flags, message", [
    (["--stores", "jpeg:quality=0", "--learners", "er"], "quality must be an int in"),
    (["--stores", "recollection:lr=nan", "--learners", "er"], "Stabilisation.lr must be finite"),
    (["--stores", "raw", "--learners", "er", "--lr", "nan"], "lr must be finite"),
    (["--stores", "raw", "--learners", "er", "--hidden", "abc"], "--hidden takes positive layer widths"),
    (["--stores", "raw", "--learners", "er", "--num-tasks", "3"], "--num-tasks does not apply to the split stream"),
], ids=["jpeg-quality", "recollection-lr", "learner-lr", "hidden", "num-tasks-split"])
def test_values_a_cell_would_refuse_are_usage_errors_before_any_cell_runs(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert main(["--out", str(out), "--seeds", "0", "--budgets", "10", "--no-progress", *flags]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_a_grid_with_one_bad_spec_runs_none_of_its_cells(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--out", str(out), "--seeds", "0", "--budgets", "10", "--no-progress", "--learners", "er"]
    assert main([*argv, "--stores", "raw,jpeg:quality=101"]) == 2 and not out.exists()
    assert "jpeg:quality=101" in capsys.readouterr().err


def test_an_out_that_is_a_file_or_zero_threads_are_usage_errors(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    argv = ["--seeds", "0", "--budgets", "10", "--no-progress", "--stores", "raw", "--learners", "naive"]
    assert main(["--out", str(tmp_path / "file"), *argv]) == 2 and "is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["--out", str(tmp_path / "out"), "--threads", "0", *argv])
    assert refused.value.code == 2 and (tmp_path / "file").read_text() == "mine" and not (tmp_path / "out").exists()


def test_dgm_pictures_from_no_cells_are_refused_and_leave_the_figure(tmp_path):
    from benchmarks import dgm

    figure = dgm.ROOT / "docs" / "img" / "dgm_curve.png"
    before = figure.read_bytes()
    for flag in ("--curve", "--report"):
        with pytest.raises(SystemExit) as refused:
            dgm.main([flag, "--cells", str(tmp_path / "none")])
        assert refused.value.code == 2
    assert figure.read_bytes() == before
