"""The module each provider family builds for a workload: MLP/CNN baselines, KAN and MetaKAN models."""

from __future__ import annotations

from typing import Optional

import torch

import metakan

from .workloads import CONV_IMAGE, NUM_CLASSES, Workload

def _linear(family: str, fan_in: int, fan_out: int, w: Workload, backend: Optional[str]) -> torch.nn.Module:
    if family == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(fan_in, fan_out), torch.nn.SiLU())
    if family == "kan":
        return metakan.KANLinear(fan_in, fan_out, w.grid_size, w.spline_order, backend=backend)
    return metakan.MetaKANLinear(
        fan_in, fan_out, w.grid_size, w.spline_order, embedding_dim=w.embedding_dim, hidden_dim=w.hidden_dim,
        backend=backend,
    )


def _conv(family: str, channels_in: int, channels_out: int, w: Workload, backend: Optional[str]) -> torch.nn.Module:
    if family == "mlp":
        return torch.nn.Sequential(torch.nn.Conv2d(channels_in, channels_out, 3, padding=1), torch.nn.SiLU())
    if family == "kan":
        return metakan.KANConv2d(
            channels_in, channels_out, 3, padding=1, grid_size=w.grid_size, spline_order=w.spline_order,
            backend=backend,
        )
    return metakan.MetaKANConv2d(
        channels_in, channels_out, 3, padding=1, grid_size=w.grid_size, spline_order=w.spline_order,
        embedding_dim=w.embedding_dim, hidden_dim=w.hidden_dim, backend=backend,
    )


def build_model(family: str, workload: Workload, backend: Optional[str]) -> torch.nn.Module:
    """The ``family`` ("mlp", "kan" or "metakan") model of ``workload``, its KAN layers on ``backend``.

    "mlp" puts ``nn.Linear`` + SiLU (``nn.Conv2d`` + SiLU) where the KAN models have a KAN layer.
    Networks use one meta-learner per layer (the MetaKAN paper's FC models).
    """
    w = workload
    if w.kind == "layer":
        return _linear(family, w.widths[0], w.widths[1], w, backend)
    if w.kind == "fc":
        if family == "kan":
            return metakan.KAN(list(w.widths), w.grid_size, w.spline_order, backend=backend)
        if family == "metakan":
            return metakan.MetaKAN(
                list(w.widths), w.grid_size, w.spline_order, embedding_dim=w.embedding_dim,
                hidden_dim=w.hidden_dim, share="layer", backend=backend,
            )
        return torch.nn.Sequential(*(_linear("mlp", i, o, w, None) for i, o in zip(w.widths, w.widths[1:])))
    _, height, width = CONV_IMAGE
    _, c1, c2 = w.widths
    return torch.nn.Sequential(
        _conv(family, CONV_IMAGE[0], c1, w, backend),
        torch.nn.MaxPool2d(2),
        _conv(family, c1, c2, w, backend),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        _linear(family, c2 * (height // 4) * (width // 4), NUM_CLASSES, w, backend),
    )
