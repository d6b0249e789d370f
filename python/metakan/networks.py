"""Stacked networks ``KAN`` and ``MetaKAN`` (with meta-learner sharing) and their optimiser groups."""

from __future__ import annotations

import copy
import math
from typing import List, Sequence, Union

import torch

from .kan_layer import KANLinear
from .meta_learner import MetaLearner
from .metakan_layer import MetaKANLinear


class KAN(torch.nn.Module):
    """efficient-kan's ``KAN``: a stack of :class:`KANLinear` of widths ``layers_hidden``.

    Input (*, layers_hidden[0]) -> output (*, layers_hidden[-1]).
    """

    def __init__(
        self,
        layers_hidden: Sequence[int],
        grid_size: int = 5,
        spline_order: int = 3,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        base_activation=torch.nn.SiLU,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1, 1),
        backend: str = "auto",
    ):
        super().__init__()
        _check_widths(layers_hidden)
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.layers = torch.nn.ModuleList(
            KANLinear(
                fan_in, fan_out, grid_size=grid_size, spline_order=spline_order, scale_noise=scale_noise,
                scale_base=scale_base, scale_spline=scale_spline, base_activation=base_activation,
                grid_eps=grid_eps, grid_range=grid_range, backend=backend,
            )
            for fan_in, fan_out in zip(layers_hidden, layers_hidden[1:])
        )

    def forward(self, x: torch.Tensor, update_grid: bool = False) -> torch.Tensor:
        for layer in self.layers:
            if update_grid:
                layer.update_grid(x)
            x = layer(x)
        return x

    def refine(self, new_grid_size: int) -> "KAN":
        """A copy of the network with every layer refined (:meth:`KANLinear.refine`); its
        ``refine_errors`` lists each layer's ``refine_error``. This network is left as it is."""
        refined = copy.deepcopy(self, memo={id(layer): layer.refine(new_grid_size) for layer in self.layers})
        refined.grid_size = new_grid_size
        refined.refine_errors = [layer.refine_error for layer in refined.layers]
        return refined

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0):
        return sum(layer.regularization_loss(regularize_activation, regularize_entropy) for layer in self.layers)


class MetaKAN(torch.nn.Module):
    """A stack of :class:`MetaKANLinear` of widths ``layers_hidden``.

    ``share`` chooses the meta-learners: ``"layer"`` one per layer, ``"all"`` one for the whole
    network, or an integer ``n``: layers clustered by k-means on their sizes into at most ``n``
    groups, one meta-learner per group (the MetaKAN paper's Algorithm 2). ``init`` is every layer's
    and meta-learner's (see :class:`MetaKANLinear`); with ``"default"`` a shared meta-learner serves
    layers of any width, each layer applying its own fixed scale.

    Input (*, layers_hidden[0]) -> output (*, layers_hidden[-1]).
    """

    def __init__(
        self,
        layers_hidden: Sequence[int],
        grid_size: int = 5,
        spline_order: int = 3,
        embedding_dim: int = 1,
        hidden_dim: int = 32,
        grid_range: Sequence[float] = (-1, 1),
        meta_activation: str = "relu",
        share: Union[str, int] = "layer",
        backend: str = "auto",
        init: str = "default",
    ):
        super().__init__()
        _check_widths(layers_hidden)
        sizes = list(zip(layers_hidden, layers_hidden[1:]))
        self.share = share
        self.layer_groups = sharing_groups(share, sizes)
        learners = [
            MetaLearner(embedding_dim, hidden_dim, grid_size + spline_order, meta_activation, init)
            for _ in range(max(self.layer_groups) + 1)
        ]
        self.layers = torch.nn.ModuleList(
            MetaKANLinear(
                fan_in, fan_out, grid_size=grid_size, spline_order=spline_order, embedding_dim=embedding_dim,
                hidden_dim=hidden_dim, grid_range=grid_range, meta_learner=learners[group], backend=backend,
                init=init,
            )
            for (fan_in, fan_out), group in zip(sizes, self.layer_groups)
        )

    @property
    def meta_learners(self) -> List[torch.nn.Module]:
        """The distinct meta-learners, in order of first use."""
        unique = {}
        for layer in self.layers:
            unique.setdefault(id(layer.meta_learner), layer.meta_learner)
        return list(unique.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def refine(self, new_grid_size: int) -> "MetaKAN":
        """A copy of the network with every layer refined (:meth:`MetaKANLinear.refine`); each distinct
        meta-learner is refined once, so layers that shared one still share it. ``refine_errors`` lists
        each layer's ``refine_error``. This network is left as it is."""
        from .refine import refine_meta_learner, refine_metakan_layer, uniform_refinement

        learners = {}  # id of an original meta-learner -> its refined copy, made once
        for layer in self.layers:
            if id(layer.meta_learner) not in learners and isinstance(layer.meta_learner, MetaLearner):
                matrix = uniform_refinement(layer, new_grid_size)[0][0]
                learners[id(layer.meta_learner)] = refine_meta_learner(layer.meta_learner, matrix)
        refined = copy.deepcopy(self, memo={
            id(layer): refine_metakan_layer(layer, new_grid_size, learners.get(id(layer.meta_learner)))
            for layer in self.layers})
        refined.refine_errors = [layer.refine_error for layer in refined.layers]
        return refined

    @torch.no_grad()
    def to_kan(self) -> KAN:
        """A :class:`KAN` with every layer's generated weights; same outputs as this network."""
        first = self.layers[0]
        kan = KAN([first.in_features] + [layer.out_features for layer in self.layers],
                  grid_size=first.grid_size, spline_order=first.spline_order, grid_range=first.grid_range,
                  backend=first.backend)
        kan.layers = torch.nn.ModuleList(layer.to_kan() for layer in self.layers)
        return kan


def _check_widths(layers_hidden: Sequence[int]) -> None:
    widths = list(layers_hidden)
    if len(widths) < 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"layers_hidden must list at least two positive integer widths, got {layers_hidden!r}")


def sharing_groups(share: Union[str, int], sizes: List[tuple]) -> List[int]:
    """Meta-learner index of each layer of sizes ``[(in, out), ...]`` under ``share`` (see :class:`MetaKAN`)."""
    if share == "layer":
        return list(range(len(sizes)))
    if share == "all":
        return [0] * len(sizes)
    if isinstance(share, int) and not isinstance(share, bool) and share >= 1:
        return cluster_layers(sizes, share)
    raise ValueError(f"share must be 'layer', 'all' or a positive number of groups, got {share!r}")


def cluster_layers(sizes: Sequence[tuple], n_groups: int, iterations: int = 100) -> List[int]:
    """Group layers by k-means on ``(log2 in_features, log2 out_features)``.

    Deterministic: centroids start at evenly spaced layers in order of size, and group ids are
    numbered in order of first appearance. Returns one group id per layer; at most ``n_groups``
    distinct ids (fewer when layers coincide).
    """
    points = torch.tensor([[math.log2(i), math.log2(o)] for i, o in sizes], dtype=torch.float64)
    n = len(sizes)
    k = min(n_groups, n)
    order = torch.argsort(points.sum(1), stable=True)
    seeds = order[torch.linspace(0, n - 1, k).round().long()]
    centroids = points[seeds].clone()
    labels = None
    for _ in range(iterations):
        nearest = torch.cdist(points, centroids).argmin(1)
        if labels is not None and torch.equal(nearest, labels):
            break
        labels = nearest
        for c in range(k):
            members = points[labels == c]
            if len(members):
                centroids[c] = members.mean(0)
    renumber = {}
    return [renumber.setdefault(int(label), len(renumber)) for label in labels]


def param_groups(
    model: torch.nn.Module, lr_embedding: float = 1e-3, lr_meta: float = 1e-3, lr_other: float = None
) -> List[dict]:
    """Optimiser parameter groups: edge embeddings, meta-learners, and everything else.

    With the default initialisation one learning rate suits all three groups (its fixed per-layer
    factors already set each group's pace: docs/init.md), so the defaults are equal and
    ``Adam(param_groups(model))`` is ``Adam(model.parameters(), lr=1e-3)``. The MetaKAN paper's
    recipes (``init="paper"``) train embeddings and meta-learners at different rates, e.g.
    ``lr_embedding=1e-2, lr_meta=1e-3`` for its image models. ``lr_other`` (default:
    ``lr_embedding``) covers the remaining parameters, e.g. plain KAN layers or normalisation.
    Empty groups are left out.
    """
    layers = [m for m in model.modules() if isinstance(m, MetaKANLinear)]
    embedding_ids = {id(layer.embedding) for layer in layers}
    learners = [layer.meta_learner for layer in layers]
    learners += [m for m in model.modules() if isinstance(m, MetaLearner)]
    meta_ids = {id(p) for learner in learners for p in learner.parameters()}
    embeddings, meta, other = [], [], []
    for param in model.parameters():
        if id(param) in embedding_ids:
            embeddings.append(param)
        elif id(param) in meta_ids:
            meta.append(param)
        else:
            other.append(param)
    groups = [
        {"params": embeddings, "lr": lr_embedding, "name": "embedding"},
        {"params": meta, "lr": lr_meta, "name": "meta_learner"},
        {"params": other, "lr": lr_embedding if lr_other is None else lr_other, "name": "other"},
    ]
    return [group for group in groups if group["params"]]

