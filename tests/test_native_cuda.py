"""The compiled extension's CUDA backend ("cuda") against the reference: outputs and every gradient in
float32, float16 and bfloat16, the memory contract, determinism, torch.compile. Needs a GPU."""

import itertools

import pytest
import torch

import metakan_kernels as mk
from metakan.memory import saved_tensors

from native_cases import (
    check_kan,
    check_metakan,
    check_scaled_kan,
    coef_scale,
    inputs_outside,
    kan_params,
    meta_params,
    nonuniform_knots,
)

pytestmark = pytest.mark.gpu

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
SIZES = [(1, 1, 1), (5, 3, 2), (37, 7, 9), (200, 90, 70), (1000, 33, 130)]  # (batch, in_features, out_features)


def _grid(knots, in_features, grid_size, spline_order):
    if knots == "uniform":
        return None
    return nonuniform_knots(in_features, grid_size, spline_order, torch.float32, "cuda")


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("grid_size, spline_order", [(3, 1), (5, 3), (8, 5)])
@pytest.mark.parametrize("batch, in_features, out_features", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_kan_matches_reference(dtype, batch, in_features, out_features, grid_size, spline_order, knots):
    x = inputs_outside((batch, in_features), dtype, "cuda")
    for base in (True, False):
        coef, base_weight = kan_params(out_features, in_features, grid_size + spline_order, base, dtype, "cuda")
        check_kan(x, coef, base_weight, backend="cuda", grid=_grid(knots, in_features, grid_size, spline_order),
                  grid_size=grid_size, spline_order=spline_order)


@pytest.mark.parametrize("batch, in_features, out_features", SIZES[1::2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_kan_with_coef_scale_matches_reference(dtype, batch, in_features, out_features):
    x = inputs_outside((batch, in_features), dtype, "cuda")
    coef, base_weight = kan_params(out_features, in_features, 8, True, dtype, "cuda")
    check_scaled_kan(x, coef, coef_scale(out_features, in_features, dtype, "cuda"), base_weight, backend="cuda",
                     grid_size=5, spline_order=3)


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("activation", ["relu", "gelu", "identity"])
@pytest.mark.parametrize("embedding_dim, hidden", [(1, 4), (3, 32)])
@pytest.mark.parametrize("batch, in_features, out_features", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_metakan_matches_reference(dtype, batch, in_features, out_features, embedding_dim, hidden, activation, knots):
    x = inputs_outside((batch, in_features), dtype, "cuda")
    params = meta_params(out_features, in_features, 8, embedding_dim, hidden, dtype, "cuda")
    check_metakan(x, params, backend="cuda", grid=_grid(knots, in_features, 5, 3), grid_size=5, spline_order=3,
                  meta_activation=activation)


@pytest.mark.parametrize("grid_size, spline_order, hidden", [(61, 3, 128), (1, 0, 1), (60, 4, 16)])
def test_limits_of_the_tiles(grid_size, spline_order, hidden):
    """K = 64 (one input per tile), order 0, and the largest hidden width."""
    x = inputs_outside((70, 5), torch.float32, "cuda")
    params = meta_params(66, 5, grid_size + spline_order, 16, hidden, torch.float32, "cuda")
    check_metakan(x, params, backend="cuda", grid_size=grid_size, spline_order=spline_order)


def test_leading_batch_dims_and_non_contiguous_x():
    buffer = inputs_outside((2, 3, 14), torch.float32, "cuda").detach()
    x = buffer[..., ::2].requires_grad_()
    coef, base_weight = kan_params(5, 7, 8, dtype=torch.float32, device="cuda")
    check_kan(x, coef, base_weight, backend="cuda", grid_size=5, spline_order=3)


def test_memory_contract_and_peak():
    """Nothing of B*I*K, O*I*K or O*I*H elements is kept for backward; the peak of a training step is
    a fraction of the reference's."""
    for batch, width in itertools.product((256, 1024), (32, 96)):
        x = inputs_outside((batch, width), torch.float32, "cuda")
        params = meta_params(width, width, 8, 1, 32, torch.float32, "cuda")
        _, saved = saved_tensors(lambda: mk.metakan_linear(x, *params, backend="cuda"))
        known = {t.untyped_storage().data_ptr() for t in (x, *params)}
        assert max([t.numel() for t in saved if t.untyped_storage().data_ptr() not in known], default=0) <= batch * width

    x = inputs_outside((4096, 256), torch.float32, "cuda")
    params = meta_params(256, 256, 8, 1, 32, torch.float32, "cuda")

    def peak(backend):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        mk.metakan_linear(x, *params, backend=backend).sum().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start

    assert peak("cuda") <= 0.25 * peak("reference")


def test_deterministic_gradients():
    x = inputs_outside((3000, 64), torch.float32, "cuda")
    params = meta_params(100, 64, 8, 2, 32, torch.float32, "cuda")
    dy = torch.randn(3000, 100, device="cuda")

    def run():
        y = mk.metakan_linear(x, *params, backend="cuda")
        return (y, *torch.autograd.grad(y, (x, *params), dy))

    for first, second in zip(run(), run()):
        assert torch.equal(first, second)


def test_torch_compile_fullgraph():
    x = inputs_outside((64, 16), torch.float32, "cuda").detach()
    params = meta_params(8, 16, 8, 1, 8, torch.float32, "cuda")
    step = lambda x, *p: mk.metakan_linear(x, *p, backend="cuda").square().sum()  # noqa: E731
    got = torch.autograd.grad(torch.compile(step, fullgraph=True)(x, *params), params)
    want = torch.autograd.grad(step(x, *params), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_auto_and_unsupported_dtype():
    assert mk.resolve_backend("auto", "cuda", torch.float32) in ("triton", "cuda")
    with pytest.raises(ValueError, match="backend 'cuda' cannot run this call: supports float32, float16, bfloat16"):
        mk.kan_linear(torch.randn(2, 3, device="cuda", dtype=torch.float64),
                      torch.randn(2, 3, 8, device="cuda", dtype=torch.float64), None, backend="cuda")
