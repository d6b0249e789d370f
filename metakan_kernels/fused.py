"""Autograd and dispatch wiring shared by every fused backend (Triton, and the C++/CUDA extension).

A fused backend defines four ops in the ``metakan`` torch.library namespace, named after its prefix
``P``, and hands their handles to :class:`FusedOps` by name (``torch.ops.metakan.P_kan_fwd.default``, ...)
in the module that defines or loads them. The ops have these schemas (``torch.library.triton_op`` infers the same from Python annotations):

    P_kan_fwd(Tensor x, Tensor coef, Tensor? coef_scale, Tensor? base_weight, Tensor? grid,
              int grid_size, int spline_order, float lo, float hi) -> Tensor y
    P_kan_bwd(Tensor dy, Tensor x, Tensor coef, Tensor? base_weight, Tensor? grid, int grid_size,
              int spline_order, float lo, float hi, bool need_dx, bool need_dparams)
              -> (Tensor dx, Tensor dcoef, Tensor dbase_weight)
    P_metakan_fwd(Tensor x, Tensor embedding, Tensor w1, Tensor b1, Tensor w2, Tensor b2,
                  Tensor? grid, int grid_size, int spline_order, float lo, float hi,
                  int activation) -> Tensor y
    P_metakan_bwd(Tensor dy, Tensor x, Tensor embedding, Tensor w1, Tensor b1, Tensor w2, Tensor b2,
                  Tensor? grid, int grid_size, int spline_order, float lo, float hi, int activation,
                  bool need_dx, bool need_dparams)
                  -> (Tensor dx, Tensor dembedding, Tensor dw1, Tensor db1, Tensor dw2, Tensor db2)

Contract: x is (B, I) with B, I, O >= 1; every tensor is contiguous and of x's dtype, except ``grid``
(None for the uniform grid, else (I, G + 2k + 1) knots in float32, float64 when x is float64);
``activation`` is a code of :data:`metakan_kernels.limits.ACTIVATION_CODES`. ``coef_scale`` (O, I), when given, multiplies
each edge's coefficients: the forward op forms ``coef * coef_scale[..., None]`` while it runs; the
backward op takes that product (formed again by the autograd below), so that it is never kept.
y is (B, O) in x's dtype. A backward returns
the gradients of the inputs in the order above, in their dtypes, and an empty (0,) tensor for every
gradient it was not asked for (``need_dx`` covers dx, ``need_dparams`` all the others; a missing
``base_weight`` has an empty gradient).

:func:`register_autograd` attaches the backward to the forward ops: it calls the fused backward op,
except when the backward itself must be differentiable (``create_graph=True``, as in PINNs), where
it recomputes through the reference ops so that higher derivatives are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Optional, Sequence

import torch

from . import reference
from .calls import Backend, CallSizes, knots_or_uniform
from .limits import (
    ACTIVATION_CODES,
    ACTIVATIONS,
    INT32_MAX,
    MAX_EMBEDDING_DIM,
    MAX_HIDDEN_DIM,
    MAX_NUM_BASES,
    TRITON_MIN_SPLINE_ORDER,
)
from .spec import SplineSpec


_EMPTY = (0,)


class FusedLimits(NamedTuple):
    """What a fused backend's kernels can take; calls outside these go elsewhere or fail clearly."""

    dtypes: tuple
    min_spline_order: int = TRITON_MIN_SPLINE_ORDER
    max_num_bases: int = MAX_NUM_BASES
    max_embedding_dim: int = MAX_EMBEDDING_DIM
    max_hidden_dim: int = MAX_HIDDEN_DIM
    max_elements: int = INT32_MAX  # largest tensor the kernels' index arithmetic can address
    # Low-precision dtypes the kernels lack but take through float32: the inputs (already rounded to
    # that dtype) are widened, the kernels accumulate in float32 and the result is rounded back.
    upcast: tuple = ()


class FusedOps(NamedTuple):
    """The handles of one fused backend's four ops, e.g. ``torch.ops.metakan.native_kan_fwd.default``."""

    kan_fwd: torch._ops.OpOverload
    kan_bwd: torch._ops.OpOverload
    metakan_fwd: torch._ops.OpOverload
    metakan_bwd: torch._ops.OpOverload


def _empty_like_nothing(like: torch.Tensor) -> torch.Tensor:
    return like.new_empty(_EMPTY)


def register_fakes(ops: FusedOps) -> None:
    """Shape-only implementations of the four ops, for torch.compile and meta tensors."""

    def kan_fwd(x, coef, coef_scale, base_weight, grid, grid_size, spline_order, lo, hi):
        return x.new_empty(x.shape[0], coef.shape[0])

    def kan_bwd(dy, x, coef, base_weight, grid, grid_size, spline_order, lo, hi, need_dx, need_dparams):
        dx = torch.empty_like(x) if need_dx else _empty_like_nothing(x)
        dcoef = torch.empty_like(coef) if need_dparams else _empty_like_nothing(coef)
        has_base = need_dparams and base_weight is not None
        dbase = torch.empty_like(base_weight) if has_base else _empty_like_nothing(coef)
        return dx, dcoef, dbase

    def metakan_fwd(x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation):
        return x.new_empty(x.shape[0], embedding.shape[0])

    def metakan_bwd(dy, x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation,
                    need_dx, need_dparams):
        dx = torch.empty_like(x) if need_dx else _empty_like_nothing(x)
        params = (embedding, w1, b1, w2, b2)
        return (dx, *(torch.empty_like(p) if need_dparams else _empty_like_nothing(p) for p in params))

    for op, fake in zip(ops, (kan_fwd, kan_bwd, metakan_fwd, metakan_bwd)):
        torch.library.register_fake(op, fake)


def _kan_setup(ctx, inputs, output):
    x, coef, coef_scale, base_weight, grid, *spline = inputs
    ctx.save_for_backward(x, coef, coef_scale, base_weight, grid)
    ctx.spline = spline


def _kan_backward(ops: FusedOps, ctx, dy):
    x, coef, coef_scale, base_weight, grid = ctx.saved_tensors
    grid_size, spline_order, lo, hi = ctx.spline
    needs = ctx.needs_input_grad[:4]  # x, coef, coef_scale, base_weight
    if torch.is_grad_enabled():
        spec = SplineSpec(grid_size, spline_order, lo, hi)
        knots = knots_or_uniform(x, spec, grid)
        grads = _differentiable_grads(
            lambda: reference.kan_linear_ref(x, coef, base_weight, knots, spline_order, coef_scale),
            (x, coef, coef_scale, base_weight), needs, dy,
        )
        return (*_keep(grads, needs), None, None, None, None, None)
    if coef_scale is None:
        grads = ops.kan_bwd(dy.contiguous(), x, coef, base_weight, grid, grid_size, spline_order, lo, hi,
                            needs[0], any(needs[1:]))
        return (*_keep((grads[0], grads[1], None, grads[2]), needs), None, None, None, None, None)
    # The product lives only through the backward op; the factors' gradients then reuse its gradient
    # (no further O*I*K temporaries: a batched dot for dscale, in place for dcoef).
    dx, dscaled, dbase = ops.kan_bwd(dy.contiguous(), x, coef * coef_scale.unsqueeze(-1), base_weight, grid,
                                     grid_size, spline_order, lo, hi, needs[0], any(needs[1:]))
    dscale = torch.einsum("oik,oik->oi", dscaled, coef) if needs[2] else None
    dcoef = dscaled.mul_(coef_scale.unsqueeze(-1)) if needs[1] else None
    return (*_keep((dx, dcoef, dscale, dbase), needs), None, None, None, None, None)


def _metakan_setup(ctx, inputs, output):
    x, embedding, w1, b1, w2, b2, grid, *rest = inputs
    ctx.save_for_backward(x, embedding, w1, b1, w2, b2, grid)
    ctx.rest = rest


def _metakan_backward(ops: FusedOps, ctx, dy):
    x, embedding, w1, b1, w2, b2, grid = ctx.saved_tensors
    grid_size, spline_order, lo, hi, activation = ctx.rest
    needs = ctx.needs_input_grad[:6]
    if torch.is_grad_enabled():
        spec = SplineSpec(grid_size, spline_order, lo, hi)
        name = ACTIVATIONS[activation]
        grads = _differentiable_grads(
            lambda: reference.metakan_linear_ref(
                x, embedding, w1, b1, w2, b2, knots_or_uniform(x, spec, grid), spline_order, name
            ),
            (x, embedding, w1, b1, w2, b2), needs, dy,
        )
    else:
        grads = ops.metakan_bwd(dy.contiguous(), x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order,
                                lo, hi, activation, needs[0], any(needs[1:]))
    return (*_keep(grads, needs), None, None, None, None, None, None)


def _differentiable_grads(forward, inputs: Sequence[Optional[torch.Tensor]], needs, dy):
    """Gradients of ``forward()`` with respect to the needed inputs, as a differentiable graph."""
    with torch.enable_grad():
        y = forward()
    wanted = [t for t, need in zip(inputs, needs) if need]
    found = iter(torch.autograd.grad(y, wanted, dy, create_graph=True))
    return tuple(next(found) if need else None for need in needs)


def _keep(grads, needs):
    return tuple(g if need else None for g, need in zip(grads, needs))


def register_autograd(ops: FusedOps) -> None:
    """Attach the shared backward to ``ops``' two forward ops."""
    torch.library.register_autograd(ops.kan_fwd, partial(_kan_backward, ops), setup_context=_kan_setup)
    torch.library.register_autograd(ops.metakan_fwd, partial(_metakan_backward, ops), setup_context=_metakan_setup)


def _widen(*tensors: Optional[torch.Tensor]) -> tuple:
    return tuple(None if t is None else t.float() for t in tensors)


def _contiguous(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if t is None else t.contiguous()


@dataclass(frozen=True)
class FusedBackend(Backend):
    """The record of a fused backend: its name, its four ops, the devices it runs on and its limits."""

    name: str
    ops: FusedOps
    device_types: tuple
    limits: FusedLimits

    def unsupported(self, device, dtype, spec: SplineSpec, sizes: CallSizes):
        reason = super().unsupported(device, dtype, spec, sizes)
        if reason is not None:
            return reason
        limits = self.limits
        if dtype not in limits.dtypes + limits.upcast:
            names = ", ".join(str(d).replace("torch.", "") for d in limits.dtypes + limits.upcast)
            return f"supports {names}, got {str(dtype).replace('torch.', '')}"
        if spec.spline_order < limits.min_spline_order:
            return f"needs spline_order >= {limits.min_spline_order}, got {spec.spline_order}"
        if spec.num_bases > limits.max_num_bases:
            return f"needs grid_size + spline_order <= {limits.max_num_bases}, got {spec.num_bases}"
        if sizes.embedding_dim > limits.max_embedding_dim:
            return f"needs embedding_dim <= {limits.max_embedding_dim}, got {sizes.embedding_dim}"
        if sizes.hidden_dim > limits.max_hidden_dim:
            return f"needs hidden_dim <= {limits.max_hidden_dim}, got {sizes.hidden_dim}"
        largest = max(
            sizes.batch * max(sizes.in_features, sizes.out_features),
            sizes.out_features * sizes.in_features * max(spec.num_bases, sizes.embedding_dim),
        )
        if largest > limits.max_elements:
            return (
                f"a tensor of {largest} elements exceeds its {limits.max_elements}-element index range; "
                "split the batch into chunks or use backend='reference'"
            )
        return None

    @staticmethod
    def _empty_call(x: torch.Tensor, out_features: int) -> bool:
        return x.shape[0] == 0 or x.shape[1] == 0 or out_features == 0

    @staticmethod
    def _knots(x: torch.Tensor, grid: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if grid is None:
            return None
        return grid.to(torch.float64 if x.dtype == torch.float64 else torch.float32).contiguous()

    def kan_linear(self, x, coef, base_weight, spec, grid, coef_scale=None):
        if x.dtype in self.limits.upcast:
            x_, coef_, base_, scale_ = _widen(x, coef, base_weight, coef_scale)
            return self.kan_linear(x_, coef_, base_, spec, grid, scale_).to(x.dtype)
        if self._empty_call(x, coef.shape[0]):  # nothing to launch; the reference gives the empty result
            knots = knots_or_uniform(x, spec, grid)
            return reference.kan_linear_ref(x, coef, base_weight, knots, spec.spline_order, coef_scale)
        return self.ops.kan_fwd(
            x.contiguous(), coef.contiguous(), _contiguous(coef_scale), _contiguous(base_weight),
            self._knots(x, grid), spec.grid_size, spec.spline_order, spec.lo, spec.hi,
        )

    def metakan_linear(self, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        if x.dtype in self.limits.upcast:
            widened = _widen(x, embedding, w1, b1, w2, b2)
            return self.metakan_linear(*widened, spec, grid, meta_activation).to(x.dtype)
        if self._empty_call(x, embedding.shape[0]):
            knots = knots_or_uniform(x, spec, grid)
            return reference.metakan_linear_ref(x, embedding, w1, b1, w2, b2, knots, spec.spline_order, meta_activation)
        return self.ops.metakan_fwd(
            x.contiguous(), embedding.contiguous(), w1.contiguous(), b1.contiguous(), w2.contiguous(),
            b2.contiguous(), self._knots(x, grid), spec.grid_size, spec.spline_order, spec.lo, spec.hi,
            ACTIVATION_CODES[meta_activation],
        )
