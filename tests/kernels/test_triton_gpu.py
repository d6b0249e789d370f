"""The Triton backend compiled for a real GPU: larger shapes, float16/bfloat16, the autotuner's first call (skipped without CUDA)."""

import pytest
import torch

import metakan_kernels as mk
from metakan_kernels import reference

from helpers import assert_close_low_precision

pytestmark = pytest.mark.gpu

CUDA = torch.device("cuda")


def _scaled_close(actual, expected, name, tol):
    """Within ``tol`` of the largest reference value: products of thousands of terms on tensor cores."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual.float(), expected.float(), atol=tol * scale, rtol=tol,
                               msg=lambda m: f"{name} differs: {m}")


def _inputs(op, batch, i, o, g, k, d, h, dtype, knots):
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(batch, i, device=CUDA, generator=gen) * 1.5
    if op == "kan":
        params = [torch.randn(o, i, g + k, device=CUDA, generator=gen) * 0.3, torch.randn(o, i, device=CUDA, generator=gen)]
    else:
        shapes = ((o, i, d), (h, d), (h,), (g + k + 1, h), (g + k + 1,))
        params = [torch.randn(*s, device=CUDA, generator=gen) * 0.5 for s in shapes]
    grid = None
    if knots:
        grid = reference.uniform_knots(i, g, k, dtype=torch.float64, device=CUDA).clone()
        grid = (grid + torch.rand(grid.shape, device=CUDA, generator=gen, dtype=torch.float64) * 0.4 / g).float()
    dy = torch.randn(batch, o, device=CUDA, generator=gen)
    return x.to(dtype), [p.to(dtype) for p in params], grid, dy.to(dtype)


def _run(op, x, params, grid, dy, g, k, act, backend):
    leaves = [x.detach().requires_grad_()] + [p.detach().requires_grad_() for p in params]
    options = dict(grid_size=g, spline_order=k, grid=grid, backend=backend)
    if op == "kan":
        y = mk.kan_linear(leaves[0], *leaves[1:], **options)
    else:
        y = mk.metakan_linear(*leaves, meta_activation=act, **options)
    return [y.detach(), *torch.autograd.grad(y, leaves, dy)]


CASES = [
    # op, B, I, O, G, k, d, H, activation, knots. The first has the layer settings of the GPU benchmark
    # (metakan bench --preset gpu-check: G5 k3 d1 H32 relu, uniform) at odd sizes; each case compiles ~20 kernels.
    ("metakan", 4099, 257, 129, 5, 3, 1, 32, "relu", False),
    ("metakan", 513, 33, 70, 59, 5, 16, 128, "gelu", True),
    ("metakan", 1000, 65, 40, 5, 3, 1, 32, "identity", False),  # the MetaKAN paper's image-model layer
    ("kan", 1000, 40, 300, 3, 4, 0, 0, "", True),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_compiled_kernels_match_reference(case, dtype):
    op, batch, i, o, g, k, d, h, act, knots = case
    x, params, grid, dy = _inputs(op, batch, i, o, g, k, d, h, dtype, knots)
    names = ["y", "dx", *(("coef", "base_weight") if op == "kan" else ("embedding", "w1", "b1", "w2", "b2"))]
    got = _run(op, x, params, grid, dy, g, k, act, "triton")
    exact = _run(op, x.double(), [p.double() for p in params], None if grid is None else grid.double(), dy.double(),
                 g, k, act, "reference")
    if dtype == torch.float32:
        for actual, expected, name in zip(got, exact, names):
            _scaled_close(actual, expected, name, 1e-4)
        return
    plain = _run(op, x, params, grid, dy, g, k, act, "reference")
    for actual, low, expected, name in zip(got, plain, exact, names):
        assert_close_low_precision(actual, expected.float(), low, name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_first_call_at_a_new_shape_matches_the_second(dtype):
    # The first call at a shape (a new autotune key: this shape is used nowhere else) times every
    # configuration on the same output buffers; the parameter kernel adds into its partial sums, so
    # the meta-learner gradients are right only if the autotuner zeroes them between the runs.
    op, batch, i, o, g, k, d, h, act = "metakan", 777, 50, 37, 5, 3, 1, 32, "relu"
    x, params, _, dy = _inputs(op, batch, i, o, g, k, d, h, dtype, False)
    names = ["y", "dx", "embedding", "w1", "b1", "w2", "b2"]
    exact = _run(op, x.double(), [p.double() for p in params], None, dy.double(), g, k, act, "reference")
    plain = _run(op, x, params, None, dy, g, k, act, "reference")
    for call in ("first", "second"):
        got = _run(op, x, params, None, dy, g, k, act, "triton")
        for actual, low, expected, name in zip(got, plain, exact, names):
            if dtype == torch.float32:
                _scaled_close(actual, expected, f"{name} ({call} call)", 1e-4)
            else:
                assert_close_low_precision(actual, expected.float(), low, f"{name} ({call} call)")
