"""KANConv2d / MetaKANConv2d against a patch-by-patch evaluation, and the paper's 4-layer conv network."""

import pytest
import torch
import torch.nn.functional as F

from metakan import MetaLearner, available_backends, param_groups
from metakan.conv import KANConv2d, MetaKANConv2d
from metakan.tasks.models import ModelSpec, count_parameters


def conv_by_patches(conv, x):
    """The layer applied to each output position's patch on its own (the oracle for one batched call)."""
    kh, kw = conv.kernel_size
    (sh, sw), (ph, pw), (dh, dw) = conv.stride, conv.padding, conv.dilation
    padded = F.pad(x, (pw, pw, ph, ph))
    out_h, out_w = conv.output_size(x.shape[2], x.shape[3])
    out = torch.empty(x.shape[0], conv.out_channels, out_h, out_w, dtype=x.dtype)
    for r in range(out_h):
        for c in range(out_w):
            patch = padded[:, :, r * sh : r * sh + dh * (kh - 1) + 1 : dh, c * sw : c * sw + dw * (kw - 1) + 1 : dw]
            out[:, :, r, c] = conv.layer(patch.reshape(x.shape[0], -1))
    return out


@pytest.mark.parametrize("geometry", [
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=2, stride=1, padding=0, dilation=2),
])
@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_conv_matches_patch_by_patch(kind, geometry):
    cls = KANConv2d if kind == "kan" else MetaKANConv2d
    conv = cls(3, 5, grid_size=4, **geometry).double()
    x = torch.rand(2, 3, 7, 6, dtype=torch.float64) * 2.4 - 1.2
    y = conv(x)
    expected = conv_by_patches(conv, x)
    reference = torch.nn.Conv2d(3, 5, **geometry)(x.float())
    assert y.shape == reference.shape
    torch.testing.assert_close(y, expected)
    assert conv.last_backend in available_backends()


def test_conv_gradients_and_shared_meta_learner():
    learner = MetaLearner(1, 8, 8)
    a = MetaKANConv2d(2, 3, 3, padding=1, meta_learner=learner, hidden_dim=8)
    b = MetaKANConv2d(3, 4, 3, stride=2, meta_learner=learner, hidden_dim=8)
    model = torch.nn.Sequential(a, b)
    assert a.layer.embedding.shape == (3, 2 * 9, 1) and b.layer.meta_learner is learner
    model(torch.randn(2, 2, 9, 9)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    names = [group["name"] for group in param_groups(model)]
    assert names == ["embedding", "meta_learner"]
    assert count_parameters(model) == 3 * 18 + 4 * 27 + (8 + 8 + 9 * 8 + 9)


def test_conv_rejects_bad_arguments():
    conv = KANConv2d(2, 3, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2, height, width\), got \(1, 3, 5, 5\)"):
        conv(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv(torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        KANConv2d(2, 3, 3, stride=0)
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1"):
        MetaKANConv2d(0, 3, 3)


def test_conv4_network_by_name():
    counts = {}
    for kind in ("mlp", "kan", "metakan"):
        spec = ModelSpec(kind, [4, 6, 8, 10], arch="conv4", in_channels=1, num_classes=3, hidden_dim=4, share="all")
        model = spec.build()
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
        counts[kind] = count_parameters(model)
        strides = [m.stride for m in model.modules() if isinstance(m, (torch.nn.Conv2d, KANConv2d, MetaKANConv2d))]
        assert strides == [(1, 1), (2, 2), (2, 2), (1, 1)]
        assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in model.modules()) == 4
        assert sum(isinstance(m, torch.nn.PReLU) for m in model.modules()) == 4
    edges = 1 * 4 * 9 + 4 * 6 * 9 + 6 * 8 * 9 + 8 * 10 * 9 + 10 * 3
    norm_and_prelu = 2 * (4 + 6 + 8 + 10) + 4
    assert counts["kan"] == edges * 10 + norm_and_prelu
    assert counts["metakan"] == edges + (4 + 4 + 9 * 4 + 9) + norm_and_prelu
    per_group = ModelSpec("metakan", [4, 6, 8, 10], arch="conv4", num_classes=3, share="layer").build()
    assert len({id(m.meta_learner) for m in per_group.modules() if hasattr(m, "meta_learner")}) == 5
