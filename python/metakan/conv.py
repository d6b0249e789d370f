"""``KANConv2d`` and ``MetaKANConv2d``: 2-D convolutions whose kernels are KAN edges, on the fused linear ops."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .kan_layer import KANLinear
from .metakan_layer import MetaKANLinear

IntPair = Union[int, Tuple[int, int]]


def _pair(value: IntPair, name: str, minimum: int) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in pair):
        raise ValueError(f"{name} must be an integer >= {minimum} or a pair of them, got {value!r}")
    return pair


class _PatchConv2d(torch.nn.Module):
    """Unfold the input into patches and apply one KAN layer to all of them at once.

    Every (output channel, input channel, kernel position) is one edge of ``self.layer``, whose
    ``in_features`` is ``in_channels * kh * kw`` (channel-major, as ``F.unfold`` orders them).
    Padding pads the input with zeros, so a padded position contributes that edge's φ(0).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair,
                 padding: IntPair, dilation: IntPair):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.dilation = _pair(dilation, "dilation", 1)

    @property
    def patch_features(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    @property
    def last_backend(self) -> Optional[str]:
        return self.layer.last_backend

    def output_size(self, height: int, width: int) -> Tuple[int, int]:
        return tuple(
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip((height, width), self.padding, self.dilation, self.kernel_size, self.stride)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (batch, {self.in_channels}, height, width), got {tuple(x.shape)}")
        out_h, out_w = self.output_size(x.shape[2], x.shape[3])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"input of {tuple(x.shape[2:])} pixels is smaller than the kernel {self.kernel_size}")
        patches = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)  # (N, C*kh*kw, L)
        y = self.layer(patches.transpose(1, 2))  # (N, L, out_channels): one call for every patch
        return y.transpose(1, 2).reshape(x.shape[0], self.out_channels, out_h, out_w)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}"
        )


class KANConv2d(_PatchConv2d):
    """2-D convolution with a B-spline KAN edge per (out channel, in channel, kernel position).

    Input (N, in_channels, H, W) -> output (N, out_channels, H', W'), H' and W' as ``nn.Conv2d``'s.
    ``layer`` is the :class:`KANLinear` (``in_channels * kh * kw`` -> ``out_channels``) it applies
    to every patch; the other keyword arguments go to it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, dilation: IntPair = 1, grid_size: int = 5, spline_order: int = 3,
                 grid_range: Sequence[float] = (-1, 1), backend: str = "auto", **kan_kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation)
        self.layer = KANLinear(self.patch_features, out_channels, grid_size=grid_size, spline_order=spline_order,
                               grid_range=grid_range, backend=backend, **kan_kwargs)


class MetaKANConv2d(_PatchConv2d):
    """2-D convolution whose edges' spline weights come from a (possibly shared) meta-learner.

    Input (N, in_channels, H, W) -> output (N, out_channels, H', W'). ``layer`` is the
    :class:`MetaKANLinear` (``in_channels * kh * kw`` -> ``out_channels``) applied to every patch:
    one embedding per (out channel, in channel, kernel position).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, dilation: IntPair = 1, grid_size: int = 5, spline_order: int = 3,
                 embedding_dim: int = 1, hidden_dim: int = 32, grid_range: Sequence[float] = (-1, 1),
                 meta_learner: Optional[torch.nn.Module] = None, meta_activation: str = "relu",
                 backend: str = "auto", init: str = "default"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation)
        self.layer = MetaKANLinear(self.patch_features, out_channels, grid_size=grid_size, spline_order=spline_order,
                                   embedding_dim=embedding_dim, hidden_dim=hidden_dim, grid_range=grid_range,
                                   meta_learner=meta_learner, meta_activation=meta_activation, backend=backend,
                                   init=init)
