"""The training loop every task uses: optimiser groups, schedules, DDP sharding, progress bar, timing, memory."""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.distributed as dist

from ..memory import saved_bytes
from ..networks import param_groups
from .resume import Checkpoints

Batch = Tuple[torch.Tensor, ...]


@dataclass
class Problem:
    """What a task hands to :func:`fit`.

    ``train_batches(epoch)`` yields the epoch's global batches (tuples of tensors sharing their
    first dimension; the same on every process). ``losses(model, *batch)`` returns the per-example
    losses (n,) of a batch or of a slice of it.
    """

    train_batches: Callable[[int], Iterable[Batch]]
    losses: Callable[..., torch.Tensor]


@dataclass
class FitLog:
    """Per-epoch mean training loss and wall time, and the optimiser (for its state's size)."""

    losses: List[float]
    epoch_seconds: List[float]
    optimizer: torch.optim.Optimizer


def resolve_device(name: str, rank: int = 0) -> torch.device:
    """``auto``: CUDA when present, else CPU; under DDP on CUDA each process takes GPU ``rank``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU")
        return torch.device("cuda", rank)
    return torch.device("cpu")


def learning_rates(args: argparse.Namespace) -> Tuple[float, float]:
    """(embedding, meta-learner) learning rates: ``--lr-embed``/``--lr-meta``, defaulting to ``--lr``."""
    embed = args.lr if args.lr_embed is None else args.lr_embed
    meta = args.lr if args.lr_meta is None else args.lr_meta
    return embed, meta


def weight_decays(args: argparse.Namespace) -> Dict[str, float]:
    """Weight decay of each :func:`param_groups` group: ``--weight-decay-embed``/``--weight-decay-meta``,
    defaulting to ``--weight-decay``, which the other parameters take."""
    other = args.weight_decay
    embed = other if args.weight_decay_embed is None else args.weight_decay_embed
    meta = other if args.weight_decay_meta is None else args.weight_decay_meta
    return {"embedding": embed, "meta_learner": meta, "other": other}


def make_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    """Adam or AdamW over :func:`param_groups` (embeddings, meta-learners, the rest), each group with
    its learning rate and weight decay, or LBFGS (one rate, no weight decay)."""
    embed, meta = learning_rates(args)
    decays = weight_decays(args)
    if args.optimizer == "lbfgs":
        if embed != args.lr or meta != args.lr:
            raise ValueError("--optimizer lbfgs takes a single learning rate (--lr); "
                             "use --optimizer adam for separate --lr-embed and --lr-meta")
        if any(decays.values()):
            raise ValueError("--optimizer lbfgs has no weight decay; use --optimizer adam or adamw")
        # tolerances far below float32 resolution: run every step instead of stopping on a plateau
        return torch.optim.LBFGS(model.parameters(), lr=args.lr, max_iter=20, history_size=10,
                                 line_search_fn="strong_wolfe", tolerance_grad=1e-32, tolerance_change=1e-32)
    groups = param_groups(model, lr_embedding=embed, lr_meta=meta, lr_other=args.lr)
    for group in groups:
        group["weight_decay"] = decays[group["name"]]
    return (torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam)(groups)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int):
    """None for ``constant``; cosine annealing or linear decay to zero over ``total_steps``."""
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / max(total_steps, 1)))
    raise ValueError(f"schedule must be 'constant', 'cosine' or 'linear', got {schedule!r}")


def _mean_over_processes(value: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(value)
        value = value / world
    return value


def fit(
    model: torch.nn.Module,
    problem: Problem,
    args: argparse.Namespace,
    device: torch.device,
    steps_per_epoch: int,
    rank: int = 0,
    world: int = 1,
    description: str = "train",
    checkpoints: Optional[Checkpoints] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
) -> FitLog:
    """Train ``model`` for ``args.epochs`` epochs; every process takes its slice of each global batch.

    ``optimizer`` defaults to :func:`make_optimizer`'s for ``args``.

    The loss of a slice is scaled by ``world / global batch`` so that DDP's average of the
    processes' gradients is the gradient of the global batch's mean loss, whatever the slices' sizes.
    ``checkpoints`` restores a resumed run's state before the first epoch and writes checkpoints
    at epoch ends; an epoch's batches depend only on (seed, epoch), so a resumed run draws the
    same batches as an uninterrupted one.
    """
    from tqdm.auto import tqdm

    net = model
    if world > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if optimizer is None:
        optimizer = make_optimizer(model, args)
    scheduler = make_scheduler(optimizer, args.schedule, args.epochs * steps_per_epoch)
    log = FitLog([], [], optimizer)
    done = checkpoints.restore(model, optimizer, scheduler, log, device) if checkpoints is not None else 0
    bar = tqdm(total=args.epochs * steps_per_epoch, initial=done * steps_per_epoch, desc=description,
               disable=args.no_progress or rank != 0, file=sys.stderr, unit="step", dynamic_ncols=True)
    for epoch in range(done, args.epochs):
        start = time.perf_counter()
        total, steps = 0.0, 0
        for batch in problem.train_batches(epoch):
            size = len(batch[0])
            shard = tuple(t[rank * size // world : (rank + 1) * size // world].to(device) for t in batch)

            def closure():
                optimizer.zero_grad(set_to_none=True)
                loss = problem.losses(net, *shard).sum() * (world / size)
                loss.backward()
                return _mean_over_processes(loss.detach(), world)

            if args.optimizer == "lbfgs":
                loss = optimizer.step(closure)
            else:
                loss = closure()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += float(loss)
            steps += 1
            bar.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        log.epoch_seconds.append(time.perf_counter() - start)
        log.losses.append(total / max(steps, 1))
        bar.set_postfix(epoch=epoch + 1, loss=f"{log.losses[-1]:.4g}")
        if checkpoints is not None:
            checkpoints.after_epoch(epoch + 1, model, optimizer, scheduler, log, device)
    bar.close()
    return log


def _tensor_bytes(values: Iterable) -> int:
    total = 0
    for value in values:
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
        elif isinstance(value, (list, tuple)):  # LBFGS keeps its history in lists
            total += _tensor_bytes(value)
    return total


def memory_usage(model: torch.nn.Module, problem: Problem, batch: Batch, log: FitLog, device: torch.device) -> dict:
    """Bytes a training step needs: what the forward keeps for backward on ``batch`` (measured with
    saved-tensor hooks, inputs and parameters left out), parameters + gradients + optimiser state,
    the process's peak resident memory, and on CUDA the allocator's peak."""
    batch = tuple(t.to(device) for t in batch)
    kept = saved_bytes(lambda: problem.losses(model, *batch).mean(), exclude=[*batch, *model.parameters()])
    params = list(model.parameters())
    state = [value for per_param in log.optimizer.state.values() for value in per_param.values()]
    usage = {
        "saved_for_backward_bytes": kept,
        "parameter_state_bytes": _tensor_bytes(params) + _tensor_bytes(p.grad for p in params) + _tensor_bytes(state),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if device.type == "cuda":
        usage["cuda_peak_bytes"] = torch.cuda.max_memory_allocated(device)
    return usage


def shuffled_batches(tensors: Batch, batch_size: int, seed: int, epoch: int) -> Iterable[Batch]:
    """The epoch's batches of ``tensors`` in an order fixed by (seed, epoch); ``batch_size`` 0 or
    at least the data size gives one full batch in the original order."""
    count = len(tensors[0])
    if batches_per_epoch(count, batch_size) == 1:
        yield tensors
        return
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(count, generator=generator)
    for first in range(0, count, batch_size):
        index = order[first : first + batch_size]
        yield tuple(t[index] for t in tensors)


def batches_per_epoch(count: int, batch_size: int) -> int:
    """Batches of ``batch_size`` (0: the whole set) that cover ``count`` examples."""
    if batch_size < 0:
        raise ValueError(f"batch size must be >= 0 (0: the whole training set), got {batch_size}")
    return 1 if batch_size == 0 or batch_size >= count else -(-count // batch_size)
