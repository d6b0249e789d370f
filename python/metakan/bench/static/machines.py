"""The machines the static model estimates for: one table of SMs, clock, issue rate, peaks, memory and limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class Machine:
    """An NVIDIA GPU class by compute capability. Peaks are dense, per SM per clock, times SMs and clock."""

    name: str
    arch: int  # compute capability, e.g. 90
    sms: int
    clock_hz: float
    hbm_bytes_per_s: float
    tensor_flops_per_clock_sm: Dict[str, float]  # by tensor-core input type: bf16, fp16, tf32, fp64
    fp32_flops_per_clock_sm: float  # FFMA on CUDA cores (2 per lane)
    issue_per_clock_sm: int = 4  # warp-instructions: one per scheduler
    registers_per_sm: int = 65536
    max_warps_per_sm: int = 64
    max_blocks_per_sm: int = 32
    shared_per_sm: int = 228 * 1024  # usable by blocks, after the L1 split
    shared_reserved_per_block: int = 1024  # the driver's per-block reserve (sm_80 and later)
    register_unit: int = 256  # registers are allocated per warp in units of this many

    def tensor_peak(self, dtype: str) -> float:
        """Dense tensor-core FLOP/s for an input type (0 when the machine has none for it)."""
        return self.tensor_flops_per_clock_sm.get(dtype, 0.0) * self.sms * self.clock_hz

    @property
    def fp32_peak(self) -> float:
        return self.fp32_flops_per_clock_sm * self.sms * self.clock_hz

    @property
    def issue_rate(self) -> float:
        """Warp-instructions per second the whole GPU can issue."""
        return self.issue_per_clock_sm * self.sms * self.clock_hz


MACHINES = {
    # H100/H200 SXM class: 989 TFLOP/s bf16, 495 tf32, 62 fp32 at 1.83 GHz; H200's 4.8 TB/s HBM3e
    90: Machine("H200 (sm_90)", 90, 132, 1.83e9, 4.8e12, {"bf16": 4096, "fp16": 4096, "tf32": 2048, "fp8": 8192,
                                                         "fp64": 256}, 256),
    # A100 SXM: 312 TFLOP/s bf16, 156 tf32, 19.5 fp32 at 1.41 GHz; 2.0 TB/s HBM2e
    80: Machine("A100 (sm_80)", 80, 108, 1.41e9, 2.0e12, {"bf16": 2048, "fp16": 2048, "tf32": 1024, "fp64": 128},
                128, shared_per_sm=164 * 1024),
}


def machine(arch: int) -> Machine:
    if arch not in MACHINES:
        raise ValueError(f"no machine table for sm_{arch}; known: {', '.join(f'sm_{a}' for a in MACHINES)}")
    return MACHINES[arch]
