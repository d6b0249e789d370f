"""The models and optimizers a trainability run compares, and when two optimizers are one computation."""

from __future__ import annotations

from typing import List

import torch

import metakan

from .matrix import EMBEDDING_DIM, GRID_SIZE, HIDDEN_DIM, LR, SPLINE_ORDER, Config

# Hyperparameters that do not change what an optimizer computes.
_LABELS = ("params", "name")


def widths(config: Config, in_features: int, out_features: int) -> List[int]:
    """[in_features, width x depth, out_features]."""
    return [in_features] + [config.width] * config.depth + [out_features]


def build_model(config: Config, in_features: int, out_features: int) -> torch.nn.Module:
    """The model of ``config``: an MLP (nn.Linear + SiLU between layers, a linear output), a KAN or
    a MetaKAN (one meta-learner per layer) of the same widths."""
    sizes = widths(config, in_features, out_features)
    if config.family == "kan":
        return metakan.KAN(sizes, GRID_SIZE, SPLINE_ORDER)
    if config.family == "metakan":
        return metakan.MetaKAN(sizes, GRID_SIZE, SPLINE_ORDER, embedding_dim=EMBEDDING_DIM, hidden_dim=HIDDEN_DIM,
                               init=config.init)
    layers: List[torch.nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.SiLU()]
    return torch.nn.Sequential(*layers[:-1])


def build_optimizer(name: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    """"adam": ``Adam(model.parameters(), lr=1e-3)``; "param-groups": ``Adam(metakan.param_groups(model))``
    with param_groups' own defaults."""
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=LR)
    if name == "param-groups":
        return torch.optim.Adam(metakan.param_groups(model))
    raise ValueError(f"optimizer must be 'adam' or 'param-groups', got {name!r}")


def _settings(optimizer: torch.optim.Optimizer) -> dict:
    """Each parameter's hyperparameters, by parameter identity."""
    return {
        id(param): {k: v for k, v in group.items() if k not in _LABELS}
        for group in optimizer.param_groups
        for param in group["params"]
    }


def same_computation(model: torch.nn.Module, first: str, second: str) -> bool:
    """Whether optimizers ``first`` and ``second`` update ``model`` identically: Adam's update of a
    parameter depends only on it, its gradient and its group's hyperparameters, so two Adams that
    cover the same parameters with the same hyperparameters each are one computation however they
    group them."""
    return _settings(build_optimizer(first, model)) == _settings(build_optimizer(second, model))
