"""Training step (forward + backward) of one MetaKANLinear on the compiled extension's backend against
the others, side by side in one run: time and peak memory, with nn.Linear for scale.

    .venv/bin/python bench/native_step.py                  # CPU: cpu vs reference
    .venv/bin/python bench/native_step.py --device cuda    # GPU: cuda vs triton vs reference

Default layer: B=8192, I=O=256, G=5, k=3, d=1, H=32, float32; the step computes the parameters'
gradients (x is data). Time: median (20th-80th percentile) of alternating repetitions. Peak memory:
on CUDA, the caching allocator's peak above what is allocated before the step; on CPU, the rise of
the resident set (VmHWM, reset before the step) during a step after a warm-up one, each backend in a
fresh process with glibc returning large blocks to the system, so that every buffer counts (the
extension's tile buffers included). Writes bench/results/native_step_<device>_<dtype>_<B>x<I>.json.
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

RESULTS = Path(__file__).resolve().parent / "results"
SIZE_OPTIONS = ("batch", "width", "grid_size", "spline_order", "embedding_dim", "hidden")


def backends(device: str):
    """The layers to compare on `device`, with the reason any of them cannot run."""
    candidates = ["cpu", "reference"] if device == "cpu" else ["cuda", "triton", "reference"]
    usable, missing = [], {}
    for name in candidates:
        try:
            mk.resolve_backend(name, device)
            usable.append(name)
        except (ValueError, mk.BackendUnavailable) as err:
            missing[name] = str(err)
    return usable + ["linear"], missing


def make_step(name: str, args):
    """One training step of layer `name` on a fixed batch."""
    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    x = torch.randn(args.batch, args.width, device=args.device, dtype=dtype)
    if name == "linear":
        layer = torch.nn.Linear(args.width, args.width)
    else:
        layer = metakan.MetaKANLinear(args.width, args.width, args.grid_size, args.spline_order, args.embedding_dim,
                                      args.hidden, backend=name)
    layer = layer.to(args.device, dtype)

    def step():
        layer.zero_grad(set_to_none=False)
        layer(x).float().sum().backward()

    return step


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure_times(names, args) -> dict:
    steps = {name: make_step(name, args) for name in names}
    for step in steps.values():
        step()
    times = {name: [] for name in names}
    for _ in range(args.reps):
        for name, step in steps.items():
            _sync(args.device)
            start = time.perf_counter()
            step()
            _sync(args.device)
            times[name].append(time.perf_counter() - start)
    return {name: _summary(ts) for name, ts in times.items()}


def _summary(ts):
    q = statistics.quantiles(ts, n=10, method="inclusive")
    return {"median_s": statistics.median(ts), "p20_s": q[1], "p80_s": q[7], "reps": len(ts)}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_here(name: str, args) -> int:
    """Bytes a step of `name` needs above what exists before it, measured in this process."""
    step = make_step(name, args)
    step()
    if args.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = _rss_kib("VmRSS")
    step()
    return (_rss_kib("VmHWM") - before) * 1024


def measure_peak(name: str, args) -> int:
    """peak_here in a fresh process (so that no backend's cached memory counts for another)."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    argv = [sys.executable, __file__, "--peak-of", name, "--device", args.device, "--dtype", args.dtype]
    for option in SIZE_OPTIONS:
        argv += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _commit() -> str:
    here = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=here).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine(device: str) -> dict:
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())
    machine = {"cpu": cpu, "threads": torch.get_num_threads(), "load_average": os.getloadavg(),
               "python": platform.python_version(), "torch": torch.__version__}
    if device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
        try:
            import triton
            machine["triton"] = triton.__version__
        except ImportError:
            pass
    return machine


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16", "float64"), default="float32")
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--grid-size", type=int, default=5)
    parser.add_argument("--spline-order", type=int, default=3)
    parser.add_argument("--embedding-dim", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    if args.peak_of:
        print(peak_here(args.peak_of, args))
        return
    names, missing = backends(args.device)
    fused = names[0]
    times = measure_times(names, args)
    peaks = {name: measure_peak(name, args) for name in names}
    result = {
        "what": f"MetaKANLinear training step (forward + backward, parameter gradients), {args.dtype}, {args.device}",
        "shape": {option: getattr(args, option) for option in SIZE_OPTIONS},
        "time": times,
        "peak_bytes": peaks,
        "not_run": missing,
        "machine": _machine(args.device),
        "commit": _commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for name in names:
        t = times[name]
        print(f"{name:9s} {t['median_s'] * 1e3:9.2f} ms ({t['p20_s'] * 1e3:.2f}-{t['p80_s'] * 1e3:.2f})  "
              f"peak {peaks[name] / 2**20:9.1f} MiB")
    for name, reason in missing.items():
        print(f"{name:9s} not run: {reason}")
    for other in names[1:-1]:
        result[f"time_ratio_{fused}_over_{other}"] = times[fused]["median_s"] / times[other]["median_s"]
        result[f"peak_ratio_{fused}_over_{other}"] = peaks[fused] / peaks[other]
        print(f"{fused} / {other}: time {result[f'time_ratio_{fused}_over_{other}']:.3f}, "
              f"peak memory {result[f'peak_ratio_{fused}_over_{other}']:.3f}")
    if not args.no_save:
        path = RESULTS / f"native_step_{args.device}_{args.dtype}_{args.batch}x{args.width}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
