"""metakan.memory: bytes kept for backward and the exact peak tensor memory of a training step."""

import pytest
import torch

import metakan
from metakan.memory import peak_step_bytes, saved_bytes, saved_tensors

from op_cases import inputs_outside, target_params


def test_peak_counts_what_is_alive_at_once():
    a = torch.zeros(1000)  # 4000 bytes, there before the step

    def step():
        b = a * 2
        c = b * 3  # b and c alive: 8000 bytes
        del b
        c.sum()

    assert peak_step_bytes(step, [a]) == 4000 + 8000


def test_freed_temporaries_are_not_counted_twice_and_views_are_one_storage():
    a = torch.zeros(1000)

    def step():
        t = a * 2
        for _ in range(5):
            t = t * 2  # the new one exists before the old one is freed

    assert peak_step_bytes(step, [a, a[:10], a.view(10, 100)]) == 4000 + 8000


def test_backward_and_optimizer_are_counted():
    layer = torch.nn.Linear(100, 50, bias=False)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    x = torch.randn(8, 100)

    def step():
        optimizer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
        optimizer.step()

    weight_bytes = 100 * 50 * 4
    peak = peak_step_bytes(step, [layer.weight, x])
    assert peak >= weight_bytes + x.numel() * 4 + weight_bytes  # the gradient the step makes
    assert peak < 3 * weight_bytes + x.numel() * 4


@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_fused_step_does_not_hold_the_bases(kind):
    """The reference holds the [B, I, K] bases (and more); the cpu backend only small per-row tensors."""
    if "cpu" not in metakan.available_backends():
        pytest.skip("the compiled extension is not built")
    batch, width, num_bases = 256, 32, 8
    peaks = {}
    for backend in ("reference", "cpu"):
        torch.manual_seed(0)
        layer = (metakan.KANLinear(width, width, backend=backend) if kind == "kan"
                 else metakan.MetaKANLinear(width, width, backend=backend))
        x = torch.rand(batch, width) * 2 - 1

        def step():
            layer.zero_grad(set_to_none=True)
            layer(x).sum().backward()

        peaks[backend] = peak_step_bytes(step, [*layer.parameters(), *layer.buffers(), x])
        assert peaks[backend] >= saved_bytes(lambda: layer(x), exclude=[x, *layer.parameters()])
    assert peaks["reference"] - peaks["cpu"] >= batch * width * num_bases * 4


@pytest.mark.parametrize("target", target_params(reference=False))
def test_kan_layer_keeps_only_its_input_and_parameters(target):
    """KANLinear hands spline_weight and spline_scaler to the op as factors: their product is not kept."""
    layer = metakan.KANLinear(48, 32, backend=target.backend).to(target.device)
    x = inputs_outside((64, 48), torch.float32, target.device)
    _, saved = saved_tensors(lambda: layer(x))
    known = {t.untyped_storage().data_ptr() for t in (x, *layer.parameters(), *layer.buffers())}
    assert [tuple(t.shape) for t in saved if t.untyped_storage().data_ptr() not in known] == []
