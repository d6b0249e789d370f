"""Autograd and dispatch wiring shared by every fused backend (Triton, and the C++/CUDA extension).

A fused backend ``P`` has ops in the ``metakan`` torch.library namespace, one forward and one backward
per op of :mod:`metakan_kernels.schema` it implements (``P_kan_fwd``, ``P_kan_bwd``, ``P_metakan_fwd``,
``P_metakan_bwd`` for the layers, ``P_kan_edge_l1_fwd``, ... for the edge statistics). The module that
defines or loads them builds their handles with :meth:`FusedOps.of`, then calls :func:`register_fakes`
(unless its ops trace themselves, as ``triton_op`` does) and :func:`register_autograd`, which derive
from the same schemas. Edge statistics of a backend without their ops run through the reference.

Contract: x is (B, I) with B, I, O >= 1; every tensor is contiguous and of x's dtype, except ``grid``
(None for the uniform grid, else (I, G + 2k + 1) knots in float32, float64 when x is float64);
``activation`` is a code of :data:`metakan_kernels.limits.ACTIVATION_CODES`. ``coef_scale`` (O, I), when
given, multiplies each edge's coefficients: the forward op forms ``coef * coef_scale[..., None]`` while
it runs; the backward op takes that product (formed again by the autograd below), so that it is never
kept. y is (B, O) (a statistic (O, I)) in x's dtype. A backward returns the gradients of its tensor inputs in their order
and dtypes, and an empty (0,) tensor for every gradient it was not asked for (``need_dx`` covers dx,
``need_dparams`` all the others; a missing ``base_weight`` has an empty gradient).

:func:`register_autograd` attaches the backward to the forward ops: it calls the fused backward op,
except when the backward itself must be differentiable (``create_graph=True``, as in PINNs), where
it recomputes through the reference ops so that higher derivatives are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Optional, Sequence, Tuple

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
from .schema import KAN, KAN_EDGE_L1, METAKAN, METAKAN_EDGE_L1, OPS, OpSchema
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
    """The handles of one fused backend's ops: (schema, forward, backward) per op it implements, e.g.
    ``(KAN, torch.ops.metakan.native_kan_fwd.default, torch.ops.metakan.native_kan_bwd.default)``."""

    handles: Tuple[Tuple[OpSchema, torch._ops.OpOverload, torch._ops.OpOverload], ...]

    @classmethod
    def of(cls, prefix: str, ops: Sequence[OpSchema] = OPS) -> "FusedOps":
        """The handles of the defined ops ``metakan::{prefix}_{name}_{fwd,bwd}`` of ``ops``."""
        namespace = torch.ops.metakan
        return cls(tuple((op, getattr(namespace, f"{prefix}_{op.name}_fwd").default,
                          getattr(namespace, f"{prefix}_{op.name}_bwd").default) for op in ops))

    def pairs(self):
        """(schema, forward op, backward op) of each op."""
        return self.handles

    def forward(self, op: OpSchema) -> Optional[torch._ops.OpOverload]:
        """The forward op of ``op``, None when this backend does not implement it."""
        return next((fwd for schema, fwd, _ in self.handles if schema is op), None)


def _fake_forward(op: OpSchema):
    def fake(x, weight, *rest):
        # O leads the op's second tensor (coef, embedding)
        sizes = {"B": x.shape[0], "I": x.shape[1], "O": weight.shape[0]}
        return x.new_empty([sizes[d] for d in op.output])

    return fake


def _fake_backward(op: OpSchema):
    count = len(op.backward_tensors)

    def fake(dy, *args):
        (x, *params), (need_dx, need_dparams) = args[:count], args[-2:]
        dx = torch.empty_like(x) if need_dx else x.new_empty(_EMPTY)
        wanted = (need_dparams and p is not None for p in params)
        return (dx, *(torch.empty_like(p) if want else x.new_empty(_EMPTY) for p, want in zip(params, wanted)))

    return fake


def register_fakes(ops: FusedOps) -> None:
    """Shape-only implementations of the four ops, for torch.compile and meta tensors."""
    for op, fwd, bwd in ops.pairs():
        torch.library.register_fake(fwd, _fake_forward(op))
        torch.library.register_fake(bwd, _fake_backward(op))


def _setup(op: OpSchema, ctx, inputs, output):
    count = len(op.tensors)
    ctx.save_for_backward(*inputs[: count + 1])  # the tensors, then the knots (options start with grid)
    ctx.options = inputs[count + 1:]


# The reference of each op, taking (x, coef, base_weight, knots, spline_order, coef_scale) for the KAN
# ops, (x, embedding, w1, b1, w2, b2, knots, spline_order, activation) for the MetaKAN ones.
_REFERENCES = {
    KAN: reference.kan_linear_ref,
    METAKAN: reference.metakan_linear_ref,
    KAN_EDGE_L1: reference.kan_edge_l1_ref,
    METAKAN_EDGE_L1: reference.metakan_edge_l1_ref,
}


def _reference_forward(op: OpSchema, tensors, grid, options):
    """The reference op on a fused op's arguments (its tensors in ``op.tensors`` order)."""
    grid_size, spline_order, lo, hi, *rest = options
    x = tensors[0]
    knots = knots_or_uniform(x, SplineSpec(grid_size, spline_order, lo, hi), grid)
    if op.folded:  # the KAN ops
        _, coef, coef_scale, base_weight = tensors
        return _REFERENCES[op](x, coef, base_weight, knots, spline_order, coef_scale)
    return _REFERENCES[op](*tensors, knots, spline_order, ACTIVATIONS[rest[0]])


def _fused_grads(op: OpSchema, bwd, tensors, grid, options, needs, dy):
    """Gradients of every tensor through the backward op (None where not needed)."""
    need_dx, need_dparams = needs[0], any(needs[1:])
    if not op.folded:
        return bwd(dy.contiguous(), *tensors, grid, *options, need_dx, need_dparams)
    x, coef, coef_scale, base_weight = tensors
    if coef_scale is None:
        dx, dcoef, dbase = bwd(dy.contiguous(), x, coef, base_weight, grid, *options, need_dx, need_dparams)
        return dx, dcoef, None, dbase
    # The product lives only through the backward op; the factors' gradients then reuse its gradient
    # (no further O*I*K temporaries: a batched dot for dscale, in place for dcoef).
    dx, dscaled, dbase = bwd(dy.contiguous(), x, coef * coef_scale.unsqueeze(-1), base_weight, grid, *options,
                             need_dx, need_dparams)
    dscale = torch.einsum("oik,oik->oi", dscaled, coef) if needs[2] else None
    dcoef = dscaled.mul_(coef_scale.unsqueeze(-1)) if needs[1] else None
    return dx, dcoef, dscale, dbase


def _backward(op: OpSchema, bwd, ctx, dy):
    *tensors, grid = ctx.saved_tensors
    needs = ctx.needs_input_grad[: len(tensors)]
    if torch.is_grad_enabled():
        grads = _differentiable_grads(lambda: _reference_forward(op, tensors, grid, ctx.options), tensors, needs, dy)
    else:
        grads = _fused_grads(op, bwd, tensors, grid, ctx.options, needs, dy)
    return (*_keep(grads, needs), None, *(None for _ in ctx.options))


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
    for op, fwd, bwd in ops.pairs():
        torch.library.register_autograd(fwd, partial(_backward, op, bwd), setup_context=partial(_setup, op))


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
        return self._kan(KAN, x, coef, base_weight, spec, grid, coef_scale)

    def metakan_linear(self, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        return self._metakan(METAKAN, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation)

    def kan_edge_l1(self, x, coef, base_weight, spec, grid, coef_scale=None):
        return self._kan(KAN_EDGE_L1, x, coef, base_weight, spec, grid, coef_scale)

    def metakan_edge_l1(self, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        return self._metakan(METAKAN_EDGE_L1, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation)

    def _kan(self, op, x, coef, base_weight, spec, grid, coef_scale):
        if x.dtype in self.limits.upcast:
            x_, coef_, base_, scale_ = _widen(x, coef, base_weight, coef_scale)
            return self._kan(op, x_, coef_, base_, spec, grid, scale_).to(x.dtype)
        forward = self.ops.forward(op)
        if forward is None or self._empty_call(x, coef.shape[0]):  # the reference gives the empty result
            knots = knots_or_uniform(x, spec, grid)
            return _REFERENCES[op](x, coef, base_weight, knots, spec.spline_order, coef_scale)
        return forward(
            x.contiguous(), coef.contiguous(), _contiguous(coef_scale), _contiguous(base_weight),
            self._knots(x, grid), spec.grid_size, spec.spline_order, spec.lo, spec.hi,
        )

    def _metakan(self, op, x, embedding, w1, b1, w2, b2, spec, grid, meta_activation):
        if x.dtype in self.limits.upcast:
            widened = _widen(x, embedding, w1, b1, w2, b2)
            return self._metakan(op, *widened, spec, grid, meta_activation).to(x.dtype)
        forward = self.ops.forward(op)
        if forward is None or self._empty_call(x, embedding.shape[0]):
            knots = knots_or_uniform(x, spec, grid)
            return _REFERENCES[op](x, embedding, w1, b1, w2, b2, knots, spec.spline_order, meta_activation)
        return forward(
            x.contiguous(), embedding.contiguous(), w1.contiguous(), b1.contiguous(), w2.contiguous(),
            b2.contiguous(), self._knots(x, grid), spec.grid_size, spec.spline_order, spec.lo, spec.hi,
            ACTIVATION_CODES[meta_activation],
        )
