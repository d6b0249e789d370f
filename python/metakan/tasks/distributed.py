"""Run a training function in N processes on this machine with torch.distributed (gloo on CPU, NCCL on GPU)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _process(rank: int, world: int, fn: Callable[[int, int, Any], None], payload: Any, init_file: str,
             backend: str) -> None:
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    # share the cores instead of oversubscribing them
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        fn(rank, world, payload)
    finally:
        dist.destroy_process_group()


def launch(world: int, fn: Callable[[int, int, Any], None], payload: Any, use_cuda: bool) -> None:
    """Call ``fn(rank, world, payload)`` in ``world`` fresh processes joined in one process group.

    ``fn`` must be importable (a module-level function) and ``payload`` picklable. With
    ``use_cuda`` the group uses NCCL and needs ``world`` GPUs; otherwise gloo on CPU.
    """
    if use_cuda and torch.cuda.device_count() < world:
        raise ValueError(f"--ddp {world} on CUDA needs {world} GPUs, torch sees {torch.cuda.device_count()}")
    backend = "nccl" if use_cuda else "gloo"
    with tempfile.TemporaryDirectory(prefix="metakan-ddp-") as folder:
        init_file = str(Path(folder) / "rendezvous")
        mp.spawn(_process, args=(world, fn, payload, init_file, backend), nprocs=world, join=True)
