"""Occupancy and the three time bounds of a kernel: instruction issue, tensor-core FLOPs and memory bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .machines import Machine


@dataclass(frozen=True)
class Occupancy:
    """Resident blocks and warps per SM, and what limits them (registers, shared, warps or blocks)."""

    blocks: int
    warps: int
    limit: str


def occupancy(m: Machine, registers: int, shared_bytes: int, warps_per_block: int) -> Occupancy:
    """Blocks per SM from the per-thread registers, per-block shared memory and block size."""
    if warps_per_block < 1:
        raise ValueError(f"a block has at least one warp, got {warps_per_block}")
    per_warp = -(-max(registers, 1) * 32 // m.register_unit) * m.register_unit
    limits = {
        "registers": (m.registers_per_sm // per_warp) // warps_per_block,
        "shared": m.shared_per_sm // (shared_bytes + m.shared_reserved_per_block),
        "warps": m.max_warps_per_sm // warps_per_block,
        "blocks": m.max_blocks_per_sm,
    }
    limit = min(limits, key=lambda k: limits[k])
    blocks = limits[limit]
    return Occupancy(blocks, blocks * warps_per_block, limit)


@dataclass(frozen=True)
class Bounds:
    """Lower bounds on a launch's time in seconds; ``estimate`` is the largest, ``bound`` which one it is."""

    issue_s: float
    tensor_s: float
    memory_s: float

    @property
    def estimate(self) -> float:
        return max(self.issue_s, self.tensor_s, self.memory_s)

    @property
    def bound(self) -> str:
        values = {"issue": self.issue_s, "tensor": self.tensor_s, "memory": self.memory_s}
        return max(values, key=lambda k: values[k])

    def __add__(self, other: "Bounds") -> "Bounds":
        """Bounds of two launches run one after the other (each bound adds up)."""
        return Bounds(self.issue_s + other.issue_s, self.tensor_s + other.tensor_s, self.memory_s + other.memory_s)


def bounds(m: Machine, warp_instructions: float, mma_flops: Mapping[str, float], memory_bytes: float) -> Bounds:
    """issue: warp-instructions / (SMs x issue per clock x clock); tensor: FLOPs of each input type /
    its dense peak; memory: bytes that must move / HBM bandwidth."""
    tensor = 0.0
    for dtype, flops in mma_flops.items():
        peak = m.tensor_peak(dtype)
        if flops and not peak:
            raise ValueError(f"{m.name} has no tensor-core peak for {dtype}")
        tensor += flops / peak if flops else 0.0
    return Bounds(warp_instructions / m.issue_rate, tensor, memory_bytes / m.hbm_bytes_per_s)


def roofline(m: Machine, flops: float, flops_dtype: str, memory_bytes: float) -> Bounds:
    """Bounds of work given as FLOPs of one kind (``fp32`` on CUDA cores, else a tensor-core type) and bytes."""
    peak = m.fp32_peak if flops_dtype == "fp32" else m.tensor_peak(flops_dtype)
    return Bounds(0.0, flops / peak, memory_bytes / m.hbm_bytes_per_s)

