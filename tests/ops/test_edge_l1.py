"""The edge statistics ops (kan_edge_l1, metakan_edge_l1) on every backend against the reference:
values and every gradient, special values, determinism, and the memory they may use."""

import pytest
import torch

import metakan_kernels as mk
from metakan.memory import peak_step_bytes
from metakan_kernels import backends
from metakan_kernels.fused import FusedBackend
from metakan_kernels.schema import KAN_EDGE_L1

from helpers import assert_close
from op_cases import (
    KAN_NAMES,
    METAKAN_NAMES,
    SCALED_KAN_NAMES,
    Case,
    check_against_reference,
    coef_scale,
    inputs_outside,
    kan_params,
    kept_for_backward,
    meta_params,
    nonuniform_knots,
    spread_inputs,
    target_params,
)

# Odd sizes crossing the kernels' tiles (the cpu's 384-row steps, the interpreter's 16-row, 16-output
# tiles), inputs outside the grid, per-feature knots, strided x, no base term, a coefficient scale.
KAN_CASES = [
    Case((37,), 5, 7),
    Case((4, 9), 3, 2, g=7, k=2, knots=True),
    Case((29,), 6, 3, layout="strided", base=False),
    Case((31,), 4, 5, g=4, k=5, scale=True),
    Case((23,), 5, 4, dtype=torch.float32, knots=True, scale=True),
    Case((401,), 3, 300, g=3, k=1),
]
META_CASES = [
    Case((37,), 5, 7, d=2, h=8),
    Case((4, 9), 3, 2, g=7, k=2, knots=True, act="silu"),
    Case((29,), 6, 3, layout="strided", act="identity", d=3),
    Case((23,), 5, 4, dtype=torch.float32, act="tanh", h=16),
    Case((401,), 2, 270, h=8, act="gelu"),
]
# The interpreter runs a program per input, each looping over rows and outputs: few of each.
TRITON_KAN_CASES = [
    Case((19,), 2, 17, knots=True, layout="strided"),
    Case((5,), 3, 3, g=4, k=5, base=False, scale=True),
    Case((9,), 2, 3, dtype=torch.float32),
]
TRITON_META_CASES = [
    Case((19,), 2, 17, knots=True, d=2, h=20, act="silu"),
    Case((7,), 3, 2, act="identity", d=5, layout="strided"),
    Case((9,), 2, 3, dtype=torch.float32, act="tanh"),
]
CASES = {"cpu": KAN_CASES, "triton": TRITON_KAN_CASES, "cuda": KAN_CASES}
META = {"cpu": META_CASES, "triton": TRITON_META_CASES, "cuda": META_CASES}


def _kan_fn(case, grid):
    options = dict(grid_size=case.g, spline_order=case.k, grid=grid)
    if case.scale:
        return lambda x, c, s, w, backend: mk.kan_edge_l1(x, c, w, coef_scale=s, backend=backend, **options)
    return lambda x, c, w, backend: mk.kan_edge_l1(x, c, w, backend=backend, **options)


def _metakan_fn(case, grid):
    return lambda *t, backend: mk.metakan_edge_l1(*t, grid_size=case.g, spline_order=case.k, grid=grid,
                                                  meta_activation=case.act, backend=backend)


def _fused_statistics(backend: str) -> bool:
    """Whether ``backend`` computes the edge statistics in its own kernels (else through the reference)."""
    record = backends._usable.get(backend)
    return isinstance(record, FusedBackend) and record.ops.forward(KAN_EDGE_L1) is not None


@pytest.mark.parametrize("target, case", target_params(reference=False, cases=CASES))
def test_kan_edge_l1_matches_reference(target, case):
    x, (coef, base_weight, scale), knots = spread_inputs(case, "kan", target.device)
    tensors, names = ([x, coef, scale, base_weight], SCALED_KAN_NAMES) if case.scale else ([x, coef, base_weight],
                                                                                             KAN_NAMES)
    check_against_reference(_kan_fn(case, knots), tensors, names, target.backend)


@pytest.mark.parametrize("target, case", target_params(reference=False, cases=META))
def test_metakan_edge_l1_matches_reference(target, case):
    x, params, knots = spread_inputs(case, "metakan", target.device)
    check_against_reference(_metakan_fn(case, knots), [x, *params], METAKAN_NAMES, target.backend)


@pytest.mark.parametrize("target", target_params(reference=False, backends=("cpu", "triton")))
def test_gradcheck(target):
    grid = nonuniform_knots(2, 4, 3)
    kan = lambda x, c, w, s: mk.kan_edge_l1(x, c, w, grid_size=4, grid=grid, coef_scale=s,  # noqa: E731
                                            backend=target.backend)
    # random inputs lie (almost surely) off the kink of |phi| at phi = 0, where finite differences fail
    fast = target.backend == "triton"  # the interpreter: random directions only
    x = inputs_outside((5, 2))
    assert torch.autograd.gradcheck(kan, (x, *kan_params(2, 2, 7), coef_scale(2, 2)), fast_mode=fast)
    meta = lambda *a: mk.metakan_edge_l1(*a, grid_size=3, spline_order=2, meta_activation="silu",  # noqa: E731
                                         backend=target.backend)
    assert torch.autograd.gradcheck(meta, [inputs_outside((4, 2)), *meta_params(2, 2, 5, 2, 4)], fast_mode=fast)


@pytest.mark.parametrize("target", target_params(reference=False))
def test_nan_input_makes_its_edges_nan_only(target):
    dtype = torch.float64 if target.backend != "cuda" else torch.float32
    x = inputs_outside((6, 3), dtype, target.device).detach()
    x[1, 0] = float("nan")
    coef, base_weight = (p.detach() for p in kan_params(2, 3, 8, True, dtype, target.device))
    got = mk.kan_edge_l1(x, coef, base_weight, backend=target.backend)
    assert_close(got, mk.kan_edge_l1(x, coef, base_weight, backend="reference"), "edge_l1", dtype)
    assert torch.isnan(got[:, 0]).all() and torch.isfinite(got[:, 1:]).all()


@pytest.mark.parametrize("target", target_params(reference=False))
def test_empty_batch_is_nan_and_no_edges_is_empty(target):
    dtype = torch.float64 if target.backend != "cuda" else torch.float32
    coef, base_weight = kan_params(2, 3, 8, True, dtype, target.device)
    empty = mk.kan_edge_l1(torch.zeros(0, 3, dtype=dtype, device=target.device), coef, base_weight,
                           backend=target.backend)
    assert empty.shape == (2, 3) and torch.isnan(empty).all()
    x = torch.randn(4, 3, dtype=dtype, device=target.device)
    assert mk.kan_edge_l1(x, coef[:0], base_weight[:0], backend=target.backend).shape == (0, 3)


# (batch, in_features, out_features): several tiles of each kernel where a run is cheap
DETERMINISM_SIZES = {"cpu": (900, 50, 300), "triton": (37, 3, 20), "cuda": (3000, 64, 100)}


@pytest.mark.parametrize("target", target_params(reference=False))
def test_deterministic_and_thread_independent(target):
    if not _fused_statistics(target.backend):
        pytest.skip(f"the {target.backend} backend computes edge statistics through the reference")
    batch, i, o = DETERMINISM_SIZES[target.backend]
    x = inputs_outside((batch, i), torch.float32, target.device)
    params = meta_params(o, i, 8, 2, 16, torch.float32, target.device)
    upstream = torch.randn(o, i, device=target.device)

    def run(threads):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            stat = mk.metakan_edge_l1(x, *params, backend=target.backend)
            return (stat, *torch.autograd.grad(stat, (x, *params), upstream))
        finally:
            torch.set_num_threads(previous)

    first = run(2)
    for again in (run(2), run(1)):
        for name, a, b in zip(("edge_l1", *(f"d{n}" for n in METAKAN_NAMES)), first, again):
            assert torch.equal(a, b), f"{name} differs between two runs"


# (batch, width): a (B, O, I) tensor far larger than the gradients and any per-edge or per-input buffer
MEMORY_SIZES = {"cpu": (2048, 24), "triton": (512, 4), "cuda": (8192, 64)}


@pytest.mark.parametrize("op", ["kan", "metakan"])
@pytest.mark.parametrize("target", target_params(reference=False))
def test_no_batch_sized_tensor_is_kept_or_allocated(target, op):
    """Statistics and their backward keep nothing for backward beyond the inputs, and hold no tensor
    of B*O*I or B*I*K elements: their peak tensor memory beyond inputs and parameters is the gradients
    plus less than a quarter of one (B, O, I) tensor; the reference, for contrast, holds (B, O, I) (so this test can fail)."""
    if not _fused_statistics(target.backend):
        pytest.skip(f"the {target.backend} backend computes edge statistics through the reference")
    batch, width = MEMORY_SIZES[target.backend]
    x = inputs_outside((batch, width), torch.float32, target.device)
    if op == "kan":
        coef, base_weight = kan_params(width, width, 8, True, torch.float32, target.device)
        params = [coef, base_weight]
        fn = lambda backend: mk.kan_edge_l1(x, coef, base_weight, backend=backend)  # noqa: E731
    else:
        params = meta_params(width, width, 8, 2, 16, torch.float32, target.device)
        fn = lambda backend: mk.metakan_edge_l1(x, *params, backend=backend)  # noqa: E731
    tensors = [x, *params]
    assert kept_for_backward(lambda: fn(target.backend), tensors) == []

    existing = sum(t.numel() for t in tensors) * 4  # the inputs, and as much again for their gradients

    def extra_peak(backend):
        return peak_step_bytes(lambda: torch.autograd.grad(fn(backend).sum(), tensors), tensors) - existing

    batch_sized = batch * width * width * 4
    assert extra_peak(target.backend) < existing + batch_sized / 4
    assert extra_peak("reference") >= batch_sized
