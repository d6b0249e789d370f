"""The edges of a KAN or MetaKAN network: their importance ``|φ|_1`` and the inputs each layer sees."""

from __future__ import annotations

from typing import List, Tuple, Union

import torch

from ..kan_layer import KANLinear
from ..metakan_layer import MetaKANLinear

Layer = Union[KANLinear, MetaKANLinear]


def network_layers(model: torch.nn.Module) -> List[Layer]:
    """The layers of a stacked network (``model.layers``, e.g. :class:`~metakan.KAN` or
    :class:`~metakan.MetaKAN`), each a KAN or MetaKAN layer feeding the next."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        raise TypeError(f"expected a KAN or MetaKAN network (a model with .layers), got {type(model).__name__}")
    for index, layer in enumerate(layers):
        if not isinstance(layer, (KANLinear, MetaKANLinear)):
            raise TypeError(f"layer {index} is a {type(layer).__name__}, not a KANLinear or MetaKANLinear")
    for index, (a, b) in enumerate(zip(layers, layers[1:])):
        if a.out_features != b.in_features:
            raise ValueError(f"layer {index} has {a.out_features} outputs but layer {index + 1} "
                             f"takes {b.in_features} inputs")
    return list(layers)


def forward_with_edge_l1(model: torch.nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """The network's output on x and every layer's ``|φ|_1`` on the inputs it received there:
    (output, [(out_features, in_features) per layer])."""
    scores = []
    for layer in network_layers(model):
        flat = x.reshape(-1, layer.in_features)
        scores.append(layer.edge_l1(flat))
        x = layer(x)
    return x, scores


@torch.no_grad()
def layer_inputs(model: torch.nn.Module, x: torch.Tensor) -> List[torch.Tensor]:
    """The input of every layer of the network on x (N, in_features): [(N, layer.in_features), ...]."""
    inputs = []
    for layer in network_layers(model):
        inputs.append(x)
        x = layer(x)
    return inputs


@torch.no_grad()
def edge_scores(model: torch.nn.Module, x: torch.Tensor) -> List[torch.Tensor]:
    """Every edge's importance ``|φ_oi|_1`` on the samples x (N, in_features), as the KAN paper defines it:
    a list of (out_features, in_features) tensors, one per layer."""
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty (samples, in_features) batch, got shape {tuple(x.shape)}")
    return forward_with_edge_l1(model, x)[1]


def relative_scores(scores: List[torch.Tensor]) -> List[torch.Tensor]:
    """Each layer's edge importances divided by the layer's largest (zeros stay zeros). A KAN's function
    does not change when one layer's edges are scaled up and the next layer's inputs scaled down, so an
    absolute threshold depends on where training left that scale; a relative one does not (a MetaKAN's
    generated edges, for one, often all lie below pykan's absolute 1e-2 in the first layer)."""
    return [score / score.max().clamp_min(torch.finfo(score.dtype).tiny) for score in scores]
