"""Edge statistics kernel of both ops: each edge's batch mean |phi_oi(x_i)| and its backward, one program per input i."""

import triton
import triton.language as tl

from .configs import EDGE_L1_CONFIGS, autotuned
from .meta_mlp import meta_mlp_backward
from .precision import operand, to_acc
from .spline import feature_tile
from .weights import weight_tile

_KEY = ["B", "I", "O", "NUM_BASES", "D", "H", "BACKWARD", "NEED_DX", "NEED_DPARAMS"]


@triton.jit
def _sign(v):
    """sign(v): 0 at 0 (the gradient of |v| is taken as 0 there), NaN for NaN."""
    return tl.where(v > 0.0, 1.0, tl.where(v < 0.0, -1.0, tl.where(v == 0.0, 0.0, v))).to(v.dtype)


@triton.jit
def _edge_l1_kernel(
    x_ptr, stat_ptr, dstat_ptr, dx_ptr, dcoef_ptr, dbase_ptr, dz_ptr, pw1_ptr, pb1_ptr, pw2_ptr, pb2_ptr,
    knots_ptr, coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr,
    B, I, O,
    ORDER: tl.constexpr, NUM_BASES: tl.constexpr, UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr,
    NUM_KNOTS: tl.constexpr, HAS_BASE: tl.constexpr, GENERATE: tl.constexpr, D: tl.constexpr, H: tl.constexpr,
    ACT: tl.constexpr, KP: tl.constexpr, DP: tl.constexpr, BLOCK_H: tl.constexpr, IS_FP64: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr, BACKWARD: tl.constexpr, NEED_DX: tl.constexpr,
    NEED_DPARAMS: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr,
):
    """Program i owns input i: the edges (o, i) of every output and column i of dx, so every sum runs
    in one program in a fixed order. Per tile of BLOCK_O outputs the weights [KP, BLOCK_O] are loaded
    or generated once; per BLOCK_B rows, phi [BLOCK_B, BLOCK_O] = features @ weights. Forward:
    stat[o, i] = sum_b |phi| / B. Backward (BACKWARD), from dstat: S = sign(phi) dstat[o, i] / B,
    dweights += S^T features, dx[:, i] += (S weights^T) . slopes. A MetaKAN tile's dweights go
    through the meta-MLP's backward into dz and this program's row of partial sums (pw1_ptr..)."""
    i = tl.program_id(0)
    iv = i + tl.arange(0, 1)
    i_ok = iv < I
    m = tl.arange(0, KP)
    dtype = x_ptr.dtype.element_ty
    for o0 in range(0, O, BLOCK_O):
        o = o0 + tl.arange(0, BLOCK_O)
        o_ok = o < O
        weights = weight_tile(coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, o0, i, 0, O, I, GENERATE,
                              HAS_BASE, NUM_BASES, D, H, ACT, BLOCK_O, 1, KP, DP, BLOCK_H, IS_FP64, DOT_FP32,
                              PRECISION, True)
        sums = to_acc(tl.zeros([BLOCK_O], tl.float32), IS_FP64)
        dweights = to_acc(tl.zeros([BLOCK_O, KP], tl.float32), IS_FP64)
        scale = to_acc(tl.zeros([BLOCK_O], tl.float32), IS_FP64)
        if BACKWARD:
            scale = to_acc(tl.load(dstat_ptr + o * I + i, mask=o_ok, other=0.0), IS_FP64) / B
        for b0 in range(0, B, BLOCK_B):
            b = b0 + tl.arange(0, BLOCK_B)
            b_ok = b < B
            x = to_acc(tl.load(x_ptr + b[:, None] * I + iv[None, :], mask=b_ok[:, None] & i_ok[None, :], other=0.0),
                       IS_FP64)
            features = tl.reshape(feature_tile(x, iv, i_ok, m, knots_ptr, ORDER, NUM_BASES, UNIFORM, T0, INV_H,
                                               NUM_KNOTS, HAS_BASE, False), (BLOCK_B, KP))
            phi = tl.dot(operand(features, dtype, DOT_FP32), operand(weights, dtype, DOT_FP32),
                         input_precision=PRECISION, out_dtype=weights.dtype)
            if BACKWARD:
                s = tl.where(b_ok[:, None], _sign(phi) * scale[None, :], 0.0)
                if NEED_DPARAMS:
                    dweights = tl.dot(tl.trans(s), features, dweights, input_precision="ieee")
                if NEED_DX:
                    dfeatures = tl.dot(s, tl.trans(weights), input_precision="ieee", out_dtype=s.dtype)
                    slopes = tl.reshape(feature_tile(x, iv, i_ok, m, knots_ptr, ORDER, NUM_BASES, UNIFORM, T0,
                                                     INV_H, NUM_KNOTS, HAS_BASE, True), (BLOCK_B, KP))
                    dx = tl.sum(dfeatures * slopes, axis=1)
                    dx_ok = b_ok & (i < I)
                    tl.store(dx_ptr + b * I + i, tl.load(dx_ptr + b * I + i, mask=dx_ok, other=0.0) + dx.to(dtype),
                             mask=dx_ok)
            else:
                sums += tl.sum(tl.where(b_ok[:, None], tl.abs(phi), 0.0), axis=0)
        if not BACKWARD:
            tl.store(stat_ptr + o * I + i, (sums / B).to(dtype), mask=o_ok)
        elif NEED_DPARAMS:
            edge = o * I + i
            if GENERATE:
                dz = meta_mlp_backward(dweights, z_ptr, w1_ptr, b1_ptr, w2_ptr, pw1_ptr + i * H * D, pb1_ptr + i * H,
                                       pw2_ptr + i * (NUM_BASES + 1) * H, pb2_ptr + i * (NUM_BASES + 1), edge, o_ok,
                                       m, D, H, NUM_BASES + 1, ACT, DP, BLOCK_H, IS_FP64, DOT_FP32, PRECISION, False)
                j = tl.arange(0, DP)
                tl.store(dz_ptr + edge[:, None] * D + j[None, :], dz.to(dtype), mask=o_ok[:, None] & (j[None, :] < D))
            else:
                tl.store(dcoef_ptr + edge[:, None] * NUM_BASES + m[None, :], dweights.to(dtype),
                         mask=o_ok[:, None] & (m[None, :] < NUM_BASES))
                if HAS_BASE:
                    base = tl.sum(tl.where(m[None, :] == NUM_BASES, dweights, 0.0), axis=1)
                    tl.store(dbase_ptr + edge, base.to(dtype), mask=o_ok)


# by precision class; dx and the meta-learner's partial sums are added into (zeroed by the caller)
EDGE_L1_KERNELS = autotuned(_edge_l1_kernel, EDGE_L1_CONFIGS, _KEY,
                            reset_to_zero=["dx_ptr", "pw1_ptr", "pb1_ptr", "pw2_ptr", "pb2_ptr"])
