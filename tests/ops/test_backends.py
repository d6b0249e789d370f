"""Backend selection: the listing, what auto picks on each device, and each backend's limits refused with reasons."""

import pytest
import torch

import metakan_kernels as mk

from op_cases import target_params


def test_backends_listing_and_auto():
    assert "reference" in mk.available_backends()
    assert set(mk.available_backends()) <= set(mk.known_backends())
    assert mk.resolve_backend("auto", "cpu") in mk.available_backends()
    assert mk.resolve_backend("reference", "cpu") == "reference"


def test_unknown_backend_lists_the_known_ones():
    x, coef, wb = torch.randn(5, 3), torch.randn(2, 3, 8), torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"(?s)unknown backend 'fast'.*reference: pure PyTorch"):
        mk.kan_linear(x, coef, wb, backend="fast")


def test_missing_backend_says_how_to_get_it():
    missing = [name for name in mk.known_backends() if name not in mk.available_backends()]
    for name in missing:
        x, coef, wb = torch.randn(5, 3), torch.randn(2, 3, 8), torch.randn(2, 3)
        with pytest.raises(mk.BackendUnavailable, match=rf"backend '{name}' is not available: .*(pip install|TRITON_INTERPRET)"):
            mk.kan_linear(x, coef, wb, backend=name)


@pytest.mark.parametrize("target", target_params(backends=("cpu",)))
def test_auto_picks_cpu_and_its_limits(target):
    from metakan_kernels import native

    assert mk.resolve_backend("auto", "cpu", torch.float32) == "cpu"
    limits = native.CPU_BACKEND.limits
    assert limits.min_spline_order == 0 and limits.max_num_bases == 64 and limits.max_elements == 2**63 - 1
    with pytest.raises(ValueError, match=r"backend 'cpu' cannot run this call: needs grid_size \+ spline_order <= 64, got 68"):
        mk.kan_linear(torch.randn(2, 3), torch.randn(2, 3, 68), None, grid_size=65, backend="cpu")


@pytest.mark.parametrize("target", target_params(backends=("cuda",)))
def test_auto_on_cuda_and_the_cuda_dtypes(target):
    assert mk.resolve_backend("auto", "cuda", torch.float32) in ("triton", "cuda")
    with pytest.raises(ValueError, match="backend 'cuda' cannot run this call: supports float32, float16, bfloat16"):
        mk.kan_linear(torch.randn(2, 3, device="cuda", dtype=torch.float64),
                      torch.randn(2, 3, 8, device="cuda", dtype=torch.float64), None, backend="cuda")


@pytest.mark.parametrize("target", target_params(backends=("triton",)))
def test_triton_limits_are_refused_with_reasons(target):
    device = target.device
    x, coef = torch.randn(2, 3, device=device), torch.randn(2, 3, 5, device=device)
    with pytest.raises(ValueError, match="spline_order >= 1"):
        mk.kan_linear(x, coef, None, grid_size=5, spline_order=0, backend="triton")
    coef = torch.randn(2, 3, 65, device=device)
    with pytest.raises(ValueError, match="grid_size \\+ spline_order <= 64"):
        mk.kan_linear(x, coef, None, grid_size=62, spline_order=3, backend="triton")
    shapes = [(2, 3, 1), (129, 1), (129,), (9, 129), (9,)]
    with pytest.raises(ValueError, match="hidden_dim <= 128"):
        mk.metakan_linear(x, *(torch.randn(s, device=device) for s in shapes), backend="triton")
