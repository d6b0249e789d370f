"""``MetaLearner``: the small MLP that maps an edge embedding to that edge's spline and base weights."""

from __future__ import annotations

import torch

from metakan_kernels import META_ACTIVATIONS
from metakan_kernels.reference import meta_mlp_ref

INITS = ("default", "paper")
# The base weight's spread at init, in units of efficient-kan's (1/sqrt(3 I), the layer's edge_scale):
# twice it, so that a layer shrinks its input's spread about half as much (docs/init.md, "Depth").
BASE_GAIN = 2.0
# Spline coefficients start at this fraction of efficient-kan's base spread (efficient-kan's start small).
SPLINE_FRACTION = 0.1
# Standard-normal inputs through which the default init measures the generated weights' statistics.
INIT_SAMPLES = 4096


def check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


class MetaLearner(torch.nn.Module):
    """``w = fc2(act(fc1(z)))``: (..., embedding_dim) -> (..., num_bases + 1).

    The first ``num_bases`` outputs are spline coefficients, the last is the base weight. One
    instance may be shared by several layers (pass it as ``meta_learner=``).

    ``init="paper"``: Xavier-normal weights and zero biases, as in the MetaKAN paper's code.
    ``init="default"``: a unit-scale, centred generator. For standard-normal inputs ``u`` its base
    weight output has mean 0 and standard deviation :data:`BASE_GAIN` and its spline outputs mean 0
    and standard deviation :data:`SPLINE_FRACTION`, measured on :data:`INIT_SAMPLES` draws (a
    :class:`~metakan.MetaKANLinear` then scales inputs and outputs per layer; see docs/init.md).
    """

    def __init__(self, embedding_dim: int, hidden_dim: int, num_bases: int, activation: str = "relu",
                 init: str = "default"):
        super().__init__()
        if activation not in META_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(META_ACTIVATIONS)}, got {activation!r}")
        for name, value in (("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim), ("num_bases", num_bases)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_bases = num_bases
        self.activation = activation
        self.init = check_init(init)
        self.fc1 = torch.nn.Linear(embedding_dim, hidden_dim)
        self.fc2 = torch.nn.Linear(hidden_dim, num_bases + 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init == "paper":
            for fc in (self.fc1, self.fc2):
                torch.nn.init.xavier_normal_(fc.weight)
                torch.nn.init.zeros_(fc.bias)
            return
        with torch.no_grad():
            # Pre-activations of unit variance, with kinks (biases) spread over the inputs' range so
            # that a one-dimensional embedding still meets many different hidden units.
            torch.nn.init.normal_(self.fc1.weight, std=self.embedding_dim ** -0.5)
            torch.nn.init.normal_(self.fc1.bias)
            torch.nn.init.normal_(self.fc2.weight, std=self.hidden_dim ** -0.5)
            inputs = torch.randn(INIT_SAMPLES, self.embedding_dim, dtype=self.fc1.weight.dtype)
            hidden = META_ACTIVATIONS[self.activation](self.fc1(inputs))
            spread = (hidden - hidden.mean(0)) @ self.fc2.weight.T
            target = torch.full((self.num_bases + 1,), SPLINE_FRACTION, dtype=spread.dtype)
            target[-1] = BASE_GAIN
            self.fc2.weight.mul_((target / spread.std(0).clamp_min(1e-12)).unsqueeze(1))
            # Centred: the generated weights have mean zero over the edges of a layer.
            self.fc2.bias.copy_(-(hidden.mean(0) @ self.fc2.weight.T))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return meta_mlp_ref(embedding, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias, self.activation)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, init={self.init!r}"
