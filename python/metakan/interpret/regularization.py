"""The KAN paper's sample-based sparsity regularization: L1 of the edges' activations plus their entropy."""

from __future__ import annotations

from typing import Sequence

import torch

from .edges import forward_with_edge_l1

# Keeps log(p) finite where an edge's |φ|_1 is exactly zero (its p log p term is then 0).
_TINY = 1e-12


def activation_regularization(scores: Sequence[torch.Tensor], l1: float = 1.0, entropy: float = 2.0) -> torch.Tensor:
    """``Σ_layers l1 · |Φ|_1 + entropy · S(Φ)`` from each layer's edge importances ``|φ_oi|_1``.

    ``|Φ|_1 = Σ_oi |φ_oi|_1`` and ``S(Φ) = -Σ_oi p_oi log p_oi`` with ``p = |φ|_1 / |Φ|_1`` (Liu et al.,
    KAN, eq. 2.17-2.20; the defaults are their μ1 = 1, μ2 = 2). Multiply by λ and add it to the loss; it
    drives most edges to zero so that :func:`~metakan.interpret.prune` can remove them.

    scores: the (out_features, in_features) importances of every layer, e.g. from
    :func:`regularized_forward`. Returns a scalar.

    Unlike ``KAN.regularization_loss`` (efficient-kan's, on the mean absolute spline *weights*, which needs
    no data), this measures what each edge contributes on the samples, including its base (SiLU) term.
    """
    total = scores[0].new_zeros(())
    for score in scores:
        norm = score.sum()
        p = score / norm.clamp_min(_TINY)
        total = total + l1 * norm - entropy * (p * (p + _TINY).log()).sum()
    return total


def regularized_forward(model: torch.nn.Module, x: torch.Tensor, l1: float = 1.0,
                        entropy: float = 2.0) -> tuple:
    """(the network's output on x, :func:`activation_regularization` of its edges on x)."""
    y, scores = forward_with_edge_l1(model, x)
    return y, activation_regularization(scores, l1, entropy)
