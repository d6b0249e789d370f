"""Layers and networks: efficient-kan compatibility, the paper's parameter counts, sharing, export."""

import json
import math
from pathlib import Path

import pytest
import torch

import metakan
from metakan import KAN, KANLinear, MetaKAN, MetaKANLinear, MetaLearner, cluster_layers, param_groups
from metakan_kernels import checks

from op_cases import target_params

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "efficient_kan_golden.json").read_text())


def golden_state(case):
    return {key: torch.tensor(value) for key, value in GOLDEN[case]["state_dict"].items()}


def test_initialisation_matches_efficient_kan_draw_for_draw():
    torch.manual_seed(GOLDEN["init_seed"])
    layer = KANLinear(**GOLDEN["layer_args"])
    expected = golden_state("uniform")
    assert set(layer.state_dict()) == set(expected)
    for key, value in layer.state_dict().items():
        torch.testing.assert_close(value, expected[key], atol=1e-6, rtol=1e-5, msg=lambda m: f"{key}: {m}")


@pytest.mark.parametrize("case", ["uniform", "adapted"])
def test_efficient_kan_state_dict_gives_its_outputs(case):
    layer = KANLinear(**GOLDEN["layer_args"])
    layer.load_state_dict(golden_state(case))
    assert layer.grid_is_uniform == (case == "uniform")
    y = layer(torch.tensor(GOLDEN["x"]))
    torch.testing.assert_close(y, torch.tensor(GOLDEN[case]["y"]), atol=1e-5, rtol=1e-5)


def test_paper_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(KAN([784, 32, 10], grid_size=5, spline_order=3)) == 254_080
    assert count(MetaKAN([784, 32, 10], grid_size=5, spline_order=3, embedding_dim=1, hidden_dim=16)) == 25_778


def test_kan_linear_shapes_and_buffers():
    layer = KANLinear(4, 3, grid_size=6, spline_order=2)
    assert layer.grid.shape == (4, 11) and layer.spline_weight.shape == (3, 4, 8)
    assert layer.spline_scaler.shape == (3, 4) and layer.base_weight.shape == (3, 4)
    assert layer(torch.randn(2, 5, 4)).shape == (2, 5, 3)
    assert layer.last_backend in metakan.available_backends()
    assert not hasattr(KANLinear(4, 3, enable_standalone_scale_spline=False), "spline_scaler")


def test_update_grid_keeps_the_function_and_adapts_the_knots():
    layer = KANLinear(3, 2).double()
    x = torch.randn(256, 3, dtype=torch.float64) * 0.4 + 0.2
    before = layer(x)
    layer.update_grid(x)
    assert not layer.grid_is_uniform
    assert layer.grid[:, 3].max() < -0.5 and layer.grid[:, -4].min() > 0.6  # span follows the data
    torch.testing.assert_close(layer(x), before, atol=2e-3, rtol=0)


def test_knots_are_checked_when_set_not_per_forward(monkeypatch):
    calls = []
    validate = checks.validate_knots
    monkeypatch.setattr(checks, "validate_knots", lambda grid: (calls.append(grid), validate(grid)))
    layer = metakan.KANLinear(3, 2)
    x = torch.randn(16, 3)
    layer.update_grid(x)
    assert len(calls) == 1
    for _ in range(3):
        layer(x)
    assert len(calls) == 1
    target = metakan.KANLinear(3, 2)
    target.load_state_dict(layer.state_dict())
    assert len(calls) == 2
    target(x)
    assert len(calls) == 2
    state = {name: t.clone() for name, t in layer.state_dict().items()}
    state["grid"][0, 4] = state["grid"][0, 3]
    with pytest.raises(ValueError, match="grid must be strictly increasing"):
        metakan.KANLinear(3, 2).load_state_dict(state)


def test_non_silu_base_activation():
    layer = KANLinear(3, 2, base_activation=torch.nn.Tanh)
    x = torch.randn(5, 3)
    plain = torch.nn.functional.linear(torch.tanh(x), layer.base_weight)
    spline = metakan.kan_linear(x, layer.scaled_spline_weight, None)
    torch.testing.assert_close(layer(x), plain + spline)


def test_regularization_loss_is_finite_and_differentiable():
    model = KAN([3, 4, 2])
    loss = model.regularization_loss()
    loss.backward()
    assert math.isfinite(loss.item()) and model.layers[0].spline_weight.grad is not None


def test_metakan_linear_parameters_and_paper_init():
    layer = MetaKANLinear(40, 30, embedding_dim=2, hidden_dim=8, init="paper")
    assert layer.embedding.shape == (30, 40, 2)
    std = math.sqrt(2.0 / (30 * 40 + 2))  # Xavier-normal over the (out*in, d) matrix
    assert abs(layer.embedding.std().item() - std) < 0.1 * std
    assert torch.equal(layer.meta_learner.fc1.bias, torch.zeros(8))
    assert layer(torch.randn(3, 40)).shape == (3, 30)


def test_to_kan_matches_exactly():
    layer = MetaKANLinear(5, 4, grid_size=4, spline_order=2, embedding_dim=3, hidden_dim=6, backend="reference")
    torch.nn.init.normal_(layer.embedding)
    x = torch.randn(7, 5) * 1.3
    kan = layer.to_kan()
    assert isinstance(kan, KANLinear) and kan.spline_weight.shape == (4, 5, 6)
    assert torch.equal(kan(x), layer(x))


def test_network_to_kan_matches_exactly():
    model = MetaKAN([4, 6, 3], embedding_dim=2, hidden_dim=5, share="all", backend="reference")
    for layer in model.layers:
        torch.nn.init.normal_(layer.embedding)
    x = torch.randn(9, 4)
    assert torch.equal(model.to_kan()(x), model(x))


def test_sharing_modes():
    assert len(MetaKAN([4, 5, 6, 3]).meta_learners) == 3
    shared = MetaKAN([4, 5, 6, 3], share="all")
    assert len(shared.meta_learners) == 1
    assert all(layer.meta_learner is shared.meta_learners[0] for layer in shared.layers)
    count = sum(p.numel() for p in shared.parameters())
    learner = sum(p.numel() for p in shared.meta_learners[0].parameters())
    assert count == 4 * 5 + 5 * 6 + 6 * 3 + learner  # a shared learner counts once
    grouped = MetaKAN([784, 256, 256, 256, 10], share=2)
    assert grouped.layer_groups == [0, 1, 1, 0] or grouped.layer_groups == [0, 0, 0, 1]
    assert len(grouped.meta_learners) == 2
    with pytest.raises(ValueError, match="share must be 'layer', 'all' or a positive number of groups, got 'some'"):
        MetaKAN([4, 5], share="some")


def test_cluster_layers():
    assert cluster_layers([(8, 8), (8, 8), (512, 512), (512, 512)], 2) == [0, 0, 1, 1]
    assert cluster_layers([(8, 8), (512, 512)], 5) == [0, 1]
    assert cluster_layers([(8, 8), (16, 8), (512, 512)], 1) == [0, 0, 0]
    assert cluster_layers([(3, 3)] * 4, 3) == [0, 0, 0, 0]


def test_shared_learner_checks_its_sizes():
    learner = MetaLearner(embedding_dim=2, hidden_dim=4, num_bases=8)
    MetaKANLinear(3, 2, embedding_dim=2, meta_learner=learner)
    with pytest.raises(ValueError, match=r"meta_learner must map embedding_dim -> grid_size \+ spline_order \+ 1 = 1 -> 9, got 2 -> 9"):
        MetaKANLinear(3, 2, embedding_dim=1, meta_learner=learner)


@pytest.mark.parametrize("init, scale", [("paper", 1.0), ("default", 3.0 ** -1)])
def test_custom_meta_learner_module(init, scale):
    learner = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 9))
    layer = MetaKANLinear(3, 2, embedding_dim=2, meta_learner=learner, init=init)
    assert layer.edge_scale == pytest.approx(scale)  # 1 / sqrt(3 * in_features) by default
    x = torch.randn(4, 3)
    weights = scale * learner(layer.embedding / scale)
    torch.testing.assert_close(layer(x), metakan.kan_linear(x, weights[..., :8], weights[..., 8]))
    layer(x).sum().backward()
    assert learner[0].weight.grad is not None and layer.embedding.grad is not None
    bad = MetaKANLinear(3, 2, embedding_dim=2, meta_learner=torch.nn.Linear(2, 5))
    with pytest.raises(ValueError, match=r"meta_learner must map the embedding \(2, 3, 2\) to shape .* = \(2, 3, 9\), got \(2, 3, 5\)"):
        bad(x)


def test_param_groups_split_embeddings_and_meta_learners():
    model = torch.nn.Sequential(MetaKAN([4, 5, 3], share="all"), torch.nn.LayerNorm(3))
    groups = {g["name"]: g for g in param_groups(model, lr_embedding=1e-3, lr_meta=1e-4)}
    assert [p.shape for p in groups["embedding"]["params"]] == [(5, 4, 1), (3, 5, 1)]
    assert len(groups["meta_learner"]["params"]) == 4 and groups["meta_learner"]["lr"] == 1e-4
    assert len(groups["other"]["params"]) == 2 and groups["other"]["lr"] == 1e-3
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
    defaults = param_groups(model)  # one rate for all: the default init sets each group's pace itself
    assert [g["lr"] for g in defaults] == [1e-3, 1e-3, 1e-3]
    torch.optim.Adam(defaults)


def test_state_dict_round_trip():
    for make in (lambda: KAN([3, 4, 2]), lambda: MetaKAN([3, 4, 2], share="all")):
        source, target = make(), make()
        target.load_state_dict(source.state_dict())
        x = torch.randn(5, 3)
        assert torch.equal(source(x), target(x))


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="grid_size must be an integer >= 1"):
        KANLinear(3, 2, grid_size=0)
    with pytest.raises(ValueError, match=r"spline_order must be an integer in \[0, 5\]"):
        MetaKANLinear(3, 2, spline_order=9)
    with pytest.raises(ValueError, match="layers_hidden must list at least two positive integer widths"):
        KAN([3])
    with pytest.raises(ValueError, match="activation must be one of"):
        MetaKANLinear(3, 2, meta_activation="softplus")
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., in_features\) with in_features = 3"):
        KANLinear(3, 2)(torch.randn(4, 2))


def test_order_zero_layer_fits_its_initial_noise_and_runs_on_every_backend():
    # order 0: piecewise-constant bases, one per grid interval; the init's least-squares fit through the
    # G + 1 knots then gives each interval the noise drawn at its left knot
    torch.manual_seed(0)
    layer = KANLinear(3, 2, grid_size=4, spline_order=0)
    torch.manual_seed(0)
    torch.empty(2, 3).uniform_()  # the draws of kaiming_uniform_ on base_weight
    noise = (torch.rand(5, 3, 2) - 1 / 2) * 0.1 / 4
    assert layer.spline_weight.shape == (2, 3, 4)
    torch.testing.assert_close(layer.spline_weight.detach(), noise[:4].permute(2, 1, 0), atol=1e-7, rtol=0)
    x = torch.rand(16, 3) * 1.98 - 0.99
    outputs = {}
    for backend in ["auto", *metakan.available_backends()]:
        layer.backend = backend
        x_ = x.clone().requires_grad_(True)
        if backend == "triton":  # its kernels start at order 1; "auto" passes it by
            with pytest.raises(ValueError, match="needs spline_order >= 1, got 0"):
                layer(x_)
            continue
        y = layer(x_)
        y.square().sum().backward()
        outputs[backend] = (y.detach(), layer.spline_weight.grad.clone())
        layer.zero_grad()
    for backend, (y, grad) in outputs.items():
        torch.testing.assert_close(y, outputs["reference"][0], atol=1e-5, rtol=1e-5, msg=backend)
        torch.testing.assert_close(grad, outputs["reference"][1], atol=1e-5, rtol=1e-5, msg=backend)
    assert KAN([3, 4, 1], spline_order=0)(x).shape == (16, 1)
    assert MetaKANLinear(3, 2, spline_order=0)(x).shape == (16, 2)


@pytest.mark.parametrize("target", target_params())
def test_layers_report_their_backend(target):
    layer = MetaKANLinear(5, 3, hidden_dim=8, backend=target.backend).to(target.device)
    layer(torch.randn(4, 5, device=target.device)).sum().backward()
    assert layer.last_backend == target.backend and layer.embedding.grad is not None
    kan = KANLinear(5, 3, backend=target.backend).to(target.device)
    kan(torch.randn(2, 5, device=target.device))
    assert kan.last_backend == target.backend


@pytest.mark.gpu
def test_auto_picks_triton_on_cuda():
    layer = MetaKANLinear(8, 4).cuda()
    layer(torch.randn(3, 8, device="cuda"))
    assert layer.last_backend == "triton"
