"""Parameter kernels: per-edge gradients dW = dy^T @ features(x), one program per (o-tile, i-tile), looping over b-tiles.

KAN writes dW as dcoef / dbase_weight; MetaKAN back-propagates it through the meta-MLP inside the
program, so the per-edge gradient never reaches global memory.
"""

import triton
import triton.language as tl

from .configs import KAN_PARAMS_CONFIGS, META_BLOCK_O, META_PARAMS_CONFIGS, autotuned
from .meta_mlp import meta_mlp_backward
from .precision import operand, to_acc
from .spline import feature_tile

_KEY = ["B", "I", "O", "NUM_BASES"]
_META_O = tl.constexpr(META_BLOCK_O)


@triton.jit
def _edge_grads(dy_ptr, x_ptr, knots_ptr, B, I, O, o, i, m, ORDER: tl.constexpr, NUM_BASES: tl.constexpr,
                UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr, NUM_KNOTS: tl.constexpr,
                HAS_BASE: tl.constexpr, IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
                BLOCK_O: tl.constexpr, BLOCK_I: tl.constexpr, KC: tl.constexpr, BLOCK_B: tl.constexpr):
    """Σ_b dy[b, o] · features(x[b, i]) at slots m, as [BLOCK_O, BLOCK_I * KC] (slot K: the base-weight gradient)."""
    dtype = x_ptr.dtype.element_ty
    o_ok = o < O
    i_ok = i < I
    acc = to_acc(tl.zeros([BLOCK_O, BLOCK_I * KC], tl.float32), IS_FP64)
    for b0 in range(0, B, BLOCK_B):
        b = b0 + tl.arange(0, BLOCK_B)
        b_ok = b < B
        dy = tl.load(dy_ptr + b[:, None] * O + o[None, :], mask=b_ok[:, None] & o_ok[None, :], other=0.0)
        x = to_acc(tl.load(x_ptr + b[:, None] * I + i[None, :], mask=b_ok[:, None] & i_ok[None, :], other=0.0),
                   IS_FP64)
        features = feature_tile(x, i, i_ok, m, knots_ptr, ORDER, NUM_BASES, UNIFORM, T0, INV_H, NUM_KNOTS, HAS_BASE,
                                False)
        acc = tl.dot(tl.trans(operand(dy, dtype, DOT_FP32)), operand(tl.reshape(features, (BLOCK_B, BLOCK_I * KC)),
                                                                      dtype, DOT_FP32), acc, input_precision=PRECISION)
    return acc


@triton.jit
def _kan_bwd_params_kernel(
    dy_ptr, x_ptr, knots_ptr, dcoef_ptr, dbase_ptr,
    B, I, O,
    ORDER: tl.constexpr, NUM_BASES: tl.constexpr, UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr,
    NUM_KNOTS: tl.constexpr, HAS_BASE: tl.constexpr, KC: tl.constexpr, SLOT_CHUNKS: tl.constexpr,
    BLOCK_I: tl.constexpr, BLOCK_O: tl.constexpr, IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_B: tl.constexpr,
):
    """dcoef [O, I, K] and dbase_weight [O, I] (when HAS_BASE) from dy [B, O] and x [B, I]."""
    pid = tl.program_id(0)
    num_o = tl.cdiv(O, BLOCK_O)
    o = (pid % num_o) * BLOCK_O + tl.arange(0, BLOCK_O)
    i = (pid // num_o) * BLOCK_I + tl.arange(0, BLOCK_I)
    edge = o[:, None, None] * I + i[None, :, None]
    edge_ok = (o[:, None, None] < O) & (i[None, :, None] < I)
    for chunk in range(0, SLOT_CHUNKS):
        m = chunk * KC + tl.arange(0, KC)
        grads = _edge_grads(dy_ptr, x_ptr, knots_ptr, B, I, O, o, i, m, ORDER, NUM_BASES, UNIFORM, T0, INV_H,
                            NUM_KNOTS, HAS_BASE, IS_FP64, DOT_FP32, PRECISION, BLOCK_O, BLOCK_I, KC, BLOCK_B)
        grads = tl.reshape(grads, (BLOCK_O, BLOCK_I, KC))
        slot = m[None, None, :]
        tl.store(dcoef_ptr + edge * NUM_BASES + slot, grads.to(dcoef_ptr.dtype.element_ty),
                 mask=edge_ok & (slot < NUM_BASES))
        if HAS_BASE:  # one address per edge, written from slot K only
            tl.store(dbase_ptr + edge + 0 * slot, grads.to(dbase_ptr.dtype.element_ty),
                     mask=edge_ok & (slot == NUM_BASES))


@triton.jit
def _chunk_edges(o0, i0, I, O, BLOCK_I: tl.constexpr):
    """Flat indices and validity of the _META_O * BLOCK_I edges (o0.., i0..), in the rows' order."""
    r = tl.arange(0, _META_O * BLOCK_I)
    eo = o0 + r // BLOCK_I
    ei = i0 + r % BLOCK_I
    return eo * I + ei, (eo < O) & (ei < I)


@triton.jit
def _metakan_bwd_params_kernel(
    dy_ptr, x_ptr, knots_ptr, z_ptr, w1_ptr, b1_ptr, w2_ptr, dz_ptr, pw1_ptr, pb1_ptr, pw2_ptr, pb2_ptr,
    B, I, O,
    ORDER: tl.constexpr, NUM_BASES: tl.constexpr, UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr,
    NUM_KNOTS: tl.constexpr, D: tl.constexpr, H: tl.constexpr, ACT: tl.constexpr, KC: tl.constexpr,
    SLOT_CHUNKS: tl.constexpr, BLOCK_I: tl.constexpr, DP: tl.constexpr, BLOCK_H: tl.constexpr,
    IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr, ATOMIC: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr,
):
    """dembedding [O, I, D], and partial sums of dW1 [H, D], db1 [H], dW2 [K+1, H], db2 [K+1].

    Persistent: program p takes the (o, i) tiles p, p + P, ... and adds each tile's share of the
    meta-MLP gradients to its own zero-initialized row p of pw1.. (a fixed order: deterministic),
    or atomically to row 0 with ATOMIC. The caller sums the rows. A tile's per-edge gradients come
    from one product per batch step for all BLOCK_O outputs, then go through the meta-MLP backward
    _META_O outputs at a time: chunk j is taken out of the register tile by a masked sum over the
    chunk axis (Triton cannot index a register tile), and its dz put back into the tile's the same way."""
    CHUNKS: tl.constexpr = BLOCK_O // _META_O
    tl.static_assert(CHUNKS * _META_O == BLOCK_O)
    ROWS: tl.constexpr = _META_O * BLOCK_I
    pid = tl.program_id(0)
    num_o = tl.cdiv(O, BLOCK_O)
    row = 0 if ATOMIC else pid
    num_weights = NUM_BASES + 1
    pw1 = pw1_ptr + row * (H * D)
    pb1 = pb1_ptr + row * H
    pw2 = pw2_ptr + row * (num_weights * H)
    pb2 = pb2_ptr + row * num_weights
    which = tl.arange(0, CHUNKS)
    j_dp = tl.arange(0, DP)
    for tile in range(pid, num_o * tl.cdiv(I, BLOCK_I), tl.num_programs(0)):
        o0 = (tile % num_o) * BLOCK_O
        i0 = (tile // num_o) * BLOCK_I
        dz = to_acc(tl.zeros([CHUNKS, ROWS, DP], tl.float32), IS_FP64)
        for chunk in range(0, SLOT_CHUNKS):
            m = chunk * KC + tl.arange(0, KC)
            grads = _edge_grads(dy_ptr, x_ptr, knots_ptr, B, I, O, o0 + tl.arange(0, BLOCK_O),
                                i0 + tl.arange(0, BLOCK_I), m, ORDER, NUM_BASES, UNIFORM, T0, INV_H, NUM_KNOTS, True,
                                IS_FP64, DOT_FP32, PRECISION, BLOCK_O, BLOCK_I, KC, BLOCK_B)
            grads = tl.reshape(grads, (CHUNKS, ROWS, KC))
            for j in range(0, CHUNKS):
                picked = tl.sum(tl.where((which == j)[:, None, None], grads, 0.0), axis=0)
                edge, edge_ok = _chunk_edges(o0 + j * _META_O, i0, I, O, BLOCK_I)
                dz_j = meta_mlp_backward(picked, z_ptr, w1_ptr, b1_ptr, w2_ptr, pw1, pb1, pw2, pb2, edge, edge_ok, m,
                                         D, H, num_weights, ACT, DP, BLOCK_H, IS_FP64, DOT_FP32, PRECISION, ATOMIC)
                dz += tl.where((which == j)[:, None, None], dz_j[None, :, :], 0.0)
        for j in range(0, CHUNKS):
            edge, edge_ok = _chunk_edges(o0 + j * _META_O, i0, I, O, BLOCK_I)
            dz_j = tl.sum(tl.where((which == j)[:, None, None], dz, 0.0), axis=0)
            tl.store(dz_ptr + edge[:, None] * D + j_dp[None, :], dz_j.to(dz_ptr.dtype.element_ty),
                     mask=edge_ok[:, None] & (j_dp[None, :] < D))


KAN_BWD_PARAMS_KERNELS = autotuned(_kan_bwd_params_kernel, KAN_PARAMS_CONFIGS, _KEY)
# Its programs add into their partial sums across tiles and slot chunks (or atomically into one row):
# the sums must start at zero for every timing run of the autotuner as well.
METAKAN_BWD_PARAMS_KERNELS = autotuned(_metakan_bwd_params_kernel, META_PARAMS_CONFIGS, _KEY + ["D", "H"],
                                       reset_to_zero=["pw1_ptr", "pb1_ptr", "pw2_ptr", "pb2_ptr"])
