import json
import math

import pytest

from benchmarks.paired import accuracies_by_seed, main, markdown_rows, paired_difference


def _write_cells(folder, learner, accuracies):
    folder.mkdir(exist_ok=True)
    for seed, acc in enumerate(accuracies):
        cell = {"config": {"learner": learner, "seed": seed}, "accuracy": acc}
        (folder / f"{learner}-s{seed}.json").write_text(json.dumps(cell))


def test_reads_cells_by_learner_and_seed(tmp_path):
    _write_cells(tmp_path, "er", [0.5, 0.6])
    assert accuracies_by_seed(tmp_path) == {"er": {0: 50.0, 1: 60.0}}


def test_refuses_two_cells_for_one_learner_and_seed(tmp_path):
    _write_cells(tmp_path, "er", [0.5])
    (tmp_path / "er-jpeg-s0.json").write_text(json.dumps({"config": {"learner": "er", "seed": 0}, "accuracy": 0.4}))
    with pytest.raises(ValueError, match="two cells for learner 'er', seed 0"):
        accuracies_by_seed(tmp_path)


def test_consistent_gain_is_significant_one_sided_and_not_reversed():
    base = [70.0, 72.0, 75.0, 71.0, 78.0, 74.0, 73.0, 76.0]
    table = {"a": {s: v + 1.0 + 0.1 * s for s, v in enumerate(base)}, "b": dict(enumerate(base))}
    gain = paired_difference(table, "a", "b")
    assert gain.seeds == 8 and gain.wins == 8
    assert gain.mean == pytest.approx(1.35)
    assert gain.t_one_sided < 1e-6 and gain.wilcoxon_one_sided < 0.01
    assert gain.t_two_sided == pytest.approx(2 * gain.t_one_sided)
    loss = paired_difference(table, "b", "a")
    assert loss.wins == 0 and loss.t_one_sided > 0.99


def test_pairs_only_common_seeds_and_skips_wilcoxon_when_few():
    table = {"a": {0: 80.0, 1: 81.0, 2: 79.0, 7: 10.0}, "b": {0: 78.0, 1: 80.0, 2: 79.5}}
    d = paired_difference(table, "a", "b")
    assert d.seeds == 3 and d.wins == 2 and d.wilcoxon_one_sided is None
    assert "| x | a − b | 3 |" in markdown_rows("x", [d])


def test_a_constant_difference_has_no_test():
    table = {"a": {0: 80.1, 1: 70.1, 2: 75.1}, "b": {0: 80.0, 1: 70.0, 2: 75.0}}  # +0.1 up to float rounding
    d = paired_difference(table, "a", "b")
    assert d.std == 0 and d.mean == pytest.approx(0.1) and d.wins == 3
    assert math.isnan(d.t_two_sided) and math.isnan(d.t_one_sided) and d.wilcoxon_one_sided is None
    assert "| 3/3 | — | — | — |" in markdown_rows("x", [d])
    assert paired_difference({"a": {0: 1.0, 1: 2.0}, "b": {0: 1.0, 1: 2.0}}, "a", "b").wins == 0


def test_refuses_unknown_learner_and_single_seed():
    with pytest.raises(KeyError, match="missing|no cells"):
        paired_difference({"a": {0: 1.0}}, "a", "b")
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference({"a": {0: 1.0}, "b": {0: 2.0}}, "a", "b")


def test_cli_prints_a_row(tmp_path, capsys):
    _write_cells(tmp_path / "cells", "a", [0.8, 0.82, 0.81])
    _write_cells(tmp_path / "cells", "b", [0.78, 0.80, 0.80])
    main([str(tmp_path), "--pair", "a:b", "--label", "split"])
    assert "| split | a − b | 3 | +1.67 ± 0.58 | 3/3 |" in capsys.readouterr().out


def _write_store_cells(folder, learner, store, accuracies):
    folder.mkdir(exist_ok=True)
    for seed, acc in enumerate(accuracies):
        cell = {"config": {"learner": learner, "store": store, "seed": seed}, "accuracy": acc}
        (folder / f"{learner}-{store}-s{seed}.json").write_text(json.dumps(cell))


def test_one_learner_on_two_stores_pairs_by_learner_at_store(tmp_path):
    _write_store_cells(tmp_path, "er", "raw", [0.5, 0.6, 0.55])
    _write_store_cells(tmp_path, "er", "recollection:latents=104,classes=4", [0.52, 0.63, 0.56])
    _write_store_cells(tmp_path, "gem", "raw", [0.4, 0.52, 0.43])
    table = accuracies_by_seed(tmp_path)
    assert set(table) == {"er@raw", "er@recollection:latents=104,classes=4", "gem@raw"}
    d = paired_difference(table, "er@recollection:latents=104,classes=4", "er@raw")
    assert d.seeds == 3 and d.wins == 3 and d.mean == pytest.approx(2.0)
    assert paired_difference(table, "gem", "er@raw").mean == pytest.approx(-10.0)  # one store: the learner suffices
    with pytest.raises(KeyError, match="several stores"):
        paired_difference(table, "er", "gem")


def test_pairs_store_specs_with_colons_and_compares_the_class_mean_metric(tmp_path, capsys):
    cells = tmp_path / "cells"
    cells.mkdir()
    stores = {"exemplars:selection=herding": [0.80, 0.82, 0.81], "mnemonics:variant=code": [0.81, 0.84, 0.82]}
    for store, accuracies in stores.items():
        for seed, acc in enumerate(accuracies):
            cell = {"config": {"learner": "phases", "store": store, "seed": seed}, "accuracy": acc,
                    "class_mean_accuracy": acc - 0.1}
            (cells / f"{store}-s{seed}.json").write_text(json.dumps(cell))
    main([str(tmp_path), "--pair", "phases@mnemonics:variant=code:phases@exemplars:selection=herding",
          "--metric", "class_mean_accuracy"])
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert "phases@mnemonics:variant=code − phases@exemplars:selection=herding | 3 | +1.33" in row
    assert accuracies_by_seed(cells, "class_mean_accuracy")["phases@mnemonics:variant=code"][0] == pytest.approx(71.0)
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--pair", "phases@mnemonics:phases@exemplars"])


def test_refuses_a_metric_a_cell_does_not_record(tmp_path):
    _write_cells(tmp_path, "er", [0.5])
    with pytest.raises(ValueError, match="class_mean_accuracy"):
        accuracies_by_seed(tmp_path, "class_mean_accuracy")


def test_a_folder_without_cells_is_a_usage_error(tmp_path, capsys):
    import pytest

    from benchmarks.paired import main

    for folder in (tmp_path / "missing", tmp_path):
        with pytest.raises(SystemExit) as refused:
            main([str(folder), "--pair", "er@jpeg:er@raw"])
        assert refused.value.code == 2 and "no cells in" in capsys.readouterr().err
