"""The benchmark scripts refuse a malformed option before any work: argparse's usage error, or one line from
``refusing_bad_input``, with status 2, no traceback and no file written."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from benchmarks.arguments import choice_list, device, output_file, pairs, positive_int, positive_ints, positive_real


def test_the_types_parse_good_values() -> None:
    assert positive_int("3") == 3 and positive_real("0.5") == 0.5
    assert positive_ints("500,5000") == (500, 5000) and pairs("48x10, 6x20") == ((48, 10), (6, 20))
    assert choice_list(("raw", "jpeg"))("jpeg,raw") == ("jpeg", "raw") and device("cpu") == "cpu"


@pytest.mark.parametrize("parse, text", [
    (positive_int, "0"), (positive_int, "-2"), (positive_int, "x"), (positive_real, "nan"), (positive_real, "inf"),
    (positive_real, "-1"), (positive_ints, "500,,5000"), (positive_ints, ""), (pairs, "500"), (pairs, "48x"),
    (pairs, "4x2x3"), (pairs, "0x2"), (choice_list(("raw",)), "raw,"), (device, "nosuch"), (output_file, ""),
])
def test_the_types_refuse_bad_values(parse, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_an_output_file_cannot_be_a_folder_or_sit_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    for bad in (tmp_path, tmp_path / "a_file" / "x.json"):
        with pytest.raises(argparse.ArgumentTypeError):
            output_file(str(bad))
    assert output_file(str(tmp_path / "new" / "x.json")) == tmp_path / "new" / "x.json"


BAD_RUNS = {
    "speed steps 0": ("speed", ["--steps", "0"]),
    "speed sizes": ("speed", ["--sizes", "500x"]),
    "speed out under a file": ("speed", ["--out", "{tmp}/a_file/x.json"]),
    "policy_speed capacities": ("policy_speed", ["--capacities", "500,,5000"]),
    "store_speed rounds 0": ("store_speed", ["--rounds", "0"]),
    "store_speed quality 0": ("store_speed", ["--quality", "0", "--steps", "1", "--rounds", "1"]),
    "ddp_timing images 0": ("ddp_timing", ["--images", "0"]),
    "format_reliability backends": ("format_reliability", ["--backends", "NoSuchStore"]),
    "format_reliability seconds inf": ("format_reliability", ["--seconds", "inf"]),
    "online_entropy shapes": ("online_entropy", ["--shapes", "48x"]),
    "recollection_extras fill": ("recollection_extras", ["speed", "--fill", "6000"]),
    "recollection_extras device": ("recollection_extras", ["table4", "--device", "nosuch"]),
    "recollection_frontier points": ("recollection_frontier", ["--points", "4x2", "--json", "{tmp}/f.json"]),
    "recollection_frontier json": ("recollection_frontier", ["--json", "{tmp}/a_file", "--png", "{tmp}/f.png"]),
    "scale stores": ("scale", ["memory", "--stores", "nosuch"]),
    "scale latents alone": ("scale", ["disk", "--latents", "4"]),
    "held_codes raw store": ("held_codes", ["--store", "raw"]),
    "held_codes unknown store": ("held_codes", ["--store", "nosuchstore"]),
    "held_codes spec value": ("held_codes", ["--store", "recollection:lr=nan", "--examples-per-task", "20"]),
    "arm_figure tasks 5": ("arm_figure", ["--tasks", "5"]),
    "arm_figure not png": ("arm_figure", ["--out", "{tmp}/x.txt"]),
    "cell_cost unknown store": ("cell_cost", ["--cell", "--stores nosuchstore"]),
    "cell_cost two cells": ("cell_cost", ["--cell", "--seeds 0,1 --budgets 10 --stores raw --learners er"]),
    "cell_cost steps 0": ("cell_cost", ["--cell", "--stores raw", "--steps", "0"]),
    "dgm_replay_check no folder": ("dgm_replay_check", ["--cells", "{tmp}/missing"]),
    "dgm_replay_check not a cell": ("dgm_replay_check", ["--cells", "{tmp}/cells"]),
    "codec_probe latents 0": ("codec_probe", ["--dataset", "digits", "--latents", "0", "--steps", "1"]),
    "codec_probe jpeg 0": ("codec_probe", ["--dataset", "digits", "--jpeg", "0", "--items", "20", "--tests", "20"]),
    "avalanche_example seeds 0": ("avalanche_example", ["--seeds", "0"]),
    "s3_latency repeats 0": ("s3_latency", ["--repeats", "0"]),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_a_malformed_option_is_status_2_without_a_traceback(case: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "a_file").write_text("not json")
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "x.json").write_text("{}")
    before = sorted(tmp_path.rglob("*"))
    module, argv = BAD_RUNS[case]
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(f"benchmarks.{module}").main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and "error:" in err, err
    assert sorted(tmp_path.rglob("*")) == before
