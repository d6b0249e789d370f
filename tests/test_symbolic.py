"""Symbolic regression: the Feynman registry, expressions, sampling, and the train / sweep commands."""

import json
import math

import numpy as np
import pytest

from metakan.cli import main
from metakan.tasks.feynman import FEYNMAN, equation, parse_ranges
from metakan.tasks.symbolic import SWEEP_EQUATIONS, sample

TINY = ["--hidden", "2", "--n-train", "64", "--n-test", "32", "--epochs", "2", "--no-progress"]


def test_registry_has_the_standard_equations_finite_on_their_ranges():
    assert len(FEYNMAN) >= 20
    assert set(SWEEP_EQUATIONS) <= set(FEYNMAN)
    rng = np.random.default_rng(0)
    for eq in FEYNMAN.values():
        lo, hi = np.array(eq.ranges).T
        y = eq.function()(lo + (hi - lo) * rng.random((200, eq.num_vars)))
        assert y.shape == (200,) and np.isfinite(y).all(), eq.name


@pytest.mark.parametrize("name, point, value", [
    ("I.6.20a", [0.0], 1 / math.sqrt(2 * math.pi)),
    ("I.8.4", [0.0, 3.0, 0.0, 4.0], 5.0),
    ("I.9.18", [1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0], 3.0),
    ("I.12.5", [0.5, -0.4], -0.2),
    ("I.15.3x", [1.0, 0.6, 0.5, 1.0], (1.0 - 0.3) / 0.8),
])
def test_equations_evaluate_to_their_formula(name, point, value):
    assert FEYNMAN[name].function()(np.array([point]))[0] == pytest.approx(value)


def test_expressions_variables_and_ranges():
    eq = equation("x*sin(y)", ranges="y=0:3")
    assert eq.names == ("x", "y") and eq.ranges == ((-1.0, 1.0), (0.0, 3.0))
    assert equation("x*y", variables="y,x").names == ("y", "x")
    assert equation("I.8.4", ranges="x1=0:1").ranges[:2] == ((0.0, 1.0), (-1, 1))
    assert equation("E*x").function()(np.array([[2.0]]))[0] == pytest.approx(2 * math.e)
    assert parse_ranges("0:2", ["a", "b"]) == {"a": (0.0, 2.0), "b": (0.0, 2.0)}
    with pytest.raises(ValueError, match="not in --variables"):
        equation("x*y", variables="x")
    with pytest.raises(ValueError, match="Feynman name"):
        equation("x+")
    with pytest.raises(ValueError, match="no variables"):
        equation("2*pi")
    with pytest.raises(ValueError, match="'z' is not a variable"):
        equation("x", ranges="z=0:1")
    with pytest.raises(ValueError, match="lo < hi"):
        equation("x", ranges="1:0")


def test_sample_scales_inputs_to_the_grid_and_standardises_targets():
    data = sample(FEYNMAN["I.12.4"], 500, 100, seed=0)
    assert data.x_train.shape == (500, 3) and data.y_test.shape == (100,)
    assert data.x_train.min() >= -1 and data.x_train.max() <= 1
    assert abs(float(data.y_train.mean())) < 1e-5 and float(data.y_train.std()) == pytest.approx(1, rel=1e-2)
    with pytest.raises(ValueError, match="not finite at"):
        sample(equation("sqrt(x)", ranges="-1:1"), 100, 10, seed=0)


@pytest.mark.parametrize("model, extra", [
    ("kan", []),
    ("metakan", ["--optimizer", "adam", "--lr-embed", "0.02", "--lr-meta", "0.005", "--share", "1"]),
    ("mlp", ["--equation", "x*sin(y)", "--ranges", "y=0:3"]),
])
def test_train_symbolic_writes_json_and_prints_a_table(tmp_path, capsys, model, extra):
    out = tmp_path / "r.json"
    assert main(["train", "symbolic", "--model", model, "--output", str(out), *TINY, *extra]) == 0
    result = json.loads(out.read_text())
    assert result["task"] == "symbolic" and result["model"] == model
    assert math.isfinite(result["metrics"]["test_rmse"]) and len(result["train_loss"]) == 2
    assert result["memory"]["saved_for_backward_bytes"] > 0
    table = capsys.readouterr().out
    assert f"| {model} " in table and "test rmse" in table


def test_lbfgs_refuses_two_learning_rates(capsys):
    assert main(["train", "symbolic", "--lr-embed", "0.1", *TINY]) == 2
    assert "lbfgs takes a single learning rate" in capsys.readouterr().err


def test_sweep_prints_kan_and_metakan_side_by_side(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--equations", "I.6.20a,I.12.5", "--output", str(out), *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "kan params" in lines[0] and "metakan test RMSE" in lines[0]
    assert lines[2].startswith("| I.6.20a") and lines[3].startswith("| I.12.5")
    assert [(r["model"], r["data"].split(":")[0]) for r in json.loads(out.read_text())] == [
        ("kan", "I.6.20a"), ("metakan", "I.6.20a"), ("kan", "I.12.5"), ("metakan", "I.12.5")]
    assert main(["sweep", "--equations", "I.99", *TINY]) == 2


@pytest.mark.parametrize("option", [["--checkpoint-every", "1"], ["--resume", "run.ckpt"]])
def test_sweep_refuses_checkpoints(capsys, option):
    assert main(["sweep", "--equations", "I.6.20a", *option, *TINY]) == 2
    assert "sweep does not checkpoint" in capsys.readouterr().err
