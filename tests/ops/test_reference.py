"""The reference ops against textbook formulas, and their first and second derivatives."""

import math

import pytest
import torch

from metakan_kernels.limits import ACTIVATIONS
from metakan_kernels.reference import (
    META_ACTIVATIONS,
    b_spline_bases,
    kan_linear_ref,
    meta_mlp_ref,
    metakan_linear_ref,
    uniform_knots,
)


def textbook_basis(knots, j, order, x):
    """Cox–de Boor's recursion for one basis at one point, in Python floats."""
    if order == 0:
        return 1.0 if knots[j] <= x < knots[j + 1] else 0.0
    left = (x - knots[j]) / (knots[j + order] - knots[j]) * textbook_basis(knots, j, order - 1, x)
    right = (knots[j + order + 1] - x) / (knots[j + order + 1] - knots[j + 1]) * textbook_basis(knots, j + 1, order - 1, x)
    return left + right


def textbook_derivative(knots, j, order, x):
    """d/dx of one basis from the two of order - 1 (on a knot: the derivative from the right, as the
    half-open intervals give)."""
    if order == 0:
        return 0.0
    left = textbook_basis(knots, j, order - 1, x) / (knots[j + order] - knots[j])
    right = textbook_basis(knots, j + 1, order - 1, x) / (knots[j + order + 1] - knots[j + 1])
    return order * (left - right)


def random_knots(in_features, grid_size, order, dtype=torch.float64):
    """Strictly increasing, non-uniform knots per feature."""
    gaps = torch.rand(in_features, grid_size + 2 * order, dtype=dtype) + 0.2
    return torch.cat([torch.full((in_features, 1), -1.5, dtype=dtype), -1.5 + gaps.cumsum(1) * 0.3], dim=1)


@pytest.mark.parametrize("order", range(6))
@pytest.mark.parametrize("uniform", [True, False])
def test_bases_match_textbook_recursion(order, uniform):
    grid_size, in_features = 4, 3
    knots = uniform_knots(in_features, grid_size, order, dtype=torch.float64) if uniform else random_knots(in_features, grid_size, order)
    x = torch.rand(11, in_features, dtype=torch.float64) * 6 - 3  # well beyond the knot span
    x[0, 0] = knots[0, 0]  # exactly on the first knot
    x[1, 1] = knots[1, -1]  # exactly on the last knot: outside the half-open span
    bases = b_spline_bases(x, knots, order)
    assert bases.shape == (11, in_features, grid_size + order)
    for b in range(x.shape[0]):
        for i in range(in_features):
            row = knots[i].tolist()
            expected = [textbook_basis(row, j, order, x[b, i].item()) for j in range(grid_size + order)]
            torch.testing.assert_close(bases[b, i], torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("order", range(6))
@pytest.mark.parametrize("uniform", [True, False])
def test_bases_and_derivatives_on_every_knot_match_textbook(order, uniform):
    """x exactly on each knot t_0 .. t_{G+2k} (interior knots, the grid's ends lo and hi, the outermost
    knots): which half-open interval holds a knot decides the values there, and the derivatives."""
    grid_size, in_features = 4, 3
    knots = uniform_knots(in_features, grid_size, order, dtype=torch.float64) if uniform else random_knots(in_features, grid_size, order)
    x = knots.T.clone().requires_grad_()  # row r: every feature on its knot t_r
    bases = b_spline_bases(x, knots, order)
    slopes = torch.stack([torch.autograd.grad(bases[..., m].sum(), x, retain_graph=True)[0]
                          for m in range(grid_size + order)], dim=-1)
    for r in range(x.shape[0]):
        for i in range(in_features):
            row, at = knots[i].tolist(), x[r, i].item()
            expected = [textbook_basis(row, j, order, at) for j in range(grid_size + order)]
            torch.testing.assert_close(bases[r, i], torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=1e-12,
                                       msg=lambda m: f"bases on knot {r} of feature {i}: {m}")
            expected = [textbook_derivative(row, j, order, at) for j in range(grid_size + order)]
            torch.testing.assert_close(slopes[r, i], torch.tensor(expected, dtype=torch.float64), atol=1e-10, rtol=1e-10,
                                       msg=lambda m: f"derivatives on knot {r} of feature {i}: {m}")


@pytest.mark.parametrize("order", range(6))
def test_partition_of_unity_inside_and_zero_outside(order):
    knots = random_knots(2, 5, order)
    inner = knots[:, order : -order or None]
    x = inner[:, :1] + (inner[:, -1:] - inner[:, :1]) * torch.rand(2, 50, dtype=torch.float64)
    sums = b_spline_bases(x.T, knots, order).sum(-1)
    torch.testing.assert_close(sums, torch.ones_like(sums))
    outside = torch.tensor([[-1e9, -math.inf], [1e9, math.inf]], dtype=torch.float64)
    assert torch.equal(b_spline_bases(outside, knots, order), torch.zeros(2, 2, 5 + order, dtype=torch.float64))


def test_nan_input_gives_nan_bases_only_for_that_entry():
    knots = uniform_knots(2, 5, 3, dtype=torch.float64)
    x = torch.tensor([[float("nan"), 0.3]], dtype=torch.float64)
    bases = b_spline_bases(x, knots, 3)
    assert torch.isnan(bases[0, 0]).all() and not torch.isnan(bases[0, 1]).any()


def test_uniform_knots_formula():
    knots = uniform_knots(3, 5, 3, (-1, 1), dtype=torch.float64)
    expected = torch.tensor([-1 + (j - 3) * 0.4 for j in range(12)], dtype=torch.float64)
    torch.testing.assert_close(knots, expected.expand(3, -1))
    assert uniform_knots(3, 5, 3).dtype == torch.get_default_dtype()


def test_kan_linear_ref_against_sums():
    x = torch.randn(4, 3, dtype=torch.float64)
    knots = random_knots(3, 5, 3)
    coef = torch.randn(2, 3, 8, dtype=torch.float64)
    base_weight = torch.randn(2, 3, dtype=torch.float64)
    y = kan_linear_ref(x, coef, base_weight, knots, 3)
    bases = b_spline_bases(x, knots, 3)
    silu = x / (1 + torch.exp(-x))
    for b in range(4):
        for o in range(2):
            expected = sum(
                base_weight[o, i] * silu[b, i] + sum(coef[o, i, m] * bases[b, i, m] for m in range(8)) for i in range(3)
            )
            torch.testing.assert_close(y[b, o], expected)
    torch.testing.assert_close(kan_linear_ref(x, coef, None, knots, 3), y - silu @ base_weight.T)


@pytest.mark.parametrize("activation", sorted(META_ACTIVATIONS))
def test_meta_mlp_ref_per_edge(activation):
    z = torch.randn(2, 3, 4, dtype=torch.float64)
    w1, b1 = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    w2, b2 = torch.randn(9, 5, dtype=torch.float64), torch.randn(9, dtype=torch.float64)
    act = {"relu": lambda h: h.clamp_min(0), "tanh": torch.tanh, "silu": lambda h: h * torch.sigmoid(h),
           "gelu": lambda h: 0.5 * h * (1 + torch.erf(h / math.sqrt(2))), "identity": lambda h: h}[activation]
    w = meta_mlp_ref(z, w1, b1, w2, b2, activation)
    for o in range(2):
        for i in range(3):
            torch.testing.assert_close(w[o, i], w2 @ act(w1 @ z[o, i] + b1) + b2)


def test_metakan_linear_ref_is_kan_with_generated_weights():
    x = torch.randn(6, 3, dtype=torch.float64)
    knots = uniform_knots(3, 5, 3, dtype=torch.float64)
    z = torch.randn(4, 3, 2, dtype=torch.float64)
    params = [torch.randn(7, 2), torch.randn(7), torch.randn(9, 7), torch.randn(9)]
    params = [p.double() for p in params]
    w = meta_mlp_ref(z, *params, "silu")
    y = metakan_linear_ref(x, z, *params, knots, 3, "silu")
    torch.testing.assert_close(y, kan_linear_ref(x, w[..., :8], w[..., 8], knots, 3))


def _double(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("uniform", [True, False])
def test_kan_linear_ref_gradcheck(order, uniform):
    knots = uniform_knots(3, 4, order, dtype=torch.float64) if uniform else random_knots(3, 4, order)
    # Inputs near a knot make finite differences cross a kink of the low-order splines; keep them away.
    x = (torch.rand(5, 3, dtype=torch.float64) * 2.6 - 1.3).requires_grad_()
    coef, base_weight = _double(2, 3, 4 + order), _double(2, 3)
    fn = lambda x, c, w: kan_linear_ref(x, c, w, knots, order)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, coef, base_weight))
    if order >= 2:
        assert torch.autograd.gradgradcheck(fn, (x, coef, base_weight))


@pytest.mark.parametrize("activation", ["silu", "tanh", "gelu", "identity"])
def test_metakan_linear_ref_gradgradcheck(activation):
    knots = uniform_knots(3, 4, 3, dtype=torch.float64)
    x = (torch.rand(4, 3, dtype=torch.float64) * 2 - 1).requires_grad_()
    args = (x, _double(2, 3, 2), _double(5, 2), _double(5), _double(8, 5), _double(8))
    fn = lambda *a: metakan_linear_ref(*a, knots, 3, activation)  # noqa: E731
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)


def test_gradient_is_finite_outside_the_grid():
    knots = uniform_knots(2, 5, 3, dtype=torch.float64)
    x = torch.tensor([[1e6, -math.inf]], dtype=torch.float64, requires_grad=True)
    coef = torch.randn(1, 2, 8, dtype=torch.float64, requires_grad=True)
    kan_linear_ref(x, coef, None, knots, 3).sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x)) and torch.equal(coef.grad, torch.zeros_like(coef))


def test_reference_activations_follow_the_code_table():
    assert tuple(META_ACTIVATIONS) == ACTIVATIONS
