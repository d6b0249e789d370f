"""torch.compile(fullgraph=True) of KAN and MetaKAN networks on every backend (CUDA ones marked gpu):
same outputs and gradients as eager, across batch sizes (dynamic shapes), with no graph break."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import metakan
import metakan_kernels as mk

from op_cases import target_params

# torch.compile traces the ops, not the kernels: the interpreter's Triton kernels are not compiled.
TARGETS = [p for p in target_params() if p.id != "triton"]


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


def _close(got, want):
    """float32 on CPU: 1e-5; on a GPU (products of many terms, on tensor cores): 1e-4 of the largest value."""
    if got.device.type == "cpu":
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(got, want, atol=1e-4 * want.abs().max().item(), rtol=1e-4)


@pytest.mark.parametrize("kind", ["kan", "metakan"])
@pytest.mark.parametrize("target", TARGETS)
def test_compiled_network_matches_eager(target, kind):
    torch.manual_seed(0)
    backend = target.backend
    model = metakan.KAN([4, 5, 3], backend=backend) if kind == "kan" else metakan.MetaKAN([4, 5, 3], backend=backend)
    model = model.to(target.device)
    compiled = torch.compile(model, fullgraph=True)
    for batch in (6, 9, 2):
        x = torch.randn(batch, 4, device=target.device) * 1.5
        model.zero_grad()
        y = compiled(x)
        y.square().sum().backward()
        compiled_grads = _grads(model)
        model.zero_grad()
        expected = model(x)
        expected.square().sum().backward()
        _close(y, expected)
        for got, want in zip(compiled_grads, _grads(model)):
            _close(got, want)
    assert model.layers[0].last_backend == backend


@pytest.mark.gpu
def test_compiled_kan_then_metakan_on_triton():
    """Both layers in one compiled graph at a batch of several tiles."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(metakan.KANLinear(24, 16, backend="triton"),
                                metakan.MetaKANLinear(16, 8, hidden_dim=32, backend="triton")).cuda()
    x = torch.randn(300, 24, device="cuda")
    compiled = torch.compile(model, fullgraph=True)
    loss = compiled(x).square().mean()
    loss.backward()
    compiled_grads = _grads(model)
    model.zero_grad()
    eager = model(x).square().mean()
    eager.backward()
    _close(loss.detach(), eager.detach())
    for got, p in zip(compiled_grads, model.parameters()):
        _close(got, p.grad)


def test_compiles_in_a_fresh_process_without_asking_for_backends():
    """The backends load with the package: a fresh process compiles a layer with fullgraph=True straight away."""
    script = textwrap.dedent(
        """
        import torch
        import metakan
        torch.manual_seed(0)
        layer = metakan.KANLinear(3, 2, backend="auto")
        x = torch.randn(4, 3)
        y = torch.compile(layer, fullgraph=True)(x)
        torch.testing.assert_close(y, layer(x), atol=1e-5, rtol=1e-5)
        print("ran", layer.last_backend)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] in mk.available_backends()
