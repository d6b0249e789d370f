"""Forward kernel of both ops: y = features(x) @ weights^T, one program per (b-tile, o-tile), looping over i-tiles."""

import triton
import triton.language as tl

from .configs import GENERATE_BLOCK_O, KAN_FWD_CONFIGS, META_FWD_CONFIGS, autotuned
from .meta_mlp import SMALL_D
from .precision import operand, to_acc
from .spline import feature_rows, feature_tile
from .weights import weight_tile

_KEY = ["B", "I", "O", "NUM_BASES", "D", "H"]
_GENERATE_BLOCK_O = tl.constexpr(GENERATE_BLOCK_O)


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
    Nothing of size B·I·K or O·I·K exists outside this program's registers. A generated tile wider
    than GENERATE_BLOCK_O outputs is two halves (PARTS), each generated, multiplied and accumulated on
    its own, both with the same features."""
    PARTS: tl.constexpr = 2 if GENERATE and BLOCK_O > _GENERATE_BLOCK_O else 1
    tl.static_assert(PARTS == 1 or BLOCK_O == 2 * _GENERATE_BLOCK_O)
    PART_O: tl.constexpr = BLOCK_O // PARTS
    # Half precision assembles each input's slots in one thread (feature_rows). float32's three TF32
    # products and float64 hold twice the registers per slot and spill with it, and so does a generated
    # tile whose embeddings take the product path (D > SMALL_D) on sm_80: those keep feature_tile.
    COMPACT: tl.constexpr = x_ptr.dtype.element_ty.primitive_bitwidth == 16 and (not GENERATE or D <= SMALL_D)
    pid = tl.program_id(0)
    num_b = tl.cdiv(B, BLOCK_B)
    b = (pid % num_b) * BLOCK_B + tl.arange(0, BLOCK_B)
    o0 = (pid // num_b) * BLOCK_O
    b_ok = b < B
    dtype = x_ptr.dtype.element_ty
    acc0 = to_acc(tl.zeros([BLOCK_B, PART_O], tl.float32), IS_FP64)
    acc1 = acc0
    for step in range(0, tl.cdiv(I, BLOCK_I) * SLOT_CHUNKS):
        i0 = (step // SLOT_CHUNKS) * BLOCK_I
        m0 = (step % SLOT_CHUNKS) * KC
        i = i0 + tl.arange(0, BLOCK_I)
        i_ok = i < I
        x = to_acc(tl.load(x_ptr + b[:, None] * I + i[None, :], mask=b_ok[:, None] & i_ok[None, :], other=0.0),
                   IS_FP64)
        if COMPACT:
            features = feature_rows(x, i, i_ok, m0, knots_ptr, ORDER, NUM_BASES, UNIFORM, T0, INV_H, NUM_KNOTS,
                                    HAS_BASE, KC)
        else:
            features = tl.reshape(feature_tile(x, i, i_ok, m0 + tl.arange(0, KC), knots_ptr, ORDER, NUM_BASES, UNIFORM,
                                               T0, INV_H, NUM_KNOTS, HAS_BASE, False), (BLOCK_B, BLOCK_I * KC))
        features = operand(features, dtype, DOT_FP32)
        weights = weight_tile(coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, o0, i0, m0, O, I, GENERATE,
                              HAS_BASE, NUM_BASES, D, H, ACT, PART_O, BLOCK_I, KC, DP, BLOCK_H, IS_FP64, DOT_FP32,
                              PRECISION, True)
        acc0 = tl.dot(features, operand(weights, dtype, DOT_FP32), acc0, input_precision=PRECISION)
        if PARTS == 2:
            weights = weight_tile(coef_ptr, base_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, o0 + PART_O, i0, m0, O,
                                  I, GENERATE, HAS_BASE, NUM_BASES, D, H, ACT, PART_O, BLOCK_I, KC, DP, BLOCK_H,
                                  IS_FP64, DOT_FP32, PRECISION, True)
            acc1 = tl.dot(features, operand(weights, dtype, DOT_FP32), acc1, input_precision=PRECISION)
    o = o0 + tl.arange(0, PART_O)
    tl.store(y_ptr + b[:, None] * O + o[None, :], acc0.to(dtype), mask=b_ok[:, None] & (o[None, :] < O))
    if PARTS == 2:
        o = o0 + PART_O + tl.arange(0, PART_O)
        tl.store(y_ptr + b[:, None] * O + o[None, :], acc1.to(dtype), mask=b_ok[:, None] & (o[None, :] < O))


# by op ("kan", "metakan"), then precision class
FWD_KERNELS = {"kan": autotuned(_fwd_kernel, KAN_FWD_CONFIGS, _KEY), "metakan": autotuned(_fwd_kernel, META_FWD_CONFIGS, _KEY)}
