"""replace_linear: swapping the nn.Linear layers of an existing model for KAN/MetaKAN layers."""

import pytest
import torch

import metakan
from metakan import KANLinear, MetaKANLinear, WithBias, replace_linear


class TinyTransformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(3, 8)
        self.block = torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
        self.head = torch.nn.Linear(8, 2, bias=False)

    def forward(self, x):
        return self.head(self.block(self.embed(x))).mean(1)


def test_swap_mlp_blocks_and_train_one_step():
    model = TinyTransformer()
    replaced = replace_linear(model, kind="metakan", filter=lambda name, m: name.startswith("block.linear"),
                              embedding_dim=2, hidden_dim=8)
    assert replaced == ["block.linear1", "block.linear2"]
    assert isinstance(model.block.linear1, WithBias) and isinstance(model.block.linear1.layer, MetaKANLinear)
    assert isinstance(model.embed, torch.nn.Linear)
    optimizer = torch.optim.Adam(metakan.param_groups(model, lr_embedding=1e-2, lr_meta=1e-2))
    x, target = torch.randn(4, 5, 3), torch.randn(4, 2)
    before = [p.detach().clone() for p in model.block.linear1.parameters()]
    loss = torch.nn.functional.mse_loss(model(x), target)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    after = list(model.block.linear1.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(after, before))


def test_swap_everything_keeps_bias_and_skips_attention_projection():
    model = TinyTransformer().double()
    bias = model.embed.bias.detach().clone()
    replaced = replace_linear(model, kind="kan", grid_size=4)
    assert replaced == ["embed", "block.linear1", "block.linear2", "head"]
    assert isinstance(model.head, KANLinear) and model.head.grid_size == 4
    assert torch.equal(model.embed.bias, bias) and model.embed.layer.base_weight.dtype == torch.float64
    assert type(model.block.self_attn.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert model(torch.randn(2, 5, 3, dtype=torch.float64)).shape == (2, 2)


def test_bad_kind():
    with pytest.raises(ValueError, match=r"kind must be one of \['kan', 'metakan'\], got 'mlp'"):
        replace_linear(TinyTransformer(), kind="mlp")
