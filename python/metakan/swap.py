"""``replace_linear``: turn the ``nn.Linear`` layers of an existing model into KAN or MetaKAN layers."""

from __future__ import annotations

from typing import Callable, List, Optional

import torch

from .kan_layer import KANLinear
from .metakan_layer import MetaKANLinear

_KINDS = {"kan": KANLinear, "metakan": MetaKANLinear}


class WithBias(torch.nn.Module):
    """``layer(x) + bias``: keeps the bias of a replaced ``nn.Linear``. (*, in) -> (*, out)."""

    def __init__(self, layer: torch.nn.Module, bias: torch.Tensor):
        super().__init__()
        self.layer = layer
        self.bias = torch.nn.Parameter(bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x) + self.bias


def replace_linear(
    model: torch.nn.Module,
    kind: str = "metakan",
    filter: Optional[Callable[[str, torch.nn.Linear], bool]] = None,
    **layer_kwargs,
) -> List[str]:
    """Replace, in place, every ``nn.Linear`` of ``model`` for which ``filter(name, module)`` is true
    (all of them when ``filter`` is None) by a :class:`KANLinear` (``kind="kan"``) or
    :class:`MetaKANLinear` (``kind="metakan"``) of the same sizes, built with ``layer_kwargs`` on the
    linear layer's device and dtype. A linear layer's bias is kept as an added bias (:class:`WithBias`).
    The root module itself and the projections owned by ``nn.MultiheadAttention`` (which reads their
    weights directly) are never replaced.

    Returns the qualified names of the replaced layers, in ``named_modules`` order.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    # nn.MultiheadAttention reads its out_proj's weight directly instead of calling it: never swap those.
    attention_owned = {
        id(child) for module in model.modules() if isinstance(module, torch.nn.MultiheadAttention)
        for child in module.children()
    }
    chosen = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name and id(module) not in attention_owned
        and (filter is None or filter(name, module))
    ]
    for name, linear in chosen:
        layer = _KINDS[kind](linear.in_features, linear.out_features, **layer_kwargs)
        layer = layer.to(device=linear.weight.device, dtype=linear.weight.dtype)
        if linear.bias is not None:
            layer = WithBias(layer, linear.bias)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer)
    return [name for name, _ in chosen]
