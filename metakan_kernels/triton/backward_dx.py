"""dx kernel of both ops: dx = Σ_m (dy @ weights)[.., m] · B'_m(x), one program per (b-tile, i-tile), looping over o-tiles."""

import triton
import triton.language as tl

from .configs import KAN_ROW_CONFIGS, META_DX_CONFIGS, autotuned
from .precision import operand, to_acc
from .spline import feature_tile
from .weights import weight_tile

_KEY = ["B", "I", "O", "NUM_BASES", "D", "H"]


@triton.jit
def _bwd_dx_kernel(
    dy_ptr, x_ptr, dx_ptr, knots_ptr, coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr,
    B, I, O,
    ORDER: tl.constexpr, NUM_BASES: tl.constexpr, UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr,
    NUM_KNOTS: tl.constexpr, HAS_BASE: tl.constexpr, GENERATE: tl.constexpr, D: tl.constexpr, H: tl.constexpr,
    ACT: tl.constexpr, KC: tl.constexpr, SLOT_CHUNKS: tl.constexpr, BLOCK_I: tl.constexpr, DP: tl.constexpr,
    BLOCK_H: tl.constexpr, IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr,
):
    """dx [B, I] from dy [B, O]: per chunk of slots, s = dy @ weights accumulates in a
    [BLOCK_B, BLOCK_I * KC] tile over the o-tiles (weights loaded or regenerated), then meets the
    derivative features of x."""
    pid = tl.program_id(0)
    num_b = tl.cdiv(B, BLOCK_B)
    b = (pid % num_b) * BLOCK_B + tl.arange(0, BLOCK_B)
    i0 = (pid // num_b) * BLOCK_I
    i = i0 + tl.arange(0, BLOCK_I)
    b_ok = b < B
    i_ok = i < I
    dtype = x_ptr.dtype.element_ty
    dx = to_acc(tl.zeros([BLOCK_B, BLOCK_I], tl.float32), IS_FP64)
    for chunk in range(0, SLOT_CHUNKS):
        m0 = chunk * KC
        s = to_acc(tl.zeros([BLOCK_B, BLOCK_I * KC], tl.float32), IS_FP64)
        for o0 in range(0, O, BLOCK_O):
            o = o0 + tl.arange(0, BLOCK_O)
            dy = tl.load(dy_ptr + b[:, None] * O + o[None, :], mask=b_ok[:, None] & (o[None, :] < O), other=0.0)
            weights = weight_tile(coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, o0, i0, m0, O, I,
                                  GENERATE, HAS_BASE, NUM_BASES, D, H, ACT, BLOCK_O, BLOCK_I, KC, DP, BLOCK_H, IS_FP64,
                                  DOT_FP32, PRECISION, False)
            s = tl.dot(operand(dy, dtype, DOT_FP32), operand(weights, dtype, DOT_FP32), s, input_precision=PRECISION)
        x = to_acc(tl.load(x_ptr + b[:, None] * I + i[None, :], mask=b_ok[:, None] & i_ok[None, :], other=0.0),
                   IS_FP64)
        slopes = feature_tile(x, i, i_ok, m0 + tl.arange(0, KC), knots_ptr, ORDER, NUM_BASES, UNIFORM, T0, INV_H,
                              NUM_KNOTS, HAS_BASE, True)
        dx += tl.sum(tl.reshape(s, (BLOCK_B, BLOCK_I, KC)) * slopes, axis=2)
    tl.store(dx_ptr + b[:, None] * I + i[None, :], dx.to(dtype), mask=b_ok[:, None] & i_ok[None, :])


# by op ("kan", "metakan"), then precision class
BWD_DX_KERNELS = {"kan": autotuned(_bwd_dx_kernel, KAN_ROW_CONFIGS, _KEY), "metakan": autotuned(_bwd_dx_kernel, META_DX_CONFIGS, _KEY)}
