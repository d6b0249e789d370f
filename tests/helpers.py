"""Helpers shared by the tests: tolerances, a comparison that names the tensor, the shared data, CIFAR batches."""

import pickle
from pathlib import Path

import numpy as np
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


# Real data beside the repository (../shared/data, see its README); tests that need it skip without it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_cifar_batch(path, n, seed):
    """A CIFAR-10 python batch of n random images, as the official pickles are (bytes keys)."""
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return batch


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
