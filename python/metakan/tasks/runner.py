"""One training run of a task, start to finish: build, train (maybe as one of N processes), evaluate, record."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional, Sequence

import torch

from .models import ModelSpec
from .report import checkpoint_path, record
from .resume import Checkpoints
from .training import Batch, FitLog, Problem, fit, memory_usage, resolve_device


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
    grid_schedule: Sequence[int] = (),
) -> Optional[TaskRun]:
    """Build ``spec`` (seeded by ``args.seed``), train it on ``problem`` (continuing ``args.resume``
    if given, checkpointing every ``args.checkpoint_every`` epochs), then on process 0 evaluate it,
    measure memory on the batch ``probe`` and return the record (None on other processes).

    ``grid_schedule`` (grid sizes, increasing): build at the first, train ``args.epochs`` epochs at
    each, refining the network onto the next between them (``KAN.refine`` / ``MetaKAN.refine``: the same
    function, a new optimizer); the record's spec has the last grid size."""
    if args.checkpoint and not args.checkpoint_every:
        raise ValueError("--checkpoint PATH needs --checkpoint-every N (N >= 1)")
    sizes = list(grid_schedule) or [spec.grid_size]
    if grid_schedule:
        _check_grid_schedule(args, spec, sizes, world)
    checkpoints = Checkpoints(task, spec, args, checkpoint_path(args, task), args.checkpoint_every, args.resume, rank)
    device = resolve_device(args.device, rank)
    torch.manual_seed(args.seed)
    model = replace(spec, grid_size=sizes[0]).build().to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses, seconds = [], []
    for stage, size in enumerate(sizes):
        if stage:
            model = model.refine(size)
        log = fit(model, problem, args, device, steps_per_epoch, rank, world,
                  description=f"{task} {spec.kind}" + (f" G={size}" if grid_schedule else ""), checkpoints=checkpoints)
        losses += log.losses
        seconds += log.epoch_seconds
    log = FitLog(losses, seconds, log.optimizer)
    spec = replace(spec, grid_size=sizes[-1])
    if rank != 0:
        return None
    metrics = evaluate(model, device)
    memory = memory_usage(model, problem, probe, log, device)
    return TaskRun(record(task, args, spec, model, log, metrics, memory, data, device, world), model, spec)


def _check_grid_schedule(args: argparse.Namespace, spec: ModelSpec, sizes: Sequence[int], world: int) -> None:
    """What a grid schedule needs: a KAN or MetaKAN network, increasing sizes, one process, no checkpoints."""
    if spec.kind not in ("kan", "metakan") or spec.arch != "fc" or spec.hard_boundary:
        raise ValueError("--grid-schedule refines KAN and MetaKAN networks (--model kan or metakan)")
    if any(later <= earlier for earlier, later in zip(sizes, sizes[1:])):
        raise ValueError(f"--grid-schedule must be increasing grid sizes, got {','.join(map(str, sizes))}")
    if args.checkpoint_every or args.resume:
        raise ValueError("--grid-schedule does not checkpoint (a checkpoint holds one grid size's model); "
                         "run it without --checkpoint-every / --resume")
    if world > 1:
        raise ValueError("--grid-schedule runs on one process; use it without --ddp")
