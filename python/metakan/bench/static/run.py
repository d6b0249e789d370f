"""``metakan bench --static``: compile every kernel configuration for each architecture, model it, write the report."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..environment import git_commit
from . import cuda_kernels, model, report
from .cuda_model import inventory
from .layer import Layer
from .machines import machine
from .triton_kernels import DTYPES, compile_all, jobs

INTERPRET_ERROR = "TRITON_INTERPRET=1 is set: the Triton kernels would be interpreted, not compiled; unset it"


def _versions(compiler: Optional[str]) -> Dict[str, str]:
    import torch
    import triton

    nvcc_version = "not found"
    if compiler:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
        nvcc_version = out[-1] if out else "unknown"
    return {"torch": torch.__version__, "triton": triton.__version__, "nvcc": nvcc_version,
            "git commit": git_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def model_arch(arch: int, layer: Layer, processes: int = 1, dtypes: Sequence[str] = DTYPES,
               kernels: Optional[Sequence[str]] = None, cuda: bool = True, max_configs: Optional[int] = None) -> dict:
    """Everything the report of one architecture holds: kernel estimates, the chosen configurations,
    pass estimates (Triton, reference, nn.Linear) and the CUDA kernels' inventories."""
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        raise RuntimeError(INTERPRET_ERROR)
    m = machine(arch)
    compiled = compile_all(jobs(layer, (arch,), tuple(dtypes), kernels, max_configs), processes)
    estimates = [model.estimate_triton(ck, layer, m) for ck in compiled]
    best = model.best_configs(estimates)
    passes = model.triton_passes(best) + model.roofline_passes(layer, m, dtypes)
    inventories: List = []
    compiler = cuda_kernels.nvcc() if cuda else None
    if compiler:
        for source in cuda_kernels.sources():
            for k in cuda_kernels.compile_source(source, arch, compiler):
                if k.dtype in dtypes:
                    inventories.append(inventory(k, m))
    return dict(arch=arch, machine=m, layer=layer, estimates=estimates, chosen={id(e) for e in best.values()},
                passes=passes, cuda=inventories, versions=_versions(compiler), cuda_compiled=bool(compiler))


def markdown(result: dict) -> str:
    m, layer = result["machine"], result["layer"]
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    cuda_loops = {}
    if result["cuda"]:
        loops = sum(c.loops for c in result["cuda"] if c.dtype == "bf16")
        cuda_loops = {"kan-cuda, metakan-cuda": loops}
    parts = [
        f"# Static performance model: {m.name}, {layer.describe()}",
        "",
        "Read from the compiled code, no GPU: every Triton kernel configuration compiled for "
        f"sm_{m.arch} at this shape, its SASS counted by class, its loops matched to the source's and "
        "multiplied by their trip counts over the grid. Three lower bounds per launch: issue (warp-instructions "
        "/ (SMs × issue per clock × clock)), tensor (MMA FLOPs / dense tensor peak), memory (bytes that must "
        "move / HBM bandwidth); the estimate is the largest. A pass adds its launches' estimates. "
        "The reference and `nn.Linear` rows are rooflines of their eager operators (bytes of every "
        "operator's inputs and outputs, counted on meta tensors; matmul FLOPs against the peak of the dtype: "
        "float32 matmuls on CUDA cores, torch's default precision). See bench/README.md.",
        "",
        f"Versions: {versions}.",
        "",
        "## Machines",
        "",
        report.machine_table(),
        "",
        "## Passes",
        "",
        report.pass_table(result["passes"], cuda_loops),
        "",
        "## Triton kernels (★: the configuration with the lowest estimate)",
        "",
        "Per-step columns: SASS warp-instructions of one step of the main loop (the loop with the most "
        "instructions executed), by class. `requested GB`: global loads and stores as issued by the code "
        "(all lanes, before L1/L2): traffic the caches must absorb for the memory bound to hold.",
        "",
        report.kernel_table(result["estimates"], result["chosen"]),
        "",
        "## Loops of the chosen configurations",
        "",
        report.loop_table(result["estimates"], result["chosen"]),
    ]
    if result["cuda"]:
        parts += ["", "## CUDA kernels (csrc/cuda, nvcc)", "",
                  "The CUDA kernels take the layer's sizes at run time (LayerParams): their loops' trip counts "
                  "are not constants of the code, so no issue bound comes from it; registers, shared memory, "
                  "occupancy and the instruction mix do.", "", report.cuda_table(result["cuda"])]
    elif not result["cuda_compiled"]:
        parts += ["", "CUDA kernels: not compiled (nvcc not found)."]
    return "\n".join(parts) + "\n"


def csv_rows(result: dict) -> List[dict]:
    layer = result["layer"]
    rows = report.kernel_rows(result["estimates"], result["chosen"], layer)
    for row in model.pass_rows(result["passes"], layer):
        rows.append(dict(row_kind="pass", **row))
    for c in result["cuda"]:
        rows.append(dict(row_kind="cuda_kernel", impl="cuda", kernel=c.kernel, dtype=c.dtype, arch=f"sm_{c.arch}",
                         shape=layer.describe(), registers=c.registers, spill_bytes=c.spill_bytes,
                         shared_bytes=c.static_shared_bytes, blocks_per_sm=c.occupancy.blocks,
                         warps_per_sm=c.occupancy.warps, occupancy_limit=c.occupancy.limit))
    return rows


def write(result: dict, out: str, tag: Optional[str] = None) -> List[Path]:
    """bench/results/static-sm<arch>.md and .csv (or ``tag``.md/.csv)."""
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    name = tag or f"static-sm{result['arch']}"
    md = directory / f"{name}.md"
    md.write_text(markdown(result))
    return [md, report.write_csv(csv_rows(result), directory / f"{name}.csv")]


def beside_measured(measured_rows: Sequence[dict], out: str, arch: int, tag: str) -> Optional[Path]:
    """After a GPU benchmark: its rows joined with the model of ``arch`` (static-sm<arch>.csv in ``out``,
    else the committed one in bench/results) into ``out``/``tag``-vs-model.md; None when there is no
    model report or no row matches."""
    name = f"static-sm{arch}.csv"
    path = next((p for p in (Path(out) / name, cuda_kernels.repository_root() / "bench" / "results" / name)
                 if p.exists()), None)
    if path is None:
        return None
    from ..report import read_csv

    model_rows = [r for r in read_csv(path) if r.get("row_kind") == "pass"]
    joined = model.join(model_rows, measured_rows, f"sm_{arch}")
    if not joined:
        return None
    body = [[r["provider"], r["dtype"], r["pass_name"], r["model_ms"], r["measured_ms"], r["measured_over_model"],
             r["bound"]] for r in joined]
    target = Path(out) / f"{tag}-vs-model.md"
    target.write_text(f"# Measured beside the static model (sm_{arch})\n\n"
                      + report.github_table(body, ["provider", "dtype", "pass", "model ms", "measured ms",
                                                   "measured / model", "model bound"]) + "\n")
    return target
