"""The data, loss and test metric of each trainability task, from the library's own task code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...datasets import load_images
from ...tasks.feynman import FEYNMAN
from ...tasks.image import cross_entropies
from ...tasks.symbolic import sample, squared_errors
from .matrix import EQUATION, Task

# Digits has ten classes: an accuracy at or below this is "at chance".
DIGITS_CHANCE = 0.15
# Regression is "at chance" when its test RMSE is above this share of the RMSE of predicting the
# training targets' mean.
REGRESSION_CHANCE = 0.9
TEST_FRACTION = 0.2
N_TRAIN = N_TEST = 1000


@dataclass
class Data:
    """x_train (N, in_features), y_train (N,), x_test, y_test; ``losses(model, x, y)`` the per-example
    training losses (n,); ``score(model, x, y)`` the metric on (x, y); ``chance`` the metric at or
    beyond which a run learnt nothing."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    out_features: int
    losses: Callable[..., torch.Tensor]
    score: Callable[..., float]
    chance: float

    @property
    def in_features(self) -> int:
        return self.x_train.shape[1]

    @torch.no_grad()
    def metric(self, model: torch.nn.Module) -> float:
        """The test metric of ``model``."""
        return self.score(model, self.x_test, self.y_test)

    def to(self, device: torch.device, dtype: torch.dtype) -> "Data":
        cast = lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)  # noqa: E731
        return Data(cast(self.x_train), cast(self.y_train), cast(self.x_test), cast(self.y_test),
                    self.out_features, self.losses, self.score, self.chance)


def _digits(seed: int) -> Data:
    # the image task's data and scaling: pixels in [-1, 1], flattened as its fc models take them
    images = load_images("digits", test_fraction=TEST_FRACTION, seed=seed)
    x_train, x_test = images.x_train.flatten(1), images.x_test.flatten(1)

    return Data(x_train, images.y_train, x_test, images.y_test, images.num_classes,
                lambda model, x, y: cross_entropies(model, x, y, flatten=False), _accuracy, DIGITS_CHANCE)


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model(x).argmax(-1) == y).double().mean().item()


def _feynman(seed: int) -> Data:
    points = sample(FEYNMAN[EQUATION], N_TRAIN, N_TEST, seed)
    # the targets are standardised with the training set's mean and std: predicting the mean scores
    # y_std * rms(y_test)
    mean_rmse = points.y_std * points.y_test.pow(2).mean().sqrt().item()

    def rmse(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        return points.y_std * squared_errors(model, x, y).mean().sqrt().item()

    return Data(points.x_train, points.y_train, points.x_test, points.y_test, 1, squared_errors, rmse,
                REGRESSION_CHANCE * mean_rmse)


def load(task: Task, seed: int) -> Data:
    """The data of ``task``, split (digits) or sampled (regression) by ``seed``."""
    return _digits(seed) if task.kind == "classification" else _feynman(seed)


def at_chance(task: Task, metric: float, chance: float) -> bool:
    """Whether ``metric`` says the run learnt nothing (NaN counts as nothing)."""
    if metric != metric:
        return True
    return metric <= chance if task.kind == "classification" else metric >= chance
