"""torch.autocast: layers run in the low-precision dtype, parameters and their gradients stay float32,
and every backend's error against a float32 reference stays within 2x plain PyTorch's + atol."""

import pytest
import torch

import metakan

from op_cases import target_params

# On CPU, bfloat16 (the dtype CPU autocast defaults to) with the compiled backends; on CUDA both low dtypes.
TARGET_DTYPES = ([pytest.param(*p.values, torch.bfloat16, id=f"{p.id}-bfloat16", marks=p.marks)
                  for p in target_params(backends=("reference", "cpu")) if p.values[0].device == "cpu"]
                 + [pytest.param(*p.values, dtype, id=f"{p.id}-{str(dtype)[6:]}", marks=p.marks)
                    for p in target_params() if p.values[0].device == "cuda" for dtype in (torch.float16, torch.bfloat16)])
ATOL = 1e-2


def _run(model, x, autocast, dtype=torch.bfloat16):
    model.zero_grad()
    with torch.autocast(x.device.type, dtype=dtype, enabled=autocast):
        y = model(x)
    y.float().square().mean().backward()
    return y, [p.grad.clone() for p in model.parameters()]


def _error(a, b):
    return (a.float() - b.float()).abs().max().item()


def _check_autocast(kind, backend, device, dtype):
    torch.manual_seed(0)
    widths = [6, 5, 3]
    make = (lambda b: metakan.KAN(widths, backend=b)) if kind == "kan" else (lambda b: metakan.MetaKAN(widths, backend=b))
    model = make(backend).to(device)
    plain = make("reference").to(device)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(17, 6, device=device) * 1.2

    y32, g32 = _run(plain, x, autocast=False)
    y_plain, g_plain = _run(plain, x, autocast=True, dtype=dtype)
    y, g = _run(model, x, autocast=True, dtype=dtype)

    assert y.dtype == dtype
    assert model.layers[0].last_backend == backend
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert _error(y, y32) <= 2 * _error(y_plain, y32) + ATOL
    for name, got, plain_grad, exact in zip([n for n, _ in model.named_parameters()], g, g_plain, g32):
        assert got.dtype == torch.float32, name
        scale = exact.abs().max().item() + 1e-12
        assert _error(got, exact) <= 2 * _error(plain_grad, exact) + ATOL * scale, name


@pytest.mark.parametrize("kind", ["kan", "metakan"])
@pytest.mark.parametrize("target, dtype", TARGET_DTYPES)
def test_autocast_within_tolerance(target, dtype, kind):
    _check_autocast(kind, target.backend, target.device, dtype)
