"""Symbolic regression: the Feynman registry, expressions, sampling, and the train / sweep commands."""

import json
import math

import numpy as np
import pytest

from metakan.cli import main
from metakan.tasks.expression import FUNCTIONS, numpy_function, parse
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
    assert main(["sweep", "--equations", "I.6.20a", "--ranges", "z=0:1", *TINY]) == 2
    assert main(["sweep", "--equations", "I.6.20a", "--spline-order", "9", *TINY]) == 2
    err = capsys.readouterr().err
    assert "metakan sweep: error: ranges: 'z' is not a variable" in err and "spline_order must be" in err


def test_registered_equations_parse_as_sympy_parsed_them():
    # the parser the registry used before (sympy's parse_expr, which evaluates its input): applied here
    # to the registry's own fixed strings only, as the reference the allow-list parser must reproduce
    import sympy
    from sympy.parsing.sympy_parser import parse_expr

    assert len(FEYNMAN) == 35
    for eq in FEYNMAN.values():
        expected = parse_expr(eq.expression, local_dict={name: sympy.Symbol(name) for name in eq.names})
        assert eq.sympy() == expected, eq.name


def test_expressions_parse_to_the_written_sympy_expressions():
    import sympy

    theta, sigma, n, x, y = sympy.symbols("theta sigma n x y")
    assert FEYNMAN["I.6.20"].sympy() == sympy.exp(-theta**2 / (2 * sigma**2)) / sympy.sqrt(2 * sympy.pi * sigma**2)
    assert FEYNMAN["I.26.2"].sympy() == sympy.asin(n * sympy.sin(sympy.Symbol("theta2")))
    assert parse("-x**2 + +y/3 - 0.5") == -x**2 + y / 3 - sympy.Float(0.5)
    assert parse("abs(x)*E**y + log(cosh(x)) - atanh(y/2)") == (
        sympy.Abs(x) * sympy.exp(y) + sympy.log(sympy.cosh(x)) - sympy.atanh(y / 2))
    assert parse("I*x").free_symbols == {sympy.Symbol("I"), x}  # a variable here, not the imaginary unit


def test_numpy_evaluation_matches_the_math_module():
    expr = parse("sqrt(x**2 + y**2) * exp(-x) / (1 + abs(y)) + asin(x/2) - tanh(y)**3 + pi")
    f = numpy_function(expr, ["x", "y"])
    points = [(0.3, -1.2), (-0.7, 0.4), (1.5, 2.0)]
    values = f(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    for (a, b), value in zip(points, values):
        expected = math.hypot(a, b) * math.exp(-a) / (1 + abs(b)) + math.asin(a / 2) - math.tanh(b) ** 3 + math.pi
        assert value == pytest.approx(expected, rel=1e-14)
    assert numpy_function(parse("abs(exp(x)) + abs(x)/x"), ["x"])(np.array([-0.5]))[0] == pytest.approx(
        math.exp(-0.5) - 1, rel=1e-15)  # sympy writes the first term exp(re(x))
    assert numpy_function(parse("10**400 * x"), ["x"])(np.array([1.0]))[0] == math.inf  # sample() refuses it
    for name in FUNCTIONS:
        point = 1.5 if name == "acosh" else -0.5 if name == "abs" else 0.5  # inside each one's domain
        reference = math.fabs if name == "abs" else getattr(math, name)
        value = numpy_function(parse(f"{name}(x)"), ["x"])(np.array([point]))[0]
        assert value == pytest.approx(reference(point), rel=1e-15), name


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('echo hi')", "function '__import__' is not allowed; allowed functions: sin, cos"),
    ("x.real", r"may not contain attribute access"),
    ("().__class__.__bases__", r"may not contain tuples"),
    ("x[0]", r"may not contain subscripts"),
    ("(lambda: 1)()", "may not contain lambda"),
    ("[x for x in y]", "may not contain comprehensions"),
    ("sin(t for t in x)", "may not contain comprehensions"),
    ("'x' * 3", "may not contain strings"),
    ("b'x'", "may not contain bytes"),
    ("f'{x}'", "may not contain f-strings"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("exec('1')", "function 'exec' is not allowed"),
    ("open('f')", "function 'open' is not allowed"),
    ("getattr(x, 'y')", "function 'getattr' is not allowed"),
    ("sin(x)(y)", "may not contain calls of anything but a function name"),
    ("sin(x=1)", r"sin\(\) takes exactly one argument"),
    ("sin", "'sin' is a function: call it"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("x if y else 0", "may not contain 'if ... else'"),
    ("x < y", "may not contain comparisons"),
    ("x and y", "may not contain 'and' / 'or'"),
    ("(x := 2)", "may not contain assignments"),
    ("x ^ 2", r"operator \^ is not allowed; use \*\* for powers"),
    ("x % 2", "operator % is not allowed"),
    ("~x", "operator ~ is not allowed"),
    ("1j * x", "may not contain 1j"),
    ("True * x", "may not contain True"),
    ("x = 1", "not a valid expression"),
    ("import os", "not a valid expression"),
    ("9**9**9 * x", "a power of numbers is too large"),
    ("sqrt(-1) * x", "imaginary part"),
    ("x / 0", "not finite"),
    ("x" * 3000, "at most 2000"),
    ("-" * 1500 + "x", "nested too deeply"),
])
def test_parser_refuses_everything_but_arithmetic(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


@pytest.mark.parametrize("template", [
    "__import__('pathlib').Path({path!r}).touch()",
    "open({path!r}, 'w').close()",
    "[open({path!r}, 'w') for _ in 'a']",
    "(lambda: __import__('os').system('touch ' + {path!r}))()",
    "x.__class__.__init__.__globals__['os'].system('touch ' + {path!r})",
])
def test_a_file_writing_string_writes_nothing(tmp_path, capsys, template):
    marker = tmp_path / "written"
    text = template.format(path=str(marker))
    with pytest.raises(ValueError):
        parse(text)
    assert main(["train", "symbolic", "--equation", text, *TINY]) == 2
    assert main(["train", "symbolic", "--equation", "x", "--variables", text, *TINY]) == 2
    assert main(["train", "symbolic", "--equation", "x", "--ranges", text, *TINY]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("metakan train symbolic: error:") == 3
    assert not marker.exists()


def test_variable_names_are_checked(capsys):
    with pytest.raises(ValueError, match="'pi' is a constant, not a variable name"):
        equation("pi*x", variables="pi,x")
    with pytest.raises(ValueError, match="'sin' is a function, not a variable name"):
        equation("x", variables="x,sin")
    with pytest.raises(ValueError, match="must not start with '_'"):
        equation("x*y", variables="x,__y")
    with pytest.raises(ValueError, match="not an identifier"):
        equation("x", variables="x,a-b")
    with pytest.raises(ValueError, match="names a variable twice"):
        equation("x*y", variables="x,y,x")
    assert main(["train", "symbolic", "--equation", "x*y", "--variables", "x,y;z", *TINY]) == 2
    assert "variable name 'y;z' is not an identifier" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--checkpoint-every", "1"], ["--resume", "run.ckpt"]])
def test_sweep_refuses_checkpoints(capsys, option):
    assert main(["sweep", "--equations", "I.6.20a", *option, *TINY]) == 2
    assert "sweep does not checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["kan", "metakan"])
def test_grid_schedule_trains_each_size_and_refines_between(tmp_path, model):
    out, saved = tmp_path / "r.json", tmp_path / "m.pt"
    assert main(["train", "symbolic", "--model", model, "--grid-schedule", "3,6", "--output", str(out),
                 "--save-model", str(saved), *TINY]) == 0
    result = json.loads(out.read_text())
    assert result["spec"]["grid_size"] == 6 and len(result["train_loss"]) == 4  # 2 epochs at each size
    assert all(math.isfinite(v) for v in result["train_loss"])
    from metakan.tasks.checkpoint import load_model

    rebuilt, spec, task = load_model(saved)  # the saved spec rebuilds the refined network
    assert task == "symbolic" and spec.grid_size == 6 and rebuilt.layers[0].grid_size == 6


@pytest.mark.parametrize("extra, message", [
    (["--grid-schedule", "6,3"], "must be increasing"),
    (["--grid-schedule", "3,6", "--model", "mlp"], "refines KAN and MetaKAN networks"),
    (["--grid-schedule", "3,6", "--checkpoint-every", "1"], "does not checkpoint"),
])
def test_grid_schedule_refuses_what_it_cannot_do(capsys, extra, message):
    assert main(["train", "symbolic", *TINY, *extra]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "symbolic", *TINY, "--grid-schedule", "3,0"])
    assert "expected positive integers" in capsys.readouterr().err
