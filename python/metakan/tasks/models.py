"""The models the training tasks build by name: MLP, KAN or MetaKAN, fully connected or the 4-layer conv net."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Sequence, Tuple, Union

import torch

from ..conv import KANConv2d, MetaKANConv2d
from ..kan_layer import KANLinear
from ..meta_learner import INITS, MetaLearner
from ..metakan_layer import MetaKANLinear
from ..networks import KAN, MetaKAN, sharing_groups

MODEL_KINDS = ("mlp", "kan", "metakan")
ARCHITECTURES = ("fc", "conv4")
# The MetaKAN paper's 4-layer conv network: channels and strides, 3x3 kernels, padding 1.
CONV4_CHANNELS = (32, 64, 128, 256)
CONV4_STRIDES = (1, 2, 2, 1)


@dataclass
class ModelSpec:
    """Everything needed to build (and rebuild from a checkpoint) one task model.

    ``arch="fc"``: ``widths`` are the layer widths, input first. ``arch="conv4"``: ``widths`` are
    the conv channels, ``in_channels`` and ``num_classes`` the image channels and classes.
    ``hard_boundary`` multiplies the output by ``(1 - |x|²)`` (PINNs on the unit ball).
    ``meta_activation`` and ``init`` go to every MetaKAN layer and meta-learner.
    """

    kind: str
    widths: List[int]
    arch: str = "fc"
    in_channels: int = 1
    num_classes: int = 10
    grid_size: int = 5
    spline_order: int = 3
    grid_range: Tuple[float, float] = (-1.0, 1.0)
    embedding_dim: int = 1
    hidden_dim: int = 16
    share: Union[str, int] = "layer"
    meta_activation: str = "relu"
    init: str = "default"
    backend: str = "auto"
    hard_boundary: bool = False

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        self.widths = [int(w) for w in self.widths]
        self.grid_range = tuple(float(v) for v in self.grid_range)

    def to_dict(self) -> dict:
        return asdict(self)

    def build(self) -> torch.nn.Module:
        net = self._build_fc() if self.arch == "fc" else ConvNet(self)
        return HardBoundary(net) if self.hard_boundary else net

    def spline_options(self) -> dict:
        return dict(grid_size=self.grid_size, spline_order=self.spline_order, grid_range=self.grid_range,
                    backend=self.backend)

    def meta_options(self) -> dict:
        return dict(embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim,
                    meta_activation=self.meta_activation, init=self.init, **self.spline_options())

    def _build_fc(self) -> torch.nn.Module:
        if self.kind == "mlp":
            return mlp(self.widths)
        if self.kind == "kan":
            return KAN(self.widths, **self.spline_options())
        return MetaKAN(self.widths, share=self.share, **self.meta_options())


def mlp(widths: Sequence[int]) -> torch.nn.Sequential:
    """``Linear`` layers of ``widths`` with SiLU between them: (*, widths[0]) -> (*, widths[-1])."""
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        if index:
            layers.append(torch.nn.SiLU())
        layers.append(torch.nn.Linear(fan_in, fan_out))
    return torch.nn.Sequential(*layers)


class HardBoundary(torch.nn.Module):
    """``u(x) = (1 - |x|²) · net(x)``: zero on the unit sphere whatever ``net`` learns.

    x (N, d) -> (N, 1).
    """

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (1 - x.pow(2).sum(-1, keepdim=True)) * self.net(x)


class ConvNet(torch.nn.Module):
    """The MetaKAN paper's conv network: four 3x3 conv layers (``spec.widths`` channels, strides
    1, 2, 2, 1), each followed by instance normalisation and PReLU, global average pooling and a
    linear (MLP) or KAN (KAN, MetaKAN) classifier.

    Input (N, in_channels, H, W) -> logits (N, num_classes). For MetaKAN, ``spec.share`` decides
    which conv layers and the classifier share a meta-learner.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        channels = [spec.in_channels] + spec.widths
        strides = list(CONV4_STRIDES) + [1] * max(0, len(spec.widths) - len(CONV4_STRIDES))
        learners = self._meta_learners(spec, channels)
        blocks = []
        for index, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
            conv = self._conv(spec, c_in, c_out, strides[index], learners[index] if learners else None)
            blocks += [conv, torch.nn.InstanceNorm2d(c_out, affine=True), torch.nn.PReLU()]
        self.features = torch.nn.Sequential(*blocks, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        if spec.kind == "mlp":
            self.head = torch.nn.Linear(channels[-1], spec.num_classes)
        elif spec.kind == "kan":
            self.head = KANLinear(channels[-1], spec.num_classes, **spec.spline_options())
        else:
            self.head = MetaKANLinear(channels[-1], spec.num_classes, meta_learner=learners[-1], **spec.meta_options())

    @staticmethod
    def _meta_learners(spec: ModelSpec, channels: List[int]) -> List[MetaLearner]:
        if spec.kind != "metakan":
            return []
        sizes = [(c_in * 9, c_out) for c_in, c_out in zip(channels, channels[1:])]
        sizes.append((channels[-1], spec.num_classes))
        groups = sharing_groups(spec.share, sizes)
        num_bases = spec.grid_size + spec.spline_order
        shared = [MetaLearner(spec.embedding_dim, spec.hidden_dim, num_bases, spec.meta_activation, spec.init)
                  for _ in range(max(groups) + 1)]
        return [shared[group] for group in groups]

    @staticmethod
    def _conv(spec: ModelSpec, c_in: int, c_out: int, stride: int, learner) -> torch.nn.Module:
        geometry = dict(kernel_size=3, stride=stride, padding=1)
        if spec.kind == "mlp":
            return torch.nn.Conv2d(c_in, c_out, **geometry)
        if spec.kind == "kan":
            return KANConv2d(c_in, c_out, **geometry, **spec.spline_options())
        return MetaKANConv2d(c_in, c_out, **geometry, meta_learner=learner, **spec.meta_options())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def backends_used(model: torch.nn.Module) -> str:
    """The kernel backends the model's KAN layers ran in their last forward ("-" for none)."""
    names = {getattr(m, "last_backend", None) for m in model.modules()} - {None}
    return ",".join(sorted(names)) or "-"
