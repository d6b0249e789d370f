"""The command line: ``metakan demo`` trains all three models on both tasks and prints their table; every
command refuses out-of-range option values with a message and exit status 2."""

import re
import subprocess
import sys

import pytest
import torch

import metakan
from metakan.cli import main
from metakan.tasks.training import batches_per_epoch, shuffled_batches


def test_demo_prints_a_row_per_task_and_model(capsys):
    assert main(["demo", "--epochs", "1", "--hidden", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "scikit-learn digits" in lines[2] and "Feynman I.6.20" in lines[1]
    assert lines[3].split()[:4] == ["task", "model", "params", "backend"]
    rows = {tuple(line.split()[:2]): line.split() for line in lines[4:]}
    assert set(rows) == {(task, model) for task in ("symbolic", "digits") for model in ("mlp", "kan", "metakan")}
    meta_learners = 2 * (16 + 16 + 9 * 16 + 9)  # one per layer: W1, b1, W2, b2 with d=1, H=16, K+1=9
    assert rows[("digits", "metakan")][2] == str(64 * 8 + 8 * 10 + meta_learners)
    assert rows[("symbolic", "kan")][2] == str((2 * 8 + 8 * 1) * (8 + 2))
    assert rows[("digits", "kan")][3] in metakan.available_backends()
    peak_kib = {key: int(row[4]) for key, row in rows.items()}  # "<n> KiB"
    assert peak_kib[("digits", "metakan")] < peak_kib[("digits", "kan")]


def test_module_entry_point_shows_help():
    done = subprocess.run([sys.executable, "-m", "metakan", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in done.stdout


def test_demo_refuses_bad_options_with_a_message(capsys):
    assert main(["demo", "--equation", "no_such(", "--epochs", "1"]) == 2
    assert "metakan demo: error: equation must be a Feynman name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train", "image"], ["train", "symbolic"], ["train", "pde"], ["sweep"]])
@pytest.mark.parametrize("option, value, message", [
    ("--batch-size", "-5", "expected an integer >= 0, got '-5'"),
    ("--epochs", "0", "expected an integer >= 1"),
    ("--grid-size", "-1", "expected an integer >= 1"),
    ("--spline-order", "-1", "expected an integer >= 0"),
    ("--embedding-dim", "0", "expected an integer >= 1"),
    ("--hidden-dim", "x", "expected an integer >= 1, got 'x'"),
    ("--share", "-2", "expected 'layer', 'all' or a positive integer"),
    ("--lr", "-0.1", "expected a finite number > 0"),
    ("--lr", "nan", "expected a finite number > 0"),
    ("--lr-embed", "0", "expected a finite number > 0"),
    ("--lr-meta", "inf", "expected a finite number > 0"),
    ("--weight-decay", "-0.1", "expected a finite number >= 0"),
    ("--weight-decay-embed", "nan", "expected a finite number >= 0"),
    ("--weight-decay-meta", "x", "expected a finite number >= 0"),
    ("--checkpoint-every", "-1", "expected an integer >= 0"),
    ("--seed", "-1", r"expected an integer in \[0, 4294967295\]"),
    ("--seed", str(2**32), r"expected an integer in \[0, 4294967295\]"),
    ("--ddp", "0", "expected an integer >= 1"),
    ("--hidden", "4,-1", "expected positive integers separated by commas"),
])
def test_every_task_refuses_out_of_range_common_options(capsys, command, option, value, message):
    assert_refused(capsys, [*command, option, value], option, message)


@pytest.mark.parametrize("args, option, message", [
    (["train", "image", "--test-fraction", "1.5"], "--test-fraction", "expected a number between 0 and 1"),
    (["train", "image", "--test-fraction", "0"], "--test-fraction", "expected a number between 0 and 1"),
    (["train", "image", "--channels", "0"], "--channels", "expected positive integers"),
    (["train", "symbolic", "--n-train", "-3"], "--n-train", "expected an integer >= 1"),
    (["train", "symbolic", "--n-test", "0"], "--n-test", "expected an integer >= 1"),
    (["train", "pde", "--dim", "0"], "--dim", "expected an integer >= 1"),
    (["train", "pde", "--collocation", "-1"], "--collocation", "expected an integer >= 1"),
    (["train", "pde", "--laplacian-dims", "-1"], "--laplacian-dims", "expected an integer >= 0"),
    (["train", "pde", "--n-test", "0"], "--n-test", "expected an integer >= 1"),
    (["plot", "m.pt", "--max-inputs", "0"], "--max-inputs", "expected an integer >= 1"),
    (["plot", "m.pt", "--max-outputs", "-1"], "--max-outputs", "expected an integer >= 1"),
    (["plot", "m.pt", "--points", "1"], "--points", "expected an integer >= 2"),
    (["demo", "--seed", "-1"], "--seed", "expected an integer in"),
    (["demo", "--batch-size", "-5"], "--batch-size", "expected an integer >= 1"),
    (["bench", "--threads", "0"], "--threads", "must be >= 1"),
])
def test_task_options_refuse_out_of_range_values(capsys, args, option, message):
    assert_refused(capsys, args, option, message)


def assert_refused(capsys, args, option, message):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err
    assert re.search(message, err), err


def test_pde_refuses_more_laplacian_dims_than_dimensions(capsys):
    assert main(["train", "pde", "--dim", "2", "--laplacian-dims", "3", "--epochs", "1", "--no-progress"]) == 2
    assert "--laplacian-dims must be in [0, --dim=2], got 3" in capsys.readouterr().err


def test_batching_refuses_a_negative_batch_size():
    data = (torch.arange(10),)
    assert batches_per_epoch(10, 0) == 1 and batches_per_epoch(10, 3) == 4
    assert [len(b[0]) for b in shuffled_batches(data, 4, seed=0, epoch=0)] == [4, 4, 2]
    with pytest.raises(ValueError, match="batch size must be >= 0"):
        batches_per_epoch(10, -5)
    with pytest.raises(ValueError, match="batch size must be >= 0"):
        next(iter(shuffled_batches(data, -5, seed=0, epoch=0)))
