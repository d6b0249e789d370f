"""Forward kernel of both ops: y = features(x) @ weights^T, one program per (b-tile, o-tile), looping over i-tiles."""

import triton
import triton.language as tl

from .configs import KAN_ROW_CONFIGS, META_ROW_CONFIGS, autotuned
from .precision import operand, to_acc
from .spline import feature_tile
from .weights import weight_tile

_KEY = ["B", "I", "O", "NUM_BASES", "D", "H"]


@triton.jit
def _fwd_kernel(
    x_ptr, y_ptr, knots_ptr, coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr,
    B, I, O,
    ORDER: tl.constexpr, NUM_BASES: tl.constexpr, UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr,
    NUM_KNOTS: tl.constexpr, HAS_BASE: tl.constexpr, GENERATE: tl.constexpr, D: tl.constexpr, H: tl.constexpr,
    ACT: tl.constexpr, KC: tl.constexpr, SLOT_CHUNKS: tl.constexpr, BLOCK_I: tl.constexpr, DP: tl.constexpr,
    BLOCK_H: tl.constexpr, IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr,
):
    """y [B, O] from x [B, I] and the weights of every edge, loaded (KAN) or generated (GENERATE).
    Nothing of size B·I·K or O·I·K exists outside this program's registers."""
    pid = tl.program_id(0)
    num_b = tl.cdiv(B, BLOCK_B)
    b = (pid % num_b) * BLOCK_B + tl.arange(0, BLOCK_B)
    o0 = (pid // num_b) * BLOCK_O
    o = o0 + tl.arange(0, BLOCK_O)
    b_ok = b < B
    dtype = x_ptr.dtype.element_ty
    acc = to_acc(tl.zeros([BLOCK_B, BLOCK_O], tl.float32), IS_FP64)
    for step in range(0, tl.cdiv(I, BLOCK_I) * SLOT_CHUNKS):
        i0 = (step // SLOT_CHUNKS) * BLOCK_I
        m0 = (step % SLOT_CHUNKS) * KC
        i = i0 + tl.arange(0, BLOCK_I)
        i_ok = i < I
        x = to_acc(tl.load(x_ptr + b[:, None] * I + i[None, :], mask=b_ok[:, None] & i_ok[None, :], other=0.0),
                   IS_FP64)
        features = feature_tile(x, i, i_ok, m0 + tl.arange(0, KC), knots_ptr, ORDER, NUM_BASES, UNIFORM, T0, INV_H,
                                NUM_KNOTS, HAS_BASE, False)
        features = tl.reshape(features, (BLOCK_B, BLOCK_I * KC))
        weights = weight_tile(coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, o0, i0, m0, O, I, GENERATE,
                              HAS_BASE, NUM_BASES, D, H, ACT, BLOCK_O, BLOCK_I, KC, DP, BLOCK_H, IS_FP64, DOT_FP32,
                              PRECISION, True)
        acc = tl.dot(operand(features, dtype, DOT_FP32), operand(weights, dtype, DOT_FP32), acc,
                     input_precision=PRECISION)
    tl.store(y_ptr + b[:, None] * O + o[None, :], acc.to(dtype), mask=b_ok[:, None] & (o[None, :] < O))


# by op ("kan", "metakan"), then precision class
FWD_KERNELS = {"kan": autotuned(_fwd_kernel, KAN_ROW_CONFIGS, _KEY), "metakan": autotuned(_fwd_kernel, META_ROW_CONFIGS, _KEY)}
