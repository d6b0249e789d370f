"""The extension's ops check every argument at the binding: bad input raises an error that names it,
and nothing crashes. Also: what users see when the extension or its CUDA kernels are missing."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import metakan_kernels as mk
from metakan_kernels import limits, native

OPS = torch.ops.metakan
F64 = torch.float64


def kan_args():
    """Valid arguments of native_kan_fwd: x (5, 3), coef (2, 3, 8), coef_scale (2, 3), base_weight, grid,
    G=5, k=3, lo, hi."""
    return [torch.randn(5, 3, dtype=F64), torch.randn(2, 3, 8, dtype=F64), torch.randn(2, 3, dtype=F64),
            torch.randn(2, 3, dtype=F64), mk.uniform_knots(3, 5, 3, dtype=F64).contiguous(), 5, 3, -1.0, 1.0]


def meta_args():
    """Valid arguments of native_metakan_fwd: x, embedding (2, 3, 2), w1 (4, 2), b1, w2 (9, 4), b2, grid,
    G=5, k=3, lo, hi, activation."""
    shapes = [(5, 3), (2, 3, 2), (4, 2), (4,), (9, 4), (9,)]
    return [torch.randn(s, dtype=F64) for s in shapes] + [None, 5, 3, -1.0, 1.0, 0]


def _set(args, index, value):
    args = list(args)
    args[index] = value(args[index]) if callable(value) else value
    return args


KAN_FWD_CASES = [
    (0, lambda x: x.int(), r"on CPU, x must be float32 or float64, got Int"),
    (0, lambda x: x.half(), r"on CPU, x must be float32 or float64, got float16"),
    (0, lambda x: x[None], r"x must have shape \(batch, in_features\), got \[1, 5, 3\]"),
    (0, lambda x: torch.randn(5, 6, dtype=F64)[:, ::2], r"x must have unit stride along its last dimension"),
    (1, lambda c: c.float(), r"coef must be float64, got float32"),
    (1, lambda c: c[..., :7], r"coef must have shape \(out_features, in_features, grid_size \+ spline_order\) = "
                              r"\[2, 3, 8\], got \[2, 3, 7\]"),
    (1, lambda c: c[:, :2], r"coef must have shape .* = \[2, 3, 8\], got \[2, 2, 8\]"),
    (1, lambda c: c[0], r"coef must have shape \(out_features, in_features, grid_size \+ spline_order\), got \[3, 8\]"),
    (1, lambda c: c.transpose(0, 1).contiguous().transpose(0, 1), r"coef must be contiguous"),
    (2, lambda s: s[:1], r"coef_scale must have shape \(out_features, in_features\) = \[2, 3\], got \[1, 3\]"),
    (2, lambda s: s.float(), r"coef_scale must be float64, got float32"),
    (2, lambda s: s.t().contiguous().t(), r"coef_scale must be contiguous"),
    (3, lambda w: w[:1], r"base_weight must have shape \(out_features, in_features\) = \[2, 3\], got \[1, 3\]"),
    (3, lambda w: w.float(), r"base_weight must be float64, got float32"),
    (4, lambda g: g[:, :-1], r"grid must have shape \(in_features, grid_size \+ 2\*spline_order \+ 1\) = \[3, 12\]"),
    (4, lambda g: g.float(), r"grid must be float64, got float32"),
    (4, lambda g: torch.randn(3, 24, dtype=F64)[:, ::2], r"grid must have unit stride"),
    (5, 0, r"grid_size must be >= 1, got 0"),
    (6, 6, r"spline_order must be in \[0, 5\], got 6"),
    (6, -1, r"spline_order must be in \[0, 5\], got -1"),
    (5, 62, r"grid_size \+ spline_order must be <= 64, got 65"),
    (7, 1.0, r"the grid range must be finite with lo < hi, got lo = 1, hi = 1"),
    (8, float("nan"), r"the grid range must be finite with lo < hi"),
]


# The layer ops and the edge statistics take the same arguments, checked the same way.
@pytest.mark.parametrize("op", ["native_kan_fwd", "native_kan_edge_l1_fwd"])
@pytest.mark.parametrize("index, value, pattern", KAN_FWD_CASES)
def test_kan_fwd_rejects(op, index, value, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        getattr(OPS, op)(*_set(kan_args(), index, value))


def test_kan_bwd_rejects_bad_dy():
    x, coef, _, base_weight, grid, *spline = kan_args()
    rest = (x, coef, base_weight, grid, *spline, True, True)
    with pytest.raises(RuntimeError, match=r"dy must have shape \(batch, out_features\) = \[5, 2\], got \[5, 3\]"):
        OPS.native_kan_bwd(torch.randn(5, 3, dtype=F64), *rest)
    with pytest.raises(RuntimeError, match=r"dy must be float64, got float32"):
        OPS.native_kan_bwd(torch.randn(5, 2), *rest)
    with pytest.raises(RuntimeError, match=r"dy must have shape \(batch, out_features\), got \[10\]"):
        OPS.native_kan_bwd(torch.randn(10, dtype=F64), *rest)
    with pytest.raises(RuntimeError, match=r"coef must be float64, got float32"):
        OPS.native_kan_bwd(torch.randn(5, 2, dtype=F64), x, coef.float(), *rest[2:])


META_FWD_CASES = [
    (1, lambda e: e[0], r"embedding must have shape \(out_features, in_features, embedding_dim\), got \[3, 2\]"),
    (1, lambda e: e[:, :2], r"embedding must have shape .* = \[2, 3, 2\], got \[2, 2, 2\]"),
    (1, lambda e: e[..., :0], r"embedding must have 1 <= embedding_dim"),
    (2, lambda w1: w1[:, :1], r"w1 must have shape \(hidden_dim, embedding_dim\) = \[4, 2\], got \[4, 1\]"),
    (2, lambda w1: w1[0], r"w1 must have shape \(hidden_dim, embedding_dim\), got \[2\]"),
    (3, lambda b1: b1[:3], r"b1 must have shape \(hidden_dim,\) = \[4\], got \[3\]"),
    (4, lambda w2: w2[:8], r"w2 must have shape \(grid_size \+ spline_order \+ 1, hidden_dim\) = \[9, 4\], got \[8, 4\]"),
    (4, lambda w2: w2.t().contiguous().t(), r"w2 must be contiguous"),
    (5, lambda b2: b2.float(), r"b2 must be float64, got float32"),
    (11, 5, r"activation must be a code in \[0, 4\] \(relu, silu, gelu, tanh, identity\), got 5"),
    (11, -1, r"activation must be a code in \[0, 4\]"),
]


@pytest.mark.parametrize("op", ["native_metakan_fwd", "native_metakan_edge_l1_fwd"])
@pytest.mark.parametrize("index, value, pattern", META_FWD_CASES)
def test_metakan_fwd_rejects(op, index, value, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        getattr(OPS, op)(*_set(meta_args(), index, value))


def test_edge_l1_bwd_rejects_bad_dy():
    x, coef, _, base_weight, grid, *spline = kan_args()
    rest = (x, coef, base_weight, grid, *spline, True, True)
    with pytest.raises(RuntimeError, match=r"dy must have shape \(out_features, in_features\) = \[2, 3\], got \[5, 2\]"):
        OPS.native_kan_edge_l1_bwd(torch.randn(5, 2, dtype=F64), *rest)
    with pytest.raises(RuntimeError, match=r"dy must be contiguous"):
        OPS.native_kan_edge_l1_bwd(torch.randn(3, 2, dtype=F64).t(), *rest)
    with pytest.raises(RuntimeError, match=r"dy must be float64, got float32"):
        OPS.native_metakan_edge_l1_bwd(torch.randn(2, 3), *meta_args(), True, True)


def test_metakan_bwd_rejects():
    args = meta_args()
    with pytest.raises(RuntimeError, match=r"dy must have shape \(batch, out_features\) = \[5, 2\], got \[4, 2\]"):
        OPS.native_metakan_bwd(torch.randn(4, 2, dtype=F64), *args, True, True)
    with pytest.raises(RuntimeError, match=r"w1 must have shape"):
        OPS.native_metakan_bwd(torch.randn(5, 2, dtype=F64), *_set(args, 2, lambda w1: w1[:, :1]), True, True)


def test_good_arguments_pass_the_checks():
    """The valid argument lists above do run (so each case fails for the reason it names)."""
    assert OPS.native_kan_fwd(*kan_args()).shape == (5, 2)
    assert OPS.native_metakan_fwd(*meta_args()).shape == (5, 2)
    assert OPS.native_kan_edge_l1_fwd(*kan_args()).shape == (2, 3)
    assert OPS.native_metakan_edge_l1_fwd(*meta_args()).shape == (2, 3)


def test_cuda_backend_says_why_it_is_missing():
    if torch.cuda.is_available() and native._C.with_cuda:
        pytest.skip("the CUDA backend is available here")
    with pytest.raises(mk.BackendUnavailable, match=r"backend 'cuda' is not available: .*(no CUDA GPU|without its CUDA)"):
        mk.kan_linear(torch.randn(2, 3), torch.randn(2, 3, 8), None, backend="cuda")


def test_missing_extension_falls_back_once_or_says_how_to_build():
    """Without _C, auto uses the reference with one log line; backend="cpu" says how to build it."""
    script = textwrap.dedent("""
        import logging, sys
        sys.modules["metakan_kernels._C"] = None  # as if the extension had not been built
        logging.basicConfig(level=logging.INFO, format="LOG %(message)s")
        import torch, metakan_kernels as mk
        x, coef = torch.randn(2, 3), torch.randn(2, 3, 8)
        for _ in range(3):
            mk.kan_linear(x, coef, None)
        try:
            mk.kan_linear(x, coef, None, backend="cpu")
        except mk.BackendUnavailable as err:
            print("ERROR", err)
    """)
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    logs = [line for line in out.stderr.splitlines() if line.startswith("LOG backend='auto' on cpu")]
    assert len(logs) == 1 and "uses reference" in logs[0] and "cpu (the compiled extension" in logs[0], out.stderr
    assert "ERROR backend 'cpu' is not available" in out.stdout, out.stdout + out.stderr
    assert "pip install -e . --no-build-isolation" in out.stdout


def test_python_limits_table_equals_what_the_extension_exports():
    assert native._C.activations == limits.ACTIVATIONS
    exported = (native._C.min_spline_order, native._C.max_spline_order, native._C.max_num_bases,
                native._C.max_cuda_embedding_dim, native._C.max_cuda_hidden_dim)
    assert exported == (limits.MIN_SPLINE_ORDER, limits.MAX_SPLINE_ORDER, limits.MAX_NUM_BASES,
                        limits.MAX_EMBEDDING_DIM, limits.MAX_HIDDEN_DIM)
    cpu = native.CPU_BACKEND.limits
    assert (cpu.min_spline_order, cpu.max_num_bases) == (limits.MIN_SPLINE_ORDER, limits.MAX_NUM_BASES)
    cuda = native.CUDA_BACKEND.limits
    assert (cuda.max_embedding_dim, cuda.max_hidden_dim) == (limits.MAX_EMBEDDING_DIM, limits.MAX_HIDDEN_DIM)


def test_edge_l1_of_an_empty_batch_is_nan():
    x, coef, scale, base_weight, grid, *spline = kan_args()
    stat = OPS.native_kan_edge_l1_fwd(x[:0], coef, scale, base_weight, grid, *spline)
    assert stat.shape == (2, 3) and torch.isnan(stat).all()
    grads = OPS.native_kan_edge_l1_bwd(torch.ones(2, 3, dtype=F64), x[:0], coef, base_weight, grid, *spline, True, True)
    assert grads[0].shape == (0, 3) and all(torch.equal(g, torch.zeros_like(g)) for g in grads[1:])
