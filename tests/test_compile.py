"""torch.compile(fullgraph=True) of KAN and MetaKAN networks on every CPU backend: same outputs and
gradients as eager, across batch sizes (dynamic shapes), with no graph break."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import metakan
import metakan_kernels as mk

CPU_BACKENDS = [name for name in ("reference", "cpu") if name in mk.available_backends()]


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_compiled_network_matches_eager(kind, backend):
    torch.manual_seed(0)
    model = metakan.KAN([4, 5, 3], backend=backend) if kind == "kan" else metakan.MetaKAN([4, 5, 3], backend=backend)
    compiled = torch.compile(model, fullgraph=True)
    for batch in (6, 9, 2):
        x = torch.randn(batch, 4) * 1.5
        model.zero_grad()
        y = compiled(x)
        y.square().sum().backward()
        compiled_grads = _grads(model)
        model.zero_grad()
        expected = model(x)
        expected.square().sum().backward()
        torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)
        for got, want in zip(compiled_grads, _grads(model)):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert model.layers[0].last_backend == backend


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
