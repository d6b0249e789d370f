"""``metakan bench --preset trainability``: its options, and the run that trains the matrix and reports it."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from ..tasks.options import positive_int

PRESET = "trainability"
# Options of the time-and-memory presets that mean nothing to this one.
SPEED_ONLY = {"providers": "--providers", "sweeps": "--sweeps", "ratios": "--ratio"}


def _names(text: str):
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return names


def _integers(text: str):
    try:
        return tuple(int(value) for value in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,3; got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..bench.trainability import DEPTHS, MODELS, OPTIMIZERS, SEEDS, TASKS, WIDTHS

    group = parser.add_argument_group(
        "trainability preset", "choose a subset of the matrix (default: all of it; with --quick, a CI-sized subset)")
    group.add_argument("--tasks", type=_names, help=f"comma-separated, of {', '.join(TASKS)}")
    group.add_argument("--models", type=_names, help=f"comma-separated, of {', '.join(MODELS)}")
    group.add_argument("--depths", type=_integers, help=f"hidden layers, e.g. {','.join(map(str, DEPTHS))}")
    group.add_argument("--widths", type=_integers, help=f"hidden widths, e.g. {','.join(map(str, WIDTHS))}")
    group.add_argument("--optimizers", type=_names, help=f"comma-separated, of {', '.join(OPTIMIZERS)}")
    group.add_argument("--seeds", type=_integers, help=f"e.g. {','.join(map(str, SEEDS))}")
    group.add_argument("--epochs", type=positive_int, help="epochs of every chosen task (default: each task's own)")


def selection(args: argparse.Namespace):
    """The matrix the options choose: --quick's subset or the whole, narrowed by each option given."""
    from ..bench.trainability import QUICK, Selection

    chosen = QUICK if args.quick else Selection()
    narrowed = {name: getattr(args, name) for name in ("tasks", "models", "depths", "widths", "optimizers", "seeds",
                                                       "epochs") if getattr(args, name) is not None}
    return dataclasses.replace(chosen, **narrowed)


def check_options(args: argparse.Namespace) -> None:
    """Options given that only the time-and-memory presets take are an error here, and this
    preset's options anywhere else."""
    if args.preset == PRESET:
        given = [flag for name, flag in SPEED_ONLY.items() if getattr(args, name)]
        if not args.memory:
            given.append("--no-memory")
        if given:
            raise ValueError(f"{', '.join(given)}: not options of --preset {PRESET}")
        return
    ours = [f"--{name}" for name in ("tasks", "models", "depths", "widths", "optimizers", "seeds", "epochs")
            if getattr(args, name) is not None]
    if ours:
        raise ValueError(f"{', '.join(ours)}: options of --preset {PRESET} only")


def _list(chosen) -> None:
    print(f"preset {PRESET!r}: {len(list(chosen.configs()))} runs")
    for name in chosen.tasks:
        task = chosen.task(name)
        print(f"  task {name}: {task.description}; {task.epochs} epochs, batch {task.batch_size}, {task.metric}")
    for name in ("models", "depths", "widths", "optimizers", "seeds"):
        print(f"  {name}: {', '.join(map(str, getattr(chosen, name)))}")


def run(args: argparse.Namespace, device: torch.device) -> int:
    """Train the chosen matrix (runs already in the CSV skipped), then write the report and heat maps
    of every row of this commit on these tasks."""
    from ..bench.trainability import run_matrix, write_outputs

    try:
        chosen = selection(args)
    except ValueError as err:
        print(f"metakan bench: {err}", file=sys.stderr)
        return 2
    if args.list:
        _list(chosen)
        return 0
    tag = args.tag or (f"{PRESET}-quick" if args.quick else PRESET)
    csv_path = Path(args.out) / f"{tag}.csv"
    start = time.perf_counter()
    done = run_matrix(chosen, csv_path, device, getattr(torch, args.dtype), args.progress)
    written = write_outputs(csv_path, args.out, tag, done.environment, chosen, args.plots)
    print(written["markdown"][0].read_text())
    files = [p for paths in written.values() for p in paths]
    print(f"metakan bench: {len(done.rows)} rows written ({done.skipped} runs already in {csv_path}) in "
          f"{time.perf_counter() - start:.0f} s; wrote " + ", ".join(map(str, files)))
    return 0
