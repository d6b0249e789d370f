"""Side-by-side GPU timing and memory of the triton and reference backends on one layer shape (part of gpu_check.sh).

For each op (kan_linear, metakan_linear), dtype and backend: median time of the forward and of
forward + backward (triton.testing.do_bench), peak memory of one forward + backward above what
existed before, and the bytes the forward keeps for backward. Prints a markdown table with the
triton/reference ratios and, when ``--out`` is given, writes the rows as CSV and JSON there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time

import torch
import triton
import triton.testing

import metakan_kernels as mk
from metakan.memory import saved_bytes

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--in-features", type=int, default=1024)
    parser.add_argument("--out-features", type=int, default=1024)
    parser.add_argument("--grid-size", type=int, default=5)
    parser.add_argument("--spline-order", type=int, default=3)
    parser.add_argument("--embedding-dim", type=int, default=1)
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated, of " + ", ".join(DTYPES))
    parser.add_argument("--ops", default="kan,metakan")
    parser.add_argument("--out", help="directory for triton_vs_reference.csv / .json")
    return parser.parse_args(argv)


def _inputs(op, a, dtype):
    device = torch.device("cuda")
    num_bases = a.grid_size + a.spline_order
    x = torch.randn(a.batch, a.in_features, device=device, dtype=dtype)
    if op == "kan":
        shapes = ((a.out_features, a.in_features, num_bases), (a.out_features, a.in_features))
    else:
        shapes = ((a.out_features, a.in_features, a.embedding_dim), (a.hidden_dim, a.embedding_dim),
                  (a.hidden_dim,), (num_bases + 1, a.hidden_dim), (num_bases + 1,))
    params = [(torch.randn(*s, device=device) * 0.1).to(dtype).requires_grad_() for s in shapes]
    return x, params


def _measure(op, a, dtype, backend):
    x, params = _inputs(op, a, dtype)
    options = dict(grid_size=a.grid_size, spline_order=a.spline_order, backend=backend)
    fn = mk.kan_linear if op == "kan" else mk.metakan_linear

    def forward():
        return fn(x, *params, **options)

    dy = torch.randn(a.batch, a.out_features, device=x.device, dtype=dtype)

    def step():
        torch.autograd.grad(forward(), params, dy)

    step()  # compiles and autotunes the kernels outside the timed region
    torch.cuda.synchronize()
    with torch.no_grad():
        fwd_ms = triton.testing.do_bench(forward, return_mode="median")
    step_ms = triton.testing.do_bench(step, return_mode="median")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    kept = saved_bytes(forward, exclude=(x, *params))
    return dict(op=op, dtype=str(dtype).replace("torch.", ""), backend=backend, forward_ms=fwd_ms,
                forward_backward_ms=step_ms, peak_mib=peak / 2**20, kept_for_backward_mib=kept / 2**20)


def _environment():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return dict(device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
                cuda=torch.version.cuda, python=platform.python_version(), commit=commit,
                time=time.strftime("%Y-%m-%dT%H:%M:%S"))


def _table(rows, a) -> str:
    lines = [f"B={a.batch} I={a.in_features} O={a.out_features} G={a.grid_size} k={a.spline_order} "
             f"d={a.embedding_dim} H={a.hidden_dim}", "",
             "| op | dtype | backend | forward ms | fwd+bwd ms | peak MiB | kept MiB | fwd+bwd speed-up | peak ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    baseline = {(r["op"], r["dtype"]): r for r in rows if r["backend"] == "reference"}
    for r in rows:
        ref = baseline.get((r["op"], r["dtype"]))
        speed = f"{ref['forward_backward_ms'] / r['forward_backward_ms']:.2f}x" if ref else "-"
        memory = f"{r['peak_mib'] / ref['peak_mib']:.3f}" if ref and ref["peak_mib"] else "-"
        lines.append(f"| {r['op']} | {r['dtype']} | {r['backend']} | {r['forward_ms']:.2f} | "
                     f"{r['forward_backward_ms']:.2f} | {r['peak_mib']:.0f} | {r['kept_for_backward_mib']:.1f} | "
                     f"{speed} | {memory} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    a = _args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure", file=sys.stderr)
        return 2
    env = _environment()
    rows = []
    for op in a.ops.split(","):
        for name in a.dtypes.split(","):
            for backend in ("reference", "triton"):
                rows.append({**_measure(op, a, DTYPES[name], backend), **env})
                torch.cuda.empty_cache()
    print(f"{env['device']}, torch {env['torch']}, triton {env['triton']}, CUDA {env['cuda']}, commit {env['commit']}")
    print(_table(rows, a))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "triton_vs_reference.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        with open(os.path.join(a.out, "triton_vs_reference.json"), "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
