"""metakan.interpret: edge importances against the materialized edge values, pruning, symbolic recovery."""

import copy

import numpy as np
import pytest
import sympy
import torch

import metakan
import metakan_kernels as mk
from metakan import interpret


def _fit(model, x, y, steps=30):
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-32, tolerance_change=1e-32)

    def closure():
        opt.zero_grad()
        loss = (model(x).squeeze(-1) - y).pow(2).mean()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return float(closure().detach())


@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_edge_scores_are_mean_abs_edge_values(kind):
    torch.manual_seed(0)
    model = metakan.KAN([3, 5, 2]) if kind == "kan" else metakan.MetaKAN([3, 5, 2], share="all")
    x = torch.rand(64, 3) * 2.4 - 1.2  # partly outside the grid
    scores = interpret.edge_scores(model, x)
    inputs = interpret.layer_inputs(model, x)
    for layer, score, t in zip(model.layers, scores, inputs):
        expected = layer.edge_values(t).abs().mean(0)
        torch.testing.assert_close(score, expected, rtol=1e-5, atol=1e-6)


def test_regularization_is_l1_plus_entropy_and_trains_sparse():
    torch.manual_seed(0)
    model = metakan.KAN([2, 4, 1])
    x = torch.rand(128, 2) * 2 - 1
    y, reg = interpret.regularized_forward(model, x, l1=1.0, entropy=0.0)
    torch.testing.assert_close(y, model(x))
    torch.testing.assert_close(reg, sum(s.sum() for s in interpret.edge_scores(model, x)))
    p = torch.tensor([[0.5, 0.5]])
    value = interpret.activation_regularization([p], l1=0.0, entropy=1.0)
    torch.testing.assert_close(value, torch.log(torch.tensor(2.0)))
    reg.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_prune_removes_dead_kan_nodes_and_keeps_the_function():
    torch.manual_seed(0)
    model = metakan.KAN([2, 6, 1])
    x = torch.rand(200, 2) * 2 - 1
    with torch.no_grad():  # hidden nodes 1..5 feed nothing: their outgoing edges are zero
        model.layers[1].base_weight[:, 1:] = 0
        model.layers[1].spline_weight[:, 1:] = 0
    pruned = interpret.prune(model, x, threshold=1e-3)
    assert pruned.pruned_widths == [2, 1, 1]
    torch.testing.assert_close(pruned(x), model(x))
    assert [layer.in_features for layer in model.layers] == [2, 6]  # the original is untouched


def test_prune_metakan_slices_embeddings_and_keeps_shared_learner():
    torch.manual_seed(0)
    model = metakan.MetaKAN([2, 6, 1], share="all")
    x = torch.rand(200, 2) * 2 - 1
    scores = interpret.edge_scores(model, x)
    threshold = float(torch.minimum(scores[0].amax(1), scores[1].amax(0)).median())
    kept = interpret.kept_nodes(scores, threshold)
    pruned = interpret.prune(model, x, threshold)
    assert pruned.pruned_widths == [len(k) for k in kept] and 1 <= pruned.pruned_widths[1] < 6
    assert pruned.layers[0].meta_learner is pruned.layers[1].meta_learner
    # each remaining edge is the same function as before
    hidden = kept[1]
    before = model.layers[0].edge_values(x)[:, hidden]
    torch.testing.assert_close(pruned.layers[0].edge_values(x), before)
    h = model.layers[0](x)[:, hidden]
    torch.testing.assert_close(pruned.layers[1].edge_values(h), model.layers[1].edge_values(model.layers[0](x))[:, :, hidden])


@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_auto_symbolic_recovers_a_held_out_formula(kind):
    """sin(2x) + y^2 is not a registered equation: the recovered formula equals it on fresh points."""
    torch.manual_seed(0)
    x = torch.rand(1000, 2) * 2 - 1
    y = torch.sin(2 * x[:, 0]) + x[:, 1] ** 2
    model = metakan.KAN([2, 1]) if kind == "kan" else metakan.MetaKAN([2, 1])
    assert _fit(model, x, y) < 1e-5
    symbolic = interpret.auto_symbolic(model, x)
    assert [e["function"] for e in symbolic.edges()] == ["sin", "x^2"]
    assert min(e["r2"] for e in symbolic.edges()) > 0.999
    assert symbolic.refit(x, y, steps=20) < 1e-12
    (formula,) = interpret.symbolic_formula(symbolic, ["u", "v"], digits=6)
    fresh = torch.rand(500, 2, dtype=torch.float64) * 2 - 1
    from metakan.tasks.expression import numpy_function

    values = numpy_function(formula, ["u", "v"])(fresh[:, 0].numpy(), fresh[:, 1].numpy())
    truth = torch.sin(2 * fresh[:, 0]) + fresh[:, 1] ** 2
    assert float((torch.as_tensor(values) - truth).abs().max() / truth.abs().max()) <= 1e-3


def test_bad_input_is_refused():
    model = metakan.KAN([2, 1])
    with pytest.raises(ValueError, match="threshold"):
        interpret.prune(model, torch.zeros(4, 2), threshold=float("nan"))
    with pytest.raises(ValueError, match="unknown symbolic"):
        interpret.auto_symbolic(model, torch.zeros(4, 2), library=["x", "nope"])
    with pytest.raises(TypeError, match="network"):
        interpret.edge_scores(torch.nn.Linear(2, 1), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="non-empty"):
        interpret.edge_scores(model, torch.zeros(0, 2))
    with pytest.raises(ValueError, match="digits"):
        interpret.round_constants(interpret.symbolic_formula(interpret.auto_symbolic(model, torch.rand(8, 2)))[0], -1)


def test_cli_prune_symbolic_writes_the_formula(tmp_path, capsys):
    from metakan.cli import main

    out = tmp_path / "run.json"
    code = main(["train", "symbolic", "--equation", "sin(2*x)+y**2", "--variables", "x,y", "--ranges=-1:1",
                 "--hidden", "1", "--model", "kan", "--prune", "--symbolic", "--epochs", "20", "--no-progress",
                 "--output", str(out)])
    assert code in (0, None)
    import json

    result = json.loads(out.read_text())["interpretation"]
    assert result["pruned_widths"] == [2, 1, 1]
    assert [e["function"] for e in result["edges"]][:2] == ["sin", "x^2"]
    assert result["formula_test_rmse"] <= 1e-3 * result["target_std"]
    assert "formula:" in capsys.readouterr().out


def test_cli_recovers_a_held_out_product_exactly(tmp_path):
    """a*b + 1 is not a registered equation: a pruned [2, 2, 1] KAN reads it exactly (the product as a
    difference of squares, found by the search; exact constants from the polished refit)."""
    import json

    from metakan.cli import main
    from metakan.tasks.expression import numpy_function, parse

    out = tmp_path / "run.json"
    assert main(["train", "symbolic", "--equation", "a*b + 1", "--variables", "a,b", "--ranges=-1:1",
                 "--model", "kan", "--hidden", "2", "--reg", "1e-3", "--prune", "--symbolic", "--digits", "8",
                 "--seed", "0", "--no-progress", "--output", str(out)]) == 0
    result = json.loads(out.read_text())["interpretation"]
    assert result["pruned_widths"] == [2, 2, 1] and result["formula_equals_truth"]
    fresh = np.random.default_rng(1).uniform(-1, 1, (500, 2))
    values = numpy_function(parse(result["formula"]), ["a", "b"])(fresh[:, 0], fresh[:, 1])
    truth = fresh[:, 0] * fresh[:, 1] + 1
    assert np.max(np.abs(values - truth) / np.abs(truth)) <= 1e-3


def test_reg_option_adds_the_regularization_to_the_mean_loss():
    import argparse

    from metakan.tasks.formula import regularized_losses
    from metakan.tasks.symbolic import squared_errors

    torch.manual_seed(0)
    model = metakan.KAN([2, 3, 1])
    x, y = torch.rand(50, 2) * 2 - 1, torch.rand(50)
    losses = regularized_losses(squared_errors, argparse.Namespace(reg=0.01, ddp=1))
    _, reg = interpret.regularized_forward(model, x)
    torch.testing.assert_close(losses(model, x, y).mean(), squared_errors(model, x, y).mean() + 0.01 * reg)
    assert regularized_losses(squared_errors, argparse.Namespace(reg=0.0, ddp=1)) is squared_errors
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="--reg"):
            regularized_losses(squared_errors, argparse.Namespace(reg=bad, ddp=1))
    with pytest.raises(ValueError, match="--ddp"):
        regularized_losses(squared_errors, argparse.Namespace(reg=0.1, ddp=2))


def test_formula_evaluates_to_the_symbolic_network():
    """The sympy formula is the SymbolicKAN's function, every trained constant included (affine edges too)."""
    from metakan.tasks.expression import numpy_function

    torch.manual_seed(3)
    model = metakan.KAN([2, 3, 1])
    x = torch.rand(300, 2) * 2 - 1
    symbolic = interpret.auto_symbolic(model, x, library=["x", "x^2", "sin", "tanh"])
    with torch.no_grad():
        for p in symbolic.parameters():
            p.add_(0.05 * torch.randn_like(p))
    (formula,) = interpret.symbolic_formula(symbolic, ["u", "v"], digits=None, simplify=False)
    values = numpy_function(formula, ["u", "v"])(x[:, 0].double().numpy(), x[:, 1].double().numpy())
    torch.testing.assert_close(torch.as_tensor(values), symbolic(x).squeeze(-1).detach())


def test_tidy_snaps_before_rounding_so_exact_fits_read_exactly():
    import sympy

    omega, c, v, p, t = sympy.symbols("omega c V pF theta")
    f = sympy.Float
    # omega/c as a refit leaves it: rounding each constant first gives 1.0001*omega/c
    fitted = f(0.222972514314639) * (f(20.8802634381755) * omega - f(8.7e-9)) ** f(0.999999997) / (
        (f(4.65572481469717) * c - f(3.5e-9)) ** f(0.999999998)) - f(1.09e-11)
    assert interpret.tidy(fitted, 4) == omega / c
    assert interpret.tidy(f(1.49999999) * v * p ** f(1.00000001), 8) == sympy.Rational(3, 2) * v * p
    # a half-exponent within 1e-6 becomes 1/2; 1/sqrt(2 pi) and 1/(4 pi) to 1e-6 become themselves
    gauss = interpret.tidy(f(0.398942280401) * sympy.exp(f(-0.49999999) * t**2), 8)
    assert sympy.simplify(gauss - sympy.exp(-t**2 / 2) / sympy.sqrt(2 * sympy.pi)) == 0
    assert interpret.tidy(f(0.0795774718) * v / t**2, 8) == v / (4 * sympy.pi * t**2)
    # a constant near no simple number keeps its digits, and so does a large one (every large number
    # is within 1e-6 of some n/q)
    assert interpret.tidy(f(17741328.3) * t - f(17741327.8) * v, 8) == f(17741328.3) * t - f(17741327.8) * v
    assert interpret.tidy(f(0.412345671234) * sympy.exp(-t**2 / 2), 8) == f(0.41234567) * sympy.exp(-t**2 / 2)
    assert interpret.tidy(f(0.3012) * t, 4) == f(0.3012) * t  # nothing near a simple fraction: kept


def test_symbolic_network_rebuilds_from_its_edges():
    torch.manual_seed(0)
    model = metakan.KAN([2, 2, 1])
    x = torch.rand(64, 2) * 2 - 1
    symbolic = interpret.auto_symbolic(model, x, alternatives=1)
    rebuilt = interpret.symbolic_from_edges(symbolic.edges(), [2, 2, 1])
    torch.testing.assert_close(rebuilt(x), symbolic(x))
    with pytest.raises(ValueError, match="do not describe a network of widths"):
        interpret.symbolic_from_edges(symbolic.edges()[:-1], [2, 2, 1])


def _power_law():
    """sqrt(g p / r) on g, p, r in [0.2, 1] as exp(sum c_i log|a_i x_i + b_i|): a [3, 1, 1] formula of the
    right form, its constants perturbed as a trained network's fit leaves them."""
    from metakan.interpret.fit import EdgeFit
    from metakan.interpret.symbolic import SymbolicLayer

    torch.manual_seed(0)
    x = torch.rand(500, 3, dtype=torch.float64) * 0.8 + 0.2
    y = torch.sqrt(x[:, 0] * x[:, 1] / x[:, 2]).unsqueeze(1)
    inner = [[EdgeFit("log", 1.03, 0.011, 0.52, 0.01, 1.0), EdgeFit("log", 0.97, -0.008, 0.49, -0.02, 1.0),
              EdgeFit("log", 1.02, 0.005, -0.51, 0.0, 1.0)]]
    outer = [[EdgeFit("exp", 0.98, 0.02, 1.01, 0.003, 1.0)]]
    return interpret.SymbolicKAN([SymbolicLayer(inner), SymbolicLayer(outer)]), x, y


def test_polish_converges_to_the_exact_constants_of_a_formula_of_the_right_form():
    symbolic, x, y = _power_law()
    start = float((symbolic(x) - y).pow(2).mean().detach())
    lbfgs = copy.deepcopy(symbolic)
    lbfgs_only = lbfgs.refit(x, y, steps=20, polish=0)
    polished = symbolic.refit(x, y, steps=20)
    assert polished <= lbfgs_only and polished <= start
    assert polished < 1e-24 * float(y.pow(2).mean())  # to float64 rounding: sqrt(g p / r) exactly
    torch.testing.assert_close(symbolic(x), y, rtol=1e-11, atol=0)
    (formula,) = interpret.symbolic_formula(symbolic, ["g", "p", "r"], digits=8)
    g, p, r = sympy.symbols("g p r", positive=True)
    assert sympy.simplify(formula.xreplace({sympy.Symbol(n): s for n, s in zip("gpr", (g, p, r))})
                          - sympy.sqrt(g * p / r)) == 0


def test_polish_never_raises_the_error_and_leaves_large_networks_alone(monkeypatch):
    from metakan.interpret import symbolic as symbolic_module
    from metakan.interpret.fit import EdgeFit

    symbolic, x, y = _power_law()
    wrong = copy.deepcopy(symbolic)
    wrong.layers[1].set_edge(0, 0, EdgeFit("sin", 1.0, 0.0, 1.0, 0.0, 1.0))  # no constants make this exact
    before = float((wrong(x) - y).pow(2).mean().detach())
    assert wrong.polish(x, y, 30) <= before
    monkeypatch.setattr(symbolic_module, "POLISH_MAX_CONSTANTS", 8)
    state = {k: v.clone() for k, v in symbolic.state_dict().items()}
    assert symbolic.polish(x, y) == pytest.approx(float((symbolic(x) - y).pow(2).mean().detach()))
    assert all(torch.equal(v, symbolic.state_dict()[k]) for k, v in state.items())


def test_formula_is_read_on_the_equations_domain():
    """|u| whose u keeps one sign on the domain is read without the bars, positive variables are positive
    symbols, and equality with the truth is judged on the domain."""
    from metakan.tasks.feynman import FEYNMAN
    from metakan.tasks.formula import domain_symbols, without_abs

    nn, mu = sympy.symbols("Nn mu")
    f = sympy.Float
    # a MetaKAN's Nn*mu: two |.| of affine products that are negative all over [-1, 1]^2
    read = f(-0.0285078) * sympy.Abs(f(11.267074) * nn * mu + f(43.146287) * nn - f(37.966282) * mu - f(145.388598)) \
        + sympy.Abs(nn + 2) + sympy.Abs(nn * mu)
    points = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    out = without_abs(read, ["Nn", "mu"], points)
    assert sympy.Abs(nn * mu) in out.atoms(sympy.Abs)  # changes sign: kept
    assert sympy.Abs(nn + 2) not in out.atoms(sympy.Abs) and len(out.atoms(sympy.Abs)) == 1
    assert sympy.expand(out - sympy.Abs(nn * mu)) == sympy.expand(
        f(0.0285078) * (f(11.267074) * nn * mu + f(43.146287) * nn - f(37.966282) * mu - f(145.388598)) + nn + 2)
    eq = FEYNMAN["I.47.23"]
    assert all(s.is_positive for s in domain_symbols(eq))
    assert [s.is_nonnegative for s in domain_symbols(FEYNMAN["I.14.3"])] == [True, True, None]


def test_simplification_is_bounded_in_time():
    from metakan.interpret.symbolic import bounded_simplify

    x, y = sympy.symbols("x y")
    trig = sympy.sin(x) ** 2 + sympy.cos(x) ** 2 + sympy.exp(sympy.log(x + 1))
    assert bounded_simplify(trig) == x + 2
    fresh = sympy.sin(y) ** 2 + sympy.cos(y) ** 2 + sympy.exp(sympy.log(y + 1))  # not in sympy's cache
    import signal

    before = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's, where it runs
    assert bounded_simplify(fresh, seconds=1e-5) == fresh  # out of time: left as it was
    after = signal.getitimer(signal.ITIMER_REAL)
    assert (after[0] > 0) == (before[0] > 0) and after[0] <= before[0]  # a timer set before keeps its time
