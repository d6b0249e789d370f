"""The layer shape the static model estimates at (the gpu-check preset's by default) and its compulsory bytes."""

from __future__ import annotations

from dataclasses import dataclass

from ..presets import GPU_CHECK_LAYER
from ..workloads import Workload

ELEMENT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass(frozen=True)
class Layer:
    """B x I -> B x O, grid size G, order k, MetaKAN embedding d and meta hidden width H (relu), uniform grid."""

    batch: int
    in_features: int
    out_features: int
    grid_size: int
    spline_order: int
    embedding_dim: int
    hidden_dim: int

    @classmethod
    def of(cls, w: Workload = GPU_CHECK_LAYER) -> "Layer":
        if w.kind != "layer":
            raise ValueError(f"the static model estimates one layer, not a {w.kind!r} workload")
        return cls(w.batch, w.widths[0], w.widths[1], w.grid_size, w.spline_order, w.embedding_dim, w.hidden_dim)

    @property
    def num_bases(self) -> int:
        return self.grid_size + self.spline_order

    def describe(self) -> str:
        return (f"B={self.batch} I={self.in_features} O={self.out_features} G={self.grid_size} k={self.spline_order} "
                f"d={self.embedding_dim} H={self.hidden_dim}")

    def aot_setting(self):
        """This layer as a setting of the AOT compile check (relu meta activation, uniform grid, base term)."""
        from metakan_kernels.triton.aot import DTYPES, Setting

        return Setting(f"G{self.grid_size}k{self.spline_order}d{self.embedding_dim}H{self.hidden_dim}-relu",
                       self.grid_size, self.spline_order, self.embedding_dim, self.hidden_dim, "relu", True, True,
                       tuple(DTYPES))

    def compulsory_bytes(self, kernel: str, dtype: str, partial_rows: int = 0) -> float:
        """Bytes a fused kernel must move to or from HBM at least: its inputs read once, its outputs
        written once (``partial_rows``: rows of float32 partial sums of the meta-learner's gradients)."""
        e = ELEMENT_BYTES[dtype]
        b, i, o, k, d, h = (self.batch, self.in_features, self.out_features, self.num_bases, self.embedding_dim,
                            self.hidden_dim)
        weights = o * i * (k + 1) if kernel.startswith("kan") else o * i * d
        if kernel.endswith("_fwd"):
            return e * (b * i + b * o + weights)
        if kernel.endswith("_bwd_dx"):
            return e * (b * o + 2 * b * i + weights)
        if kernel == "kan_bwd_params":
            return e * (b * o + b * i + weights)
        if kernel == "metakan_bwd_params":
            return e * (b * o + b * i + 2 * weights) + 4 * partial_rows * (h * d + h + (k + 1) * h + k + 1)
        raise ValueError(f"no byte count for kernel {kernel!r}")
