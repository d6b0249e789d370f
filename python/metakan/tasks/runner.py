"""One training run of a task, start to finish: build, train (maybe as one of N processes), evaluate, record."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch

from .models import ModelSpec
from .report import checkpoint_path, record
from .resume import Checkpoints
from .training import Batch, Problem, fit, memory_usage, resolve_device


@dataclass
class TaskRun:
    """The JSON record of a finished run and its trained model."""

    result: dict
    model: torch.nn.Module
    spec: ModelSpec


def train_and_record(
    task: str,
    args: argparse.Namespace,
    spec: ModelSpec,
    problem: Problem,
    steps_per_epoch: int,
    probe: Batch,
    evaluate: Callable[[torch.nn.Module, torch.device], Dict[str, float]],
    data: str,
    rank: int = 0,
    world: int = 1,
) -> Optional[TaskRun]:
    """Build ``spec`` (seeded by ``args.seed``), train it on ``problem`` (continuing ``args.resume``
    if given, checkpointing every ``args.checkpoint_every`` epochs), then on process 0 evaluate it,
    measure memory on the batch ``probe`` and return the record (None on other processes)."""
    if args.checkpoint and not args.checkpoint_every:
        raise ValueError("--checkpoint PATH needs --checkpoint-every N (N >= 1)")
    checkpoints = Checkpoints(task, spec, args, checkpoint_path(args, task), args.checkpoint_every, args.resume, rank)
    device = resolve_device(args.device, rank)
    torch.manual_seed(args.seed)
    model = spec.build().to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    log = fit(model, problem, args, device, steps_per_epoch, rank, world, description=f"{task} {spec.kind}",
              checkpoints=checkpoints)
    if rank != 0:
        return None
    metrics = evaluate(model, device)
    memory = memory_usage(model, problem, probe, log, device)
    return TaskRun(record(task, args, spec, model, log, metrics, memory, data, device, world), model, spec)
