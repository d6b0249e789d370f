"""``MetaLearner``: the small MLP that maps an edge embedding to that edge's spline and base weights."""

from __future__ import annotations

import torch

from metakan_kernels import META_ACTIVATIONS
from metakan_kernels.reference import meta_mlp_ref


class MetaLearner(torch.nn.Module):
    """``w = fc2(act(fc1(z)))``: (..., embedding_dim) -> (..., num_bases + 1).

    The first ``num_bases`` outputs are spline coefficients, the last is the base weight.
    Weights are Xavier-normal and biases zero, as in the MetaKAN paper's code. One instance may
    be shared by several layers (pass it as ``meta_learner=``).
    """

    def __init__(self, embedding_dim: int, hidden_dim: int, num_bases: int, activation: str = "relu"):
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
        self.fc1 = torch.nn.Linear(embedding_dim, hidden_dim)
        self.fc2 = torch.nn.Linear(hidden_dim, num_bases + 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for fc in (self.fc1, self.fc2):
            torch.nn.init.xavier_normal_(fc.weight)
            torch.nn.init.zeros_(fc.bias)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return meta_mlp_ref(embedding, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias, self.activation)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"
