"""The Triton backend beyond matching the reference: gradcheck, double backward, saved memory, determinism, edges."""

import pytest
import torch

import metakan
import metakan_kernels as mk
from metakan.memory import saved_tensors
from metakan_kernels import reference
from metakan_kernels.triton import launch

from helpers import assert_close


def _leaf(*shape):
    return (torch.randn(*shape, dtype=torch.float64) * 0.7).requires_grad_()


def _meta_leaves(b=3, i=2, o=2, g=3, k=2, d=2, h=4):
    return [_leaf(b, i), _leaf(o, i, d), _leaf(h, d), _leaf(h), _leaf(g + k + 1, h), _leaf(g + k + 1)]


@pytest.mark.parametrize("activation", sorted(mk.META_ACTIVATIONS))
def test_metakan_gradcheck_and_double_backward(activation):
    """float64 through the interpreter: first derivatives from the kernels, second (create_graph=True,
    as in PINNs) by recomputation through the reference. Fast mode: random directions, not every
    element, to keep the interpreter's share of the suite small."""
    fn = lambda *a: mk.metakan_linear(*a, grid_size=3, spline_order=2, meta_activation=activation,  # noqa: E731
                                      backend="triton")
    args = _meta_leaves()
    assert torch.autograd.gradcheck(fn, args, fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, args, fast_mode=True)


def test_kan_gradcheck_and_double_backward_on_knots():
    knots = (reference.uniform_knots(2, 3, 3, dtype=torch.float64) * 1.3).contiguous()
    fn = lambda x, c, w: mk.kan_linear(x, c, w, grid_size=3, spline_order=3, grid=knots,  # noqa: E731
                                       backend="triton")
    args = (_leaf(4, 2), _leaf(3, 2, 6), _leaf(3, 2))
    assert torch.autograd.gradcheck(fn, args, fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, args, fast_mode=True)


def test_laplacian_matches_reference():
    """d²y/dx² summed, the PINN use: differentiable first derivatives from the triton backend."""
    x, *params = _meta_leaves(b=5, i=2, o=1, g=5, k=3)

    def laplacian(backend):
        y = mk.metakan_linear(x, *params, backend=backend).sum()
        (dx,) = torch.autograd.grad(y, x, create_graph=True)
        (d2x,) = torch.autograd.grad(dx.sum(), x, create_graph=True)
        return d2x, torch.autograd.grad(d2x.sum(), params[0])[0]

    for got, want, name in zip(laplacian("triton"), laplacian("reference"), ("d2x", "d(d2x)/dembedding")):
        assert_close(got, want, name)


def _largest_saved(fn):
    _, saved = saved_tensors(fn)
    return max(t.numel() for t in saved), saved


@pytest.mark.parametrize("op", ["kan", "metakan"])
def test_forward_saves_only_inputs_and_parameters(op):
    """At two batch sizes and two widths, a triton forward keeps x and the parameters, nothing of
    size B·I·K, O·I·K or O·I·H; the reference keeps those (so this test can fail)."""
    g, k, d, h = 5, 3, 1, 32
    for batch, width in ((8, 4), (64, 4), (8, 12), (64, 12)):
        x = torch.randn(batch, width)
        if op == "kan":
            params = [torch.randn(width, width, g + k, requires_grad=True), torch.randn(width, width, requires_grad=True)]
            call = lambda backend: mk.kan_linear(x, *params, backend=backend)  # noqa: E731
        else:
            params = [torch.randn(*s, requires_grad=True) for s in ((width, width, d), (h, d), (h,), (g + k + 1, h), (g + k + 1,))]
            call = lambda backend: mk.metakan_linear(x, *params, backend=backend)  # noqa: E731
        _, saved = _largest_saved(lambda: call("triton"))
        allowed = {t.untyped_storage().data_ptr() for t in (x, *params)}
        extras = [t for t in saved if t.untyped_storage().data_ptr() not in allowed]
        assert all(t.numel() <= batch * width for t in extras), [tuple(t.shape) for t in extras]
        largest_reference, _ = _largest_saved(lambda: call("reference"))
        assert largest_reference >= batch * width * (g + k)


def test_meta_learner_gradients_are_deterministic_and_atomics_agree(monkeypatch):
    x, *params = _meta_leaves(b=37, i=7, o=9, g=5, k=3, d=1, h=16)
    x = x.detach().float()
    params = [p.detach().float().requires_grad_() for p in params]

    def grads():
        y = mk.metakan_linear(x, *params, backend="triton")
        return torch.autograd.grad(y.square().sum(), params)

    first, second = grads(), grads()
    for a, b, name in zip(first, second, ("embedding", "w1", "b1", "w2", "b2")):
        assert torch.equal(a, b), f"d{name} differs between two identical runs"
    monkeypatch.setenv(launch.ATOMICS_ENV, "1")
    assert launch.use_atomics()
    for a, b, name in zip(grads(), first, ("embedding", "w1", "b1", "w2", "b2")):
        assert_close(a, b, f"d{name} with atomics")
    mk.use_deterministic(True)  # overrides the atomics switch
    try:
        assert not launch.use_atomics()
    finally:
        mk.use_deterministic(False)


def test_partial_sums_are_bounded(monkeypatch):
    """More edge tiles than partial-sum rows: programs take several tiles each."""
    monkeypatch.setattr(launch, "MAX_PARTIAL_ROWS", 2)
    x, *params = _meta_leaves(b=5, i=7, o=33, g=3, k=1, d=1, h=4)
    got = torch.autograd.grad(mk.metakan_linear(x, *params, grid_size=3, spline_order=1, backend="triton").sum(), params)
    want = torch.autograd.grad(mk.metakan_linear(x, *params, grid_size=3, spline_order=1, backend="reference").sum(),
                               params)
    for a, b, name in zip(got, want, ("embedding", "w1", "b1", "w2", "b2")):
        assert_close(a, b, f"d{name}")


def test_nan_propagates_to_its_row_only():
    x, *params = _meta_leaves(b=4, i=3, o=2, g=5, k=3)
    x = x.detach().clone()
    x[1, 2] = float("nan")
    y = mk.metakan_linear(x, *params, backend="triton")
    assert torch.isnan(y[1]).all() and not torch.isnan(y[[0, 2, 3]]).any()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the interpreter's numpy meets inf - inf
@pytest.mark.parametrize("knots", [False, True], ids=["uniform", "knots"])
def test_infinite_inputs_give_zero_bases(knots):
    x = torch.tensor([[float("inf"), -float("inf"), 0.3], [2.5, -3.0, float("inf")]], dtype=torch.float64)
    coef = torch.randn(2, 3, 8, dtype=torch.float64)
    grid = (reference.uniform_knots(3, 5, 3, dtype=torch.float64) * 1.1).contiguous() if knots else None
    got = mk.kan_linear(x, coef, None, grid=grid, backend="triton")
    assert_close(got, mk.kan_linear(x, coef, None, grid=grid, backend="reference"), "y")
    assert torch.isfinite(got).all()


def test_layers_report_the_triton_backend():
    layer = metakan.MetaKANLinear(5, 3, hidden_dim=8, backend="triton")
    layer(torch.randn(4, 5)).sum().backward()
    assert layer.last_backend == "triton" and layer.embedding.grad is not None
    kan = metakan.KANLinear(5, 3, backend="triton")
    kan(torch.randn(2, 5))
    assert kan.last_backend == "triton"


def test_limits_are_refused_with_reasons():
    x, coef = torch.randn(2, 3), torch.randn(2, 3, 5)
    with pytest.raises(ValueError, match="spline_order >= 1"):
        mk.kan_linear(x, coef, None, grid_size=5, spline_order=0, backend="triton")
    coef = torch.randn(2, 3, 65)
    with pytest.raises(ValueError, match="grid_size \\+ spline_order <= 64"):
        mk.kan_linear(x, coef, None, grid_size=62, spline_order=3, backend="triton")
    args = [x, torch.randn(2, 3, 1), torch.randn(129, 1), torch.randn(129), torch.randn(9, 129), torch.randn(9)]
    with pytest.raises(ValueError, match="hidden_dim <= 128"):
        mk.metakan_linear(*args, backend="triton")


def test_empty_batch():
    x, coef = torch.randn(0, 3, requires_grad=True), torch.randn(2, 3, 8, requires_grad=True)
    y = mk.kan_linear(x, coef, None, backend="triton")
    y.sum().backward()
    assert y.shape == (0, 2) and torch.equal(coef.grad, torch.zeros_like(coef))
