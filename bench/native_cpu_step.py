"""Training step (forward + backward) of one MetaKANLinear on CPU: the compiled extension ("cpu")
against the reference, side by side in one run: time and peak memory; nn.Linear for scale.

    .venv/bin/python bench/native_cpu_step.py        # B=8192, I=O=256, G=5, k=3, d=1, H=32, float32

Time: median (20th-80th percentile) of alternating repetitions. Peak memory: the rise of the
process's resident set (VmHWM, reset before the step) during a step after a warm-up one, each
backend in a fresh process with glibc returning large blocks to the system, so that every buffer
the step allocates counts, the extension's own tile buffers included. Writes
bench/results/native_cpu_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

import metakan
import metakan_kernels as mk

RESULTS = Path(__file__).resolve().parent / "results" / "native_cpu_step.json"
STEPS = ("cpu", "reference", "linear")


def make_step(name: str, args):
    """A closure running one training step of the layer `name` on a fixed batch."""
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.width)
    if name == "linear":
        layer = torch.nn.Linear(args.width, args.width)
    else:
        layer = metakan.MetaKANLinear(args.width, args.width, args.grid_size, args.spline_order, args.embedding_dim,
                                      args.hidden, backend=name)

    def step():
        layer.zero_grad(set_to_none=False)
        layer(x).sum().backward()

    return step


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_of(name: str, args) -> int:
    """Bytes the resident set rises by during one step (run in a fresh process)."""
    step = make_step(name, args)
    step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = _rss_kib("VmRSS")
    step()
    return (_rss_kib("VmHWM") - before) * 1024


def measure_peak(name: str, args) -> int:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    argv = [sys.executable, __file__, "--peak-of", name] + _size_argv(args)
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _size_argv(args):
    return ["--batch", str(args.batch), "--width", str(args.width), "--grid-size", str(args.grid_size),
            "--spline-order", str(args.spline_order), "--embedding-dim", str(args.embedding_dim),
            "--hidden", str(args.hidden)]


def measure_times(args) -> dict:
    steps = {name: make_step(name, args) for name in STEPS}
    for step in steps.values():
        step()
    times = {name: [] for name in STEPS}
    for _ in range(args.reps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: _summary(ts) for name, ts in times.items()}


def _summary(ts):
    q = statistics.quantiles(ts, n=10)
    return {"median_s": statistics.median(ts), "p20_s": q[1], "p80_s": q[7], "reps": len(ts)}


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).parent).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_name() -> str:
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--grid-size", type=int, default=5)
    parser.add_argument("--spline-order", type=int, default=3)
    parser.add_argument("--embedding-dim", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--peak-of", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    if args.peak_of:
        print(peak_of(args.peak_of, args))
        return
    assert mk.resolve_backend("cpu", "cpu") == "cpu"
    times = measure_times(args)
    peaks = {name: measure_peak(name, args) for name in STEPS}
    result = {
        "what": "MetaKANLinear training step (forward + backward, parameter gradients), float32, CPU",
        "shape": {k: getattr(args, k) for k in ("batch", "width", "grid_size", "spline_order", "embedding_dim", "hidden")},
        "time": times,
        "peak_bytes": peaks,
        "time_ratio_cpu_over_reference": times["cpu"]["median_s"] / times["reference"]["median_s"],
        "peak_ratio_cpu_over_reference": peaks["cpu"] / peaks["reference"],
        "machine": {"cpu": _cpu_name(), "threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "commit": _commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for name in STEPS:
        t = times[name]
        print(f"{name:9s} {t['median_s']:.4f} s ({t['p20_s']:.4f}-{t['p80_s']:.4f})  peak {peaks[name] / 2**20:8.1f} MiB")
    print(f"cpu / reference: time {result['time_ratio_cpu_over_reference']:.3f}, "
          f"peak memory {result['peak_ratio_cpu_over_reference']:.3f}")
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
