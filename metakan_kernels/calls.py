"""What a backend sees of one op call: its sizes, its knots, and the interface every backend implements."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from . import reference
from .spec import SplineSpec


class CallSizes(NamedTuple):
    """Sizes of one call, for backends whose tiles or index arithmetic have limits."""

    batch: int
    in_features: int
    out_features: int
    embedding_dim: int = 0  # 0 for kan_linear
    hidden_dim: int = 0


def knots_or_uniform(x: torch.Tensor, spec: SplineSpec, grid: Optional[torch.Tensor]) -> torch.Tensor:
    """The per-feature knots of a call: ``grid`` when given, else the uniform ones, (I, G + 2k + 1)."""
    if grid is not None:
        return grid
    return reference.uniform_knots(
        x.shape[-1], spec.grid_size, spec.spline_order, (spec.lo, spec.hi), dtype=x.dtype, device=x.device
    )


class Backend:
    """One implementation of both ops, on 2-D inputs.

    Subclasses implement ``kan_linear(x, coef, base_weight, spec, grid, coef_scale)`` and
    ``metakan_linear(x, embedding, w1, b1, w2, b2, spec, grid, meta_activation)`` for
    x: (B, I), returning (B, O), and the edge statistics ``kan_edge_l1`` and ``metakan_edge_l1`` (same
    arguments), returning (O, I); arguments have been checked by the public ops already.
    """

    name: str
    device_types: tuple

    def unsupported(
        self, device: torch.device, dtype: torch.dtype, spec: SplineSpec, sizes: CallSizes
    ) -> Optional[str]:
        """Why this backend cannot run this call (None when it can)."""
        if device.type not in self.device_types:
            return f"runs on {'/'.join(self.device_types)} tensors, got a {device.type} tensor"
        return None

    def kan_linear(self, x, coef, base_weight, spec: SplineSpec, grid, coef_scale=None):
        raise NotImplementedError

    def metakan_linear(self, x, embedding, w1, b1, w2, b2, spec: SplineSpec, grid, meta_activation):
        raise NotImplementedError

    def kan_edge_l1(self, x, coef, base_weight, spec: SplineSpec, grid, coef_scale=None):
        raise NotImplementedError

    def metakan_edge_l1(self, x, embedding, w1, b1, w2, b2, spec: SplineSpec, grid, meta_activation):
        raise NotImplementedError


class ReferenceBackend(Backend):
    """Pure PyTorch, materializing; any device, any float dtype, differentiable to any order."""

    name = "reference"
    device_types = ()  # every device

    def unsupported(self, device, dtype, spec, sizes):
        return None

    def kan_linear(self, x, coef, base_weight, spec, grid, coef_scale=None):
        knots = knots_or_uniform(x, spec, grid)
        return reference.kan_linear_ref(x, coef, base_weight, knots, spec.spline_order, coef_scale)

    def metakan_linear(self, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        knots = knots_or_uniform(x, spec, grid)
        return reference.metakan_linear_ref(
            x, embedding, w1, b1, w2, b2, knots, spec.spline_order, meta_activation
        )

    def kan_edge_l1(self, x, coef, base_weight, spec, grid, coef_scale=None):
        knots = knots_or_uniform(x, spec, grid)
        return reference.kan_edge_l1_ref(x, coef, base_weight, knots, spec.spline_order, coef_scale)

    def metakan_edge_l1(self, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        knots = knots_or_uniform(x, spec, grid)
        return reference.metakan_edge_l1_ref(
            x, embedding, w1, b1, w2, b2, knots, spec.spline_order, meta_activation
        )


REFERENCE = ReferenceBackend()
