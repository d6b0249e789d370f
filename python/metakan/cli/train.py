"""Train an MLP, a KAN or a MetaKAN on one of the paper's task families: symbolic regression, PDE
solving or image classification. Prints a table and writes the results as JSON."""

from __future__ import annotations

import argparse
import sys

from ..tasks import TASKS
from ..tasks.checkpoint import save_model
from ..tasks.distributed import launch
from ..tasks.report import output_path, print_table, summary_row, write_json
from ..tasks.runner import TaskRun
from ..tasks.training import resolve_device

HELP = "train MLP / KAN / MetaKAN on symbolic regression, PDE solving or image classification"
USER_ERRORS = (ValueError, FileNotFoundError, ImportError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, module in TASKS.items():
        sub = tasks.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)


def finish(task: str, args: argparse.Namespace, done: TaskRun) -> None:
    """Write the JSON (and the model when asked) and print the run's table."""
    path = output_path(args, task)
    write_json(path, done.result)
    if args.save_model:
        save_model(args.save_model, task, done.spec, done.model)
    print(f"{task}: {done.result['data']}")
    print_table([summary_row(done.result, TASKS[task].TABLE_METRICS)])
    print(f"results: {path}")


def _process(rank: int, world: int, args: argparse.Namespace) -> None:
    done = TASKS[args.task].run(args, rank, world)
    if done is not None:
        finish(args.task, args, done)


def run(args: argparse.Namespace) -> int:
    try:
        if args.ddp > 1:
            launch(args.ddp, _process, args, use_cuda=resolve_device(args.device).type == "cuda")
        else:
            _process(0, 1, args)
    except USER_ERRORS as err:
        print(f"metakan train {args.task}: error: {err}", file=sys.stderr)
        return 2
    return 0
