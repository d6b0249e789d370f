"""Dtype rules shared by the kernels: float32 (float64) accumulation and the operands of tl.dot."""

import triton
import triton.language as tl


@triton.jit
def to_acc(t, IS_FP64: tl.constexpr):
    """``t`` in the accumulation dtype: float64 for float64 inputs, else float32."""
    if IS_FP64:
        return t.to(tl.float64)
    else:
        return t.to(tl.float32)


@triton.jit
def operand(t, dtype: tl.constexpr, DOT_FP32: tl.constexpr):
    """``t`` rounded to the input ``dtype`` for a tensor-core product. With DOT_FP32 it is widened
    back to float32 after rounding: Triton's CPU interpreter multiplies bfloat16 tiles wrongly."""
    t = t.to(dtype)
    if DOT_FP32:
        t = t.to(tl.float32)
    return t
