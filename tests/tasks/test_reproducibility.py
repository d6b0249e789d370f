"""Determinism and checkpoints: bit-identical repeated runs, and state dicts that move across backends."""

import itertools

import pytest
import torch

import metakan
import metakan_kernels as mk
from metakan.conv import KANConv2d, MetaKANConv2d

CPU_BACKENDS = [name for name in mk.available_backends() if name in ("reference", "cpu", "triton")]


def _step(model, x):
    model.zero_grad()
    y = model(x)
    y.square().sum().backward()
    return [y.detach().clone()] + [p.grad.clone() for p in model.parameters()]


def _check_repeated_runs(backend, torch_switch, device):
    torch.manual_seed(0)
    model = metakan.MetaKAN([5, 7, 3], embedding_dim=2, hidden_dim=6, backend=backend).to(device)
    x = torch.randn(23, 5, device=device) * 1.3
    try:
        if torch_switch:
            torch.use_deterministic_algorithms(True)
        else:
            metakan.use_deterministic(True)
        assert mk.deterministic()
        first, second = _step(model, x), _step(model, x)
    finally:
        torch.use_deterministic_algorithms(False)
        metakan.use_deterministic(False)
    assert not mk.deterministic()
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("torch_switch", [False, True])
def test_repeated_runs_are_bit_identical(backend, torch_switch):
    _check_repeated_runs(backend, torch_switch, "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["reference", "triton", "cuda"])
def test_repeated_cuda_runs_are_bit_identical(backend):
    _check_repeated_runs(backend, False, "cuda")  # torch's switch would also demand a cuBLAS workspace setting


@pytest.mark.parametrize("saved_on, loaded_on", list(itertools.permutations(CPU_BACKENDS, 2)) or [("reference", "reference")])
@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_state_dict_moves_across_backends(kind, saved_on, loaded_on):
    make = (lambda b: metakan.KAN([4, 6, 3], backend=b)) if kind == "kan" else (lambda b: metakan.MetaKAN([4, 6, 3], backend=b))
    source = make(saved_on)
    for layer in source.layers:  # make the weights matter: the default MetaKAN init is near zero
        for p in layer.parameters():
            torch.nn.init.normal_(p, std=0.5)
    target = make(loaded_on)
    target.load_state_dict(source.state_dict())
    x = torch.randn(11, 4)
    torch.testing.assert_close(target(x), source(x), atol=1e-5, rtol=1e-5)
    assert target.layers[0].last_backend == loaded_on


def test_metakan_exports_a_plain_kan_on_every_backend():
    model = metakan.MetaKAN([4, 6, 3], share=2)
    for layer in model.layers:
        torch.nn.init.normal_(layer.embedding)
    x = torch.randn(9, 4)
    for backend in CPU_BACKENDS:
        kan = model.to_kan()
        for layer in kan.layers:
            layer.backend = backend
        torch.testing.assert_close(kan(x), model(x), atol=1e-5, rtol=1e-5)


LAYERS = {
    "KANLinear": (lambda b: metakan.KANLinear(4, 3, backend=b), (7, 4)),
    "MetaKANLinear": (lambda b: metakan.MetaKANLinear(4, 3, embedding_dim=2, backend=b), (7, 4)),
    "KANConv2d": (lambda b: KANConv2d(2, 3, 3, padding=1, backend=b), (2, 2, 5, 5)),
    "MetaKANConv2d": (lambda b: MetaKANConv2d(2, 3, 3, stride=2, backend=b), (2, 2, 5, 5)),
}


@pytest.mark.parametrize("saved_on, loaded_on", list(itertools.permutations(CPU_BACKENDS, 2)) or [("reference", "reference")])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_state_dict_moves_across_backends(layer, saved_on, loaded_on):
    make, shape = LAYERS[layer]
    source, target = make(saved_on), make(loaded_on)
    for p in source.parameters():
        torch.nn.init.normal_(p, std=0.5)
    target.load_state_dict(source.state_dict())
    x = torch.randn(*shape)
    torch.testing.assert_close(target(x), source(x), atol=1e-5, rtol=1e-5)
    assert target.last_backend == loaded_on and source.last_backend == saved_on
