"""Image classification from the command line: digits (fc and conv4), CIFAR-10 batches, KMNIST when present;
the optimiser groups behind --lr-embed / --lr-meta."""

import argparse
import json
import sys

import pytest
import torch

from metakan.cli import main
from metakan.tasks.models import ModelSpec
from metakan.tasks.training import make_optimizer

from helpers import SHARED_DATA, write_cifar_batch

KMNIST = SHARED_DATA / "kmnist"


def run_image(tmp_path, *options):
    out = tmp_path / "image.json"
    assert main(["train", "image", "--epochs", "1", "--no-progress", "--output", str(out), *options]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("model", ["mlp", "kan", "metakan"])
def test_digits_fully_connected(tmp_path, capsys, model):
    result = run_image(tmp_path, "--model", model, "--hidden", "8", "--batch-size", "128")
    assert result["spec"]["widths"] == [64, 8, 10]
    assert 0.0 <= result["metrics"]["test_accuracy"] <= 1.0
    assert result["memory"]["parameter_state_bytes"] >= 4 * 4 * result["params"]  # params, grads, two Adam moments
    table = capsys.readouterr().out
    assert "test accuracy" in table and "1438 train / 359 test images" in table


def test_digits_conv4_metakan_shares_one_meta_learner(tmp_path):
    result = run_image(tmp_path, "--model", "metakan", "--arch", "conv4", "--channels", "2,3,3,4", "--share", "all",
                       "--hidden-dim", "4", "--batch-size", "256")
    edges = 1 * 2 * 9 + 2 * 3 * 9 + 3 * 3 * 9 + 3 * 4 * 9 + 4 * 10
    assert result["params"] == edges + (4 + 4 + 9 * 4 + 9) + 2 * (2 + 3 + 3 + 4) + 4
    assert result["backend"] != "-"


def test_cifar10_from_a_local_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_cifar_batch(folder / "data_batch_1", 30, 0)
    write_cifar_batch(folder / "test_batch", 10, 1)
    result = run_image(tmp_path, "--dataset", "cifar10", "--data-root", str(tmp_path), "--model", "kan",
                       "--hidden", "4", "--batch-size", "16")
    assert result["spec"]["widths"][0] == 3 * 32 * 32
    assert "30 train / 10 test images" in result["data"]


def test_missing_data_root_is_a_clear_error(capsys):
    assert main(["train", "image", "--dataset", "mnist", "--epochs", "1"]) == 2
    assert "needs a data root" in capsys.readouterr().err


@pytest.mark.skipif(not KMNIST.is_dir(), reason=f"KMNIST test split not present at {KMNIST}")
def test_kmnist_one_epoch(tmp_path):
    result = run_image(tmp_path, "--dataset", "kmnist", "--data-root", str(KMNIST), "--model", "kan",
                       "--hidden", "4", "--batch-size", "200", "--lr", "0.01")
    assert result["params"] == (784 * 4 + 4 * 10) * 10
    assert "divided 8000/2000, stratified, seed 0" in result["data"]
    assert result["metrics"]["test_accuracy"] > 0.15  # above chance after one epoch


def test_learning_rates_go_to_the_parameter_groups():
    model = ModelSpec("metakan", [4, 3, 2], arch="fc").build()
    args = argparse.Namespace(optimizer="adam", lr=0.5, lr_embed=0.1, lr_meta=0.01)
    groups = {g["name"]: g["lr"] for g in make_optimizer(model, args).param_groups}
    assert groups == {"embedding": 0.1, "meta_learner": 0.01}
    conv = ModelSpec("metakan", [2, 2, 2, 2], arch="conv4").build()
    groups = {g["name"]: g["lr"] for g in make_optimizer(conv, args).param_groups}
    assert groups == {"embedding": 0.1, "meta_learner": 0.01, "other": 0.5}  # norms and PReLUs: --lr
    args.lr_embed = args.lr_meta = None
    assert {g["lr"] for g in make_optimizer(model, args).param_groups} == {0.5}
    assert isinstance(make_optimizer(model, argparse.Namespace(optimizer="lbfgs", lr=1.0, lr_embed=None,
                                                               lr_meta=None)), torch.optim.LBFGS)


def test_download_is_explicit_and_needs_torchvision(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if torchvision were not installed
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    assert main(["train", "image", "--dataset", "kmnist", "--data-root", str(tmp_path / "new"), "--download"]) == 2
    assert "downloading kmnist needs torchvision" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--share", "0"], ["--share", "some"], ["--hidden", "3,x"], ["--ddp", "0"],
                                    ["--model", "cnn"]])
def test_bad_options_are_refused_by_name(option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "image", *option])
    assert exit_info.value.code == 2
    assert f"argument {option[0]}" in capsys.readouterr().err
