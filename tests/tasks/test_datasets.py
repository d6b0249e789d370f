"""Data sets: the IDX and CIFAR-10 readers on generated files, the stratified split, KMNIST when present."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from metakan.datasets import cifar10_splits, digits, idx_splits, load_images, read_idx, stratified_split

from helpers import SHARED_DATA, write_cifar_batch

KMNIST = SHARED_DATA / "kmnist"
# numpy big-endian dtype and IDX type code
IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def write_idx(path, array, gz=False):
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist_split(folder, prefix, images, labels, gz):
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.asarray(labels, dtype=np.uint8), gz)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_gives_back_what_was_written(tmp_path, gz, dtype):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 5, 2)) * 100).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", array, gz))
    assert tuple(got.shape) == array.shape
    np.testing.assert_array_equal(got.numpy(), array)


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = write_idx(tmp_path / "short", np.arange(10, dtype=np.uint8))
    short.write_bytes(short.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"shape \(10,\) needs 18 bytes, the file has 15"):
        read_idx(short)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_mnist_format_directory_with_both_splits(tmp_path, gz):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    write_mnist_split(tmp_path, "train", train, np.arange(12) % 3, gz)
    write_mnist_split(tmp_path, "t10k", rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.arange(6) % 3, gz)
    data = load_images("fashion-mnist", tmp_path)
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_test.shape == (6, 1, 28, 28)
    assert data.num_classes == 3 and "train and test files" in data.description
    expected = torch.tensor(train, dtype=torch.float32).unsqueeze(1) / 127.5 - 1
    torch.testing.assert_close(data.x_train, expected)
    assert data.x_train.min() >= -1 and data.x_train.max() <= 1


def test_one_split_is_divided_stratified_and_torchvision_layout_is_found(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    labels = np.repeat(np.arange(4), 10)
    write_mnist_split(raw, "t10k", np.zeros((40, 4, 4), dtype=np.uint8), labels, gz=True)
    data = load_images("kmnist", tmp_path, test_fraction=0.2, seed=3)
    assert len(data.y_train) == 32 and len(data.y_test) == 8
    assert torch.bincount(data.y_test).tolist() == [2, 2, 2, 2]
    assert "divided 32/8, stratified, seed 3" in data.description


def test_idx_loader_errors_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MNIST-format IDX files"):
        idx_splits(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        idx_splits(tmp_path / "absent")
    with pytest.raises(ValueError, match="needs a data root"):
        load_images("mnist")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_images("imagenet")


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    first = write_cifar_batch(folder / "data_batch_1", 5, 0)
    write_cifar_batch(folder / "data_batch_2", 4, 1)
    test = write_cifar_batch(folder / "test_batch", 3, 2)
    splits = cifar10_splits(tmp_path)
    x, y = splits["train"]
    assert x.shape == (9, 3, 32, 32) and y.shape == (9,)
    expected = torch.tensor(first[b"data"], dtype=torch.float32).reshape(5, 3, 32, 32) / 127.5 - 1
    torch.testing.assert_close(x[:5], expected)
    assert splits["test"][1].tolist() == [int(v) for v in test[b"labels"]]
    assert load_images("cifar10", tmp_path).x_test.shape == (3, 3, 32, 32)


def test_cifar10_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 python batches"):
        cifar10_splits(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"expected data \(N, 3072\)"):
        cifar10_splits(tmp_path)


def test_stratified_split_and_digits():
    labels = torch.tensor([0] * 10 + [1] * 5 + [2] * 20)
    train, test = stratified_split(labels, 0.2, seed=0)
    assert torch.bincount(labels[test]).tolist() == [2, 1, 4]
    assert sorted(torch.cat([train, test]).tolist()) == list(range(35))
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(labels, 1.0, 0)
    x_train, y_train, x_test, y_test = digits()
    assert x_train.shape == (1438, 64) and len(y_test) == 359


@pytest.mark.skipif(not KMNIST.is_dir(), reason=f"KMNIST test split not present at {KMNIST}")
def test_kmnist_from_shared_data():
    data = load_images("kmnist", KMNIST, test_fraction=0.2, seed=0)
    assert data.x_train.shape == (8000, 1, 28, 28) and data.x_test.shape == (2000, 1, 28, 28)
    assert torch.bincount(data.y_train).tolist() == [800] * 10
    assert data.x_train.min() == -1 and data.x_train.max() == 1
