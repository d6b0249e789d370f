"""The compiled extension's CPU backend ("cpu") against the reference: outputs and every gradient over
odd sizes, both grids and inputs outside them; gradcheck, the memory contract, determinism, torch.compile."""

import itertools

import pytest
import torch

import metakan
import metakan_kernels as mk
from metakan.memory import saved_tensors
from metakan_kernels import native

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

SIZES = list(itertools.product([1, 5, 37], [1, 3, 7], [1, 2, 9]))  # (batch, in_features, out_features)
SPLINES = list(itertools.product([3, 5], [1, 3]))  # (grid_size, spline_order)


def _grid(knots, in_features, grid_size, spline_order):
    return nonuniform_knots(in_features, grid_size, spline_order) if knots == "per-feature" else None


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("grid_size, spline_order", SPLINES)
@pytest.mark.parametrize("batch, in_features, out_features", SIZES)
def test_kan_matches_reference(batch, in_features, out_features, grid_size, spline_order, knots):
    x = inputs_outside((batch, in_features))
    for base in (True, False):
        coef, base_weight = kan_params(out_features, in_features, grid_size + spline_order, base)
        check_kan(x, coef, base_weight, backend="cpu", grid=_grid(knots, in_features, grid_size, spline_order),
                  grid_size=grid_size, spline_order=spline_order)


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("batch, in_features, out_features", [(1, 1, 1), (37, 7, 9)])
def test_kan_with_coef_scale_matches_reference(batch, in_features, out_features, knots):
    x = inputs_outside((batch, in_features))
    for base in (True, False):
        coef, base_weight = kan_params(out_features, in_features, 8, base)
        check_scaled_kan(x, coef, coef_scale(out_features, in_features), base_weight, backend="cpu",
                         grid=_grid(knots, in_features, 5, 3), grid_size=5, spline_order=3)


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("embedding_dim, hidden", [(1, 4), (3, 16)])
@pytest.mark.parametrize("grid_size, spline_order", SPLINES)
@pytest.mark.parametrize("batch, in_features, out_features", SIZES)
def test_metakan_matches_reference(batch, in_features, out_features, grid_size, spline_order, embedding_dim, hidden,
                                   knots):
    x = inputs_outside((batch, in_features))
    params = meta_params(out_features, in_features, grid_size + spline_order, embedding_dim, hidden)
    check_metakan(x, params, backend="cpu", grid=_grid(knots, in_features, grid_size, spline_order),
                  grid_size=grid_size, spline_order=spline_order)


@pytest.mark.parametrize("activation", sorted(mk.META_ACTIVATIONS))
@pytest.mark.parametrize("spline_order", [0, 2, 4, 5])
def test_metakan_other_orders_and_activations(spline_order, activation):
    x = inputs_outside((11, 4))
    params = meta_params(6, 4, 4 + spline_order, 2, 8)
    check_metakan(x, params, backend="cpu", grid_size=4, spline_order=spline_order, meta_activation=activation)


@pytest.mark.parametrize(
    "batch, in_features, out_features, grid_size, spline_order",
    [(300, 40, 70, 5, 3), (257, 129, 300, 7, 2), (130, 3, 513, 61, 3), (2, 700, 3, 5, 1)],
)
def test_larger_shapes_in_float32(batch, in_features, out_features, grid_size, spline_order):
    """Several batch, input and output tiles (and K = 64) in float32 against the float32 reference."""
    num_bases = grid_size + spline_order
    x = inputs_outside((batch, in_features), torch.float32)
    params = meta_params(out_features, in_features, num_bases, 2, 32, torch.float32)
    check_metakan(x, params, backend="cpu", grid_size=grid_size, spline_order=spline_order)
    coef, base_weight = kan_params(out_features, in_features, num_bases, dtype=torch.float32)
    knots = nonuniform_knots(in_features, grid_size, spline_order, torch.float32)
    check_kan(x, coef, base_weight, backend="cpu", grid=knots, grid_size=grid_size, spline_order=spline_order)


@pytest.mark.parametrize("in_features, out_features, hidden", [(50, 23, 128), (7, 300, 64)])
def test_metakan_in_several_meta_learner_steps_per_tile(in_features, out_features, hidden):
    """The meta-learner takes a tile's edges a few rows at a time (fewer the wider H): several steps
    per tile, a short last one, in float64 against the reference."""
    x = inputs_outside((9, in_features))
    params = meta_params(out_features, in_features, 8, 2, hidden)
    check_metakan(x, params, backend="cpu", grid_size=5, spline_order=3)


def test_leading_batch_dims_and_non_contiguous_x():
    buffer = inputs_outside((2, 3, 14)).detach()
    x = buffer[..., ::2].requires_grad_()  # (2, 3, 7), stride 2 along the features
    coef, base_weight = kan_params(5, 7, 8)
    check_kan(x, coef, base_weight, backend="cpu", grid_size=5, spline_order=3)
    check_metakan(x, meta_params(5, 7, 8, 1, 4), backend="cpu", grid_size=5, spline_order=3)


def test_strided_rows_at_the_op():
    """The op reads x and dy through their row strides (unit stride within a row)."""
    x = inputs_outside((10, 3)).detach()
    coef, base_weight = (t.detach() for t in kan_params(4, 3, 8))
    args = (coef, base_weight, None, 5, 3, -1.0, 1.0)
    y = torch.ops.metakan.native_kan_fwd(x[::2], coef, None, *args[1:])
    torch.testing.assert_close(y, torch.ops.metakan.native_kan_fwd(x[::2].contiguous(), coef, None, *args[1:]))
    dy = torch.randn(10, 4, dtype=torch.float64)
    strided = torch.ops.metakan.native_kan_bwd(dy[::2], x[::2], *args, True, True)
    dense = torch.ops.metakan.native_kan_bwd(dy[::2].contiguous(), x[::2].contiguous(), *args, True, True)
    for a, b in zip(strided, dense):
        torch.testing.assert_close(a, b)


def test_nan_and_inf_inputs_match_reference():
    x = inputs_outside((6, 3)).detach()
    x[1, 0] = float("nan")
    x[2, 1] = float("inf")
    x[3, 2] = -float("inf")
    coef, base_weight = (t.detach() for t in kan_params(2, 3, 8))
    y = mk.kan_linear(x, coef, base_weight, backend="cpu")
    torch.testing.assert_close(y, mk.kan_linear(x, coef, base_weight, backend="reference"), equal_nan=True)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 4, 5]]).all()


def test_empty_inputs_give_empty_or_zero_results():
    ops = torch.ops.metakan
    coef, base_weight = (t.detach() for t in kan_params(2, 3, 8))
    no_rows = ops.native_kan_fwd(torch.zeros(0, 3, dtype=torch.float64), coef, None, base_weight, None, 5, 3, -1.0, 1.0)
    assert no_rows.shape == (0, 2)
    no_inputs = ops.native_kan_fwd(torch.zeros(4, 0, dtype=torch.float64), coef[:, :0], None, base_weight[:, :0], None,
                                   5, 3, -1.0, 1.0)
    assert torch.equal(no_inputs, torch.zeros(4, 2, dtype=torch.float64))
    grads = ops.native_kan_bwd(torch.zeros(0, 2, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64), coef,
                               base_weight, None, 5, 3, -1.0, 1.0, True, True)
    assert grads[0].shape == (0, 3) and torch.equal(grads[1], torch.zeros_like(coef))


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
def test_gradcheck_float64(knots):
    grid = _grid(knots, 2, 4, 3)
    x = inputs_outside((5, 2))
    kan = lambda x, c, w: mk.kan_linear(x, c, w, grid_size=4, spline_order=3, grid=grid, backend="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(kan, (x, *kan_params(2, 2, 7)))
    scaled = lambda x, c, s, w: mk.kan_linear(x, c, w, grid_size=4, spline_order=3, grid=grid,  # noqa: E731
                                              coef_scale=s, backend="cpu")
    coef, base_weight = kan_params(2, 2, 7)
    assert torch.autograd.gradcheck(scaled, (x, coef, coef_scale(2, 2), base_weight))
    meta = lambda *a: mk.metakan_linear(*a, grid_size=4, spline_order=3, grid=grid, meta_activation="silu",  # noqa: E731
                                        backend="cpu")
    assert torch.autograd.gradcheck(meta, (x, *meta_params(2, 2, 7, 2, 3)))


def test_double_backward_recomputes_through_the_reference():
    x = inputs_outside((4, 2))
    kan = lambda x, c, w: mk.kan_linear(x, c, w, grid_size=3, spline_order=2, backend="cpu")  # noqa: E731
    assert torch.autograd.gradgradcheck(kan, (x, *kan_params(2, 2, 5)))


def _big_saved(backend, op, batch, width):
    """Elements of the largest tensor a forward saves for backward, leaving out its inputs."""
    x = inputs_outside((batch, width), torch.float32)
    if op == "kan":
        coef, base_weight = kan_params(width, width, 8, dtype=torch.float32)
        inputs = (x, coef, base_weight, coef_scale(width, width, torch.float32))
        fn = lambda: mk.kan_linear(*inputs[:3], coef_scale=inputs[3], backend=backend)  # noqa: E731
    else:
        inputs = (x, *meta_params(width, width, 8, 1, 16, torch.float32))
        fn = lambda: mk.metakan_linear(*inputs, backend=backend)  # noqa: E731
    _, saved = saved_tensors(fn)
    known = {t.untyped_storage().data_ptr() for t in inputs}
    return max([t.numel() for t in saved if t.untyped_storage().data_ptr() not in known], default=0)


def test_kan_layer_keeps_only_its_input_and_parameters():
    """KANLinear hands spline_weight and spline_scaler to the op as factors: their product is not kept."""
    layer = metakan.KANLinear(48, 32, backend="cpu")
    x = inputs_outside((64, 48), torch.float32)
    _, saved = saved_tensors(lambda: layer(x))
    known = {t.untyped_storage().data_ptr() for t in (x, *layer.parameters(), *layer.buffers())}
    assert [tuple(t.shape) for t in saved if t.untyped_storage().data_ptr() not in known] == []


@pytest.mark.parametrize("op", ["kan", "metakan"])
def test_memory_contract(op):
    """A forward keeps x and the parameters only: nothing of B*I*K, O*I*K or O*I*H elements (at most
    O(B*O) extras); the reference, for contrast, keeps the (B, I, K) bases."""
    for batch, width in itertools.product((64, 256), (16, 48)):
        assert _big_saved("cpu", op, batch, width) <= batch * width, (batch, width)
        assert _big_saved("reference", op, batch, width) >= batch * width * 8, (batch, width)


def test_results_do_not_depend_on_threads():
    x = inputs_outside((300, 50), torch.float32)
    params = meta_params(40, 50, 8, 2, 16, torch.float32)
    dy = torch.randn(300, 40)

    def run(threads):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            y = mk.metakan_linear(x, *params, backend="cpu")
            return (y, *torch.autograd.grad(y, (x, *params), dy))
        finally:
            torch.set_num_threads(previous)

    for first, again, one_thread in zip(run(2), run(2), run(1)):
        assert torch.equal(first, again) and torch.equal(first, one_thread)


def test_torch_compile_fullgraph():
    x = inputs_outside((9, 4), torch.float32).detach()
    params = meta_params(3, 4, 8, 1, 8, torch.float32)
    step = lambda x, *p: mk.metakan_linear(x, *p, backend="cpu").square().sum()  # noqa: E731
    compiled = torch.compile(step, fullgraph=True)
    got = torch.autograd.grad(compiled(x, *params), params)
    want = torch.autograd.grad(step(x, *params), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_auto_picks_cpu_and_limits():
    assert mk.resolve_backend("auto", "cpu", torch.float32) == "cpu"
    limits = native.CPU_BACKEND.limits
    assert limits.min_spline_order == 0 and limits.max_num_bases == 64 and limits.max_elements == 2**63 - 1
    with pytest.raises(ValueError, match=r"backend 'cpu' cannot run this call: needs grid_size \+ spline_order <= 64, got 68"):
        mk.kan_linear(torch.randn(2, 3), torch.randn(2, 3, 68), None, grid_size=65, backend="cpu")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_runs_through_float32(dtype):
    """bfloat16/float16 inputs (as under torch.autocast) are widened, computed in float32, rounded back."""
    assert mk.resolve_backend("auto", "cpu", dtype) == "cpu"
    x, coef, base_weight = (t.to(dtype).requires_grad_() for t in (torch.randn(9, 3), torch.randn(2, 3, 8), torch.randn(2, 3)))
    y = mk.kan_linear(x, coef, base_weight, backend="cpu")
    assert y.dtype == dtype
    want = mk.kan_linear(x.float(), coef.float(), base_weight.float(), backend="reference")
    torch.testing.assert_close(y, want.to(dtype))
    grads = torch.autograd.grad(y.float().sum(), (x, coef, base_weight))
    wants = torch.autograd.grad(want.sum(), (x, coef, base_weight))
    for got, expected in zip(grads, wants):
        assert got.dtype == dtype
        torch.testing.assert_close(got, expected.to(dtype))
