"""The Triton launchers' own switches, under the interpreter: atomics against the deterministic
partial sums, and programs that take several edge tiles when partial-sum rows run short."""

import pytest
import torch

import metakan_kernels as mk

from helpers import assert_close
from op_cases import inputs_outside, meta_params

launch = pytest.importorskip("metakan_kernels.triton.launch")
pytestmark = pytest.mark.skipif("triton" not in mk.available_backends(), reason="the triton backend cannot run here")
NAMES = ("embedding", "w1", "b1", "w2", "b2")


def test_atomics_agree_with_the_deterministic_sums(monkeypatch):
    x = inputs_outside((37, 7), torch.float32).detach()
    params = meta_params(9, 7, 8, 1, 16, torch.float32)

    def grads():
        y = mk.metakan_linear(x, *params, backend="triton")
        return torch.autograd.grad(y.square().sum(), params)

    deterministic = grads()
    monkeypatch.setenv(launch.ATOMICS_ENV, "1")
    assert launch.use_atomics()
    for a, b, name in zip(grads(), deterministic, NAMES):
        assert_close(a, b, f"d{name} with atomics")
    mk.use_deterministic(True)  # overrides the atomics switch
    try:
        assert not launch.use_atomics()
    finally:
        mk.use_deterministic(False)


def test_partial_sums_are_bounded(monkeypatch):
    """More edge tiles than partial-sum rows: programs take several tiles each."""
    monkeypatch.setattr(launch, "MAX_PARTIAL_ROWS", 2)
    x = (torch.randn(5, 7, dtype=torch.float64) * 0.7).requires_grad_()
    params = meta_params(33, 7, 4, 1, 4)
    got = torch.autograd.grad(mk.metakan_linear(x, *params, grid_size=3, spline_order=1, backend="triton").sum(), params)
    want = torch.autograd.grad(mk.metakan_linear(x, *params, grid_size=3, spline_order=1, backend="reference").sum(),
                               params)
    for a, b, name in zip(got, want, NAMES):
        assert_close(a, b, f"d{name}")
