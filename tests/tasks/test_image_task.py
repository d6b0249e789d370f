"""Image classification from the command line: digits (fc and conv4), CIFAR-10 batches, KMNIST when present;
the optimiser groups behind --lr-embed / --lr-meta and --weight-decay-*; the paper's recipe (--recipe paper)."""

import argparse
import json
import sys

import pytest
import torch

from metakan.cli import main
from metakan.tasks import image
from metakan.tasks.models import ModelSpec, count_parameters
from metakan.tasks.options import model_spec
from metakan.tasks.recipes import apply_recipe
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
    args = argparse.Namespace(optimizer="adam", lr=0.5, lr_embed=0.1, lr_meta=0.01, weight_decay=0.0,
                              weight_decay_embed=None, weight_decay_meta=None)
    groups = {g["name"]: g["lr"] for g in make_optimizer(model, args).param_groups}
    assert groups == {"embedding": 0.1, "meta_learner": 0.01}
    conv = ModelSpec("metakan", [2, 2, 2, 2], arch="conv4").build()
    groups = {g["name"]: g["lr"] for g in make_optimizer(conv, args).param_groups}
    assert groups == {"embedding": 0.1, "meta_learner": 0.01, "other": 0.5}  # norms and PReLUs: --lr
    args.lr_embed = args.lr_meta = None
    assert {g["lr"] for g in make_optimizer(model, args).param_groups} == {0.5}
    lbfgs = argparse.Namespace(optimizer="lbfgs", lr=1.0, lr_embed=None, lr_meta=None, weight_decay=0.0,
                               weight_decay_embed=None, weight_decay_meta=None)
    assert isinstance(make_optimizer(model, lbfgs), torch.optim.LBFGS)
    lbfgs.weight_decay_meta = 1e-4
    with pytest.raises(ValueError, match="lbfgs has no weight decay"):
        make_optimizer(model, lbfgs)


def test_weight_decay_goes_to_the_parameter_groups():
    conv = ModelSpec("metakan", [2, 2, 2, 2], arch="conv4").build()
    args = argparse.Namespace(optimizer="adamw", lr=0.5, lr_embed=None, lr_meta=None, weight_decay=0.1,
                              weight_decay_embed=0.2, weight_decay_meta=None)
    optimizer = make_optimizer(conv, args)
    assert type(optimizer) is torch.optim.AdamW
    assert {g["name"]: g["weight_decay"] for g in optimizer.param_groups} == {
        "embedding": 0.2, "meta_learner": 0.1, "other": 0.1}
    args.optimizer = "adam"
    assert type(make_optimizer(conv, args)) is torch.optim.Adam


def parse_image(*argv):
    parser = argparse.ArgumentParser()
    image.add_arguments(parser)
    args = parser.parse_args(list(argv))
    apply_recipe(args, image.RECIPES)
    return args


def test_the_paper_recipe_is_the_paper_codes_kmnist_setting():
    args = parse_image("--recipe", "paper")
    expected = dict(model="metakan", arch="fc", hidden=[32], grid_size=5, spline_order=3, embedding_dim=1,
                    hidden_dim=16, share="layer", meta_activation="identity", init="paper", optimizer="adamw",
                    lr_meta=1e-3, weight_decay_meta=1e-4, lr_embed=1e-2, weight_decay_embed=5e-4,
                    schedule="cosine", batch_size=1024, epochs=10)
    assert {name: getattr(args, name) for name in expected} == expected
    spec = model_spec(args, [784, *args.hidden, 10])
    model = spec.build()
    assert count_parameters(model) == 25_778  # the paper code's KMNIST MetaKAN (results.csv)
    for layer in model.layers:
        assert layer.init == "paper" and layer.meta_learner.activation == "identity"
    optimizer = make_optimizer(model, args)
    assert type(optimizer) is torch.optim.AdamW
    assert {g["name"]: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups} == {
        "embedding": (1e-2, 5e-4), "meta_learner": (1e-3, 1e-4)}


def test_options_on_the_command_line_override_the_recipe():
    args = parse_image("--batch-size", "256", "--recipe", "paper", "--meta-activation", "relu", "--lr-meta", "0.002",
                       "--hidden", "8", "--epochs", "3")
    assert (args.batch_size, args.meta_activation, args.lr_meta, args.hidden, args.epochs) == (256, "relu", 0.002,
                                                                                                [8], 3)
    assert (args.optimizer, args.init, args.hidden_dim, args.weight_decay_embed) == ("adamw", "paper", 16, 5e-4)
    plain = parse_image()  # no recipe: the task's own defaults, as plain values
    assert (plain.optimizer, plain.init, plain.hidden_dim, plain.batch_size, plain.meta_activation) == (
        "adam", "default", 16, 64, "relu")
    assert plain.weight_decay_embed is None and plain.lr_embed is None and plain.lr_meta is None  # one rate: --lr


def test_a_recipe_run_records_the_options_it_ran_with(tmp_path):
    result = run_image(tmp_path, "--recipe", "paper", "--hidden", "4")
    settings = result["settings"]
    assert (settings["recipe"], settings["optimizer"], settings["batch_size"], settings["epochs"]) == (
        "paper", "adamw", 1024, 1)
    assert (result["spec"]["meta_activation"], result["spec"]["init"], result["spec"]["hidden_dim"]) == (
        "identity", "paper", 16)


def test_download_is_explicit_and_needs_torchvision(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if torchvision were not installed
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    assert main(["train", "image", "--dataset", "kmnist", "--data-root", str(tmp_path / "new"), "--download"]) == 2
    assert "downloading kmnist needs torchvision" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--share", "0"], ["--share", "some"], ["--hidden", "3,x"], ["--ddp", "0"],
                                    ["--model", "cnn"], ["--init", "xavier"], ["--meta-activation", "sin"],
                                    ["--recipe", "fast"], ["--optimizer", "sgd"], ["--checkpoint-every", "-1"]])
def test_bad_options_are_refused_by_name(option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "image", *option])
    assert exit_info.value.code == 2
    assert f"argument {option[0]}" in capsys.readouterr().err
