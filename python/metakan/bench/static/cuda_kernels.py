"""The CUDA kernels (csrc/cuda/*.cu) compiled to cubin with nvcc for a target, without torch, and their SASS."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from . import sass

# template argument (Itanium mangling) -> dtype of the report
_DTYPES = {"f": "fp32", "13__nv_bfloat16": "bf16", "6__half": "fp16"}
_NAME = re.compile(r"\d+([A-Za-z_]+_kernel)I(f|13__nv_bfloat16|6__half)E")
_USAGE = re.compile(r"Function (\S+):\s*\n\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")
# Kernel name -> the pass kernel it is (the reduction of the partial sums is a small launch of its own).
KERNELS = {"forward_kernel": "fwd", "backward_input_kernel": "bwd_dx", "backward_params_kernel": "bwd_params",
           "reduce_meta_grads_kernel": "bwd_params_reduce"}


def repository_root() -> Path:
    return Path(__file__).resolve().parents[4]


def build_lists() -> Dict[str, List[str]]:
    """csrc/build.txt (what _C is compiled from, and how) as setup.py reads it."""
    setup = repository_root() / "setup.py"
    if not setup.exists():
        raise FileNotFoundError(f"{setup} not found: the CUDA model needs a source checkout")
    return runpy.run_path(str(setup), run_name="metakan_setup")["read_build_lists"]()


def sources() -> List[str]:
    """The CUDA kernel files, relative to the repository root (build.txt's cuda_sources)."""
    return build_lists()["cuda_sources"]


def nvcc() -> Optional[str]:
    """nvcc under CUDA_HOME, /usr/local/cuda or on PATH; None when there is none."""
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home and Path(home, "bin", "nvcc").exists():
            return str(Path(home, "bin", "nvcc"))
    return shutil.which("nvcc")


@dataclass(frozen=True)
class CudaKernel:
    """One instantiation of a CUDA kernel compiled for one architecture."""

    kernel: str  # e.g. forward_kernel
    dtype: str
    arch: int
    registers: int
    spill_bytes: int
    static_shared_bytes: int
    instructions: List[sass.Instruction]


def compile_source(source: str, arch: int, compiler: Optional[str] = None) -> List[CudaKernel]:
    """Compile one CUDA file (``source`` relative to the repository root) for sm_<arch> with build.txt's
    nvcc flags and the CUDA headers alone (the kernels need no torch), and read its kernels."""
    compiler = compiler or nvcc()
    if compiler is None:
        raise FileNotFoundError("nvcc not found (set CUDA_HOME)")
    root = repository_root()
    path = root / source
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the CUDA model needs a source checkout")
    from metakan_kernels.triton.aot import CUOBJDUMP

    flags = build_lists()["nvcc_flags"]
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp, "k.cubin")
        done = subprocess.run([compiler, "-cubin", f"-arch=sm_{arch}", *flags, "-std=c++17", "-I", str(root / "csrc"),
                               "-o", str(cubin), str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nvcc failed on {source} for sm_{arch}:\n{done.stderr[-3000:]}")
        text = subprocess.run([CUOBJDUMP, "-sass", str(cubin)], capture_output=True, text=True, check=True).stdout
        usage = subprocess.run([CUOBJDUMP, "-res-usage", str(cubin)], capture_output=True, text=True,
                               check=True).stdout
    resources: Dict[str, tuple] = {m[1]: tuple(int(v) for v in m.groups()[1:]) for m in _USAGE.finditer(usage)}
    found = []
    for mangled, instructions in sass.parse(text).items():
        name = _NAME.search(mangled)
        if name is None or mangled not in resources:
            continue
        regs, stack, shared, local = resources[mangled]
        found.append(CudaKernel(name[1], _DTYPES[name[2]], arch, regs, stack + local, shared, sass.body(instructions)))
    return found
