"""Pruning a trained KAN or MetaKAN network: hidden nodes whose edges are all unimportant are removed."""

from __future__ import annotations

import copy
import math
from typing import List, NamedTuple

import torch

from ..kan_layer import KANLinear
from ..metakan_layer import MetaKANLinear
from .edges import edge_scores, network_layers, relative_scores


class NodeScores(NamedTuple):
    """Each hidden layer's nodes: the largest importance of an edge into it and of an edge out of it."""

    incoming: List[torch.Tensor]
    outgoing: List[torch.Tensor]


def node_scores(scores: List[torch.Tensor]) -> NodeScores:
    """From the per-layer edge importances (O, I): for hidden layer l (the outputs of layer l, the inputs
    of layer l + 1), ``incoming = max_i |φ^l_{o,i}|_1`` and ``outgoing = max_j |φ^{l+1}_{j,o}|_1``."""
    incoming = [score.amax(dim=1) for score in scores[:-1]]
    outgoing = [score.amax(dim=0) for score in scores[1:]]
    return NodeScores(incoming, outgoing)


def kept_nodes(scores: List[torch.Tensor], threshold: float) -> List[torch.Tensor]:
    """The indices of every layer's nodes that stay: all inputs and outputs, and the hidden nodes whose
    incoming and outgoing scores are both at least ``threshold`` (the KAN paper's rule). A hidden layer
    keeps at least its best node, so that the network stays connected."""
    nodes = node_scores(scores)
    kept = [torch.arange(scores[0].shape[1], device=scores[0].device)]
    for incoming, outgoing in zip(nodes.incoming, nodes.outgoing):
        importance = torch.minimum(incoming, outgoing)
        index = torch.nonzero(importance >= threshold).flatten()
        kept.append(index if len(index) else importance.argmax().reshape(1))
    kept.append(torch.arange(scores[-1].shape[0], device=scores[-1].device))
    return kept


@torch.no_grad()
def _slice_kan(layer: KANLinear, outputs: torch.Tensor, inputs: torch.Tensor) -> None:
    layer.base_weight = torch.nn.Parameter(layer.base_weight[outputs][:, inputs].clone())
    layer.spline_weight = torch.nn.Parameter(layer.spline_weight[outputs][:, inputs].clone())
    if layer.enable_standalone_scale_spline:
        layer.spline_scaler = torch.nn.Parameter(layer.spline_scaler[outputs][:, inputs].clone())
    layer.grid = layer.grid[inputs].contiguous()


@torch.no_grad()
def _slice_metakan(layer: MetaKANLinear, outputs: torch.Tensor, inputs: torch.Tensor) -> None:
    layer._edge_scale = layer.edge_scale  # the factor follows in_features unless pinned: keep the function
    layer.embedding = torch.nn.Parameter(layer.embedding[outputs][:, inputs].clone())


@torch.no_grad()
def prune(model: torch.nn.Module, x: torch.Tensor, threshold: float = 1e-2, relative: bool = False) -> torch.nn.Module:
    """A smaller network of the same kind: the hidden nodes whose incoming or outgoing edges all have
    ``|φ|_1 < threshold`` on the samples x (N, in_features) are removed, with their edges. With
    ``relative`` the scores are first divided by their layer's largest (:func:`relative_scores`).

    The model is left as it was; the result is a copy. A KAN layer keeps its remaining edges' weights,
    scalers and knots. A MetaKAN layer keeps its remaining edges' embeddings and its meta-learner
    (shared meta-learners stay shared), so every remaining edge computes the same function as before.
    The outputs change only by the removed nodes' contributions (each below ``threshold`` per edge).
    Returns the pruned network; its ``pruned_widths`` attribute lists the new widths and ``kept_nodes``
    the indices (in the original network) of every layer's nodes that stay.
    """
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    scores = edge_scores(model, x)
    kept = kept_nodes(relative_scores(scores) if relative else scores, threshold)
    pruned = copy.deepcopy(model)
    for layer, inputs, outputs in zip(network_layers(pruned), kept, kept[1:]):
        (_slice_metakan if isinstance(layer, MetaKANLinear) else _slice_kan)(layer, outputs, inputs)
        layer.in_features, layer.out_features = len(inputs), len(outputs)
    pruned.pruned_widths = [len(index) for index in kept]
    pruned.kept_nodes = [index.tolist() for index in kept]
    return pruned
