"""The autograd wiring shared by fused backends, checked through ops that compute with reference math.

These ops stand in for kernels so that the wiring (saved tensors, which gradients are asked for,
the differentiable path for double backward, fake shapes for torch.compile, limits) is tested on
its own; every real backend is then tested against the reference on top of it.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from metakan_kernels import reference
from metakan_kernels.backends import CallSizes, knots_or_uniform
from metakan_kernels.fused import (
    ACTIVATION_CODES,
    FusedBackend,
    FusedLimits,
    FusedOps,
    register_autograd,
    register_fakes,
)
from metakan_kernels.schema import LAYER_OPS, define
from metakan_kernels.spec import make_spec

from helpers import assert_close
from op_cases import kept_for_backward

NAMES = {code: name for name, code in ACTIVATION_CODES.items()}


def _knots(x, grid, grid_size, spline_order, lo, hi):
    return knots_or_uniform(x, make_spec(grid_size, spline_order, (lo, hi)), grid)


def _grads(y_fn, inputs, dy, needs):
    """Reference gradients, computed on a fresh thread: an op's body runs with autograd's dispatch
    keys excluded, and that exclusion is thread-local."""

    def compute():
        leaves = [t.detach().requires_grad_() if t is not None else None for t in inputs]
        y = y_fn(*leaves)
        wanted = [t for t, need in zip(leaves, needs) if need and t is not None]
        found = iter(torch.autograd.grad(y, wanted, dy))
        return [next(found) if need and t is not None else dy.new_empty(0) for t, need in zip(leaves, needs)]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(compute).result()


# The layer ops, defined from the schema table as every backend's are, with reference math as kernels.
define("wiringtest", LAYER_OPS)


@torch.library.impl("metakan::wiringtest_kan_fwd", "cpu")
def kan_fwd(x, coef, coef_scale, base_weight, grid, grid_size, spline_order, lo, hi):
    knots = _knots(x, grid, grid_size, spline_order, lo, hi)
    return reference.kan_linear_ref(x, coef, base_weight, knots, spline_order, coef_scale)


@torch.library.impl("metakan::wiringtest_kan_bwd", "cpu")
def kan_bwd(dy, x, coef, base_weight, grid, grid_size, spline_order, lo, hi, need_dx, need_dparams):
    knots = _knots(x, grid, grid_size, spline_order, lo, hi)
    fn = lambda x, c, w: reference.kan_linear_ref(x, c, w, knots, spline_order)  # noqa: E731
    return tuple(_grads(fn, (x, coef, base_weight), dy, (need_dx, need_dparams, need_dparams)))


@torch.library.impl("metakan::wiringtest_metakan_fwd", "cpu")
def metakan_fwd(x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation):
    knots = _knots(x, grid, grid_size, spline_order, lo, hi)
    return reference.metakan_linear_ref(x, embedding, w1, b1, w2, b2, knots, spline_order, NAMES[activation])


@torch.library.impl("metakan::wiringtest_metakan_bwd", "cpu")
def metakan_bwd(dy, x, embedding, w1, b1, w2, b2, grid, grid_size, spline_order, lo, hi, activation, need_dx,
                need_dparams):
    knots = _knots(x, grid, grid_size, spline_order, lo, hi)
    fn = lambda *a: reference.metakan_linear_ref(*a, knots, spline_order, NAMES[activation])  # noqa: E731
    return tuple(_grads(fn, (x, embedding, w1, b1, w2, b2), dy, (need_dx,) + (need_dparams,) * 5))


OPS = FusedOps.of("wiringtest", LAYER_OPS)
register_fakes(OPS)
register_autograd(OPS)
BACKEND = FusedBackend("wiringtest", OPS, ("cpu",), FusedLimits(dtypes=(torch.float32, torch.float64)))
SPEC = make_spec(5, 3, (-1.0, 1.0))


def _leaf(*shape):
    return torch.randn(*shape, dtype=torch.float64).requires_grad_()


def test_gradients_match_reference_and_unrequested_are_none():
    x, coef, wb = _leaf(6, 3), _leaf(2, 3, 8), _leaf(2, 3)
    y = BACKEND.kan_linear(x, coef, wb, SPEC, None)
    knots = knots_or_uniform(x, SPEC, None)
    y_ref = reference.kan_linear_ref(x, coef, wb, knots, 3)
    assert_close(y, y_ref, "y")
    dy = torch.randn_like(y)
    for got, want, name in zip(torch.autograd.grad(y, (x, coef, wb), dy),
                               torch.autograd.grad(y_ref, (x, coef, wb), dy), ("x", "coef", "base_weight")):
        assert_close(got, want, f"d{name}")
    frozen = x.detach()
    (dcoef,) = torch.autograd.grad(BACKEND.kan_linear(frozen, coef, None, SPEC, None).sum(), coef)
    assert dcoef.shape == coef.shape


def test_coef_scale_gradients_and_nothing_scaled_is_kept():
    """The (O, I) scale's product with coef is formed by the ops, not kept: gradients of all four
    inputs match the reference, once and twice differentiated, and only the inputs are saved."""
    x, coef, scale, wb = _leaf(6, 3), _leaf(2, 3, 8), _leaf(2, 3), _leaf(2, 3)
    fn = lambda *a: BACKEND.kan_linear(a[0], a[1], a[3], SPEC, None, a[2])  # noqa: E731
    y = fn(x, coef, scale, wb)
    knots = knots_or_uniform(x, SPEC, None)
    y_ref = reference.kan_linear_ref(x, coef, wb, knots, 3, scale)
    assert_close(y, y_ref, "y")
    dy = torch.randn_like(y)
    names = ("x", "coef", "coef_scale", "base_weight")
    for got, want, name in zip(torch.autograd.grad(y, (x, coef, scale, wb), dy),
                               torch.autograd.grad(y_ref, (x, coef, scale, wb), dy), names):
        assert_close(got, want, f"d{name}")
    (dscale,) = torch.autograd.grad(fn(x.detach(), coef.detach(), scale, None).sum(), scale)
    assert dscale.shape == scale.shape
    assert torch.autograd.gradgradcheck(fn, (x, coef, scale, wb))
    assert kept_for_backward(lambda: fn(x, coef, scale, wb), (x, coef, scale, wb)) == []


@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
def test_metakan_double_backward_is_exact(activation):
    args = (_leaf(4, 3), _leaf(2, 3, 2), _leaf(5, 2), _leaf(5), _leaf(9, 5), _leaf(9))
    fn = lambda *a: BACKEND.metakan_linear(*a, SPEC, None, activation)  # noqa: E731
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)


def test_kan_double_backward_with_per_feature_knots():
    knots = knots_or_uniform(torch.zeros(1, 3, dtype=torch.float64), SPEC, None).clone() * 1.3
    fn = lambda x, c, w: BACKEND.kan_linear(x, c, w, SPEC, knots)  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, (_leaf(4, 3) * 0.5, _leaf(2, 3, 8), _leaf(2, 3)))


def test_torch_compile_fullgraph_uses_the_ops():
    x, coef, wb = torch.randn(5, 3), torch.randn(2, 3, 8, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    compiled = torch.compile(lambda x, c, w: BACKEND.kan_linear(x, c, w, SPEC, None).square().sum(), fullgraph=True)
    loss = compiled(x, coef, wb)
    loss.backward()
    eager_coef, eager_wb = coef.detach().requires_grad_(), wb.detach().requires_grad_()
    BACKEND.kan_linear(x, eager_coef, eager_wb, SPEC, None).square().sum().backward()
    assert_close(coef.grad, eager_coef.grad, "dcoef")
    assert_close(wb.grad, eager_wb.grad, "dbase_weight")


def test_limits_give_reasons():
    cpu, f32 = torch.device("cpu"), torch.float32
    sizes = CallSizes(8, 4, 4, 1, 16)
    assert BACKEND.unsupported(cpu, f32, SPEC, sizes) is None
    assert "runs on cpu tensors, got a meta tensor" in BACKEND.unsupported(torch.device("meta"), f32, SPEC, sizes)
    assert "supports float32, float64, got float16" in BACKEND.unsupported(cpu, torch.float16, SPEC, sizes)
    assert "needs spline_order >= 1, got 0" in BACKEND.unsupported(cpu, f32, make_spec(5, 0, (-1, 1)), sizes)
    assert "needs grid_size + spline_order <= 64, got 68" in BACKEND.unsupported(cpu, f32, make_spec(65, 3, (-1, 1)), sizes)
    assert "needs hidden_dim <= 128, got 129" in BACKEND.unsupported(cpu, f32, SPEC, CallSizes(8, 4, 4, 1, 129))
    huge = CallSizes(2**20, 2**12, 4)
    assert "exceeds its 2147483647-element index range" in BACKEND.unsupported(cpu, f32, SPEC, huge)


def test_empty_calls_give_empty_results():
    x = torch.randn(0, 3, requires_grad=True)
    coef = torch.randn(2, 3, 8, requires_grad=True)
    y = BACKEND.kan_linear(x, coef, None, SPEC, None)
    assert y.shape == (0, 2)
    y.sum().backward()
    assert torch.equal(coef.grad, torch.zeros_like(coef))
