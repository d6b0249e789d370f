"""The Triton kernels as the GPU path launches them at a layer shape: compiled for a target, their SASS, their loops."""

from __future__ import annotations

import subprocess
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .layer import Layer
from .loops import SourceLoop

# The Triton float32 path runs three TF32 products per tile unless TF32 is allowed; "fp32" is that default.
DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class CompiledKernel:
    """One kernel configuration compiled for one architecture: what the model reads."""

    kernel: str  # e.g. metakan_fwd
    config: str  # e.g. BLOCK_B=64,BLOCK_O=64,w8,s2
    dtype: str
    arch: int
    sass: str
    registers: int
    spill_bytes: int
    shared_bytes: int
    warps: int
    constexprs: Dict[str, object]


def jobs(layer: Layer, archs: Tuple[int, ...], dtypes: Tuple[str, ...] = DTYPES, kernels=None,
         max_configs: Optional[int] = None) -> list:
    """The AOT check's compile jobs at the layer's sizes (integer arguments specialized as at launch);
    ``kernels`` narrows them to these names, ``max_configs`` to the first configurations of each."""
    from metakan_kernels.triton import aot

    # the layer's own passes (the edge statistics are not part of a training step)
    found = aot.jobs(archs, (layer.aot_setting(),), dtypes=dtypes, sizes=(layer.batch, layer.in_features,
                                                                          layer.out_features), edge_statistics=False)
    kept, seen = [], Counter()
    for j in found:
        key = (j.kernel, j.dtype, j.arch)
        if (kernels is None or j.kernel in kernels) and (max_configs is None or seen[key] < max_configs):
            seen[key] += 1
            kept.append(j)
    return kept


def disassemble(cubin: bytes) -> str:
    from metakan_kernels.triton.aot import CUOBJDUMP

    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        return subprocess.run([CUOBJDUMP, "-sass", f.name], capture_output=True, text=True, check=True).stdout


def compile_one(job) -> CompiledKernel:
    from metakan_kernels.triton import aot

    compiled = aot.compile_kernel(job)
    cubin = compiled.asm["cubin"]
    usage = aot.resource_usage(cubin)
    return CompiledKernel(job.kernel, job.config, job.dtype, job.arch, disassemble(cubin), usage["regs"],
                          usage["spill"], compiled.metadata.shared, job.options["num_warps"],
                          {**job.constexprs, **_config_blocks(job.config)})


def _config_blocks(label: str) -> Dict[str, int]:
    return {k: int(v) for k, v in (part.split("=") for part in label.split(",") if "=" in part)}


def compile_all(job_list: list, processes: int = 1) -> List[CompiledKernel]:
    """Compile the jobs (in ``processes`` worker processes; TRITON_INTERPRET must be unset)."""
    if processes <= 1:
        return [compile_one(j) for j in job_list]
    with ProcessPoolExecutor(processes) as pool:
        return list(pool.map(compile_one, job_list))


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def structure(kernel: str, c: Dict[str, object], layer: Layer) -> Tuple[int, Tuple[SourceLoop, ...]]:
    """Programs in the grid and the source loops of a kernel with constexprs and config ``c`` at the layer."""
    from metakan_kernels.triton.configs import MAX_PARTIAL_ROWS, META_BLOCK_O

    b, i, o, h = layer.batch, layer.in_features, layer.out_features, layer.hidden_dim
    bi, sc = c["BLOCK_I"], c["SLOT_CHUNKS"]
    hidden = (SourceLoop("hidden chunks", _cdiv(h, c["BLOCK_H"]), True),) if c.get("GENERATE") else ()
    if kernel.endswith("_fwd"):
        programs = _cdiv(b, c["BLOCK_B"]) * _cdiv(o, c["BLOCK_O"])
        return programs, (SourceLoop("input steps", _cdiv(i, bi) * sc, False, hidden),)
    if kernel.endswith("_bwd_dx"):
        programs = _cdiv(b, c["BLOCK_B"]) * _cdiv(i, bi)
        steps = SourceLoop("output tiles", _cdiv(o, c["BLOCK_O"]), False, hidden)
        return programs, (SourceLoop("slot chunks", sc, True, (steps,)),)
    tiles = _cdiv(o, c["BLOCK_O"]) * _cdiv(i, bi)
    batch = SourceLoop("batch steps", _cdiv(b, c["BLOCK_B"]))
    if kernel == "kan_bwd_params":
        return tiles, (SourceLoop("slot chunks", sc, True, (batch,)),)
    if kernel == "metakan_bwd_params":
        programs = min(MAX_PARTIAL_ROWS, tiles)
        meta = SourceLoop("hidden chunks (meta backward)", _cdiv(h, c["BLOCK_H"]), True)
        outputs = c["BLOCK_O"] // META_BLOCK_O
        # the meta-MLP backward once per chunk of META_BLOCK_O outputs, then the chunks' dz stored
        chunk = SourceLoop("slot chunks", sc, True, (batch, SourceLoop("output chunks", outputs, True, (meta,))))
        stores = SourceLoop("output chunks (dz stores)", outputs, True)
        return programs, (SourceLoop("edge tiles", tiles / programs, False, (chunk, stores)),)
    raise ValueError(f"no loop structure for kernel {kernel!r}")
