"""Properties every backend of both ops keeps, each written once over the backends: empty inputs,
special values, what a forward keeps for backward, derivatives (gradcheck, double backward),
determinism and torch.compile."""

import pytest
import torch

import metakan_kernels as mk

from helpers import assert_close
from op_cases import (
    coef_scale,
    inputs_outside,
    kan_params,
    kept_for_backward,
    meta_params,
    nonuniform_knots,
    target_params,
)

OPS = ["kan", "metakan"]


def _call(op, x, params, backend, **options):
    """The op on (x, *params): kan params are coef, base_weight[, coef_scale]."""
    if op == "kan":
        scale = params[2] if len(params) > 2 else None
        return mk.kan_linear(x, params[0], params[1], coef_scale=scale, backend=backend, **options)
    return mk.metakan_linear(x, *params, backend=backend, **options)


def _params(op, o, i, dtype=torch.float64, device="cpu", num_bases=8, d=1, h=4):
    if op == "kan":
        return [*kan_params(o, i, num_bases, True, dtype, device), coef_scale(o, i, dtype, device)]
    return meta_params(o, i, num_bases, d, h, dtype, device)


def _dtype(target):
    return torch.float64 if target.backend != "cuda" else torch.float32


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("target", target_params())
def test_empty_inputs_give_empty_or_zero_results(target, op):
    """No rows: an empty output and zero parameter gradients; no inputs: zeros; no outputs: empty."""
    dtype, device = _dtype(target), target.device
    params = _params(op, 2, 3, dtype, device)
    x = torch.zeros(0, 3, dtype=dtype, device=device, requires_grad=True)
    y = _call(op, x, params, target.backend)
    assert y.shape == (0, 2)
    grads = torch.autograd.grad(y.sum(), [x, *params])
    assert grads[0].shape == (0, 3)
    assert all(torch.equal(g, torch.zeros_like(p)) for g, p in zip(grads[1:], params))
    assert _call(op, torch.zeros(4, 0, 3, dtype=dtype, device=device), params, target.backend).shape == (4, 0, 2)
    no_outputs = _params(op, 0, 3, dtype, device) if op == "kan" else [params[0][:0], *params[1:]]
    assert _call(op, torch.randn(5, 3, dtype=dtype, device=device), no_outputs, target.backend).shape == (5, 0)
    no_inputs = _params(op, 2, 0, dtype, device) if op == "kan" else [params[0][:, :0], *params[1:]]
    x = torch.randn(4, 0, dtype=dtype, device=device)
    assert torch.equal(_call(op, x, no_inputs, target.backend), torch.zeros(4, 2, dtype=dtype, device=device))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # Triton's interpreter (numpy) meets inf - inf
@pytest.mark.parametrize("knots", [False, True], ids=["uniform", "knots"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("target", target_params(reference=False))
def test_nan_and_inf_inputs_match_reference(target, op, knots):
    """A NaN makes its row NaN and no other; ±inf lies outside every grid: zero bases, a finite row."""
    dtype, device = _dtype(target), target.device
    x = inputs_outside((6, 3), dtype, device).detach()
    x[1, 0] = float("nan")
    x[2, 1] = float("inf")
    x[3, 2] = -float("inf")
    params = [p.detach() for p in _params(op, 2, 3, dtype, device)]
    grid = (mk.uniform_knots(3, 5, 3, dtype=dtype, device=device) * 1.1).contiguous() if knots else None
    y = _call(op, x, params, target.backend, grid=grid)
    assert_close(y, _call(op, x, params, "reference", grid=grid), "y", dtype)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 4, 5]]).all()
    if op == "kan":  # without the base term (silu(±inf) is not finite) the infinite inputs' rows are finite
        splines = [params[0], None, params[2]]
        y = _call(op, x, splines, target.backend, grid=grid)
        assert_close(y, _call(op, x, splines, "reference", grid=grid), "y without a base term", dtype)
        assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 2, 3, 4, 5]]).all()


# (batch, width) pairs: several where a forward is cheap, small ones under the interpreter.
SAVED_SIZES = {"cpu": ((64, 16), (64, 48), (256, 16), (256, 48)), "triton": ((8, 4), (64, 4), (8, 12), (64, 12)),
               "cuda": ((256, 32), (256, 96), (1024, 32), (1024, 96))}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("target", target_params(reference=False))
def test_forward_keeps_only_inputs_and_parameters(target, op):
    """A forward keeps x and the parameters only: nothing of B*I*K, O*I*K or O*I*H elements (at most
    O(B*O) extras); the reference, for contrast, keeps the (B, I, K) bases (so this test can fail)."""
    num_bases, hidden = 8, 32 if target.backend != "cpu" else 16
    sizes = SAVED_SIZES["triton" if target.backend == "triton" else target.backend]
    for batch, width in sizes:
        x = inputs_outside((batch, width), torch.float32, target.device)
        params = _params(op, width, width, torch.float32, target.device, num_bases, 1, hidden)
        for backend in (target.backend, "reference"):
            extras = kept_for_backward(lambda: _call(op, x, params, backend), [x, *params])
            if backend == "reference":
                assert max(extras) >= batch * width * num_bases, (batch, width)
            else:
                assert all(n <= batch * width for n in extras), (batch, width, extras)


@pytest.mark.gpu
@pytest.mark.parametrize("target", target_params(backends=("cuda",)))
def test_training_step_peak_is_a_fraction_of_the_reference(target):
    x = inputs_outside((4096, 256), torch.float32, "cuda")
    params = meta_params(256, 256, 8, 1, 32, torch.float32, "cuda")

    def peak(backend):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        mk.metakan_linear(x, *params, backend=backend).sum().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start

    assert peak(target.backend) <= 0.25 * peak("reference")


def _fast(target):
    """Triton's interpreter: gradcheck in random directions only, not every element."""
    return target.backend == "triton" and target.device == "cpu"


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("target", target_params(reference=False, backends=("cpu", "triton")))
def test_kan_gradcheck_and_double_backward(target, knots):
    """float64: first derivatives from the kernels (with and without coef_scale), second
    (create_graph=True, as in PINNs) by recomputation through the reference. Under the interpreter
    the per-feature grid only (its kernels' path includes the uniform one's arithmetic)."""
    if _fast(target) and knots == "uniform":
        pytest.skip("the interpreter runs the per-feature grid only, to keep its share of the suite small")
    grid = nonuniform_knots(2, 4, 3) if knots == "per-feature" else None
    fn = lambda x, c, w, s=None: mk.kan_linear(x, c, w, grid_size=4, spline_order=3, grid=grid,  # noqa: E731
                                               coef_scale=s, backend=target.backend)
    x = inputs_outside((5, 2))
    args = (x, *kan_params(2, 2, 7))
    assert torch.autograd.gradcheck(fn, args, fast_mode=_fast(target))
    assert torch.autograd.gradcheck(fn, (*args, coef_scale(2, 2)), fast_mode=_fast(target))
    assert torch.autograd.gradgradcheck(fn, args, fast_mode=_fast(target))


@pytest.mark.parametrize("activation", sorted(mk.META_ACTIVATIONS))
@pytest.mark.parametrize("target", target_params(reference=False, backends=("cpu", "triton")))
def test_metakan_gradcheck_and_double_backward(target, activation):
    fn = lambda *a: mk.metakan_linear(*a, grid_size=3, spline_order=2, meta_activation=activation,  # noqa: E731
                                      backend=target.backend)
    args = [(torch.randn(3, 2, dtype=torch.float64) * 0.7).requires_grad_(), *meta_params(2, 2, 5, 2, 4)]
    assert torch.autograd.gradcheck(fn, args, fast_mode=_fast(target))
    assert torch.autograd.gradgradcheck(fn, args, fast_mode=_fast(target))


@pytest.mark.parametrize("target", target_params(reference=False, backends=("cpu", "triton")))
def test_laplacian_matches_reference(target):
    """d²y/dx² summed, the PINN use: differentiable first derivatives from the backend."""
    x = (inputs_outside((5, 2)).detach() * 0.5).requires_grad_()
    params = meta_params(1, 2, 8, 2, 4)

    def laplacian(backend):
        y = mk.metakan_linear(x, *params, backend=backend).sum()
        (dx,) = torch.autograd.grad(y, x, create_graph=True)
        (d2x,) = torch.autograd.grad(dx.sum(), x, create_graph=True)
        return d2x, torch.autograd.grad(d2x.sum(), params[0])[0]

    for got, want, name in zip(laplacian(target.backend), laplacian("reference"), ("d2x", "d(d2x)/dembedding")):
        assert_close(got, want, name)


# (batch, in_features, out_features, hidden): sizes with several tiles where a run is cheap
DETERMINISM_SIZES = {"cpu": (300, 50, 40, 16), "triton": (37, 7, 9, 16), "cuda": (3000, 64, 100, 32)}


@pytest.mark.parametrize("target", target_params(reference=False))
def test_gradients_are_deterministic(target):
    """Two identical float32 runs give bit-identical outputs and gradients."""
    batch, i, o, h = DETERMINISM_SIZES[target.backend]
    x = inputs_outside((batch, i), torch.float32, target.device)
    params = meta_params(o, i, 8, 2, h, torch.float32, target.device)
    dy = torch.randn(batch, o, device=target.device)

    def run():
        y = mk.metakan_linear(x, *params, backend=target.backend)
        return (y, *torch.autograd.grad(y, (x, *params), dy))

    for name, first, second in zip(("y", "dx", "dembedding", "dw1", "db1", "dw2", "db2"), run(), run()):
        assert torch.equal(first, second), f"{name} differs between two identical runs"


def test_cpu_results_do_not_depend_on_threads():
    if "cpu" not in mk.available_backends():
        pytest.skip("the compiled extension is not built")
    # two output tiles and long meta-learner steps: their reductions must not be split by the GEMM
    x = inputs_outside((900, 50), torch.float32)
    params = meta_params(300, 50, 8, 2, 16, torch.float32)
    dy = torch.randn(900, 300)

    def run(threads):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            y = mk.metakan_linear(x, *params, backend="cpu")
            return (y, *torch.autograd.grad(y, (x, *params), dy))
        finally:
            torch.set_num_threads(previous)

    for two, one in zip(run(2), run(1)):
        assert torch.equal(two, one)


# torch.compile traces the ops, not the kernels: the interpreter's Triton kernels are not compiled.
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("target", [p for p in target_params(reference=False) if p.id != "triton"])
def test_torch_compile_fullgraph(target, op):
    """fullgraph=True: no graph break; the same gradients as eager."""
    batch, i, o = (9, 4, 3) if target.device == "cpu" else (64, 16, 8)
    x = inputs_outside((batch, i), torch.float32, target.device).detach()
    params = _params(op, o, i, torch.float32, target.device, 8, 1, 8)
    step = lambda x, *p: _call(op, x, p, target.backend).square().sum()  # noqa: E731
    got = torch.autograd.grad(torch.compile(step, fullgraph=True)(x, *params), params)
    want = torch.autograd.grad(step(x, *params), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)

