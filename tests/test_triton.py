"""The Triton backend against the reference: output and every gradient, both ops, under Triton's CPU interpreter.

The cases cover every value of every parameter (pairwise, not the full product: the interpreter
costs about a millisecond per program and loop step) plus the edges: one-element sizes, inputs
outside the grid, per-feature knots, non-contiguous and batched inputs, K = 64 (slot chunks).
"""

from typing import NamedTuple, Optional, Tuple

import pytest
import torch

import metakan_kernels as mk
from metakan_kernels import reference

from helpers import assert_close, assert_close_low_precision

torch_dtype = {"fp64": torch.float64, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class Case(NamedTuple):
    batch: Tuple[int, ...]  # leading dims of x
    i: int
    o: int
    g: int
    k: int
    knots: bool = False  # per-feature (non-uniform) knots instead of the uniform grid
    layout: str = "contiguous"  # or "strided": x a non-contiguous view
    dtype: str = "fp64"
    d: int = 1
    h: int = 4
    act: str = "relu"
    base: bool = True  # kan_linear with a base_weight
    scale: bool = False  # kan_linear with a coef_scale


META_CASES = [
    Case((1,), 1, 1, 3, 1, d=1, h=4, act="relu"),
    Case((5,), 3, 2, 5, 3, knots=True, d=3, h=16, act="silu"),
    Case((37,), 7, 9, 3, 3, layout="strided", d=1, h=16, act="gelu"),
    Case((2, 3), 7, 1, 5, 1, knots=True, d=3, h=4, act="tanh"),
    Case((37,), 1, 2, 5, 2, knots=True, d=1, h=16, act="relu"),
    Case((1,), 3, 9, 3, 4, d=3, h=4, act="silu"),
    Case((5,), 3, 9, 3, 5, knots=True, d=1, h=16, act="tanh"),
    Case((37,), 3, 2, 5, 5, layout="strided", d=3, h=4, act="gelu"),
    Case((5,), 3, 2, 59, 5, d=2, h=20, act="relu"),  # K = 64: slots in chunks
    Case((5, 4), 7, 9, 5, 3, dtype="fp32", d=16, h=33, act="silu"),  # d past the multiply-add path
    Case((37,), 7, 9, 5, 3, knots=True, layout="strided", dtype="fp32", d=1, h=16, act="gelu"),
    Case((37,), 7, 9, 5, 3, dtype="fp16", d=1, h=16, act="relu"),
    Case((37,), 7, 9, 3, 1, knots=True, dtype="bf16", d=3, h=16, act="tanh"),
    Case((5,), 3, 2, 3, 2, knots=True, d=3, h=4, act="identity"),
    Case((37,), 7, 9, 5, 3, dtype="fp32", d=1, h=32, act="identity"),  # the paper's image-model layer
]

KAN_CASES = [
    Case((1,), 1, 1, 3, 1),
    Case((5,), 3, 2, 5, 3, knots=True, base=False),
    Case((37,), 7, 9, 3, 3, layout="strided"),
    Case((5, 1), 7, 9, 5, 1, knots=True),
    Case((37,), 3, 1, 5, 2, base=False),
    Case((1,), 7, 2, 3, 4, knots=True),
    Case((5,), 1, 9, 3, 5, layout="strided"),
    Case((5,), 3, 2, 59, 5, knots=True),  # K = 64: slots in chunks
    Case((5,), 3, 2, 60, 4, knots=True, dtype="bf16"),
    Case((37,), 7, 9, 5, 3, dtype="fp32"),
    Case((2, 5), 3, 9, 3, 2, knots=True, layout="strided", dtype="fp32", base=False),
    Case((37,), 7, 9, 5, 3, knots=True, dtype="fp16"),
    Case((37,), 7, 9, 3, 1, dtype="bf16"),
    Case((5, 3), 7, 9, 5, 3, knots=True, layout="strided", scale=True),
    Case((37,), 3, 2, 3, 1, dtype="fp32", base=False, scale=True),
]


def _name(case: Case) -> str:
    shape = "x".join(map(str, case.batch))
    return (f"{case.dtype}-B{shape}-I{case.i}-O{case.o}-G{case.g}k{case.k}-d{case.d}H{case.h}-{case.act}"
            f"{'-knots' if case.knots else ''}{'-' + case.layout if case.layout != 'contiguous' else ''}"
            f"{'' if case.base else '-nobase'}{'-scale' if case.scale else ''}")


def make_input(case: Case, dtype: torch.dtype) -> torch.Tensor:
    """x of shape (*batch, I), about a third of it outside the grid's span."""
    x = torch.randn(*case.batch, case.i, dtype=torch.float64) * 2.0
    if case.layout == "strided":
        x = torch.stack([x, -x], dim=-1)[..., 0]  # same values, stride 2 in the last dim
        assert not x.is_contiguous()
    return x.to(dtype)


def make_knots(case: Case) -> Optional[torch.Tensor]:
    """Strictly increasing, different per feature; float32 knots for inputs below float64."""
    if not case.knots:
        return None
    knots = reference.uniform_knots(case.i, case.g, case.k, dtype=torch.float64).clone()
    step = 2.0 / case.g
    knots = knots + torch.rand_like(knots) * 0.45 * step  # moves each knot by less than half a step
    return knots.to(torch.float64 if case.dtype == "fp64" else torch.float32)


def make_leaves(case: Case, op: str, dtype: torch.dtype):
    num_bases = case.g + case.k
    if op == "kan":
        shapes = [(case.o, case.i, num_bases)] + [(case.o, case.i)] * (int(case.base) + int(case.scale))
    else:
        shapes = [(case.o, case.i, case.d), (case.h, case.d), (case.h,), (num_bases + 1, case.h), (num_bases + 1,)]
    return [(torch.randn(*s, dtype=torch.float64) * 0.5).to(dtype) for s in shapes]


def run_op(op: str, case: Case, x, params, knots, backend: str):
    options = dict(grid_size=case.g, spline_order=case.k, grid=knots, backend=backend)
    if op == "kan":
        coef, base, scale = params[0], (params[1] if case.base else None), (params[-1] if case.scale else None)
        return mk.kan_linear(x, coef, base, coef_scale=scale, **options)
    return mk.metakan_linear(x, *params, meta_activation=case.act, **options)


def outputs_and_grads(op: str, case: Case, x, params, knots, dy, backend: str):
    """(y, dx, d params...) of one call, from fresh leaves."""
    leaves = [x.detach().requires_grad_()] + [p.detach().requires_grad_() for p in params]
    y = run_op(op, case, leaves[0], leaves[1:], knots, backend)
    return [y.detach(), *torch.autograd.grad(y, leaves, dy)]


def param_names(op: str, case: Case) -> tuple:
    if op == "metakan":
        return ("embedding", "w1", "b1", "w2", "b2")
    return ("coef",) + ("base_weight",) * case.base + ("coef_scale",) * case.scale


def check_against_reference(op: str, case: Case) -> None:
    dtype = torch_dtype[case.dtype]
    x, params, knots = make_input(case, dtype), make_leaves(case, op, dtype), make_knots(case)
    dy = torch.randn(*case.batch, case.o, dtype=torch.float64).to(dtype)
    names = ("y", "dx") + param_names(op, case)
    assert len(names) == len(params) + 2
    got = outputs_and_grads(op, case, x, params, knots, dy, "triton")
    want = outputs_and_grads(op, case, x, params, knots, dy, "reference")
    if dtype in (torch.float64, torch.float32):
        for actual, expected, name in zip(got, want, names):
            assert_close(actual, expected, name)
        return
    wide = [t.float() for t in (x, *params, dy)]
    knots32 = None if knots is None else knots.float()
    exact = outputs_and_grads(op, case, wide[0], wide[1:-1], knots32, wide[-1], "reference")
    for actual, low, expected, name in zip(got, want, exact, names):
        assert_close_low_precision(actual, expected, low, name)


@pytest.mark.parametrize("case", META_CASES, ids=_name)
def test_metakan_matches_reference(case):
    check_against_reference("metakan", case)


@pytest.mark.parametrize("case", KAN_CASES, ids=_name)
def test_kan_matches_reference(case):
    check_against_reference("kan", case)


def test_every_case_list_covers_every_value():
    """The pairwise lists above reach every value the tests are meant to cover."""
    for cases in (META_CASES, KAN_CASES):
        sizes = {n for c in cases for n in c.batch}
        assert {1, 5, 37} <= sizes | {c.batch[0] * c.batch[-1] for c in cases}
        assert {1, 3, 7} <= {c.i for c in cases} and {1, 2, 9} <= {c.o for c in cases}
        assert {3, 5} <= {c.g for c in cases} and {1, 2, 3, 4, 5} <= {c.k for c in cases}
        assert {True, False} == {c.knots for c in cases} and {"contiguous", "strided"} == {c.layout for c in cases}
        assert set(torch_dtype) == {c.dtype for c in cases}
        assert any(len(c.batch) > 1 for c in cases)
    assert {1, 3} <= {c.d for c in META_CASES} and {4, 16} <= {c.h for c in META_CASES}
    assert set(mk.META_ACTIVATIONS) == {c.act for c in META_CASES}
    assert {True, False} == {c.base for c in KAN_CASES}
