"""Results of a training run: the JSON record, the machine it ran on, and the printed table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from statistics import median
from typing import Dict, List, Optional

import torch

from .models import ModelSpec, backends_used, count_parameters
from .training import FitLog

RESULTS_DIR = "metakan-results"


def _commit() -> Optional[str]:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def environment(device: torch.device, world: int = 1) -> dict:
    """Versions, commit and machine of a run."""
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "processes": world,
        "commit": _commit(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def settings(args: argparse.Namespace) -> dict:
    """The run's options, as JSON-friendly values."""
    plain = {}
    for key, value in vars(args).items():
        if callable(value) or key == "argv":
            continue
        plain[key] = value if isinstance(value, (str, int, float, bool, list, type(None))) else str(value)
    return plain


def record(task: str, args: argparse.Namespace, spec: ModelSpec, model: torch.nn.Module, log: FitLog,
           metrics: Dict[str, float], memory: dict, data: str, device: torch.device, world: int) -> dict:
    """The JSON record of one run."""
    return {
        "task": task,
        "model": spec.kind,
        "command": shlex.join(["metakan", *args.argv]) if hasattr(args, "argv") else None,
        "data": data,
        "params": count_parameters(model),
        "backend": backends_used(model),
        "metrics": metrics,
        "seconds_per_epoch": median(log.epoch_seconds) if log.epoch_seconds else None,
        "train_seconds": sum(log.epoch_seconds),
        "memory": memory,
        "train_loss": log.losses,
        "spec": spec.to_dict(),
        "settings": settings(args),
        "environment": environment(device, world),
    }


def output_path(args: argparse.Namespace, task: str) -> Path:
    return Path(args.output) if args.output else Path(RESULTS_DIR) / f"{task}-{args.model}.json"


def checkpoint_path(args: argparse.Namespace, task: str) -> Path:
    """``--checkpoint``, by default the results JSON's path with the suffix ``.ckpt``."""
    return Path(args.checkpoint) if args.checkpoint else output_path(args, task).with_suffix(".ckpt")


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def kib(value: Optional[int]) -> str:
    return "-" if value is None else f"{value / 1024:,.0f} KiB"


def summary_row(result: dict, metric_formats: Dict[str, str]) -> dict:
    """One table row of a run: model, parameters, backend, the chosen metrics, time and memory."""
    row = {"model": result["model"], "params": f"{result['params']:,}", "backend": result["backend"]}
    for name, fmt in metric_formats.items():
        row[name.replace("_", " ")] = format(result["metrics"][name], fmt)
    row["s/epoch"] = f"{result['seconds_per_epoch']:.3f}"
    row["kept for backward"] = kib(result["memory"].get("saved_for_backward_bytes"))
    row["params+grads+optimiser"] = kib(result["memory"].get("parameter_state_bytes"))
    return row


def print_table(rows: List[dict], file=None) -> None:
    """A github-format table of ``rows`` (dicts with the same keys)."""
    from tabulate import tabulate

    print(tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True), file=file or sys.stdout)
