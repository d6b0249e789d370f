"""torch.autocast: layers run in the low-precision dtype, parameters and their gradients stay float32,
and every CPU backend's error against a float32 reference stays within 2x plain PyTorch's + atol."""

import pytest
import torch

import metakan
import metakan_kernels as mk

CPU_BACKENDS = [name for name in ("reference", "cpu") if name in mk.available_backends()]
ATOL = 1e-2


def _run(model, x, autocast):
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = model(x)
    y.float().square().mean().backward()
    return y, [p.grad.clone() for p in model.parameters()]


def _error(a, b):
    return (a.float() - b.float()).abs().max().item()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_bfloat16_autocast_within_tolerance(kind, backend):
    torch.manual_seed(0)
    make = (lambda b: metakan.KAN([6, 5, 3], backend=b)) if kind == "kan" else (lambda b: metakan.MetaKAN([6, 5, 3], backend=b))
    model = make(backend)
    plain = make("reference")
    plain.load_state_dict(model.state_dict())
    x = torch.randn(17, 6) * 1.2

    y32, g32 = _run(plain, x, autocast=False)
    y_plain, g_plain = _run(plain, x, autocast=True)
    y, g = _run(model, x, autocast=True)

    assert y.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert _error(y, y32) <= 2 * _error(y_plain, y32) + ATOL
    for name, got, plain_grad, exact in zip([n for n, _ in model.named_parameters()], g, g_plain, g32):
        assert got.dtype == torch.float32, name
        scale = exact.abs().max().item() + 1e-12
        assert _error(got, exact) <= 2 * _error(plain_grad, exact) + ATOL * scale, name
