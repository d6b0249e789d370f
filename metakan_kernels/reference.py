"""Pure-PyTorch reference ops: the materializing oracle every fused backend is tested against.

Everything here is differentiable to any order and runs in any floating dtype (float64 included),
so it doubles as the ``reference`` backend and as the ground truth for ``gradcheck``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "META_ACTIVATIONS",
    "uniform_knots",
    "b_spline_bases",
    "kan_linear_ref",
    "meta_mlp_ref",
    "metakan_linear_ref",
    "kan_edge_l1_ref",
    "metakan_edge_l1_ref",
]

META_ACTIVATIONS = {
    "relu": F.relu,
    "silu": F.silu,
    "gelu": F.gelu,  # exact (erf) form
    "tanh": torch.tanh,
    "identity": lambda h: h,  # an affine meta-learner, as in the MetaKAN paper's image-classification models
}


def uniform_knots(
    in_features: int,
    grid_size: int,
    spline_order: int,
    grid_range: Sequence[float] = (-1.0, 1.0),
    *,
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """Uniform knots ``t_j = lo + (j - k) h``, ``h = (hi - lo) / G``, as efficient-kan builds them.

    Returns: (in_features, grid_size + 2 * spline_order + 1), an expanded (stride-0) view.
    """
    lo, hi = float(grid_range[0]), float(grid_range[1])
    h = (hi - lo) / grid_size
    # Same expression as efficient-kan (arange times a Python float), so that float32 knots are
    # bit-identical to the ones in its state dicts; float64 knots are computed in float64.
    dtype = dtype or torch.get_default_dtype()
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    knots = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=compute, device=device)
    return (knots * h + lo).to(dtype).expand(in_features, -1)


def b_spline_bases(x: torch.Tensor, knots: torch.Tensor, spline_order: int) -> torch.Tensor:
    """B-spline bases by the Cox–de Boor recursion on half-open intervals ``[t_j, t_{j+1})``.

    x: (B, I); knots: (I, G + 2k + 1), strictly increasing along the last dim.
    Returns: (B, I, G + k). Every basis is exactly zero outside ``[t_0, t_{G+2k})`` (also for
    ``±inf``); a NaN input gives NaN bases.
    """
    knots = knots.to(x.dtype)
    xe = x.unsqueeze(-1)
    inside = (xe >= knots[:, :1]) & (xe < knots[:, -1:])
    # Evaluate at a safe point where x is outside the span, so that neither the value nor the
    # gradient picks up inf * 0 from the recursion; the mask then zeroes those bases.
    xs = torch.where(inside, xe, knots[:, :1])
    bases = ((xs >= knots[:, :-1]) & (xs < knots[:, 1:])).to(x.dtype)
    for j in range(1, spline_order + 1):
        left = (xs - knots[:, : -(j + 1)]) / (knots[:, j:-1] - knots[:, : -(j + 1)])
        right = (knots[:, j + 1 :] - xs) / (knots[:, j + 1 :] - knots[:, 1:-j])
        bases = left * bases[..., :-1] + right * bases[..., 1:]
    bases = bases * inside.to(x.dtype)
    return torch.where(torch.isnan(xe), xe, bases)


def kan_linear_ref(
    x: torch.Tensor,
    coef: torch.Tensor,
    base_weight: Optional[torch.Tensor],
    knots: torch.Tensor,
    spline_order: int,
    coef_scale: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """``y[b,o] = Σ_i wb[o,i] silu(x[b,i]) + Σ_i Σ_m s[o,i] coef[o,i,m] B_m(x[b,i])``.

    x: (B, I); coef: (O, I, K); base_weight: (O, I) or None (no base term); knots: (I, K + k + 1);
    coef_scale: s, (O, I), or None for s = 1. Returns: (B, O). Materializes the (B, I, K) basis tensor.
    """
    if coef_scale is not None:
        coef = coef * coef_scale.unsqueeze(-1)
    bases = b_spline_bases(x, knots, spline_order)
    y = F.linear(bases.flatten(1), coef.flatten(1))
    if base_weight is not None:
        y = y + F.linear(F.silu(x), base_weight)
    return y


def meta_mlp_ref(
    embedding: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    activation: str = "relu",
) -> torch.Tensor:
    """The meta-learner ``w = W2 act(W1 z + b1) + b2`` applied to every edge embedding.

    embedding: (O, I, d); w1: (H, d); b1: (H,); w2: (K + 1, H); b2: (K + 1,).
    Returns: (O, I, K + 1): spline coefficients in ``[..., :K]``, base weight in ``[..., K]``.
    """
    hidden = META_ACTIVATIONS[activation](F.linear(embedding, w1, b1))
    return F.linear(hidden, w2, b2)


def metakan_linear_ref(
    x: torch.Tensor,
    embedding: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    knots: torch.Tensor,
    spline_order: int,
    activation: str = "relu",
) -> torch.Tensor:
    """MetaKAN layer as the paper's code computes it: generate all coefficients, then a KAN layer.

    x: (B, I); embedding: (O, I, d); w1: (H, d); b1: (H,); w2: (K + 1, H); b2: (K + 1,).
    Returns: (B, O). Materializes (B, I, K) bases, (O, I, H) hidden and (O, I, K + 1) weights.
    """
    weights = meta_mlp_ref(embedding, w1, b1, w2, b2, activation)
    num_bases = weights.shape[-1] - 1
    # contiguous, so that the result is bit-identical to a KAN layer holding these weights
    coef, base_weight = weights[..., :num_bases].contiguous(), weights[..., num_bases].contiguous()
    return kan_linear_ref(x, coef, base_weight, knots, spline_order)


def kan_edge_l1_ref(
    x: torch.Tensor,
    coef: torch.Tensor,
    base_weight: Optional[torch.Tensor],
    knots: torch.Tensor,
    spline_order: int,
    coef_scale: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Each edge's batch mean ``|φ_oi|_1 = mean_b |φ_oi(x[b,i])|`` (the KAN paper's edge L1 norm), where
    ``φ_oi(t) = wb[o,i] silu(t) + Σ_m s[o,i] coef[o,i,m] B_m(t)`` is the edge's term of :func:`kan_linear_ref`.

    Arguments as :func:`kan_linear_ref`. Returns: (O, I); NaN for an empty batch (a mean of nothing).
    Differentiable (the gradient of ``|φ|`` is taken as 0 where ``φ = 0``). Materializes (B, O, I).
    """
    if coef_scale is not None:
        coef = coef * coef_scale.unsqueeze(-1)
    bases = b_spline_bases(x, knots, spline_order)
    phi = torch.einsum("bik,oik->boi", bases, coef)
    if base_weight is not None:
        phi = phi + F.silu(x).unsqueeze(1) * base_weight
    return phi.abs().mean(0)


def metakan_edge_l1_ref(
    x: torch.Tensor,
    embedding: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    knots: torch.Tensor,
    spline_order: int,
    activation: str = "relu",
) -> torch.Tensor:
    """:func:`kan_edge_l1_ref` of the MetaKAN layer's generated weights; arguments as
    :func:`metakan_linear_ref`. Returns: (O, I)."""
    weights = meta_mlp_ref(embedding, w1, b1, w2, b2, activation)
    num_bases = weights.shape[-1] - 1
    return kan_edge_l1_ref(x, weights[..., :num_bases], weights[..., num_bases], knots, spline_order)
