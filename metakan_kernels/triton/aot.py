"""Ahead-of-time compile of every Triton kernel configuration for sm_80 and sm_90, no GPU needed, with a resource table.

Run as ``python -m metakan_kernels.triton.aot`` with ``TRITON_INTERPRET`` unset. For each layer
setting below, dtype, kernel and autotune config it compiles what the GPU path launches (the
launch records come from :mod:`.launch` itself), then prints registers, shared memory, spills
(``cuobjdump -res-usage``) and whether the PTX uses ``mma``/``wgmma``. Exit status 1 on any
compile error or on local-memory spills.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, NamedTuple

import torch
import triton

from ..limits import ACTIVATION_CODES
from . import launch
from .configs import INTERPRET

# name -> (dtype, torch.get_float32_matmul_precision() at launch): float32 compiles twice, once
# for three-TF32 products (the default) and once for plain TF32 (precision "high")
DTYPES = {
    "fp32": (torch.float32, "highest"), "tf32": (torch.float32, "high"), "fp16": (torch.float16, "highest"),
    "bf16": (torch.bfloat16, "highest"), "fp64": (torch.float64, "highest"),
}
ARCHS = (80, 90)


class Setting(NamedTuple):
    """A layer shape class; every constexpr branch of the kernels is reached by one of these."""

    name: str
    grid_size: int
    spline_order: int
    embedding_dim: int
    hidden_dim: int
    activation: str  # a name of limits.ACTIVATIONS
    uniform: bool
    base: bool
    dtypes: tuple


SETTINGS = (
    # the paper's defaults (the benchmark's layer), in every dtype
    Setting("G5k3d1H32-relu", 5, 3, 1, 32, "relu", True, True, tuple(DTYPES)),
    # K = 64: slots in chunks; order 5 on knots; d = 16 (product path); H = 128
    Setting("G59k5d16H128-gelu-knots", 59, 5, 16, 128, "gelu", False, True, ("bf16",)),
    # order 1 on knots, no base term, odd d and H
    Setting("G3k1d3H20-tanh-knots-nobase", 3, 1, 3, 20, "tanh", False, False, ("fp16",)),
    # order 4 on knots (narrow steps), small K
    Setting("G4k4d2H16-silu-knots", 4, 4, 2, 16, "silu", False, True, ("fp32",)),
    # K + 1 = 32 in one step of two features; d = 5 (product path)
    Setting("G13k3d5H64-gelu", 13, 3, 5, 64, "gelu", True, True, ("fp64", "bf16")),
    # the paper's image-classification layer: an affine meta-learner (identity activation)
    Setting("G5k3d1H32-identity", 5, 3, 1, 32, "identity", True, True, ("fp32", "bf16")),
)


class Job(NamedTuple):
    setting: str
    dtype: str
    kernel: str
    config: str
    arch: int
    module: str  # the jitted kernel, by where it is defined (picklable for worker processes)
    name: str
    signature: Dict[str, str]
    constexprs: Dict[str, object]
    attrs: Dict[tuple, list]
    options: Dict[str, int]


def _meta(*shape, dtype):
    return torch.empty(*shape, dtype=dtype, device="meta")


# batch, in_features, out_features of the compile check: the sizes are not compile-time constants
SIZES = (64, 48, 40)


def setting_launches(s: Setting, dtype_name: str, sizes=SIZES,
                     edge_statistics: bool = False) -> Dict[str, launch.Launch]:
    """The launches of one forward and backward of both layer ops at this setting and sizes (B, I, O),
    with ``edge_statistics`` also those of the edge statistics' forward and backward passes."""
    dtype, matmul_precision = DTYPES[dtype_name]
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(matmul_precision)
    try:
        return _launches(s, dtype, sizes, edge_statistics)
    finally:
        torch.set_float32_matmul_precision(saved)


def _launches(s: Setting, dtype: torch.dtype, sizes, edge_statistics: bool) -> Dict[str, launch.Launch]:
    b, i, o = sizes
    k = s.grid_size + s.spline_order
    knots_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    grid = None if s.uniform else _meta(i, s.grid_size + 2 * s.spline_order + 1, dtype=knots_dtype)
    x, y, dy = _meta(b, i, dtype=dtype), _meta(b, o, dtype=dtype), _meta(b, o, dtype=dtype)
    coef, base = _meta(o, i, k, dtype=dtype), _meta(o, i, dtype=dtype) if s.base else None
    z = _meta(o, i, s.embedding_dim, dtype=dtype)
    w1, b1 = _meta(s.hidden_dim, s.embedding_dim, dtype=dtype), _meta(s.hidden_dim, dtype=dtype)
    w2, b2 = _meta(k + 1, s.hidden_dim, dtype=dtype), _meta(k + 1, dtype=dtype)
    spline = launch.spline_settings(x, grid, s.grid_size, s.spline_order, -1.0, 1.0)
    kan = launch.kan_weights(coef, base, spline)
    meta = launch.meta_weights(z, w1, b1, w2, b2, ACTIVATION_CODES[s.activation], spline)
    partials = launch.meta_partials(z, w1, w2, 3)
    stat = _meta(o, i, dtype=dtype)
    found = {
        "kan_fwd": launch.fwd_launches(x, y, spline, kan),
        "kan_bwd_dx": launch.dx_launches(dy, x, x, spline, kan),
        "kan_bwd_params": launch.kan_params_launches(dy, x, coef, base, spline),
        "metakan_fwd": launch.fwd_launches(x, y, spline, meta),
        "metakan_bwd_dx": launch.dx_launches(dy, x, x, spline, meta),
        "metakan_bwd_params": launch.metakan_params_launches(dy, x, z, w1, b1, w2, z, partials, spline,
                                                             ACTIVATION_CODES[s.activation], False),
    }
    if edge_statistics:
        grads = launch.EdgeGrads(x, coef, coef, z, partials)
        for op, weights in (("kan", kan), ("metakan", meta)):
            found[f"{op}_edge_l1"] = launch.edge_l1_launches(x, stat, spline, weights)
            found[f"{op}_edge_l1_bwd_dx"] = launch.edge_l1_launches(x, None, spline, weights, stat, grads, True, False)
            found[f"{op}_edge_l1_bwd_params"] = launch.edge_l1_launches(x, None, spline, weights, stat, grads, False,
                                                                        True)
    return {name: launches[0] for name, launches in found.items()}


_TYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64"}


def _arg_type(value) -> str:
    if isinstance(value, torch.Tensor):
        return "*" + _TYPES[value.dtype]
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32"
    return "fp32"


def jobs(archs=ARCHS, settings=SETTINGS, dtypes=None, sizes=None, edge_statistics: bool = True) -> List[Job]:
    """Every (setting, dtype, kernel, config, arch) to compile; ``dtypes`` narrows each setting's.
    With ``sizes`` (B, I, O) the integer arguments are specialized as a launch at those sizes would
    be (Triton marks integers divisible by 16), so that the code is the code that runs there."""
    found = []
    for s in settings:
        for dtype_name in s.dtypes:
            if dtypes is not None and dtype_name not in dtypes:
                continue
            for kernel_name, rec in setting_launches(s, dtype_name, sizes or SIZES, edge_statistics).items():
                fn = rec.kernel.fn  # the autotuner's JITFunction
                for config in rec.kernel.configs:
                    args = {**rec.args, **config.kwargs}
                    signature, constexprs, attrs = {}, {}, {}
                    for index, param in enumerate(fn.params):
                        value = args[param.name]
                        if param.is_constexpr:
                            signature[param.name] = "constexpr"
                            constexprs[param.name] = value
                        else:
                            signature[param.name] = _arg_type(value)
                            if isinstance(value, torch.Tensor):  # torch allocations are 16-byte aligned
                                attrs[(index,)] = [["tt.divisibility", 16]]
                            elif sizes and _arg_type(value) == "i32" and value % 16 == 0:
                                attrs[(index,)] = [["tt.divisibility", 16]]
                    label = ",".join(f"{k}={v}" for k, v in config.kwargs.items())
                    label += f",w{config.num_warps},s{config.num_stages}"
                    for arch in archs:
                        found.append(Job(s.name, dtype_name, kernel_name, label, arch, fn.fn.__module__, fn.__name__,
                                         signature, constexprs, attrs,
                                         dict(num_warps=config.num_warps, num_stages=config.num_stages,
                                              maxnreg=config.maxnreg)))
    return found


CUOBJDUMP = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
_USAGE = re.compile(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")


def compile_kernel(job: Job):
    """The compiled kernel of one job (``.asm["cubin"]``, ``.asm["ptx"]``, ``.metadata``); raises on a compile error."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = getattr(importlib.import_module(job.module), job.name)
    return triton.compile(ASTSource(fn, job.signature, job.constexprs, job.attrs),
                          target=GPUTarget("cuda", job.arch, 32), options=job.options)


def resource_usage(cubin: bytes) -> Dict[str, int]:
    """Registers per thread and spilled (stack + local) bytes of a cubin's kernel, from ``cuobjdump -res-usage``."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        usage = subprocess.run([CUOBJDUMP, "-res-usage", f.name], capture_output=True, text=True, check=True)
    match = _USAGE.search(usage.stdout)
    if match is None:
        raise RuntimeError(f"cuobjdump gave no resource usage: {usage.stdout[:200]}")
    # STACK is the per-thread frame ptxas spills registers into; LOCAL other local memory.
    return dict(regs=int(match[1]), spill=int(match[2]) + int(match[4]))


def compile_job(job: Job) -> dict:
    """Compile one job; the row of the report (``error`` set when it failed)."""
    row = dict(setting=job.setting, dtype=job.dtype, kernel=job.kernel, config=job.config, arch=f"sm_{job.arch}")
    start = time.perf_counter()
    try:
        compiled = compile_kernel(job)
    except Exception as err:  # a compile error is the finding, reported with its innermost cause
        while err.__cause__ is not None:
            err = err.__cause__
        lines = [line for line in str(err).splitlines() if line.strip()]
        row["error"] = f"{type(err).__name__}: {lines[-1][:400] if lines else ''}"
        return row
    row["seconds"] = time.perf_counter() - start
    ptx = compiled.asm["ptx"]
    row["mma"] = "wgmma" if "wgmma" in ptx else ("mma" if re.search(r"\bmma\.sync", ptx) else "none")
    try:
        row.update(resource_usage(compiled.asm["cubin"]), shared=compiled.metadata.shared)
    except RuntimeError as err:
        row["error"] = str(err)
    return row


def _table(rows: List[dict]) -> str:
    header = ("setting", "dtype", "kernel", "config", "arch", "regs", "spill B", "shared B", "mma", "s")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for r in rows:
        if "error" in r:
            lines.append(" | ".join([r["setting"], r["dtype"], r["kernel"], r["config"], r["arch"], "ERROR " + r["error"]]))
            continue
        lines.append(" | ".join(str(v) for v in (r["setting"], r["dtype"], r["kernel"], r["config"], r["arch"], r["regs"],
                                                  r["spill"], r["shared"], r["mma"], f"{r['seconds']:.1f}")))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, action="append", help="compute capability, e.g. 90 (default: 80 and 90)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compile processes")
    args = parser.parse_args(argv)
    if INTERPRET:
        print("TRITON_INTERPRET=1 is set: the kernels are interpreted, nothing to compile; unset it", file=sys.stderr)
        return 2
    todo = jobs(tuple(args.arch or ARCHS))
    start = time.perf_counter()
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(compile_job, todo))
    print(_table(rows))
    failed = [r for r in rows if "error" in r]
    spilled = [r for r in rows if r.get("spill", 0) > 0]
    worst = max((r for r in rows if "regs" in r), key=lambda r: r["regs"], default=None)
    print(f"\n{len(rows)} compiles in {time.perf_counter() - start:.0f} s with {args.jobs} processes; "
          f"{len(failed)} failed, {len(spilled)} spill to local memory"
          + (f"; most registers: {worst['regs']} ({worst['kernel']} {worst['config']} {worst['setting']})" if worst else ""))
    return 1 if failed or spilled else 0


if __name__ == "__main__":
    sys.exit(main())
