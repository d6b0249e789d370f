"""``MetaKANLinear``: a KAN layer whose per-edge spline weights come from a shared meta-learner."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

import metakan_kernels as mk
from metakan_kernels.reference import meta_mlp_ref

from .kan_layer import KANLinear
from .meta_learner import MetaLearner, check_init


class MetaKANLinear(torch.nn.Module):
    """MetaKAN layer: edge (o, i) has an embedding ``z[o, i]`` (``embedding_dim`` numbers) and the
    meta-learner maps it to the edge's ``G + k`` spline coefficients and its base weight.

    Parameters: ``embedding`` (out_features, in_features, embedding_dim) and those of
    ``meta_learner`` (a :class:`MetaLearner` built here, or one passed in to share it between
    layers; any module mapping (..., embedding_dim) -> (..., G + k + 1) also works, through a
    slower path that materializes the generated weights).

    Input (*, in_features) -> output (*, out_features). With a :class:`MetaLearner`, the fused
    backends generate the coefficients inside the kernel; ``last_backend`` says which one ran.

    ``init="default"`` makes the generated weights start with the statistics of an efficient-kan
    layer (base weights at twice its spread, independent across edges and centred) at any width, depth
    and meta-learner size, and keep learning at a KAN's pace under a plain
    ``Adam(model.parameters())``: embeddings drawn with standard deviation
    ``edge_scale = 1/sqrt(3 * in_features)``, and the layer computes
    ``w = edge_scale * meta_learner(embedding / edge_scale)`` (the two fixed factors are folded into
    the meta-learner's small weight matrices before the op, so the fused kernels run unchanged).
    ``init="paper"`` is the MetaKAN paper's code: Xavier-normal embeddings over the
    (out*in, embedding_dim) matrix, ``edge_scale = 1``. docs/init.md derives both. ``edge_scale=``
    sets the factor explicitly instead (pruning keeps a layer's function with it).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        embedding_dim: int = 1,
        hidden_dim: int = 32,
        grid_range: Sequence[float] = (-1, 1),
        meta_learner: Optional[torch.nn.Module] = None,
        meta_activation: str = "relu",
        backend: str = "auto",
        init: str = "default",
        edge_scale: Optional[float] = None,
    ):
        super().__init__()
        spec = mk.make_spec(grid_size, spline_order, grid_range)
        self.init = check_init(init)
        if edge_scale is not None and not (isinstance(edge_scale, (int, float)) and 0 < edge_scale < float("inf")):
            raise ValueError(f"edge_scale must be a positive finite number or None, got {edge_scale!r}")
        self._edge_scale = None if edge_scale is None else float(edge_scale)
        if meta_learner is None:
            meta_learner = MetaLearner(embedding_dim, hidden_dim, spec.num_bases, meta_activation, init)
        elif isinstance(meta_learner, MetaLearner):
            if (meta_learner.embedding_dim, meta_learner.num_bases) != (embedding_dim, spec.num_bases):
                raise ValueError(
                    "meta_learner must map embedding_dim -> grid_size + spline_order + 1 = "
                    f"{embedding_dim} -> {spec.num_bases + 1}, got {meta_learner.embedding_dim} -> "
                    f"{meta_learner.num_bases + 1}"
                )
        elif not isinstance(meta_learner, torch.nn.Module):
            raise TypeError(f"meta_learner must be a torch.nn.Module or None, got {type(meta_learner).__name__}")
        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.embedding_dim = embedding_dim
        self.grid_range = (spec.lo, spec.hi)
        self.backend = backend
        self.last_backend = None
        self.meta_learner = meta_learner
        self.embedding = torch.nn.Parameter(torch.empty(out_features, in_features, embedding_dim))
        self.reset_parameters()

    @property
    def edge_scale(self) -> float:
        """The spread of a base weight of efficient-kan's init (kaiming-uniform, bound
        ``1/sqrt(in_features)``) under ``init="default"``; 1 under ``init="paper"``; or the
        ``edge_scale`` given to the constructor (a pruned layer keeps its original one)."""
        if self._edge_scale is not None:
            return self._edge_scale
        if self.init == "paper":
            return 1.0
        return (3.0 * max(self.in_features, 1)) ** -0.5

    def reset_parameters(self) -> None:
        """Embeddings: N(0, edge_scale²) (default), or Xavier-normal over the (out*in,
        embedding_dim) matrix as in the paper's code."""
        if self.embedding.numel() == 0:
            return
        if self.init == "paper":
            torch.nn.init.xavier_normal_(self.embedding.view(-1, self.embedding_dim))
        else:
            torch.nn.init.normal_(self.embedding, std=self.edge_scale)

    @property
    def num_bases(self) -> int:
        return self.grid_size + self.spline_order

    def _options(self) -> dict:
        return dict(
            grid_size=self.grid_size, spline_order=self.spline_order, grid_range=self.grid_range, grid=None,
            backend=self.backend,
        )

    def meta_weights(self, learner: MetaLearner) -> tuple:
        """``(w1, b1, w2, b2)`` of ``learner`` with this layer's fixed factors folded in:
        ``w2 act(w1 z + b1) + b2 = s * learner(z / s)`` for ``s = edge_scale``."""
        w1, b1, w2, b2 = learner.fc1.weight, learner.fc1.bias, learner.fc2.weight, learner.fc2.bias
        scale = self.edge_scale
        if scale == 1.0:
            return w1, b1, w2, b2
        return w1 / scale, b1, w2 * scale, b2 * scale

    def generated_weights(self) -> torch.Tensor:
        """The meta-learner's output for every edge: (out_features, in_features, G + k + 1)."""
        learner, scale = self.meta_learner, self.edge_scale
        if isinstance(learner, MetaLearner):
            weights = meta_mlp_ref(self.embedding, *self.meta_weights(learner), learner.activation)
        else:
            weights = scale * learner(self.embedding / scale) if scale != 1.0 else learner(self.embedding)
        expected = (self.out_features, self.in_features, self.num_bases + 1)
        if tuple(weights.shape) != expected:
            raise ValueError(
                f"meta_learner must map the embedding {tuple(self.embedding.shape)} to shape "
                f"(out_features, in_features, grid_size + spline_order + 1) = {expected}, got {tuple(weights.shape)}"
            )
        return weights

    def edge_values(self, t: torch.Tensor) -> torch.Tensor:
        """Every edge's function at t (N, in_features) -> (N, out_features, in_features), from the
        generated weights (see :meth:`KANLinear.edge_values`)."""
        return self.to_kan().edge_values(t)

    def edge_l1(self, x: torch.Tensor) -> torch.Tensor:
        """Each edge's importance ``|φ_oi|_1 = mean_n |φ_oi(x[n, i])|`` on x (..., in_features):
        (out_features, in_features), differentiable in the embeddings and the meta-learner."""
        learner = self.meta_learner
        if isinstance(learner, MetaLearner):
            return mk.metakan_edge_l1(
                x, self.embedding, *self.meta_weights(learner), meta_activation=learner.activation,
                **self._options(),
            )
        weights = self.generated_weights()
        return mk.kan_edge_l1(x, weights[..., : self.num_bases], weights[..., self.num_bases], **self._options())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        learner = self.meta_learner
        if isinstance(learner, MetaLearner):
            y = mk.metakan_linear(
                x, self.embedding, *self.meta_weights(learner), meta_activation=learner.activation,
                **self._options(),
            )
            meta_sizes = (self.embedding_dim, learner.fc1.weight.shape[0])
        else:
            weights = self.generated_weights()
            coef, base_weight = weights[..., : self.num_bases], weights[..., self.num_bases]
            y = mk.kan_linear(x, coef, base_weight, **self._options())
            meta_sizes = ()
        self.last_backend = mk.resolve_backend(
            self.backend, x.device, x.dtype, grid_size=self.grid_size, spline_order=self.spline_order,
            grid_range=self.grid_range,
            sizes=mk.CallSizes(math.prod(x.shape[:-1]), self.in_features, self.out_features, *meta_sizes),
        )
        return y

    def refine(self, new_grid_size: int) -> "MetaKANLinear":
        """A new layer on ``new_grid_size`` uniform intervals that computes this layer's function on the
        grid's range (exactly when ``new_grid_size`` is a multiple of ``grid_size``, else in least
        squares): the embeddings and the meta-learner's first layer as they are, the last layer's
        spline rows times the refinement matrix. The new layer has its own refined copy of the
        meta-learner (:meth:`MetaKAN.refine` keeps a shared one shared); ``refine_error`` as in
        :meth:`KANLinear.refine`. This layer is left as it is. See docs/refine.md."""
        from .refine import refine_metakan_layer

        return refine_metakan_layer(self, new_grid_size)

    @torch.no_grad()
    def to_kan(self) -> KANLinear:
        """A :class:`KANLinear` holding the generated weights; its outputs match this layer's."""
        weights = self.generated_weights()
        kan = KANLinear(
            self.in_features, self.out_features, self.grid_size, self.spline_order,
            enable_standalone_scale_spline=False, grid_range=self.grid_range, backend=self.backend,
        ).to(device=weights.device, dtype=weights.dtype)
        kan.spline_weight.copy_(weights[..., : self.num_bases])
        kan.base_weight.copy_(weights[..., self.num_bases])
        return kan

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, embedding_dim={self.embedding_dim}, init={self.init!r}, "
            f"backend={self.backend!r}"
        )
