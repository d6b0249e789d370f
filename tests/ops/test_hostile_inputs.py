"""Property-based checks over shapes, grid settings, dtypes, strides and special values, on every
available backend: each call either matches the reference (output and gradients) or raises the
documented error, and never crashes or hangs."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metakan_kernels as mk
from metakan_kernels.backends import BackendUnavailable
from metakan_kernels.reference import kan_linear_ref, metakan_linear_ref, uniform_knots

from helpers import assert_close

BACKENDS = [name for name in mk.available_backends() if name != "reference"] or ["reference"]
# The Triton interpreter runs ~1 ms per program per loop step: fewer, smaller examples there.
EXAMPLES = {"triton": 12}
DOCUMENTED = (ValueError, TypeError, BackendUnavailable)


@st.composite
def calls(draw):
    g = draw(st.integers(1, 6))
    k = draw(st.integers(0, 5))
    dims = dict(
        batch=draw(st.sampled_from([(0,), (1,), (3,), (2, 3), (5,)])),
        i=draw(st.integers(0, 5)),
        o=draw(st.integers(0, 4)),
        d=draw(st.integers(1, 3)),
        h=draw(st.integers(1, 5)),
    )
    return dict(
        g=g, k=k, **dims,
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        uniform=draw(st.booleans()),
        scale=draw(st.sampled_from([0.5, 1.5, 1e6, 1e30])),
        special=draw(st.sampled_from([None, math.nan, math.inf, -math.inf])),
        layout=draw(st.sampled_from(["contiguous", "transposed", "strided", "channels_last"])),
        grads=draw(st.sampled_from(["all", "x", "params", "none"])),
        lo=draw(st.sampled_from([-1.0, -3.0, 0.0])),
    )


def _x(case):
    """x of the drawn layout, scaled, with one special value in its first element."""
    shape, dtype, scale = (*case["batch"], case["i"]), case["dtype"], case["scale"]
    if case["layout"] == "transposed":
        x = (torch.randn(*reversed(shape), dtype=dtype) * scale).permute(*reversed(range(len(shape))))
    elif case["layout"] == "strided":
        x = (torch.randn(*shape[:-1], 2 * shape[-1], dtype=dtype) * scale)[..., ::2]
    elif case["layout"] == "channels_last":
        x = (torch.randn(1, 1, math.prod(shape[:-1]), shape[-1], dtype=dtype) * scale)
        x = x.contiguous(memory_format=torch.channels_last).view(shape)
    else:
        x = torch.randn(*shape, dtype=dtype) * scale
    if case["special"] is not None and x.numel():
        x[(0,) * x.dim()] = case["special"]
    return x


def _grid(case):
    if case["uniform"]:
        return None
    knots = uniform_knots(case["i"], case["g"], case["k"], (case["lo"], case["lo"] + 2), dtype=case["dtype"]).clone()
    warp = torch.rand(case["i"], case["g"] + 2 * case["k"], dtype=case["dtype"]) * 0.2 + 0.9
    return torch.cat([knots[:, :1], knots[:, :1] + (knots.diff(dim=1) * warp).cumsum(1)], dim=1)


def _run(fn, inputs, needs):
    leaves = [t.detach().requires_grad_(need) for t, need in zip(inputs, needs)]
    y = fn(*leaves)
    wanted = [t for t in leaves if t.requires_grad]
    grads = torch.autograd.grad(y.sum(), wanted, allow_unused=True) if wanted and y.numel() else []
    return y, grads


def _needs(case, count):
    return {"all": [True] * count, "x": [True] + [False] * (count - 1),
            "params": [False] + [True] * (count - 1), "none": [False] * count}[case["grads"]]


def _check(case, fn_backend, fn_reference, inputs):
    needs = _needs(case, len(inputs))
    try:
        y, grads = _run(fn_backend, inputs, needs)
    except DOCUMENTED as err:
        if "cannot run this call" in str(err):  # a documented limit of this backend, said in words
            return
        with pytest.raises(type(err)):  # otherwise the reference must refuse the call too
            _run(fn_reference, inputs, needs)
        return
    y_ref, grads_ref = _run(fn_reference, inputs, needs)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    assert torch.equal(torch.isnan(y), torch.isnan(y_ref)), "NaN pattern differs"
    finite = torch.isfinite(y_ref)
    assert torch.equal(y[~finite], y_ref[~finite]) or torch.isnan(y_ref[~finite]).all(), "inf pattern differs"
    if case["scale"] < 1e6:
        assert_close(y[finite], y_ref[finite], "y", dtype=case["dtype"])
        if case["special"] is None:
            for index, (got, want) in enumerate(zip(grads, grads_ref)):
                assert_close(got, want, f"gradient {index}", dtype=case["dtype"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_kan_linear_hostile(backend):
    @settings(max_examples=EXAMPLES.get(backend, 60), deadline=None, suppress_health_check=list(HealthCheck))
    @given(calls())
    def check(case):
        grid = _grid(case)
        options = dict(grid_size=case["g"], spline_order=case["k"], grid_range=(case["lo"], case["lo"] + 2), grid=grid)
        knots = grid if grid is not None else uniform_knots(case["i"], case["g"], case["k"], options["grid_range"], dtype=case["dtype"])
        k_bases = case["g"] + case["k"]
        inputs = [_x(case), torch.randn(case["o"], case["i"], k_bases, dtype=case["dtype"]),
                  torch.randn(case["o"], case["i"], dtype=case["dtype"])]
        fn = lambda x, c, w: mk.kan_linear(x, c, w, backend=backend, **options)  # noqa: E731
        ref = lambda x, c, w: kan_linear_ref(x.reshape(math.prod(x.shape[:-1]), case["i"]), c, w, knots, case["k"]).reshape(*x.shape[:-1], case["o"])  # noqa: E731
        _check(case, fn, ref, inputs)

    check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_metakan_linear_hostile(backend):
    @settings(max_examples=EXAMPLES.get(backend, 60), deadline=None, suppress_health_check=list(HealthCheck))
    @given(calls(), st.sampled_from(sorted(mk.META_ACTIVATIONS)))
    def check(case, activation):
        grid = _grid(case)
        options = dict(grid_size=case["g"], spline_order=case["k"], grid_range=(case["lo"], case["lo"] + 2), grid=grid)
        knots = grid if grid is not None else uniform_knots(case["i"], case["g"], case["k"], options["grid_range"], dtype=case["dtype"])
        k_bases, d, h, dtype = case["g"] + case["k"], case["d"], case["h"], case["dtype"]
        inputs = [_x(case), torch.randn(case["o"], case["i"], d, dtype=dtype), torch.randn(h, d, dtype=dtype),
                  torch.randn(h, dtype=dtype), torch.randn(k_bases + 1, h, dtype=dtype), torch.randn(k_bases + 1, dtype=dtype)]
        fn = lambda x, *p: mk.metakan_linear(x, *p, meta_activation=activation, backend=backend, **options)  # noqa: E731
        ref = lambda x, *p: metakan_linear_ref(x.reshape(math.prod(x.shape[:-1]), case["i"]), *p, knots, case["k"], activation).reshape(*x.shape[:-1], case["o"])  # noqa: E731
        _check(case, fn, ref, inputs)

    check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_range_is_refused_or_handled_without_allocating(backend):
    """A batch so large that B*I exceeds 32-bit indexing, as a stride-0 view (nothing allocated): a
    backend limited to 32-bit indices refuses it with a message; the others would run it, so only
    their refusal message is checked when they refuse."""
    x = torch.zeros(1, 1).expand(2**31 + 7, 1)
    coef, base_weight = torch.zeros(1, 1, 8), torch.zeros(1, 1)
    limits = getattr(mk.backends.get_backend(backend), "limits", None)
    if limits is None or limits.max_elements >= 2**31 + 7:
        pytest.skip(f"{backend} addresses this size with 64-bit indices; running it would allocate 8 GiB")
    with pytest.raises(ValueError, match="exceeds its .*-element index range"):
        mk.kan_linear(x, coef, base_weight, backend=backend)
