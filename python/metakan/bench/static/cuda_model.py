"""What the static model reads from the CUDA kernels' SASS: resources, occupancy, instruction mix and loops."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import List

from . import sass
from .bounds import Occupancy, occupancy
from .cuda_kernels import CudaKernel, repository_root
from .machines import Machine


def threads_per_block() -> int:
    """kThreads of csrc/cuda/tile.cuh: every fused CUDA kernel launches blocks of this many threads."""
    text = (repository_root() / "csrc" / "cuda" / "tile.cuh").read_text()
    match = re.search(r"constexpr int kThreads = (\d+);", text)
    if match is None:
        raise ValueError("kThreads not found in csrc/cuda/tile.cuh")
    return int(match[1])


@dataclass
class CudaInventory:
    """A CUDA kernel's SASS read statically: its loops run a number of times set by the layer at run time
    (LayerParams), so no trip counts, hence no issue bound, come from the code alone."""

    kernel: str
    dtype: str
    arch: int
    registers: int
    spill_bytes: int
    static_shared_bytes: int
    occupancy: Occupancy  # from registers and static shared memory (the dynamic tiles come on top)
    instructions: int
    loops: int
    deepest: int
    classes: Counter
    largest_loop: int  # instructions in the largest loop body (nested loops excluded)
    largest_loop_classes: Counter


def _depth(loops: List[sass.Loop]) -> int:
    return max((1 + _depth(l.children) for l in loops), default=0)


def _all(loops: List[sass.Loop]) -> List[sass.Loop]:
    return [x for l in loops for x in [l] + _all(l.children)]


def inventory(k: CudaKernel, m: Machine) -> CudaInventory:
    found = sass.loops(k.instructions)
    every = _all(found)
    bodies = [sass.count(sass.own(k.instructions, l, l.children)) for l in every]
    largest = max(bodies, key=lambda c: c.total, default=sass.Counts())
    warps = threads_per_block() // 32
    return CudaInventory(k.kernel, k.dtype, k.arch, k.registers, k.spill_bytes, k.static_shared_bytes,
                         occupancy(m, k.registers, k.static_shared_bytes, warps), len(k.instructions), len(every),
                         _depth(found), sass.count(k.instructions).classes, int(largest.total), largest.classes)
