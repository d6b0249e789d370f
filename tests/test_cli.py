"""The command line: ``metakan demo`` trains all three models on both tasks and prints their table."""

import subprocess
import sys

import pytest

import metakan
from metakan.cli import main


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
