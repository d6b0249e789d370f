"""Where and with what a benchmark ran: device name, library versions, git commit, time, load."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Dict

import torch

import metakan

_SOURCE_DIR = Path(metakan.__file__).resolve().parent


def cpu_name() -> str:
    """The CPU model, e.g. ``"AMD EPYC 7B13"`` (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} logical cores)"


def git_commit() -> str:
    """The commit of metakan's source checkout, ``+dirty`` when tracked files outside
    bench/results differ from it. For a copy without git (an installed package, a tree copied to
    another machine): the environment variable METAKAN_GIT_COMMIT, else ``unknown``."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=_SOURCE_DIR, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        root = git("rev-parse", "--show-toplevel")
        dirty = git("-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("METAKAN_GIT_COMMIT") or "unknown"
    return commit + ("+dirty" if dirty else "")


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except ImportError:
        return "not installed"


def run_environment(device: torch.device, dtype: torch.dtype) -> Dict[str, object]:
    """The columns every row of one run shares."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "run_id": now.strftime("%Y%m%dT%H%M%S.%fZ"),
        "timestamp": now.isoformat(timespec="seconds"),
        "device": device.type,
        "device_name": device_name(device),
        "dtype": str(dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "load_avg": f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "",
        "torch_version": torch.__version__,
        "triton_version": _version("triton"),
        "python_version": platform.python_version(),
        "metakan_version": metakan.__version__,
        "git_commit": git_commit(),
    }
