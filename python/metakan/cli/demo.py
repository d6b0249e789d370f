"""Train an MLP, a KAN and a MetaKAN side by side on a Feynman equation and on scikit-learn's digits (CPU,
no download) and print one table: parameters, backend, peak memory and time of a training step, test metric."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Dict, List, NamedTuple

import torch

from ..datasets import digits
from ..memory import peak_step_bytes
from ..networks import KAN, MetaKAN
from ..tasks.feynman import equation
from ..tasks.options import positive_int, random_seed
from ..tasks.symbolic import sample
from .train import USER_ERRORS

HELP = "train MLP, KAN and MetaKAN side by side on a Feynman equation and the digits data set"
MODELS = ("mlp", "kan", "metakan")


class Task(NamedTuple):
    """One demo problem: data (x_train, y_train, x_test, y_test), the models' widths, loss and test metric."""

    name: str
    description: str
    widths: List[int]
    data: tuple
    loss: Callable
    metric: str
    evaluate: Callable[[torch.nn.Module], str]
    epochs: int
    batch_size: int


class Row(NamedTuple):
    task: str
    model: str
    params: int
    backend: str
    peak: str
    ms_per_step: str
    metric: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--equation", default="I.6.20", help="the Feynman equation of the regression task")
    parser.add_argument("--hidden", type=positive_int, default=32,
                        help="hidden width of the digits models [64, hidden, 10]")
    parser.add_argument("--epochs", type=positive_int, default=40,
                        help="epochs of the digits task (the regression task: 3x)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--seed", type=random_seed, default=0, help="random seed in [0, 2**32 - 1]")
    parser.add_argument("--backend", default="auto", help="kernel backend for the KAN layers")


def _symbolic(args: argparse.Namespace) -> Task:
    eq = equation(args.equation)
    data = sample(eq, 1000, 1000, args.seed)
    mse = torch.nn.MSELoss()

    @torch.no_grad()
    def rmse(model: torch.nn.Module) -> str:
        error = data.y_std * (model(data.x_test).squeeze(-1) - data.y_test).pow(2).mean().sqrt().item()
        return f"{error:.2e}"

    return Task("symbolic", f"Feynman {eq.name}: {eq.expression}, 1000 train / 1000 test points",
                [eq.num_vars, 8, 1], data[:4], lambda out, y: mse(out.squeeze(-1), y), "test RMSE", rmse,
                3 * args.epochs, args.batch_size)


def _digits(args: argparse.Namespace) -> Task:
    data = digits(seed=args.seed)
    x_test, y_test = data[2], data[3]

    @torch.no_grad()
    def accuracy(model: torch.nn.Module) -> str:
        return f"{100 * (model(x_test).argmax(-1) == y_test).float().mean().item():.1f}%"

    return Task("digits", f"scikit-learn digits, {len(data[0])} train / {len(x_test)} test images of 64 pixels",
                [64, args.hidden, 10], data, torch.nn.CrossEntropyLoss(), "test accuracy", accuracy, args.epochs,
                args.batch_size)


def _build(name: str, widths: List[int], backend: str) -> torch.nn.Module:
    if name == "mlp":
        layers: List[torch.nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.SiLU()]
        return torch.nn.Sequential(*layers[:-1])
    if name == "kan":
        return KAN(widths, backend=backend)
    return MetaKAN(widths, embedding_dim=1, hidden_dim=16, backend=backend)


def _optimizer(name: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    # KAN and MetaKAN (default init) train with the same plain Adam
    return torch.optim.Adam(model.parameters(), lr=1e-2 if name == "mlp" else 3e-3)


def _train(task: Task, name: str, model: torch.nn.Module, seed: int) -> Row:
    x_train, y_train = task.data[0], task.data[1]
    optimizer = _optimizer(name, model)
    generator = torch.Generator().manual_seed(seed)

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        task.loss(model(xb), yb).backward()
        optimizer.step()

    steps = 0
    start = time.perf_counter()
    for _ in range(task.epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for first in range(0, len(order), task.batch_size):
            batch = order[first : first + task.batch_size]
            step(x_train[batch], y_train[batch])
            steps += 1
    ms_per_step = 1e3 * (time.perf_counter() - start) / steps
    # One more step, its tensor memory traced; gradients dropped first so that the step's own count.
    # The batch is copied out, as the training loop's indexing does (a slice would count all the data).
    xb, yb = x_train[: task.batch_size].clone(), y_train[: task.batch_size].clone()
    optimizer.zero_grad(set_to_none=True)
    state = [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    peak = peak_step_bytes(lambda: step(xb, yb), [*model.parameters(), *model.buffers(), *state, xb, yb])
    backends = {getattr(m, "last_backend", None) for m in model.modules()} - {None}
    return Row(task.name, name, sum(p.numel() for p in model.parameters()), ",".join(sorted(backends)) or "-",
               f"{peak / 1024:.0f} KiB", f"{ms_per_step:.2f}", task.evaluate(model))


def _print_table(rows: List[Row], metrics: Dict[str, str]) -> None:
    headers = ["task", "model", "params", "backend", "peak step memory", "ms/step", "test metric"]
    cells = [[str(v) for v in row[:-1]] + [f"{row.metric} ({metrics[row.task]})"] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except USER_ERRORS as err:
        print(f"metakan demo: error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    tasks = [_symbolic(args), _digits(args)]
    print(f"metakan demo: MLP, KAN and MetaKAN (d=1, H=16) of the same widths, Adam, batch {args.batch_size}, "
          f"{torch.get_num_threads()} CPU threads")
    for task in tasks:
        print(f"  {task.name}: {task.description}; widths {task.widths}, {task.epochs} epochs")
    rows = []
    for task in tasks:
        for name in MODELS:
            torch.manual_seed(args.seed)
            rows.append(_train(task, name, _build(name, task.widths, args.backend), args.seed))
    _print_table(rows, {task.name: task.metric for task in tasks})
    return 0
