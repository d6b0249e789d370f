"""scikit-learn's 8x8 digits: the embedded default data set (no download)."""

from __future__ import annotations

from typing import Tuple

import torch

from .split import stratified_split


def digits(test_fraction: float = 0.2, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (1,797 images, shipped with the package), scaled to [-1, 1].

    Returns (x_train, y_train, x_test, y_test): x (N, 64) float32, y (N,) int64; the split is
    stratified by class and fixed by ``seed``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits data set needs scikit-learn: pip install 'metakan[tasks]'") from None
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 8.0 - 1.0
    y = torch.tensor(data.target, dtype=torch.int64)
    train, test = stratified_split(y, test_fraction, seed)
    return x[train], y[train], x[test], y[test]
