import json
from dataclasses import replace

import pytest

from benchmarks.configs import CONFIGS
from benchmarks.learner_specs import ERGMEDSpec, MIRGMEDSpec
from benchmarks.parameters import resolve
from benchmarks.rekey import main, pinned, rekey, renamed_cell
from benchmarks.renamed import RENAMED, new_text
from benchmarks.runner import CellResult, write_json
from benchmarks.specs import LEARNERS, STORES, RawSpec, RecollectionSpec, SelfRecallSpec
from learners import AccuracyMatrix


def test_every_retired_name_is_refused_with_the_text_that_replaces_it():
    for old, new in RENAMED.items():
        registry, kind = (LEARNERS, "learner") if old.startswith(("er-", "mir-", "arm")) else (STORES, "store")
        assert old not in registry  # one registered name per concept
        with pytest.raises(ValueError, match=f"now written '{new}'"):
            resolve(old, registry, kind)
        resolve(new, registry, kind)  # the new text names a spec


def test_the_new_texts_name_the_specs_the_old_names_registered():
    def spec(text, registry=STORES):
        return resolve(RENAMED[text], registry, "")

    assert spec("raw-per-task") == RawSpec(per_task=True)
    assert spec("recollection-104x4") == RecollectionSpec(104, 4, steps=1, refresh=True, anchor_every=0)
    assert spec("recollection-38x2-online-ae") == RecollectionSpec(38, 2, steps=1, anchor_every=0, batch_size=0)
    assert spec("recollection-139x8-per-task") == RecollectionSpec(139, 8, steps=1, refresh=True, anchor_every=0,
                                                                   per_task=True)
    assert spec("self-recall-unit-lag") == SelfRecallSpec(unit_lag=True)
    assert spec("self-recall-unclamped") == SelfRecallSpec(clamp=False)
    assert spec("er-gmed-permuted", LEARNERS) == ERGMEDSpec(0.05, 0.001)
    assert spec("er-gmed-random-rotated", LEARNERS) == ERGMEDSpec(1.0, 0.01, random_edit=True)
    assert spec("mir-gmed-split", LEARNERS) == MIRGMEDSpec(5.0, 0.01)
    assert spec("er-gmed-random-stride0.5-split", LEARNERS) == ERGMEDSpec(0.5, 0.01, random_edit=True,
                                                                          fixed_stride=True)
    assert spec("arm-distill", LEARNERS).replay_size == 0


def test_a_retired_names_own_parameters_are_kept_and_win():
    assert new_text("er-gmed-split:official_sign=true") == "er-gmed:alpha=5,beta=0.01,official_sign=true"
    assert new_text("recollection-38x2:steps=4") == "recollection:latents=38,classes=2,steps=4,anchor_every=0"
    assert new_text("raw") is None and new_text("recollection:latents=38,classes=2") is None


def _recorded_cell(folder, learner, store, seed=0):
    """A cell file as a run before decision 0033 wrote it: the runner's key of a cell under the old texts."""
    cell = next(c for c in CONFIGS["gmed-split"].cells() if c.learner == "er" and c.seed == seed)
    cell = replace(cell, learner=learner, store=store)
    result = CellResult(cell.config(), AccuracyMatrix.from_rows([[0.5]], [10]), 0.5, 3, 30, 40, 1.0)
    write_json(folder / f"{cell.key}.json", result.to_json())
    return folder / f"{cell.key}.json"


def test_rekeyed_cells_are_the_cells_the_configs_now_ask_for(tmp_path):
    kept = _recorded_cell(tmp_path, "er", "raw")
    _recorded_cell(tmp_path, "er-gmed-split", "raw")
    _recorded_cell(tmp_path, "er-gmed-random-split:per_slot=true", "raw", seed=1)
    before = json.loads((tmp_path / kept.name).read_text())
    changes = rekey(tmp_path)
    assert len(changes) == 2 and kept.exists()  # a cell under current names is left alone
    wanted = {c.key + ".json" for c in CONFIGS["gmed-split"].cells()}
    names = {path.name for path in tmp_path.glob("*.json")}
    assert names - {kept.name} <= wanted | {n for n in names if "per_slot" in n}
    moved = json.loads(next(tmp_path.glob("*er-gmed:alpha=5,beta=0.01-raw*")).read_text())
    assert moved["config"]["learner"] == "er-gmed:alpha=5,beta=0.01" and moved["accuracy"] == before["accuracy"]
    assert next(tmp_path.glob("*random_edit=true,per_slot=true-raw-500img-s1-*"))
    assert rekey(tmp_path) == []  # nothing left to re-key


def test_a_file_that_is_not_the_key_of_its_config_is_refused_before_anything_changes(tmp_path, capsys):
    good = _recorded_cell(tmp_path, "er-gmed-split", "raw")
    bad = _recorded_cell(tmp_path, "er-gmed-rotated", "raw", seed=1)
    bad.rename(tmp_path / bad.name.replace("-s1-", "-s2-"))
    with pytest.raises(ValueError, match="not the key of its config"):
        rekey(tmp_path)
    assert good.exists()
    good_only = tmp_path / "good"
    good_only.mkdir()
    good.rename(good_only / good.name)
    main([str(good_only), "--dry-run"])
    assert "1 cell(s) would be re-keyed" in capsys.readouterr().out and (good_only / good.name).exists()
    assert renamed_cell(good.name, json.loads((good_only / good.name).read_text()))[0].startswith(
        "mnist-split-gmed-er-gmed:alpha=5,beta=0.01-raw-500img-s0-")


def test_pin_ranges_keys_colour_recollection_cells_as_they_ran(tmp_path):
    def pinned_ranges(store, dataset):
        return pinned(store, dataset, ("ranges",))

    assert pinned_ranges("recollection", "colour-mnist") == "recollection:ranges=false"
    assert pinned_ranges("recollection:code_side=2", "colour") == "recollection:code_side=2,ranges=false"
    assert pinned_ranges("recollection:ranges=true", "colour") is None  # it names what it ran
    assert pinned_ranges("recollection", "mnist") is None and pinned_ranges("raw", "colour") is None
    cell = next(c for c in CONFIGS["frontier-split-colour"].cells() if c.store == "recollection" and c.seed == 0)
    result = CellResult(cell.config(), AccuracyMatrix.from_rows([[0.5]], [10]), 0.5, 3, 30, 40, 1.0)
    write_json(tmp_path / f"{cell.key}.json", result.to_json())
    assert rekey(tmp_path) == []  # only when asked: a cell recorded after decision 0036 needs no pin
    [(old, new)] = rekey(tmp_path, pins=("ranges",))
    assert old == f"{cell.key}.json" and "-recollection:ranges=false-" in new
    assert replace(cell, store="recollection:ranges=false").key + ".json" == new
    assert json.loads((tmp_path / new).read_text())["accuracy"] == result.accuracy


def test_pin_activation_keys_every_recollection_cell_as_it_ran(tmp_path, capsys):
    assert pinned("recollection", "mnist", ("activation",)) == "recollection:activation=relu"
    assert pinned("recollection:entropy=true", "colour", ("activation",)) == "recollection:entropy=true,activation=relu"
    assert pinned("recollection:activation=elu", "mnist", ("activation",)) is None  # it names what it ran
    assert pinned("recollection:code_side=2", "colour", ("ranges", "activation")) == (
        "recollection:code_side=2,ranges=false,activation=relu")
    assert pinned("jpeg:quality=auto", "mnist", ("activation",)) is None
    assert pinned("recollection:activation=relu", "colour-mnist", ("warmup",)) == (
        "recollection:activation=relu,warmup_steps=0")  # decision 0038: colour cells before it had no warm-up
    assert pinned("recollection", "mnist", ("warmup",)) is None  # one channel: still none by default
    assert pinned("recollection:warmup_steps=5000", "colour", ("warmup",)) is None
    with pytest.raises(KeyError):
        pinned("recollection", "mnist", ("colour",))
    cell = next(c for c in CONFIGS["frontier-split-mnist"].cells() if c.store == "recollection" and c.seed == 0)
    result = CellResult(cell.config(), AccuracyMatrix.from_rows([[0.5]], [10]), 0.5, 3, 30, 40, 1.0)
    write_json(tmp_path / f"{cell.key}.json", result.to_json())
    main([str(tmp_path), "--pin", "activation", "--pin-ranges"])
    assert "1 cell(s) re-keyed" in capsys.readouterr().out
    [new] = [p.name for p in tmp_path.glob("*.json")]
    assert replace(cell, store="recollection:activation=relu").key + ".json" == new


def test_pin_coder_keys_entropy_coded_cells_as_range_coded() -> None:
    # decision 0039 made prefix coding the entropy-coded store's default
    assert pinned("recollection:entropy=true", "mnist", ("coder",)) == "recollection:entropy=true,coder=range"
    assert pinned("recollection:entropy=true,coder=prefix", "mnist", ("coder",)) is None  # it names what it ran
    assert pinned("recollection", "mnist", ("coder",)) is None  # fixed width: no coder
    assert pinned("recollection:entropy=false", "mnist", ("coder",)) is None


def test_main_checks_every_folder_before_it_changes_any(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
    good = _recorded_cell(first, "er-gmed-split", "raw")
    bad = _recorded_cell(second, "er-gmed-rotated", "raw", seed=1)
    bad.rename(second / bad.name.replace("-s1-", "-s2-"))
    for dirs in ([str(first), str(second)], [str(first), str(tmp_path / "missing")]):
        with pytest.raises(SystemExit) as refused:
            main(dirs)
        assert refused.value.code == 2
    assert good.exists() and "not the key of its config" in capsys.readouterr().err
