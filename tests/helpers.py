"""Helpers shared by the tests: per-dtype tolerances and a comparison that names the tensor."""

import torch

# (atol, rtol) for a backend against the reference evaluated in the same dtype.
TOLERANCES = {
    torch.float64: (1e-10, 1e-8),
    torch.float32: (1e-5, 1e-4),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (2e-3, 2e-3),
}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, name: str, dtype=None) -> None:
    atol, rtol = TOLERANCES[dtype or expected.dtype]
    torch.testing.assert_close(
        actual, expected, atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{name} differs: {m}"
    )


# absolute slack of the low-precision rule, relative to the largest exact value
LOW_PRECISION_ATOL = {torch.float16: 1e-3, torch.bfloat16: 8e-3}


def assert_close_low_precision(actual: torch.Tensor, exact: torch.Tensor, plain: torch.Tensor, name: str) -> None:
    """float16/bfloat16 rule: the error of ``actual`` against ``exact`` (the float32 reference on the
    same rounded inputs) is at most twice that of ``plain`` (the reference run in the low dtype)
    plus an absolute slack."""
    assert actual.dtype == plain.dtype and actual.shape == exact.shape, f"{name}: {actual.dtype} {tuple(actual.shape)}"
    if exact.numel() == 0:
        return
    slack = LOW_PRECISION_ATOL[plain.dtype] * exact.abs().max().item()
    allowed = 2 * (plain.float() - exact).abs().max().item() + slack
    error = (actual.float() - exact).abs().max().item()
    assert error <= allowed, f"{name} differs: max error {error:.3g} > allowed {allowed:.3g}"
