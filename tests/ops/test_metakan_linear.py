"""metakan_linear on every backend and dtype against the reference: output and every gradient,
including the meta-learner's gradients summed over many edges (several steps, tasks and groups)."""

import itertools

import pytest
import torch

import metakan_kernels as mk

from op_cases import (
    Case,
    check_metakan_case,
    inputs_outside,
    meta_params,
    metakan_fn,
    nonuniform_knots,
    normal_cases,
    target_params,
)

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16
SIZES = list(itertools.product([1, 5, 37], [1, 3, 7], [1, 2, 9]))  # (batch, in_features, out_features)
SPLINES = list(itertools.product([3, 5], [1, 3]))  # (grid_size, spline_order)

CPU_CASES = (
    [Case((b,), i, o, g, k, knots=knots, d=d, h=h) for (b, i, o), (g, k), (d, h), knots
     in itertools.product(SIZES, SPLINES, [(1, 4), (3, 16)], (False, True))]
    + [Case((11,), 4, 6, 4, k, d=2, h=8, act=act) for k, act in itertools.product([0, 2, 4, 5], sorted(mk.META_ACTIVATIONS))]
    # several batch, input and output tiles (and K = 64) in float32
    + [Case((b,), i, o, g, k, d=2, h=32, dtype=F32)
       for b, i, o, g, k in [(300, 40, 70, 5, 3), (257, 129, 300, 7, 2), (130, 3, 513, 61, 3), (2, 700, 3, 5, 1)]]
    + [Case((9,), 50, 23, d=2, h=128), Case((9,), 7, 300, d=2, h=64)]  # the widest hidden layers
    + [Case((800,), 5, 6, d=2, h=8)]  # more rows than a step of the C++ parameter-gradient reduction (384)
    + [Case((2, 3), 7, 5, layout="strided")]  # leading batch dims, x non-contiguous
)

TRITON_CASES = normal_cases([
    Case((1,), 1, 1, 3, 1, d=1, h=4, act="relu"),
    Case((5,), 3, 2, 5, 3, knots=True, d=3, h=16, act="silu"),
    Case((37,), 7, 9, 3, 3, layout="strided", d=1, h=16, act="gelu"),
    Case((2, 3), 7, 1, 5, 1, knots=True, d=3, h=4, act="tanh"),
    Case((37,), 1, 2, 5, 2, knots=True, d=1, h=16, act="relu"),
    Case((1,), 3, 9, 3, 4, d=3, h=4, act="silu"),
    Case((5,), 3, 9, 3, 5, knots=True, d=1, h=16, act="tanh"),
    Case((37,), 3, 2, 5, 5, layout="strided", d=3, h=4, act="gelu"),
    Case((5,), 3, 2, 59, 5, d=2, h=20, act="relu"),  # K = 64: slots in chunks
    Case((5, 4), 7, 9, 5, 3, dtype=F32, d=16, h=33, act="silu"),  # d past the multiply-add path
    Case((37,), 7, 9, 5, 3, knots=True, layout="strided", dtype=F32, d=1, h=16, act="gelu"),
    Case((37,), 7, 9, 5, 3, dtype=F16, d=1, h=16, act="relu"),
    Case((37,), 7, 9, 3, 1, knots=True, dtype=BF16, d=3, h=16, act="tanh"),
    Case((5,), 3, 2, 3, 2, knots=True, d=3, h=4, act="identity"),
    Case((37,), 7, 9, 5, 3, dtype=F32, d=1, h=32, act="identity"),  # the paper's image-model layer
    # more outputs than a chunk of the parameter pass's meta-MLP backward, and than its tile
    Case((9,), 3, 37, 5, 3, d=2, h=16, act="silu"),
])

CUDA_SIZES = [(1, 1, 1), (5, 3, 2), (37, 7, 9), (200, 90, 70), (1000, 33, 130)]
CUDA_CASES = (
    [Case((b,), i, o, knots=knots, dtype=dtype, d=d, h=h, act=act)
     for dtype, (b, i, o), (d, h), act, knots
     in itertools.product((F32, F16, BF16), CUDA_SIZES, [(1, 4), (3, 32)], ["relu", "gelu", "identity"], (False, True))]
    # the limits of the tiles: K = 64 (one input per tile), order 0, the largest hidden width
    + [Case((70,), 5, 66, g, k, d=16, h=h, dtype=F32) for g, k, h in [(61, 3, 128), (1, 0, 1), (60, 4, 16)]]
)

CASES = {"cpu": CPU_CASES, "triton": TRITON_CASES, "cuda": CUDA_CASES}


@pytest.mark.parametrize("target, case", target_params(reference=False, cases=CASES))
def test_matches_reference(target, case):
    check_metakan_case(case, target)


def test_triton_cases_cover_every_value():
    """The pairwise list above reaches every value the Triton tests are meant to cover."""
    cases = TRITON_CASES
    assert {1, 5, 37} <= {n for c in cases for n in c.batch} | {c.batch[0] * c.batch[-1] for c in cases}
    assert {1, 3, 7} <= {c.i for c in cases} and {1, 2, 9} <= {c.o for c in cases}
    assert {3, 5} <= {c.g for c in cases} and {1, 2, 3, 4, 5} <= {c.k for c in cases}
    assert {True, False} == {c.knots for c in cases} and {"contiguous", "strided"} == {c.layout for c in cases}
    assert {torch.float64, F32, F16, BF16} == {c.dtype for c in cases}
    assert any(len(c.batch) > 1 for c in cases)
    assert {1, 3} <= {c.d for c in cases} and {4, 16} <= {c.h for c in cases}
    assert set(mk.META_ACTIVATIONS) == {c.act for c in cases}


# The meta-learner's gradients (w1, b1, w2, b2) are sums over every edge. The cpu backend adds them
# up a step of rows at a time (kMetaValues / (H * inputs) rows), over the (output tile, input tile)
# tasks of a group, then over at most 64 groups (csrc/cpu/kernels.cpp). float64 leaves no rounding to
# hide a lost or doubled term in.
ACCUMULATION_CASES = [
    # K = 64: 5 inputs per task, 128 tasks in 64 groups (2 each); H = 128: 51 rows a step, 2 steps per task
    Case((3,), 640, 60, 61, 3, d=2, h=128, act="silu"),
    # 13 inputs per task, 8 tasks; H = 64: 39 rows a step, 4 steps in each 150-output tile
    Case((5,), 50, 300, 5, 3, d=3, h=64, act="tanh"),
    # K = 64, 66 tasks in 64 groups (2 groups of 2); H = 128: 3 steps per task, a short last one
    Case((4,), 330, 120, 61, 3, knots=True, d=2, h=128, act="gelu"),
]


@pytest.mark.parametrize("target, case", target_params(reference=False, backends=("cpu",),
                                                       cases={"cpu": ACCUMULATION_CASES}))
def test_meta_learner_gradients_over_many_edges(target, case):
    """float64 outputs and every gradient against the reference where the meta-learner's gradients
    gather over several steps per task and several tasks per group; then a fast-mode gradcheck
    (random directions: a few passes, not one per element)."""
    check_metakan_case(case, target)
    fn = metakan_fn(case, nonuniform_knots(case.i, case.g, case.k) if case.knots else None)
    x = inputs_outside((*case.batch, case.i)).detach()
    params = meta_params(case.o, case.i, case.g + case.k, case.d, case.h)
    assert torch.autograd.gradcheck(lambda *p: fn(x, *p, backend=target.backend), params, fast_mode=True)
