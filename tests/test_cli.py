"""The command line: ``metakan demo`` trains all three models and prints their table."""

import subprocess
import sys

from metakan.cli import main


def test_demo_prints_a_row_per_model(capsys):
    assert main(["demo", "--epochs", "1", "--hidden", "8"]) == 0
    out = capsys.readouterr().out
    assert "scikit-learn digits" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"mlp", "kan", "metakan"}
    assert rows["metakan"][1] == str(64 * 8 + 8 * 10 + 2 * (16 + 16 + 9 * 16 + 9))


def test_module_entry_point_shows_help():
    done = subprocess.run([sys.executable, "-m", "metakan", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in done.stdout
