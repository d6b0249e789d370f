"""Symbolic regression of several Feynman equations with KAN and MetaKAN (or any models): prints
each model's parameters and test RMSE side by side, one row per equation, and writes the JSON."""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import List, Tuple

from ..tasks import symbolic
from ..tasks.feynman import FEYNMAN
from ..tasks.models import MODEL_KINDS
from ..tasks.report import RESULTS_DIR, print_table, write_json
from .train import USER_ERRORS

HELP = "KAN vs MetaKAN symbolic regression over several Feynman equations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    symbolic.add_arguments(parser, sweep=True)
    parser.add_argument("--models", default="kan,metakan", help="comma-separated models to compare")
    parser.set_defaults(output=f"{RESULTS_DIR}/sweep.json")


def run(args: argparse.Namespace) -> int:
    equations = [name.strip() for name in args.equations.split(",") if name.strip()]
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    problems = [f"unknown equation {n!r}" for n in equations if n not in FEYNMAN]
    problems += [f"unknown model {m!r} (expected {', '.join(MODEL_KINDS)})" for m in models if m not in MODEL_KINDS]
    if args.ddp > 1:
        problems.append("--ddp is not supported by sweep; run 'metakan train symbolic --ddp N' per equation")
    if args.checkpoint_every or args.resume:
        problems.append("sweep does not checkpoint; run 'metakan train symbolic --checkpoint-every N' per equation")
    if problems or not equations or not models:
        print(f"metakan sweep: error: {'; '.join(problems) or 'no equations or models given'}", file=sys.stderr)
        return 2
    try:
        results, rows = _train_all(args, equations, models)
    except USER_ERRORS as err:
        print(f"metakan sweep: error: {err}", file=sys.stderr)
        return 2
    path = Path(args.output)
    write_json(path, results)
    print_table(rows)
    print(f"results: {path}")
    return 0


def _train_all(args: argparse.Namespace, equations: List[str], models: List[str]) -> Tuple[List[dict], List[dict]]:
    """(every run's result, one table row per equation) of each model on each equation."""
    results, rows = [], []
    for name in equations:
        row = {"equation": name, "vars": str(FEYNMAN[name].num_vars)}
        for model in models:
            one = copy.copy(args)
            one.equation, one.model, one.variables = name, model, None
            done = symbolic.run(one)
            results.append(done.result)
            row[f"{model} params"] = f"{done.result['params']:,}"
            row[f"{model} test RMSE"] = f"{done.result['metrics']['test_rmse']:.3e}"
        rows.append(row)
    return results, rows
