"""Symbolic regression: fit an equation sampled uniformly in its variables' ranges; RMSE on held-out points."""

from __future__ import annotations

import argparse
from typing import NamedTuple, Optional

import numpy as np
import torch

from . import formula
from .feynman import FEYNMAN, Equation, equation
from .options import add_common, int_list, model_spec, positive_int
from .runner import TaskRun, train_and_record
from .training import Problem, batches_per_epoch, shuffled_batches

HELP = "symbolic regression of a Feynman equation or any expression (RMSE)"
TABLE_METRICS = {"train_rmse": ".3e", "test_rmse": ".3e"}


SWEEP_EQUATIONS = ("I.6.20a", "I.8.4", "I.9.18", "I.12.5", "I.15.3x")


def add_arguments(parser: argparse.ArgumentParser, sweep: bool = False) -> None:
    """The symbolic-regression options; ``sweep`` takes a list of registered equations instead of one."""
    task = parser.add_argument_group("symbolic regression")
    if sweep:
        task.add_argument("--equations", default=",".join(SWEEP_EQUATIONS),
                          help="comma-separated Feynman equation names (see --list-equations)")
    else:
        task.add_argument("--equation", default="I.6.20a",
                          help=f"a Feynman equation ({', '.join(list(FEYNMAN)[:5])}, ...: see --list-equations) "
                               "or an expression such as 'x*sin(y)'")
        task.add_argument("--variables", default=None, help="an expression's variables in input order, e.g. 'x,y'")
    task.add_argument("--ranges", default=None, help="sampling ranges: 'lo:hi' for all, or 'x=lo:hi,y=lo:hi'")
    task.add_argument("--hidden", type=int_list, default=[5], help="hidden widths, e.g. 5 or 5,5")
    task.add_argument("--grid-schedule", type=int_list, default=[], metavar="G1,G2,...",
                      help="pykan's grid extension: build at grid size G1 (instead of --grid-size), train --epochs "
                           "epochs at each size, refining the network onto the next size between them "
                           "(the same function on the grid's range)")
    task.add_argument("--n-train", type=positive_int, default=1000)
    task.add_argument("--n-test", type=positive_int, default=1000)
    task.add_argument("--list-equations", action=_ListEquations, help="print the Feynman equations and exit")
    formula.add_arguments(task)
    add_common(parser, optimizer="lbfgs", epochs=50, lr=1.0, batch_size=0, share="all", hidden_dim=8)


class RegressionData(NamedTuple):
    """Inputs mapped to [-1, 1] (the spline grid) from the variables' ranges; targets standardised."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    y_mean: float
    y_std: float


def sample(eq: Equation, n_train: int, n_test: int, seed: int) -> RegressionData:
    """``n_train + n_test`` points uniform in the ranges (float64 numpy, then float32 tensors)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array(eq.ranges, dtype=np.float64).T
    x = lo + (hi - lo) * rng.random((n_train + n_test, eq.num_vars))
    y = eq.function()(x)
    bad = int((~np.isfinite(y)).sum())
    if bad:
        raise ValueError(f"{eq.name!r} is not finite at {bad} of {len(y)} sampled points; "
                         "choose --ranges that avoid its singularities")
    scaled = 2 * (x - lo) / (hi - lo) - 1
    mean, std = float(y[:n_train].mean()), float(y[:n_train].std()) or 1.0
    target = (y - mean) / std
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return RegressionData(as_tensor(scaled[:n_train]), as_tensor(target[:n_train]), as_tensor(scaled[n_train:]),
                          as_tensor(target[n_train:]), mean, std)


def squared_errors(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (model(x).squeeze(-1) - y).pow(2)


def run(args: argparse.Namespace, rank: int = 0, world: int = 1) -> Optional[TaskRun]:
    eq = equation(args.equation, args.variables, args.ranges)
    data = sample(eq, args.n_train, args.n_test, args.seed)
    spec = model_spec(args, [eq.num_vars, *args.hidden, 1])
    train = (data.x_train, data.y_train)
    problem = Problem(lambda epoch: shuffled_batches(train, args.batch_size, args.seed, epoch),
                      formula.regularized_losses(squared_errors, args))

    @torch.no_grad()
    def evaluate(model, device):
        def rmse(x, y):
            return data.y_std * squared_errors(model, x.to(device), y.to(device)).mean().sqrt().item()

        return {"train_rmse": rmse(data.x_train, data.y_train), "test_rmse": rmse(data.x_test, data.y_test)}

    ranges = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, hi) in zip(eq.names, eq.ranges))
    description = f"{eq.name}: {eq.expression}; {ranges}; {args.n_train} train / {args.n_test} test points"
    done = train_and_record("symbolic", args, spec, problem, batches_per_epoch(args.n_train, args.batch_size),
                            train, evaluate, description, rank, world, args.grid_schedule)
    if done is not None and (args.prune or args.symbolic):
        done.result["interpretation"] = formula.interpret_run(done.model, data, eq, args)
    return done


class _ListEquations(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        for eq in FEYNMAN.values():
            ranges = ", ".join(f"{n} in [{lo:.4g}, {hi:.4g}]" for n, (lo, hi) in zip(eq.names, eq.ranges))
            print(f"{eq.name:9} {eq.expression}    ({ranges})")
        parser.exit()
