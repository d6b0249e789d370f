"""Grid extension: refined KAN and MetaKAN layers compute the old function on the grid's range."""

import pytest
import torch

import metakan
import metakan_kernels as mk
from metakan import KAN, KANLinear, MetaKAN, MetaKANLinear


def _inside(n, features, lo=-1.0, hi=1.0):
    """n points per feature across [lo, hi], both ends and every knot of the grids below included."""
    torch.manual_seed(1)
    x = torch.rand(n, features, dtype=torch.float64) * (hi - lo) + lo
    x[:3] = torch.tensor([lo, hi, lo + (hi - lo) / 5], dtype=torch.float64).unsqueeze(1)
    return x


def _kan_layer(**kwargs):
    torch.manual_seed(0)
    layer = KANLinear(3, 4, grid_size=5, **kwargs).double()
    with torch.no_grad():
        layer.spline_weight.normal_()  # a spline far from the init's near-zero one
    return layer


@pytest.mark.parametrize("new", [10, 15, 50])
def test_kan_refined_on_a_nesting_grid_is_the_same_function(new):
    layer = _kan_layer(grid_range=(-2, 3))
    x = _inside(400, 3, -2, 3)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    refined = layer.refine(new)
    assert refined.grid_size == new and refined.spline_weight.shape == (4, 3, new + 3)
    assert refined.grid_is_uniform and refined.refine_error < 1e-12
    torch.testing.assert_close(refined(x), layer(x), rtol=0, atol=1e-12)
    assert all(torch.equal(v, layer.state_dict()[k]) for k, v in before.items())  # the old layer is untouched


def test_kan_refined_on_a_grid_that_does_not_nest_reports_its_error():
    layer = _kan_layer()
    refined = layer.refine(7)
    x = _inside(2000, 3)
    change = float((refined(x) - layer(x)).detach().abs().max())
    assert 1e-6 < refined.refine_error and change <= 2 * refined.refine_error
    assert refined.refine(14).refine_error < 1e-12  # 7 -> 14 nests again


def test_kan_with_per_feature_knots_refines_exactly_and_keeps_them():
    layer = _kan_layer()
    data = torch.randn(500, 3, dtype=torch.float64) * torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)
    layer.update_grid(data)
    refined = layer.refine(20)
    assert not refined.grid_is_uniform and refined.grid.shape == (3, 20 + 2 * 3 + 1)
    # every old knot is a new knot
    for i in range(3):
        assert torch.isin(layer.grid[i, 3:-3], refined.grid[i]).all()
    inside = data.clamp(data.min(0).values, data.max(0).values)
    torch.testing.assert_close(refined(inside), layer(inside), rtol=0, atol=1e-12)
    assert refined.refine_error < 1e-12


def test_kan_network_refines_every_layer_and_trains_on():
    torch.manual_seed(0)
    net = KAN([2, 3, 1], grid_size=3).double()
    x = _inside(300, 2)
    refined = net.refine(6)
    assert len(refined.refine_errors) == 2 and max(refined.refine_errors) < 1e-12
    # the first layer's outputs may leave [-1, 1], where the extension bases differ: compare the layers
    torch.testing.assert_close(refined.layers[0](x), net.layers[0](x), rtol=0, atol=1e-12)
    loss = refined(x).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in refined.parameters())
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("init", ["default", "paper"])
def test_metakan_layer_refines_through_the_meta_learners_last_layer(init):
    torch.manual_seed(0)
    layer = MetaKANLinear(3, 4, grid_size=5, embedding_dim=2, hidden_dim=8, init=init).double()
    x = _inside(400, 3)
    refined = layer.refine(10)
    assert refined.meta_learner is not layer.meta_learner and refined.meta_learner.num_bases == 13
    assert refined.meta_learner.fc2.weight.shape == (14, 8)
    torch.testing.assert_close(refined.meta_learner.fc1.weight, layer.meta_learner.fc1.weight, rtol=0, atol=0)
    torch.testing.assert_close(refined.embedding, layer.embedding, rtol=0, atol=0)
    torch.testing.assert_close(refined.generated_weights()[..., -1], layer.generated_weights()[..., -1],
                               rtol=0, atol=1e-15)  # base weights unchanged
    torch.testing.assert_close(refined(x), layer(x), rtol=0, atol=1e-12)
    assert refined.refine_error < 1e-12


def test_metakan_network_keeps_a_shared_meta_learner_shared():
    torch.manual_seed(0)
    net = MetaKAN([3, 5, 2], grid_size=5, share="all", hidden_dim=8).double()
    refined = net.refine(20)
    assert len(refined.meta_learners) == 1 and len(net.meta_learners) == 1
    assert refined.meta_learners[0] is not net.meta_learners[0]
    for old, new in zip(net.layers, refined.layers):
        x = _inside(300, old.in_features)
        torch.testing.assert_close(new(x), old(x), rtol=0, atol=1e-12)
    assert max(refined.refine_errors) < 1e-12
    # beyond the fused kernels' G + k <= 64 the reference runs it
    big = net.refine(100)
    x = _inside(300, 3)
    torch.testing.assert_close(big.layers[0](x), net.layers[0](x), rtol=0, atol=1e-11)


@pytest.mark.parametrize("backend", [name for name in mk.available_backends() if name != "reference"])
def test_refined_layers_run_on_the_fused_backends_as_on_the_reference(backend):
    kan = _kan_layer().refine(10)
    torch.manual_seed(0)
    meta = MetaKANLinear(3, 4, grid_size=5, hidden_dim=8).double().refine(10)
    x = _inside(64, 3)
    for layer in (kan, meta):
        expected = layer(x)  # auto: the reference runs float64 where a fused backend does not
        layer.backend = "reference"
        reference = layer(x)
        layer.backend = backend
        dtype = torch.float64 if backend == "cpu" else torch.float32
        got = layer.to(dtype)(x.to(dtype))
        layer.double()
        torch.testing.assert_close(got.double(), reference, rtol=1e-5 if dtype == torch.float32 else 1e-12,
                                   atol=1e-5 if dtype == torch.float32 else 1e-12)
        torch.testing.assert_close(expected, reference, rtol=1e-12, atol=1e-12)


def test_refine_refuses_nonsense():
    layer = _kan_layer()
    with pytest.raises(ValueError, match="at least the layer's grid_size"):
        layer.refine(3)
    with pytest.raises(ValueError, match="grid_size"):
        layer.refine(2.5)
    with pytest.raises(ValueError, match="grid_size"):
        layer.refine(True)
    custom = MetaKANLinear(2, 2, meta_learner=torch.nn.Linear(1, 9))
    with pytest.raises(TypeError, match="MetaLearner"):
        custom.refine(10)
    assert metakan.KANLinear(2, 2).refine(5).refine_error < 1e-12  # the same grid: a copy
