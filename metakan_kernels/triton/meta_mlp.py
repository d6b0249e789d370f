"""The meta-learner ``w = W2 act(W1 z + b1) + b2`` inside a tile of edges: generation and back-propagation.

A tile holds ``R = BLOCK_O * BLOCK_I`` edges (rows). Hidden units are processed ``BLOCK_H`` at a
time, so that no ``[R, H]`` tile is ever live; ``w`` comes out for a chunk of slots m, the K
coefficients at ``m < K`` and the base weight at ``m = K``: the layout of the feature tiles.
Activation codes are those of :mod:`metakan_kernels.limits` (gelu in its erf form; identity: an affine meta-learner).
"""

import triton
import triton.language as tl

from ..limits import ACTIVATION_CODES
from .precision import operand, to_acc
from .spline import silu, silu_grad

_SQRT_HALF = tl.constexpr(0.7071067811865476)
_INV_SQRT_2PI = tl.constexpr(0.3989422804014327)
_RELU = tl.constexpr(ACTIVATION_CODES["relu"])
_SILU = tl.constexpr(ACTIVATION_CODES["silu"])
_GELU = tl.constexpr(ACTIVATION_CODES["gelu"])
_TANH = tl.constexpr(ACTIVATION_CODES["tanh"])
SMALL_D = tl.constexpr(4)  # up to this embedding_dim, W1 z is multiply-added rather than a padded product


@triton.jit
def _tanh(x):
    # 1 - 2 / (e^{2x} + 1): finite at both ends (e^{2x} -> inf gives 1, -> 0 gives -1).
    return 1.0 - 2.0 / (tl.exp(2.0 * x) + 1.0)


@triton.jit
def activation(pre, ACT: tl.constexpr):
    if ACT == _RELU:
        out = tl.maximum(pre, 0.0)
    elif ACT == _SILU:
        out = silu(pre)
    elif ACT == _GELU:
        out = 0.5 * pre * (1.0 + tl.erf(pre * _SQRT_HALF))
    elif ACT == _TANH:
        out = _tanh(pre)
    else:
        out = pre
    return out


@triton.jit
def activation_grad(pre, ACT: tl.constexpr):
    if ACT == _RELU:
        out = (pre > 0.0).to(pre.dtype)
    elif ACT == _SILU:
        out = silu_grad(pre)
    elif ACT == _GELU:
        out = 0.5 * (1.0 + tl.erf(pre * _SQRT_HALF)) + pre * tl.exp(-0.5 * pre * pre) * _INV_SQRT_2PI
    elif ACT == _TANH:
        th = _tanh(pre)
        out = 1.0 - th * th
    else:
        out = tl.full(pre.shape, 1.0, pre.dtype)
    return out


@triton.jit
def _load_embedding(z_ptr, edge, edge_ok, D: tl.constexpr, DP: tl.constexpr):
    """z[edge, :D] as [R, DP], zero for padding and for edges past the end."""
    j = tl.arange(0, DP)
    return tl.load(z_ptr + edge[:, None] * D + j[None, :], mask=edge_ok[:, None] & (j[None, :] < D), other=0.0)


@triton.jit
def _pre_activation(z_ptr, edge, edge_ok, w1_ptr, b1_ptr, hh, D: tl.constexpr, H: tl.constexpr, DP: tl.constexpr,
                    IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    """``z W1[hh]^T + b1[hh]`` for the edges ``edge`` and hidden units hh: [R, BLOCK_H], accumulation
    dtype. A few embedding columns are multiply-added (a product would pad them to 16)."""
    h_ok = hh < H
    acc = tl.zeros([edge.shape[0], hh.shape[0]], tl.float32) + to_acc(tl.load(b1_ptr + hh, mask=h_ok, other=0.0),
                                                                      IS_FP64)[None, :]
    acc = to_acc(acc, IS_FP64)
    if D <= SMALL_D:
        for j in tl.static_range(D):
            zj = to_acc(tl.load(z_ptr + edge * D + j, mask=edge_ok, other=0.0), IS_FP64)
            w1j = to_acc(tl.load(w1_ptr + hh * D + j, mask=h_ok, other=0.0), IS_FP64)
            acc += zj[:, None] * w1j[None, :]
    else:
        j = tl.arange(0, DP)
        z = _load_embedding(z_ptr, edge, edge_ok, D, DP)
        w1t = tl.load(w1_ptr + hh[None, :] * D + j[:, None], mask=h_ok[None, :] & (j[:, None] < D), other=0.0)
        dtype = w1_ptr.dtype.element_ty
        acc = tl.dot(operand(z, dtype, DOT_FP32), operand(w1t, dtype, DOT_FP32), acc, input_precision=PRECISION)
    return acc


@triton.jit
def generate_weights(z_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, edge, edge_ok, m, D: tl.constexpr, H: tl.constexpr,
                     NUM_WEIGHTS: tl.constexpr, ACT: tl.constexpr, DP: tl.constexpr, BLOCK_H: tl.constexpr,
                     IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    """Weights of the edges ``edge`` [R] (flat o * I + i) at slots m [KC]: [R, KC] in the accumulation
    dtype, zero at slots m >= NUM_WEIGHTS = K + 1. Products on tensor cores in the input dtype."""
    dtype = w2_ptr.dtype.element_ty
    w = to_acc(tl.zeros([edge.shape[0], m.shape[0]], tl.float32), IS_FP64)
    for h0 in range(0, H, BLOCK_H):
        hh = h0 + tl.arange(0, BLOCK_H)
        pre = _pre_activation(z_ptr, edge, edge_ok, w1_ptr, b1_ptr, hh, D, H, DP, IS_FP64, DOT_FP32, PRECISION)
        hidden = activation(pre, ACT)
        w2t = tl.load(w2_ptr + m[None, :] * H + hh[:, None], mask=(m[None, :] < NUM_WEIGHTS) & (hh[:, None] < H),
                      other=0.0)
        w = tl.dot(operand(hidden, dtype, DOT_FP32), operand(w2t, dtype, DOT_FP32), w, input_precision=PRECISION)
    b2 = to_acc(tl.load(b2_ptr + m, mask=m < NUM_WEIGHTS, other=0.0), IS_FP64)
    return w + b2[None, :]


@triton.jit
def _accumulate(ptr, value, mask, ATOMIC: tl.constexpr):
    """Add to a partial sum that only this program touches (or, with ATOMIC, one that all share)."""
    if ATOMIC:
        tl.atomic_add(ptr, value, mask=mask)
    else:
        tl.store(ptr, tl.load(ptr, mask=mask, other=0.0) + value, mask=mask)


@triton.jit
def meta_mlp_backward(dw, z_ptr, w1_ptr, b1_ptr, w2_ptr, pw1_ptr, pb1_ptr, pw2_ptr, pb2_ptr, edge, edge_ok,
                      m, D: tl.constexpr, H: tl.constexpr, NUM_WEIGHTS: tl.constexpr, ACT: tl.constexpr,
                      DP: tl.constexpr, BLOCK_H: tl.constexpr, IS_FP64: tl.constexpr, DOT_FP32: tl.constexpr,
                      PRECISION: tl.constexpr, ATOMIC: tl.constexpr):
    """Back-propagate dw [R, KC], the gradient of the weights at slots m (zero rows for edges past
    the end), through the meta-MLP of the edges ``edge``: adds this share of dW1 [H, D], db1 [H],
    dW2 [K+1, H], db2 [K+1] to the partial sums at pw1_ptr.., and returns the edges' dz [R, DP]
    (linear in dw, so chunks of slots add up). Runs once per tile, so its products other than the
    forward's own ``W1 z`` are plain float32 (float64) ones."""
    z = to_acc(_load_embedding(z_ptr, edge, edge_ok, D, DP), IS_FP64)
    j = tl.arange(0, DP)
    _accumulate(pb2_ptr + m, tl.sum(dw, axis=0), m < NUM_WEIGHTS, ATOMIC)
    dz = tl.zeros_like(z)
    for h0 in range(0, H, BLOCK_H):
        hh = h0 + tl.arange(0, BLOCK_H)
        h_ok = hh < H
        pre = _pre_activation(z_ptr, edge, edge_ok, w1_ptr, b1_ptr, hh, D, H, DP, IS_FP64, DOT_FP32, PRECISION)
        hidden = activation(pre, ACT)
        w2 = to_acc(tl.load(w2_ptr + m[:, None] * H + hh[None, :], mask=(m[:, None] < NUM_WEIGHTS) & h_ok[None, :],
                            other=0.0), IS_FP64)
        dw2 = tl.dot(tl.trans(dw), hidden, input_precision="ieee", out_dtype=dw.dtype)
        _accumulate(pw2_ptr + m[:, None] * H + hh[None, :], dw2, (m[:, None] < NUM_WEIGHTS) & h_ok[None, :], ATOMIC)
        dpre = tl.dot(dw, w2, input_precision="ieee", out_dtype=dw.dtype) * activation_grad(pre, ACT)
        _accumulate(pb1_ptr + hh, tl.sum(dpre, axis=0), h_ok, ATOMIC)
        dw1 = tl.dot(tl.trans(dpre), z, input_precision="ieee", out_dtype=dw.dtype)
        _accumulate(pw1_ptr + hh[:, None] * D + j[None, :], dw1, h_ok[:, None] & (j[None, :] < D), ATOMIC)
        w1 = to_acc(tl.load(w1_ptr + hh[:, None] * D + j[None, :], mask=h_ok[:, None] & (j[None, :] < D), other=0.0),
                    IS_FP64)
        dz = tl.dot(dpre, w1, dz, input_precision="ieee")
    return dz
