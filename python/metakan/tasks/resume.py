"""Training checkpoints: everything a run needs to continue bit-identically, written atomically, checked on resume."""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from .models import ModelSpec

FORMAT = "metakan-checkpoint-1"
FIELDS = ("task", "spec", "options", "epoch", "model", "optimizer", "scheduler", "log", "rng")

# Options that say where and how a run is placed or reported, not what it computes: a resume may change them.
# (Another --device, --backend or --ddp continues the same training, though not bit for bit.)
PLACEMENT_OPTIONS = frozenset({
    "output", "save_model", "no_progress", "checkpoint", "checkpoint_every", "resume", "device", "backend", "ddp",
    "data_root", "download", "recipe",
})


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that belongs to another run."""


def atomic_save(value: Any, path: Union[str, Path]) -> None:
    """``torch.save(value, path)`` so that ``path`` always holds either its old content or all of the new:
    write a temporary file in the same directory, fsync it, then ``os.replace`` it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            torch.save(value, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    # make the rename itself durable
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def run_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The options that decide what a run computes (everything but :data:`PLACEMENT_OPTIONS`), JSON-friendly."""
    from .report import settings

    return {key: value for key, value in settings(args).items() if key not in PLACEMENT_OPTIONS}


def rng_states(device: torch.device) -> Dict[str, Any]:
    """Every global random state a run may draw from: torch (CPU, and CUDA when the run uses it), Python's
    ``random`` and numpy's legacy global generator. The tasks' batches come from generators seeded by
    (seed, epoch), so they need no state of their own."""
    numpy_state = np.random.get_state(legacy=False)
    states = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
    }
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_states` captured (CUDA only when this run uses CUDA too)."""
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    saved = states["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
                         "has_gauss": saved["has_gauss"], "gauss": saved["gauss"]})
    if device.type == "cuda" and "cuda" in states and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_saved(path: Union[str, Path]) -> Any:
    """``torch.load`` of a file this package saved: on CPU, weights only. FileNotFoundError if there is
    none; ValueError (one line: the error's type and first sentence) if it does not load."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch.load reports a damaged file with many exception types
        # the first sentence only: torch's later ones suggest weights_only=False, never right for a foreign file
        text = str(err).strip()
        reason = text.splitlines()[0].split(". ")[0][:200] if text else ""
        raise ValueError(f"{type(err).__name__}: {reason}" if reason else type(err).__name__) from None


def load_format(path: Union[str, Path], file_format: str, what: str) -> Dict[str, Any]:
    """The dict saved at ``path`` whose ``"format"`` is ``file_format``; else ValueError, one line:
    ``PATH: no such file``, ``PATH is not WHAT (FORMAT): it does not load (...)`` or ``PATH is not WHAT (FORMAT)``."""
    not_ours = f"{path} is not {what} ({file_format})"
    try:
        saved = load_saved(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValueError as err:
        raise ValueError(f"{not_ours}: it does not load ({err})") from None
    if not isinstance(saved, dict) or saved.get("format") != file_format:
        raise ValueError(not_ours)
    return saved


def load_checkpoint(path: Union[str, Path]) -> Dict[str, Any]:
    """The checkpoint at ``path``; :class:`CheckpointError` (one line) if it is missing, unreadable or foreign."""
    try:
        saved = load_format(path, FORMAT, "a training checkpoint of 'metakan train'")
    except ValueError as err:
        raise CheckpointError(f"--resume {err}") from None
    missing = [field for field in FIELDS if field not in saved]
    if missing:
        raise CheckpointError(f"--resume {path}: the checkpoint lacks {', '.join(missing)}")
    return saved


def check_matches(saved: Dict[str, Any], path: Union[str, Path], task: str, spec: ModelSpec,
                  args: argparse.Namespace) -> None:
    """Refuse a checkpoint of another task, model or options, naming every difference."""
    if saved["task"] != task:
        raise CheckpointError(f"--resume {path}: the checkpoint is of 'metakan train {saved['task']}', not {task}")
    differences = []
    ours = run_options(args)
    for key in sorted(set(ours) | set(saved["options"])):
        theirs, mine = saved["options"].get(key, "(absent)"), ours.get(key, "(absent)")
        if theirs != mine:
            differences.append(f"--{key.replace('_', '-')} {theirs} there, {mine} here")
    model = {key: value for key, value in spec.to_dict().items() if key != "backend"}
    theirs = {key: value for key, value in saved["spec"].items() if key != "backend"}
    if not differences and theirs != model:
        differences.append(f"model {theirs} there, {model} here")
    if differences:
        raise CheckpointError(f"--resume {path}: the checkpoint was written with other options: "
                              + "; ".join(differences))


class Checkpoints:
    """A run's checkpointing: write one every ``every`` epochs to ``path``, and continue from ``resume``.

    A checkpoint holds the model, optimiser and scheduler states, the random states, the completed
    epochs, the per-epoch log so far, and the task, model spec and options a resume must match.
    """

    def __init__(self, task: str, spec: ModelSpec, args: argparse.Namespace, path: Optional[Path], every: int,
                 resume: Optional[Path], rank: int = 0):
        self.task, self.spec, self.args = task, spec, args
        self.path, self.every, self.rank = path, every, rank
        self.saved = None
        if resume is not None:
            self.saved = load_checkpoint(resume)
            check_matches(self.saved, resume, task, spec, args)

    def restore(self, model: torch.nn.Module, optimizer, scheduler, log, device: torch.device) -> int:
        """Load the resumed state into the run's objects (``log`` gets the epochs done so far);
        the number of completed epochs (0 for a fresh run)."""
        if self.saved is None:
            return 0
        saved = self.saved
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        log.losses[:] = saved["log"]["losses"]
        log.epoch_seconds[:] = saved["log"]["epoch_seconds"]
        set_rng_states(saved["rng"], device)
        return int(saved["epoch"])

    def after_epoch(self, epoch: int, model: torch.nn.Module, optimizer, scheduler, log,
                    device: torch.device) -> None:
        """Write a checkpoint after ``epoch`` completed epochs when one is due (on process 0 only)."""
        if self.rank != 0 or self.path is None or self.every <= 0 or epoch % self.every:
            return
        atomic_save({  # the FIELDS, and the format
            "format": FORMAT,
            "task": self.task,
            "spec": self.spec.to_dict(),
            "options": run_options(self.args),
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "log": {"losses": list(log.losses), "epoch_seconds": list(log.epoch_seconds)},
            "rng": rng_states(device),
        }, self.path)
