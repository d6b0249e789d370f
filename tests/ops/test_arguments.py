"""Public ops' arguments: shapes, leading batch dims, knots, and a clear error for every kind of bad input."""

import math

import pytest
import torch

import metakan_kernels as mk
from metakan_kernels import checks
from metakan_kernels.reference import kan_linear_ref, metakan_linear_ref


def kan_args(batch=(5,), i=3, o=2, g=5, k=3, dtype=torch.float32):
    return torch.randn(*batch, i, dtype=dtype), torch.randn(o, i, g + k, dtype=dtype), torch.randn(o, i, dtype=dtype)


def meta_args(batch=(5,), i=3, o=2, g=5, k=3, d=2, h=4, dtype=torch.float32):
    shapes = [(*batch, i), (o, i, d), (h, d), (h,), (g + k + 1, h), (g + k + 1,)]
    return [torch.randn(*s, dtype=dtype) for s in shapes]


def test_leading_batch_dims_and_reference_agreement():
    x, coef, wb = kan_args(batch=(2, 3, 4))
    y = mk.kan_linear(x, coef, wb)
    assert y.shape == (2, 3, 4, 2)
    knots = mk.uniform_knots(3, 5, 3)
    torch.testing.assert_close(y.reshape(-1, 2), kan_linear_ref(x.reshape(-1, 3), coef, wb, knots, 3))
    args = meta_args(batch=(2, 3))
    y = mk.metakan_linear(*args, meta_activation="tanh")
    assert y.shape == (2, 3, 2)
    torch.testing.assert_close(y.reshape(-1, 2), metakan_linear_ref(args[0].reshape(-1, 3), *args[1:], knots, 3, "tanh"))


def test_coef_scale_scales_each_edge():
    x, coef, wb = kan_args(batch=(4, 2), dtype=torch.float64)
    scale = torch.randn(2, 3, dtype=torch.float64)
    y = mk.kan_linear(x, coef, wb, coef_scale=scale)
    torch.testing.assert_close(y, mk.kan_linear(x, coef * scale[..., None], wb))
    leaves = [t.clone().requires_grad_() for t in (x[0], coef, scale, wb)]
    fn = lambda x, c, s, w: mk.kan_linear(x, c, w, coef_scale=s, backend="reference")  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, leaves)


def test_per_feature_grid_is_used():
    x, coef, wb = kan_args()
    knots = mk.uniform_knots(3, 5, 3).clone() * 1.7
    y = mk.kan_linear(x, coef, wb, grid=knots)
    torch.testing.assert_close(y, kan_linear_ref(x, coef, wb, knots, 3))


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda x, c, w: (x[..., :2], c, w), ValueError, r"x must have shape \(\.\.\., in_features\) with in_features = 3"),
        (lambda x, c, w: (x.long(), c, w), TypeError, r"x must be a floating-point tensor.*int64"),
        (lambda x, c, w: ([1.0], c, w), TypeError, r"x must be a torch.Tensor"),
        (lambda x, c, w: (x, c[..., :5], w), ValueError, r"coef must have shape .*\(2, 3, 8\), got \(2, 3, 5\)"),
        (lambda x, c, w: (x, c[0], w), ValueError, r"coef must have 3 dimensions"),
        (lambda x, c, w: (x, c, w[:1]), ValueError, r"base_weight must have shape .*\(2, 3\), got \(1, 3\)"),
        (lambda x, c, w: (x, c.double(), w), TypeError, r"coef is torch.float64 but x is torch.float32"),
        (lambda x, c, w: (x, c, w.to("meta")), ValueError, r"base_weight is on meta but x is on cpu"),
    ],
)
def test_kan_linear_bad_inputs(make, error, pattern):
    with pytest.raises(error, match=pattern):
        mk.kan_linear(*make(*kan_args()))


@pytest.mark.parametrize(
    "scale, error, pattern",
    [
        (torch.ones(3, 2), ValueError, r"coef_scale must have shape \(out_features, in_features\) = \(2, 3\), got \(3, 2\)"),
        (torch.ones(2, 3, 1), ValueError, r"coef_scale must have 2 dimensions"),
        (torch.ones(2, 3, dtype=torch.float64), TypeError, r"coef_scale is torch.float64 but x is torch.float32"),
        (torch.ones(2, 3, dtype=torch.int32), TypeError, r"coef_scale must be a floating-point tensor"),
        (torch.ones(2, 3, device="meta"), ValueError, r"coef_scale is on meta but x is on cpu"),
    ],
)
def test_kan_linear_bad_coef_scale(scale, error, pattern):
    with pytest.raises(error, match=pattern):
        mk.kan_linear(*kan_args(), coef_scale=scale)


@pytest.mark.parametrize(
    "options, pattern",
    [
        (dict(grid_size=0), r"grid_size must be an integer >= 1, got 0"),
        (dict(grid_size=2.5), r"grid_size must be an integer"),
        (dict(spline_order=6), r"spline_order must be an integer in \[0, 5\], got 6"),
        (dict(spline_order=-1), r"spline_order must be an integer in \[0, 5\]"),
        (dict(grid_range=(1, -1)), r"grid_range must be finite with lo < hi"),
        (dict(grid_range=(0, math.inf)), r"grid_range must be finite"),
        (dict(grid_range="ab"), r"grid_range must be a pair of numbers"),
    ],
)
def test_bad_spline_settings(options, pattern):
    x, coef, wb = kan_args()
    with pytest.raises(ValueError, match=pattern):
        mk.kan_linear(x, coef, wb, **options)


def test_bad_grid():
    x, coef, wb = kan_args()
    knots = mk.uniform_knots(3, 5, 3).clone()
    with pytest.raises(ValueError, match=r"grid must have shape \(in_features, grid_size \+ 2\*spline_order \+ 1\) = \(3, 12\)"):
        mk.kan_linear(x, coef, wb, grid=knots[:, :-1])
    decreasing = knots.clone()
    decreasing[1, 4] = decreasing[1, 3]
    with pytest.raises(ValueError, match="grid must be strictly increasing"):
        mk.kan_linear(x, coef, wb, grid=decreasing)
    with_nan = knots.clone()
    with_nan[2, 0] = math.nan
    with pytest.raises(ValueError, match="grid must be strictly increasing"):
        mk.kan_linear(x, coef, wb, grid=with_nan)
    with pytest.raises(TypeError, match="grid must be a floating-point tensor"):
        mk.kan_linear(x, coef, wb, grid=knots.long())


def _count_validations(monkeypatch) -> list:
    calls = []
    validate = checks.validate_knots
    monkeypatch.setattr(checks, "validate_knots", lambda grid: (calls.append(grid), validate(grid)))
    return calls


def test_knots_are_validated_once_until_changed_in_place(monkeypatch):
    calls = _count_validations(monkeypatch)
    x, coef, wb = kan_args()
    knots = mk.uniform_knots(3, 5, 3).clone() * 1.1
    expected = mk.kan_linear(x, coef, wb, grid=knots)
    for _ in range(3):
        torch.testing.assert_close(mk.kan_linear(x, coef, wb, grid=knots), expected)
    args = meta_args()
    mk.metakan_linear(*args, grid=knots)
    assert len(calls) == 1
    knots[1, 4] = knots[1, 3]  # in place: the next call checks again
    with pytest.raises(ValueError, match="grid must be strictly increasing"):
        mk.kan_linear(x, coef, wb, grid=knots)
    assert len(calls) == 2
    knots[1, 4] = knots[1, 3] + 0.1
    mk.kan_linear(x, coef, wb, grid=knots)
    assert len(calls) == 3
    mk.kan_linear(x, coef, wb, grid=knots.clone())  # another tensor with the same values
    assert len(calls) == 4


@pytest.mark.gpu
def test_repeated_calls_with_set_knots_do_not_sync():
    x, coef, wb = (t.cuda() for t in kan_args())
    args = [t.cuda() for t in meta_args()]
    knots = (mk.uniform_knots(3, 5, 3) * 1.1).cuda()
    mk.kan_linear(x, coef, wb, grid=knots)  # validates, once
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for backend in ("auto", *(name for name in ("triton", "cuda") if name in mk.available_backends())):
            mk.kan_linear(x, coef, wb, grid=knots, backend=backend)
            mk.metakan_linear(*args, grid=knots, backend=backend)
    finally:
        torch.cuda.set_sync_debug_mode(previous)


@pytest.mark.parametrize(
    "index, replace, error, pattern",
    [
        (1, lambda e: e[..., :0], ValueError, r"embedding must have embedding_dim >= 1"),
        (2, lambda w1: w1[:, :1], ValueError, r"w1 must have shape \(hidden_dim, embedding_dim\) = \(4, 2\), got \(4, 1\)"),
        (3, lambda b1: b1[:3], ValueError, r"b1 must have shape \(hidden_dim,\) = \(4,\), got \(3,\)"),
        (4, lambda w2: w2[:8], ValueError, r"w2 must have shape \(grid_size \+ spline_order \+ 1, hidden_dim\) = \(9, 4\)"),
        (5, lambda b2: b2[:8], ValueError, r"b2 must have shape .* = \(9,\), got \(8,\)"),
        (5, lambda b2: b2.half(), TypeError, r"b2 is torch.float16 but x is torch.float32"),
        (0, lambda x: x[..., :1], ValueError, r"x must have shape \(\.\.\., in_features\) with in_features = 3"),
    ],
)
def test_metakan_linear_bad_inputs(index, replace, error, pattern):
    args = meta_args()
    args[index] = replace(args[index])
    with pytest.raises(error, match=pattern):
        mk.metakan_linear(*args)


def test_bad_meta_activation():
    with pytest.raises(ValueError, match=r"meta_activation must be one of \['gelu', 'identity', 'relu', 'silu', 'tanh'\], got 'elu'"):
        mk.metakan_linear(*meta_args(), meta_activation="elu")
