"""MetaKAN initialisations: the default one gives efficient-kan's weight statistics at any size and runs on
every backend through the same fused ops; the paper's is kept as it was."""

import math

import pytest
import torch

import metakan
import metakan_kernels as mk
from metakan import MetaKAN, MetaKANLinear, MetaLearner
from metakan.memory import saved_bytes
from metakan.meta_learner import BASE_GAIN, SPLINE_FRACTION

from helpers import assert_close

FUSED = [name for name in mk.available_backends() if name != "reference"]


def _base_and_spline(layer):
    with torch.no_grad():
        weights = layer.generated_weights()
    return weights[..., -1], weights[..., :-1]


@pytest.mark.parametrize("activation", sorted(mk.META_ACTIVATIONS))
@pytest.mark.parametrize("in_features, out_features, embedding_dim, hidden_dim", [
    (16, 64, 1, 16), (128, 128, 1, 32), (512, 64, 3, 16), (2, 300, 2, 64),
])
def test_default_init_has_efficient_kan_statistics(in_features, out_features, embedding_dim, hidden_dim, activation):
    """Base weights: mean ~0 and spread BASE_GAIN times 1/sqrt(3 in) (efficient-kan's kaiming-uniform)
    over the layer's edges; spline coefficients a tenth of efficient-kan's base spread; edges independent
    (the paper's init fails each of these)."""
    torch.manual_seed(1)
    layer = MetaKANLinear(in_features, out_features, embedding_dim=embedding_dim, hidden_dim=hidden_dim,
                          meta_activation=activation)
    base, spline = _base_and_spline(layer)
    target = (3 * in_features) ** -0.5
    edges = base.numel()
    assert layer.edge_scale == pytest.approx(target)
    assert abs(base.std().item() / (BASE_GAIN * target) - 1) < 0.15, base.std().item() / target
    # centred: the mean is within a few standard errors of the edges' own mean
    assert abs(base.mean().item()) < BASE_GAIN * (4 * target / math.sqrt(edges) + 0.05 * target)
    assert abs(spline.std().item() / (SPLINE_FRACTION * target) - 1) < 0.3
    assert abs(spline.mean().item()) < 0.05 * target


def test_paper_init_is_the_papers_code():
    """Xavier-normal (out*in, d) embeddings and meta-learner weights, zero biases, no factors."""
    layer = MetaKANLinear(40, 30, embedding_dim=2, hidden_dim=8, init="paper")
    assert layer.edge_scale == 1.0
    assert abs(layer.embedding.std().item() / math.sqrt(2.0 / (30 * 40 + 2)) - 1) < 0.1
    learner = layer.meta_learner
    assert learner.init == "paper" and torch.equal(learner.fc1.bias, torch.zeros(8))
    assert torch.equal(learner.fc2.bias, torch.zeros(9))
    x = torch.randn(3, 40)
    expected = mk.metakan_linear(x, layer.embedding, learner.fc1.weight, learner.fc1.bias, learner.fc2.weight,
                                 learner.fc2.bias, backend="reference")
    torch.testing.assert_close(layer(x), expected)


def test_default_layer_computes_the_scaled_meta_learner():
    """w = s * learner(z / s), s = 1/sqrt(3 in): the factors folded into w1, w2, b2 give exactly that."""
    layer = MetaKANLinear(6, 4, embedding_dim=2, hidden_dim=5, backend="reference").double()
    s = layer.edge_scale
    weights = s * layer.meta_learner(layer.embedding / s)
    torch.testing.assert_close(layer.generated_weights(), weights)
    x = torch.randn(7, 6, dtype=torch.float64) * 1.5
    expected = mk.kan_linear(x, weights[..., :-1], weights[..., -1], backend="reference")
    torch.testing.assert_close(layer(x), expected)
    kan = layer.to_kan()
    torch.testing.assert_close(kan(x), layer(x))


def test_shared_learner_serves_layers_of_any_width():
    """One meta-learner for layers of fan-in 4, 64 and 512: each layer's weights at its own spread."""
    torch.manual_seed(2)
    model = MetaKAN([4, 64, 512, 10], hidden_dim=16, share="all")
    assert len(model.meta_learners) == 1
    for layer in model.layers:
        base, _ = _base_and_spline(layer)
        assert abs(base.std().item() * math.sqrt(3 * layer.in_features) / BASE_GAIN - 1) < 0.2, layer


def test_unknown_init_is_refused():
    with pytest.raises(ValueError, match=r"init must be one of \('default', 'paper'\), got 'xavier'"):
        MetaKANLinear(3, 2, init="xavier")
    with pytest.raises(ValueError, match="init must be one of"):
        MetaLearner(1, 4, 8, init="")
    with pytest.raises(ValueError, match="init must be one of"):
        MetaKAN([3, 2], init="Paper")


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("init", ["default", "paper"])
def test_fused_backends_match_the_reference_for_both_inits(backend, init):
    """Output and the gradients of x and of every parameter (through the folded factors), at odd sizes
    and inputs outside the grid; what the layer keeps for backward is x and same-sized meta weights."""
    torch.manual_seed(3)
    fused = MetaKANLinear(7, 5, embedding_dim=2, hidden_dim=6, init=init, backend=backend)
    reference = MetaKANLinear(7, 5, embedding_dim=2, hidden_dim=6, init=init, backend="reference")
    reference.load_state_dict(fused.state_dict())
    x = (torch.randn(9, 10) * 1.4)[:, :7]  # not contiguous, partly outside the grid
    outputs = {}
    for name, layer in (("fused", fused), ("reference", reference)):
        xi = x.clone().requires_grad_()
        y = layer(xi)
        grads = torch.autograd.grad((y * torch.linspace(-1, 1, 5)).sum(), [xi, *layer.parameters()])
        outputs[name] = (y, *grads)
    names = ["y", "x", *(name for name, _ in fused.named_parameters())]
    for name, a, b in zip(names, outputs["fused"], outputs["reference"]):
        assert_close(a, b, f"{backend} {init} {name}")
    assert fused.last_backend == backend
    dense = x.contiguous()
    kept = saved_bytes(lambda: fused(dense), exclude=[dense, *fused.parameters()])
    assert kept <= sum(p.numel() * p.element_size() for p in fused.meta_learner.parameters()), kept


def test_double_backward_through_the_factors_is_exact():
    """create_graph=True (PINN Laplacians): gradgradcheck in float64 through the default layer."""
    backend = "cpu" if "cpu" in FUSED else "reference"
    layer = MetaKANLinear(3, 2, embedding_dim=1, hidden_dim=4, backend=backend, meta_activation="tanh").double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x_: layer(x_), (x,))
    params = (layer.embedding, layer.meta_learner.fc2.weight)
    assert torch.autograd.gradcheck(lambda e, w: _with(layer, e, w)(x), params)


def _with(layer, embedding, w2):
    """The layer as a function of (embedding, fc2.weight), for gradcheck."""
    def run(x):
        w1, b1, _, b2 = layer.meta_weights(layer.meta_learner)
        s = layer.edge_scale
        return mk.metakan_linear(x, embedding, w1, b1, w2 * s, b2, backend=layer.backend)
    return run


def test_default_init_trains_deep_and_wide_with_plain_adam():
    """Digits, [64, 128, 128, 128, 10], Adam(model.parameters(), 1e-3), 3 epochs: the paper's init sits at
    chance here (loss ln 10); the default init must learn."""
    pytest.importorskip("sklearn")
    from metakan.datasets.digits import digits

    x_train, y_train, x_test, y_test = digits()
    torch.manual_seed(0)
    model = MetaKAN([64, 128, 128, 128, 10], hidden_dim=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(0)
    for _ in range(3):
        perm = torch.randperm(len(x_train), generator=order)
        for start in range(0, len(x_train), 64):
            batch = perm[start:start + 64]
            loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.9, accuracy


def test_replace_linear_passes_init():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4))
    metakan.replace_linear(model, kind="metakan", init="paper")
    assert model[0].layer.init == "paper" and model[0].layer.edge_scale == 1.0
