"""The symbolic task's interpretation stage: prune the trained network, snap its edges, read and test its formula."""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import sympy
import torch

from .. import interpret
from ..interpret.symbolic import bounded_simplify
from .expression import numpy_function
from .feynman import Equation
from .options import positive_int


def add_arguments(task: argparse._ArgumentGroup) -> None:
    task.add_argument("--reg", type=float, default=0.0, metavar="LAMBDA",
                      help="add LAMBDA times the KAN paper's sample-based L1 + entropy regularization to the loss "
                           "(makes the network sparse before --prune)")
    task.add_argument("--prune", action="store_true",
                      help="after training, remove hidden nodes whose edges all have |phi|_1 below --prune-threshold")
    task.add_argument("--prune-threshold", type=float, default=1e-2,
                      help="edges below this fraction of their layer's largest |phi|_1 count as dead, for --prune "
                           "and --symbolic (they become the zero function)")
    task.add_argument("--symbolic", action="store_true",
                      help="after training (and pruning), fit every edge to a library function and print the formula")
    task.add_argument("--alternatives", type=positive_int, default=4,
                      help="candidate functions per edge that --symbolic tries, refitting the whole formula for each "
                           "(1: each edge's own best fit only)")
    task.add_argument("--digits", type=int, default=4, help="decimals of the printed formula's constants")


def regularized_losses(losses, args: argparse.Namespace):
    """``losses(model, x, y)`` (per example) plus ``args.reg`` times the sparsity regularization of the
    edges on x, added to every example so that the batch mean gains exactly ``reg * R``."""
    if not (args.reg >= 0 and args.reg < float("inf")):
        raise ValueError(f"--reg must be a finite number >= 0, got {args.reg}")
    if args.reg == 0:
        return losses
    if args.ddp > 1:
        raise ValueError("--reg runs the layers one by one, outside DistributedDataParallel; use it without --ddp")

    def with_regularization(model, x, y):
        out, reg = interpret.regularized_forward(model, x)
        return (out.squeeze(-1) - y).pow(2) + args.reg * reg

    return with_regularization


def domain_symbols(eq: Equation) -> list:
    """The equation's variables as sympy symbols that know their range's sign: positive where the range
    lies above 0, non-negative where it starts at 0 (so that |P| simplifies to P and sqrt(1/rho) to
    1/sqrt(rho)), plain otherwise."""
    return [sympy.Symbol(name, positive=True) if lo > 0 else sympy.Symbol(name, nonnegative=True) if lo == 0
            else sympy.Symbol(name) for name, (lo, _) in zip(eq.names, eq.ranges)]


def in_variables(output, eq: Equation, y_mean: float, y_std: float):
    """The network's formula in the equation's variables (:func:`domain_symbols`): inputs were mapped
    from their ranges to [-1, 1] and the target standardised, so both maps are composed around the
    network's output."""
    scaled = {sympy.Symbol(f"_s{i}"): 2 * (v - lo) / (hi - lo) - 1
              for i, (v, (lo, hi)) in enumerate(zip(domain_symbols(eq), eq.ranges))}
    return sympy.Float(y_mean) + sympy.Float(y_std) * output.xreplace(scaled)


def without_abs(expr, names, points: np.ndarray):
    """``expr`` with every ``Abs(u)`` whose argument keeps one sign at all ``points`` (samples, columns
    in the order of ``names``) replaced by u or -u, innermost first. The library's log, sqrt and 1/sqrt
    read |u|; where u never changes sign on the equation's domain the formula is the same there without
    it, and only then can sympy fold it: |a·(b·Nn + c)·(d·mu + e)| sums to Nn·mu once the signs are known."""
    columns = [points[:, i] for i in range(points.shape[1])]
    done = set()
    while True:
        todo = sorted((a for a in expr.atoms(sympy.Abs) if a not in done), key=sympy.count_ops)
        if not todo:
            return expr
        inner = todo[0]
        done.add(inner)
        with np.errstate(all="ignore"):
            values = np.broadcast_to(numpy_function(inner.args[0], names)(*columns), points.shape[:1])
        if np.all(values > 0) or np.all(values < 0):
            expr = expr.xreplace({inner: inner.args[0] if values[0] > 0 else -inner.args[0]})


def plain_symbols(expr):
    """``expr`` with every symbol made a plain one (no assumptions), as the equation's own are."""
    return expr.xreplace({s: sympy.Symbol(s.name) for s in expr.free_symbols})


def read_formula(symbolic: interpret.SymbolicKAN, eq: Equation, data, digits: int) -> dict:
    """The formula of ``symbolic`` (fitted on ``data``, see :func:`metakan.tasks.symbolic.sample`) in the
    equation's variables, tidied to ``digits`` decimals, with its test RMSE and that of the formula at
    full precision, the target's standard deviation and whether it equals the truth."""
    internal = [f"_s{i}" for i in range(eq.num_vars)]
    (exact,) = interpret.symbolic_formula(symbolic, internal, digits=None, simplify=False)
    lo, hi = np.array(eq.ranges, dtype=np.float64).T
    x_train, x_test = (lo + (hi - lo) * (x.double().numpy() + 1) / 2 for x in (data.x_train, data.x_test))
    # the domain's corners too, where an affine argument is most likely to change sign (a few variables)
    corners = lo + (hi - lo) * np.array(list(itertools.product((0, 1), repeat=eq.num_vars if eq.num_vars <= 10 else 0)),
                                        dtype=np.float64).reshape(-1, eq.num_vars)
    full = without_abs(in_variables(exact, eq, data.y_mean, data.y_std), eq.names,
                       np.concatenate([corners, x_train, x_test]))
    on_domain = interpret.tidy(full, digits)
    truth = eq.sympy().xreplace({sympy.Symbol(v.name): v for v in domain_symbols(eq)})
    formula, full = plain_symbols(on_domain), plain_symbols(full)
    target = eq.function()(x_test)

    def rmse(expr) -> float:
        with np.errstate(all="ignore"):
            values = numpy_function(expr, eq.names)(*(x_test[:, i] for i in range(eq.num_vars)))
        return float(np.sqrt(np.mean((np.broadcast_to(values, target.shape) - target) ** 2)))

    return {"formula": str(formula), "formula_test_rmse": rmse(formula), "full_precision_test_rmse": rmse(full),
            "target_std": float(np.std(target)), "formula_equals_truth": bounded_simplify(on_domain - truth) == 0}


def interpret_run(model: torch.nn.Module, data, eq: Equation, args: argparse.Namespace) -> dict:
    """Prune and/or snap ``model`` as ``args`` ask; the JSON section of the result (also printed)."""
    start = time.perf_counter()
    x_train = data.x_train.to(next(model.parameters()).device)
    result = {}
    if args.prune:
        model = interpret.prune(model, x_train, args.prune_threshold, relative=True)
        result["pruned_widths"] = model.pruned_widths
        result["kept_nodes"] = model.kept_nodes
        print(f"pruned widths: {model.pruned_widths}")
    if args.symbolic:
        scores = interpret.relative_scores(interpret.edge_scores(model, x_train))
        symbolic = interpret.auto_symbolic(model, x_train, scores=scores, threshold=args.prune_threshold,
                                           alternatives=args.alternatives)
        if args.alternatives > 1:
            symbolic.search(data.x_train, data.y_train)
        mse = symbolic.refit(data.x_train, data.y_train, steps=50)
        edges = symbolic.edges()
        for edge in edges:
            print(f"  layer {edge['layer']} edge ({edge['output']}, {edge['input']}): {edge['function']:8} "
                  f"R^2 = {edge['r2']:.6f}")
        result.update({"edges": edges, "refit_mse": mse, **read_formula(symbolic, eq, data, args.digits)})
        formula = result["formula"]
        print(f"formula: {formula}")
        print(f"formula test RMSE: {result['formula_test_rmse']:.3e} (constants rounded to {args.digits} decimals), "
              f"{result['full_precision_test_rmse']:.3e} (full precision); target std {result['target_std']:.3e}")
    result["seconds"] = time.perf_counter() - start
    return result
