"""Launchers: allocate outputs, derive the kernels' compile-time settings from the arguments, launch.

Arguments arrive checked and contiguous (see :mod:`metakan_kernels.fused`). The ``*_launches``
functions return what they would launch as :class:`Launch` records, so that the AOT compile
check (``aot.py``) builds exactly the configurations that run on a GPU.
"""

from __future__ import annotations

import os
from typing import Dict, List, NamedTuple, Optional

import torch
import triton
from torch.library import wrap_triton

from ..config import deterministic
from .backward_dx import BWD_DX_KERNELS
from .backward_params import KAN_BWD_PARAMS_KERNELS, METAKAN_BWD_PARAMS_KERNELS
from .configs import (DOUBLE, HALF, INTERPRET, MAX_PARTIAL_ROWS, META_PARAMS_CONFIGS, PARAMS_BLOCK_H, SINGLE, Tiles,
                      smallest_block_o, tiles)
from .edge_l1 import EDGE_L1_KERNELS
from .forward import FWD_KERNELS

# The meta-learner's gradients are summed over per-program partial sums (deterministic) unless this
# is set to 1, which adds them with float atomics instead (run-to-run differences in the last bits);
# metakan_kernels.use_deterministic(True) or torch.use_deterministic_algorithms(True) overrides it.
ATOMICS_ENV = "METAKAN_TRITON_ATOMICS"


class Launch(NamedTuple):
    """One kernel launch: the autotuned kernel, its arguments, and its grid (a function of the config)."""

    kernel: object
    args: Dict[str, object]
    grid: object

    def run(self) -> None:
        wrap_triton(self.kernel)[self.grid](**self.args)


def use_atomics() -> bool:
    return os.environ.get(ATOMICS_ENV, "0") == "1" and not deterministic()


def precision_of(dtype: torch.dtype) -> str:
    return {torch.float64: DOUBLE, torch.float32: SINGLE}.get(dtype, HALF)


def _dot_settings(dtype: torch.dtype) -> Dict[str, object]:
    if dtype == torch.float32 and not INTERPRET:
        # float32 like torch.matmul: three TF32 products (near float32 accuracy) unless TF32 is allowed
        # (torch.set_float32_matmul_precision("high") or "medium").
        precision = "tf32x3" if torch.get_float32_matmul_precision() == "highest" else "tf32"
    else:
        precision = "ieee"  # the dot's input dtype decides; only float32 has a choice
    return dict(
        IS_FP64=dtype == torch.float64,
        # The interpreter multiplies bfloat16 tiles wrongly; it gets bf16-rounded float32 tiles instead.
        DOT_FP32=INTERPRET and dtype == torch.bfloat16,
        PRECISION=precision,
    )


def spline_settings(x, grid, grid_size: int, spline_order: int, lo: float, hi: float) -> Dict[str, object]:
    """Spline and precision constexprs shared by every kernel (x: the input, for its dtype)."""
    uniform = grid is None
    step = (hi - lo) / grid_size
    return dict(
        knots_ptr=x if uniform else grid,
        ORDER=spline_order,
        NUM_BASES=grid_size + spline_order,
        UNIFORM=uniform,
        # Only the uniform grid reads these; fixed values otherwise, to share one compiled kernel.
        T0=lo - spline_order * step if uniform else 0.0,
        INV_H=1.0 / step if uniform else 1.0,
        NUM_KNOTS=grid_size + 2 * spline_order + 1,
        **_dot_settings(x.dtype),
    )


def layer_tiles(spline: Dict[str, object], dtype: torch.dtype, embedding_dim: int = 1, hidden_dim: int = 1) -> Tiles:
    heavy_bases = not spline["UNIFORM"] and spline["ORDER"] >= 4
    return tiles(spline["NUM_BASES"], embedding_dim, hidden_dim, precision_of(dtype), heavy_bases)


def _tile_settings(t: Tiles) -> Dict[str, int]:
    return dict(KC=t.kc, SLOT_CHUNKS=t.slot_chunks, BLOCK_I=t.block_i, DP=t.dp, BLOCK_H=t.block_h)


def kan_weights(coef, base_weight, spline) -> Dict[str, object]:
    """Weight pointers and settings of the forward and dx kernels for KAN (meta pointers: stand-ins)."""
    return dict(
        coef_ptr=coef, base_ptr=coef if base_weight is None else base_weight,
        z_ptr=coef, w1_ptr=coef, b1_ptr=coef, w2_ptr=coef, b2_ptr=coef,
        HAS_BASE=base_weight is not None, GENERATE=False, D=1, H=1, ACT=0,
        **_tile_settings(layer_tiles(spline, coef.dtype)),
    )


def meta_weights(embedding, w1, b1, w2, b2, activation: int, spline) -> Dict[str, object]:
    """The same for MetaKAN (coef pointers: stand-ins)."""
    d, h = embedding.shape[2], w1.shape[0]
    return dict(
        coef_ptr=embedding, base_ptr=embedding,
        z_ptr=embedding, w1_ptr=w1, b1_ptr=b1, w2_ptr=w2, b2_ptr=b2,
        HAS_BASE=True, GENERATE=True, D=d, H=h, ACT=activation,
        **_tile_settings(layer_tiles(spline, w2.dtype, d, h)),
    )


def _rows_grid(rows: int, cols: int, col_block: Optional[int] = None):
    """Grid over (BLOCK_B row tiles) x (column tiles of col_block, or of the config's BLOCK_O)."""

    def grid(meta):
        return (triton.cdiv(rows, meta["BLOCK_B"]) * triton.cdiv(cols, col_block or meta["BLOCK_O"]),)

    return grid


def fwd_launches(x, y, spline: Dict[str, object], weights: Dict[str, object]) -> List[Launch]:
    (batch, in_features), out_features = x.shape, y.shape[1]
    args = dict(x_ptr=x, y_ptr=y, B=batch, I=in_features, O=out_features, **spline, **weights)
    kernel = FWD_KERNELS["metakan" if weights["GENERATE"] else "kan"][precision_of(x.dtype)]
    return [Launch(kernel, args, _rows_grid(batch, out_features))]


def dx_launches(dy, x, dx, spline, weights) -> List[Launch]:
    (batch, in_features), out_features = x.shape, dy.shape[1]
    args = dict(dy_ptr=dy, x_ptr=x, dx_ptr=dx, B=batch, I=in_features, O=out_features, **spline, **weights)
    kernel = BWD_DX_KERNELS["metakan" if weights["GENERATE"] else "kan"][precision_of(x.dtype)]
    return [Launch(kernel, args, _rows_grid(batch, in_features, weights["BLOCK_I"]))]


def _param_tiles(out_features: int, in_features: int, block_i: int, block_o: int) -> int:
    return triton.cdiv(out_features, block_o) * triton.cdiv(in_features, block_i)


def kan_params_launches(dy, x, dcoef, dbase, spline) -> List[Launch]:
    (batch, in_features), out_features = x.shape, dy.shape[1]
    t = layer_tiles(spline, x.dtype)
    args = dict(dy_ptr=dy, x_ptr=x, dcoef_ptr=dcoef, dbase_ptr=dcoef if dbase is None else dbase,
                B=batch, I=in_features, O=out_features, HAS_BASE=dbase is not None, KC=t.kc,
                SLOT_CHUNKS=t.slot_chunks, BLOCK_I=t.block_i, **spline)

    def grid(meta):
        return (_param_tiles(out_features, in_features, t.block_i, meta["BLOCK_O"]),)

    return [Launch(KAN_BWD_PARAMS_KERNELS[precision_of(x.dtype)], args, grid)]


def _meta_programs(out_features: int, in_features: int, block_i: int, block_o: int) -> int:
    return min(MAX_PARTIAL_ROWS, _param_tiles(out_features, in_features, block_i, block_o))


def meta_programs(embedding, spline) -> int:
    """Rows of partial sums the (persistent) MetaKAN parameter pass needs: its programs, one per tile of
    edges and at most MAX_PARTIAL_ROWS, at the narrowest tile of any configuration (a wider one leaves
    rows at zero)."""
    block_i = layer_tiles(spline, embedding.dtype).block_i
    return _meta_programs(embedding.shape[0], embedding.shape[1], block_i, smallest_block_o(META_PARAMS_CONFIGS))


def meta_partials(embedding, w1, w2, rows: int):
    """Zeroed partial sums of dW1, db1, dW2, db2: (rows, *shape) each, float32 (float64 for float64);
    one row per program, or a single row that every program adds to atomically."""
    dtype = torch.float64 if embedding.dtype == torch.float64 else torch.float32
    shapes = (tuple(w1.shape), (w1.shape[0],), tuple(w2.shape), (w2.shape[0],))
    return tuple(torch.zeros(rows, *shape, dtype=dtype, device=embedding.device) for shape in shapes)


def metakan_params_launches(dy, x, embedding, w1, b1, w2, dz, partials, spline, activation: int,
                            atomic: bool) -> List[Launch]:
    (batch, in_features), out_features = x.shape, dy.shape[1]
    d, h = embedding.shape[2], w1.shape[0]
    pw1, pb1, pw2, pb2 = partials
    tile = _tile_settings(layer_tiles(spline, x.dtype, d, h))
    tile["BLOCK_H"] = PARAMS_BLOCK_H
    args = dict(dy_ptr=dy, x_ptr=x, z_ptr=embedding, w1_ptr=w1, b1_ptr=b1, w2_ptr=w2, dz_ptr=dz, pw1_ptr=pw1,
                pb1_ptr=pb1, pw2_ptr=pw2, pb2_ptr=pb2, B=batch, I=in_features, O=out_features, D=d, H=h,
                ACT=activation, ATOMIC=atomic, **spline, **tile)

    def grid(meta):
        return (_meta_programs(out_features, in_features, tile["BLOCK_I"], meta["BLOCK_O"]),)

    return [Launch(METAKAN_BWD_PARAMS_KERNELS[precision_of(x.dtype)], args, grid)]


class EdgeGrads(NamedTuple):
    """The outputs of an edge-statistics backward (stand-ins where not asked for): dx (zeroed),
    dcoef and dbase_weight (KAN), dz and the zeroed partial sums, one row per input (MetaKAN)."""

    dx: torch.Tensor
    dcoef: torch.Tensor
    dbase: torch.Tensor
    dz: torch.Tensor
    partials: tuple


def edge_l1_launches(x, stat, spline, weights, dstat=None, grads: Optional[EdgeGrads] = None, need_dx=False,
                     need_dparams=False) -> List[Launch]:
    """The statistics into stat (O, I), or with ``dstat`` (O, I) their backward into ``grads``: dx and
    the parameters' gradients in a launch each (one holding both tiles spills at K + 1 > 32)."""
    batch, in_features = x.shape
    out_features = (stat if dstat is None else dstat).shape[0]
    anything = x if grads is None else grads.dx
    outputs = grads or EdgeGrads(anything, anything, anything, anything, (anything,) * 4)
    pw1, pb1, pw2, pb2 = outputs.partials
    t = layer_tiles(spline, x.dtype, weights["D"], weights["H"])
    args = dict(x_ptr=x, stat_ptr=stat if stat is not None else anything, dstat_ptr=dstat if dstat is not None else x,
                dx_ptr=outputs.dx, dcoef_ptr=outputs.dcoef, dbase_ptr=outputs.dbase, dz_ptr=outputs.dz, pw1_ptr=pw1,
                pb1_ptr=pb1, pw2_ptr=pw2, pb2_ptr=pb2, B=batch, I=in_features, O=out_features,
                KP=t.kp, DP=t.dp, BLOCK_H=PARAMS_BLOCK_H, BACKWARD=dstat is not None, **spline,
                **{k: v for k, v in weights.items() if k not in ("KC", "SLOT_CHUNKS", "BLOCK_I", "DP", "BLOCK_H")})
    kernel = EDGE_L1_KERNELS[precision_of(x.dtype)]
    if dstat is None:
        return [Launch(kernel, dict(args, NEED_DX=False, NEED_DPARAMS=False), (in_features,))]
    passes = [(True, False)] * need_dx + [(False, True)] * need_dparams
    return [Launch(kernel, dict(args, NEED_DX=dx, NEED_DPARAMS=params), (in_features,)) for dx, params in passes]


def _run(launches: List[Launch]) -> None:
    for launch in launches:
        launch.run()


def _nothing(like: torch.Tensor) -> torch.Tensor:
    return like.new_empty(0)


def kan_fwd_triton(x, coef, coef_scale, base_weight, grid, grid_size, spline_order, lo, hi):
    """y [B, O] = kan_linear(x [B, I], coef [O, I, K], coef_scale [O, I] or None, base_weight [O, I] or None)."""
    y = x.new_empty(x.shape[0], coef.shape[0])
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    scaled = coef if coef_scale is None else coef * coef_scale.unsqueeze(-1)
    _run(fwd_launches(x, y, spline, kan_weights(scaled, base_weight, spline)))
    return y


def kan_bwd_triton(dy, x, coef, base_weight, grid, grid_size, spline_order, lo, hi, need_dx, need_dparams):
    """(dx [B, I], dcoef [O, I, K], dbase_weight [O, I]); empty where not asked for."""
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    dx, dcoef, dbase = _nothing(x), _nothing(coef), _nothing(coef)
    if need_dx:
        dx = torch.empty_like(x)
        _run(dx_launches(dy, x, dx, spline, kan_weights(coef, base_weight, spline)))
    if need_dparams:
        dcoef = torch.empty_like(coef)
        dbase = None if base_weight is None else torch.empty_like(base_weight)
        _run(kan_params_launches(dy, x, dcoef, dbase, spline))
        dbase = _nothing(coef) if dbase is None else dbase
    return dx, dcoef, dbase


def metakan_fwd_triton(x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation):
    """y [B, O] = metakan_linear(x [B, I], embedding [O, I, d], w1 [H, d], b1 [H], w2 [K+1, H], b2 [K+1])."""
    y = x.new_empty(x.shape[0], embedding.shape[0])
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    _run(fwd_launches(x, y, spline, meta_weights(embedding, w1, b1, w2, b2, activation, spline)))
    return y


def metakan_bwd_triton(dy, x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation,
                       need_dx, need_dparams):
    """(dx, dembedding, dw1, db1, dw2, db2) in the inputs' shapes; empty where not asked for."""
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    dx = _nothing(x)
    params = tuple(_nothing(p) for p in (embedding, w1, b1, w2, b2))
    if need_dx:
        dx = torch.empty_like(x)
        _run(dx_launches(dy, x, dx, spline, meta_weights(embedding, w1, b1, w2, b2, activation, spline)))
    if need_dparams:
        atomic = use_atomics()
        dz = torch.empty_like(embedding)
        partials = meta_partials(embedding, w1, w2, 1 if atomic else meta_programs(embedding, spline))
        _run(metakan_params_launches(dy, x, embedding, w1, b1, w2, dz, partials, spline, activation, atomic))
        params = (dz, *(p.sum(0).to(ref.dtype) for p, ref in zip(partials, (w1, b1, w2, b2))))
    return (dx, *params)


def kan_edge_l1_fwd_triton(x, coef, coef_scale, base_weight, grid, grid_size, spline_order, lo, hi):
    """Each edge's batch mean |phi| [O, I], arguments as kan_fwd_triton."""
    stat = x.new_empty(coef.shape[0], x.shape[1])
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    scaled = coef if coef_scale is None else coef * coef_scale.unsqueeze(-1)
    _run(edge_l1_launches(x, stat, spline, kan_weights(scaled, base_weight, spline)))
    return stat


def kan_edge_l1_bwd_triton(dy, x, coef, base_weight, grid, grid_size, spline_order, lo, hi, need_dx, need_dparams):
    """(dx, dcoef, dbase_weight) from dy [O, I], the gradient of the statistics; empty where not asked for."""
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    dx = torch.zeros_like(x) if need_dx else _nothing(x)
    dcoef = torch.empty_like(coef) if need_dparams else _nothing(coef)
    dbase = torch.empty_like(base_weight) if need_dparams and base_weight is not None else _nothing(coef)
    if need_dx or need_dparams:
        grads = EdgeGrads(dx if need_dx else x, dcoef if need_dparams else x, dbase if dbase.numel() else x, x,
                          (x,) * 4)
        _run(edge_l1_launches(x, None, spline, kan_weights(coef, base_weight, spline), dy.contiguous(), grads,
                              need_dx, need_dparams))
    return dx, dcoef, dbase


def metakan_edge_l1_fwd_triton(x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation):
    """Each edge's batch mean |phi| [O, I], arguments as metakan_fwd_triton."""
    stat = x.new_empty(embedding.shape[0], x.shape[1])
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    _run(edge_l1_launches(x, stat, spline, meta_weights(embedding, w1, b1, w2, b2, activation, spline)))
    return stat


def metakan_edge_l1_bwd_triton(dy, x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation,
                               need_dx, need_dparams):
    """(dx, dembedding, dw1, db1, dw2, db2) from dy [O, I]; empty where not asked for."""
    spline = spline_settings(x, grid, grid_size, spline_order, lo, hi)
    dx = torch.zeros_like(x) if need_dx else _nothing(x)
    params = tuple(_nothing(p) for p in (embedding, w1, b1, w2, b2))
    if need_dx or need_dparams:
        dz = torch.empty_like(embedding) if need_dparams else x
        partials = meta_partials(embedding, w1, w2, x.shape[1] if need_dparams else 1)
        grads = EdgeGrads(dx if need_dx else x, x, x, dz, partials)
        _run(edge_l1_launches(x, None, spline, meta_weights(embedding, w1, b1, w2, b2, activation, spline),
                              dy.contiguous(), grads, need_dx, need_dparams))
        if need_dparams:
            params = (dz, *(p.sum(0).to(ref.dtype) for p, ref in zip(partials, (w1, b1, w2, b2))))
    return (dx, *params)
