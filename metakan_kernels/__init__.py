"""metakan_kernels: B-spline KAN and MetaKAN layer ops with interchangeable backends."""

from .backends import (
    BackendUnavailable,
    CallSizes,
    available_backends,
    known_backends,
    resolve_backend,
)
from .config import deterministic, use_deterministic
from .ops import kan_edge_l1, kan_linear, metakan_edge_l1, metakan_linear
from .reference import META_ACTIVATIONS, b_spline_bases, uniform_knots
from .spec import MAX_SPLINE_ORDER, SplineSpec, make_spec

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "CallSizes",
    "META_ACTIVATIONS",
    "MAX_SPLINE_ORDER",
    "SplineSpec",
    "available_backends",
    "b_spline_bases",
    "deterministic",
    "kan_edge_l1",
    "kan_linear",
    "known_backends",
    "make_spec",
    "metakan_edge_l1",
    "metakan_linear",
    "resolve_backend",
    "uniform_knots",
    "use_deterministic",
]
