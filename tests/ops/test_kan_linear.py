"""kan_linear on every backend and dtype against the reference: output and every gradient.

The compiled backends take the full product of sizes (1, odd, a few tiles) and spline settings;
Triton's interpreter (about a millisecond per program and loop step) a pairwise list that reaches
every value of every parameter.
"""

import itertools

import pytest
import torch

import metakan_kernels as mk

from op_cases import Case, check_kan_case, normal_cases, target_params

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16
SIZES = list(itertools.product([1, 5, 37], [1, 3, 7], [1, 2, 9]))  # (batch, in_features, out_features)
SPLINES = list(itertools.product([3, 5], [1, 3]))  # (grid_size, spline_order)

CPU_CASES = (
    [Case((b,), i, o, g, k, knots=knots, base=base) for (b, i, o), (g, k), knots, base
     in itertools.product(SIZES, SPLINES, (False, True), (True, False))]
    + [Case((b,), i, o, knots=knots, base=base, scale=True) for (b, i, o), knots, base
       in itertools.product([(1, 1, 1), (37, 7, 9)], (False, True), (True, False))]
    # several batch, input and output tiles (and K = 64) in float32, on per-feature knots
    + [Case((b,), i, o, g, k, knots=True, dtype=F32)
       for b, i, o, g, k in [(300, 40, 70, 5, 3), (257, 129, 300, 7, 2), (130, 3, 513, 61, 3), (2, 700, 3, 5, 1)]]
    + [Case((800,), 5, 6, knots=True)]  # more rows than a step of the C++ parameter-gradient reduction (384)
    + [Case((2, 3), 7, 5, layout="strided")]  # leading batch dims, x non-contiguous
)

TRITON_CASES = normal_cases([
    Case((1,), 1, 1, 3, 1),
    Case((5,), 3, 2, 5, 3, knots=True, base=False),
    Case((37,), 7, 9, 3, 3, layout="strided"),
    Case((5, 1), 7, 9, 5, 1, knots=True),
    Case((37,), 3, 1, 5, 2, base=False),
    Case((1,), 7, 2, 3, 4, knots=True),
    Case((5,), 1, 9, 3, 5, layout="strided"),
    Case((5,), 3, 2, 59, 5, knots=True),  # K = 64: slots in chunks
    Case((5,), 3, 2, 60, 4, knots=True, dtype=BF16),
    Case((37,), 7, 9, 5, 3, dtype=F32),
    Case((2, 5), 3, 9, 3, 2, knots=True, layout="strided", dtype=F32, base=False),
    Case((37,), 7, 9, 5, 3, knots=True, dtype=F16),
    Case((37,), 7, 9, 3, 1, dtype=BF16),
    Case((5, 3), 7, 9, 5, 3, knots=True, layout="strided", scale=True),
    Case((37,), 3, 2, 3, 1, dtype=F32, base=False, scale=True),
])

CUDA_SIZES = [(1, 1, 1), (5, 3, 2), (37, 7, 9), (200, 90, 70), (1000, 33, 130)]
CUDA_CASES = (
    [Case((b,), i, o, g, k, knots=knots, dtype=dtype, base=base)
     for dtype, (b, i, o), (g, k), knots, base
     in itertools.product((F32, F16, BF16), CUDA_SIZES, [(3, 1), (5, 3), (8, 5)], (False, True), (True, False))]
    + [Case((b,), i, o, dtype=dtype, scale=True) for dtype, (b, i, o) in itertools.product((F32, F16, BF16),
                                                                                            CUDA_SIZES[1::2])]
    + [Case((2, 3), 7, 5, layout="strided", dtype=F32)]
)

CASES = {"cpu": CPU_CASES, "triton": TRITON_CASES, "cuda": CUDA_CASES}


@pytest.mark.parametrize("target, case", target_params(reference=False, cases=CASES))
def test_matches_reference(target, case):
    check_kan_case(case, target)


def test_triton_cases_cover_every_value():
    """The pairwise list above reaches every value the Triton tests are meant to cover."""
    cases = TRITON_CASES
    assert {1, 5, 37} <= {n for c in cases for n in c.batch} | {c.batch[0] * c.batch[-1] for c in cases}
    assert {1, 3, 7} <= {c.i for c in cases} and {1, 2, 9} <= {c.o for c in cases}
    assert {3, 5} <= {c.g for c in cases} and {1, 2, 3, 4, 5} <= {c.k for c in cases}
    assert {True, False} == {c.knots for c in cases} and {"contiguous", "strided"} == {c.layout for c in cases}
    assert {torch.float64, F32, F16, BF16} == {c.dtype for c in cases}
    assert any(len(c.batch) > 1 for c in cases)
    assert {True, False} == {c.base for c in cases} and {True, False} == {c.scale for c in cases}


@pytest.mark.parametrize("dtype", [BF16, F16])
def test_cpu_takes_low_precision_through_float32(dtype):
    """bfloat16/float16 inputs (as under torch.autocast) are widened, computed in float32, rounded back."""
    if "cpu" not in mk.available_backends():
        pytest.skip("the compiled extension is not built")
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
