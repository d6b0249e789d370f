"""metakan: KAN and MetaKAN layers and networks on fused B-spline kernels."""

from metakan_kernels import available_backends, kan_linear, metakan_linear, use_deterministic

from .conv import KANConv2d, MetaKANConv2d
from .kan_layer import KANLinear
from .meta_learner import MetaLearner
from .metakan_layer import MetaKANLinear
from .networks import KAN, MetaKAN, cluster_layers, param_groups
from .swap import WithBias, replace_linear

__version__ = "0.1.0"

__all__ = [
    "KAN",
    "KANConv2d",
    "KANLinear",
    "MetaKAN",
    "MetaKANConv2d",
    "MetaKANLinear",
    "MetaLearner",
    "available_backends",
    "cluster_layers",
    "kan_linear",
    "metakan_linear",
    "param_groups",
    "replace_linear",
    "use_deterministic",
    "WithBias",
]
