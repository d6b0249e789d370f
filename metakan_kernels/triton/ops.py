"""The Triton backend's ops ``metakan::triton_*``, as ``torch.library.triton_op`` so torch.compile traces into them."""

from __future__ import annotations

from typing import Optional

import torch
from torch.library import triton_op

from . import launch

Tensor = torch.Tensor


@triton_op("metakan::triton_kan_fwd", mutates_args=())
def triton_kan_fwd(x: Tensor, coef: Tensor, coef_scale: Optional[Tensor], base_weight: Optional[Tensor],
                   grid: Optional[Tensor], grid_size: int, spline_order: int, lo: float, hi: float) -> Tensor:
    scaled = coef if coef_scale is None else coef * coef_scale.unsqueeze(-1)
    return launch.kan_fwd_triton(x, scaled, base_weight, grid, grid_size, spline_order, lo, hi)


@triton_op("metakan::triton_kan_bwd", mutates_args=())
def triton_kan_bwd(dy: Tensor, x: Tensor, coef: Tensor, base_weight: Optional[Tensor], grid: Optional[Tensor],
                   grid_size: int, spline_order: int, lo: float, hi: float, need_dx: bool,
                   need_dparams: bool) -> tuple[Tensor, Tensor, Tensor]:
    return launch.kan_bwd_triton(dy, x, coef, base_weight, grid, grid_size, spline_order, lo, hi, need_dx,
                                 need_dparams)


@triton_op("metakan::triton_metakan_fwd", mutates_args=())
def triton_metakan_fwd(x: Tensor, embedding: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
                       grid: Optional[Tensor], grid_size: int, spline_order: int, lo: float, hi: float,
                       activation: int) -> Tensor:
    return launch.metakan_fwd_triton(x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation)


@triton_op("metakan::triton_metakan_bwd", mutates_args=())
def triton_metakan_bwd(dy: Tensor, x: Tensor, embedding: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
                       grid: Optional[Tensor], grid_size: int, spline_order: int, lo: float, hi: float,
                       activation: int, need_dx: bool, need_dparams: bool
                       ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    return launch.metakan_bwd_triton(dy, x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi,
                                     activation, need_dx, need_dparams)
