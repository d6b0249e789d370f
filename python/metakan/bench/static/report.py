"""The static model's report: markdown tables and CSV rows, with versions, git commit and the machine table."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Sequence

from ..report import github_table
from .bounds import Bounds
from .cuda_model import CudaInventory
from .layer import Layer
from .machines import MACHINES
from .model import KernelEstimate, PassEstimate
from .sass import CLASSES

_PASS_NAMES = {"fwd": "fwd", "fwdbwd": "fwd+bwd"}


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 10 else f"{ms:.1f}"


def _bounds_cells(b: Bounds) -> List[str]:
    return [_ms(b.issue_s), _ms(b.tensor_s), _ms(b.memory_s), f"**{_ms(b.estimate)}**", b.bound]


def machine_table() -> str:
    body = [[m.name, f"sm_{m.arch}", m.sms, f"{m.clock_hz / 1e9:.2f}", m.issue_per_clock_sm,
             f"{m.issue_rate / 1e12:.3f}", f"{m.tensor_peak('bf16') / 1e12:.0f}", f"{m.tensor_peak('tf32') / 1e12:.0f}",
             f"{m.fp32_peak / 1e12:.1f}", f"{m.hbm_bytes_per_s / 1e12:.1f}", m.registers_per_sm // 1024,
             m.shared_per_sm // 1024] for m in MACHINES.values()]
    return github_table(body, ["machine", "arch", "SMs", "GHz", "issue/clk/SM", "T warp-instr/s", "bf16 TFLOP/s",
                               "tf32 TFLOP/s", "fp32 TFLOP/s (CUDA cores)", "HBM TB/s", "K regs/SM",
                               "KiB shared/SM"])


def pass_table(passes: Sequence[PassEstimate], cuda_loops: Dict[str, int]) -> str:
    body = []
    for p in sorted(passes, key=lambda p: (p.dtype, p.pass_name, p.op, p.provider)):
        body.append([p.provider, p.dtype, _PASS_NAMES[p.pass_name], f"**{_ms(p.estimate_s)}**", p.bound, p.detail])
    for provider, loops in cuda_loops.items():
        body.append([provider, "all", "all", "not modelled", "",
                     f"{loops} SASS loops with trip counts set at run time (see the CUDA table)"])
    return github_table(body, ["provider", "dtype", "pass", "estimate ms", "bound", "detail (ms per launch, or bytes)"])


def kernel_table(estimates: Sequence[KernelEstimate], chosen: set) -> str:
    body = []
    for e in sorted(estimates, key=lambda e: (e.dtype, e.kernel, e.config)):
        step = [str(int(e.main_step.get(c, 0))) for c in CLASSES]
        body.append([e.kernel + (" ★" if id(e) in chosen else ""), e.dtype, e.config, e.registers, e.spill_bytes,
                     e.shared_bytes, f"{e.occupancy.warps} ({e.occupancy.limit})", e.programs,
                     f"{e.main_loop} ×{e.main_trips:g}", int(sum(e.main_step.values())), *step,
                     f"{e.warp_instructions / 1e9:.2f}", f"{sum(e.mma_flops.values()) / 1e12:.2f}",
                     f"{e.compulsory_bytes / 1e9:.2f}", f"{e.requested_bytes / 1e9:.1f}", *_bounds_cells(e.bounds)])
    return github_table(body, ["kernel", "dtype", "config", "regs", "spill B", "smem B", "warps/SM",
                               "programs", "main loop × steps/program", "SASS/step", *CLASSES, "G warp-instr",
                               "MMA TFLOP", "must-move GB", "requested GB", "issue ms", "tensor ms", "memory ms",
                               "estimate ms", "bound"])


def loop_table(estimates: Sequence[KernelEstimate], chosen: set) -> str:
    body = []
    for e in sorted((e for e in estimates if id(e) in chosen), key=lambda e: (e.dtype, e.kernel)):
        for loop in e.loops:
            body.append([e.kernel, e.dtype, e.config, loop["name"], loop["body"], f"{loop['runs']:g}",
                         " ".join(f"{c} {int(loop['classes'][c])}" for c in CLASSES if loop["classes"].get(c))])
    return github_table(body, ["kernel", "dtype", "config", "source loop", "SASS in body", "runs/program",
                               "by class"])


def cuda_table(inventories: Sequence[CudaInventory]) -> str:
    body = []
    for c in sorted(inventories, key=lambda c: (c.dtype, c.kernel)):
        body.append([c.kernel, c.dtype, c.registers, c.spill_bytes, c.static_shared_bytes,
                     f"{c.occupancy.warps} ({c.occupancy.limit})", c.instructions, c.loops, c.deepest,
                     " ".join(f"{k} {int(c.classes[k])}" for k in CLASSES if c.classes.get(k)), c.largest_loop,
                     " ".join(f"{k} {int(c.largest_loop_classes[k])}" for k in CLASSES
                              if c.largest_loop_classes.get(k))])
    return github_table(body, ["kernel", "dtype", "regs", "spill B", "static smem B", "warps/SM (regs, static smem)",
                               "SASS", "loops", "nesting", "static mix", "largest loop body", "its mix"])


def kernel_rows(estimates: Sequence[KernelEstimate], chosen: set, layer: Layer) -> List[Dict[str, object]]:
    rows = []
    for e in estimates:
        row = dict(row_kind="kernel", impl=e.impl, kernel=e.kernel, config=e.config, dtype=e.dtype,
                   arch=f"sm_{e.arch}", chosen=id(e) in chosen, shape=layer.describe(), registers=e.registers,
                   spill_bytes=e.spill_bytes, shared_bytes=e.shared_bytes, warps_per_block=e.warps_per_block,
                   blocks_per_sm=e.occupancy.blocks, warps_per_sm=e.occupancy.warps,
                   occupancy_limit=e.occupancy.limit, programs=e.programs, main_loop=e.main_loop,
                   main_steps_per_program=e.main_trips, main_step_sass=int(sum(e.main_step.values())),
                   **{f"step_{c}": int(e.main_step.get(c, 0)) for c in CLASSES},
                   warp_instructions=e.warp_instructions, mma_flops=sum(e.mma_flops.values()),
                   compulsory_bytes=e.compulsory_bytes, requested_bytes=e.requested_bytes,
                   issue_ms=e.bounds.issue_s * 1e3, tensor_ms=e.bounds.tensor_s * 1e3,
                   memory_ms=e.bounds.memory_s * 1e3, model_ms=e.bounds.estimate * 1e3, bound=e.bounds.bound)
        rows.append(row)
    return rows


def write_csv(rows: Sequence[Dict[str, object]], path: Path) -> Path:
    columns: List[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path
