"""A stratified train/test split with a fixed seed, shared by every data set here."""

from __future__ import annotations

from typing import Tuple

import torch


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, test) that put ``test_fraction`` of every class in the test set.

    labels: (N,) integer class labels. The split depends only on the labels and ``seed``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        cut = round(len(members) * test_fraction)
        test.append(members[:cut])
        train.append(members[cut:])
    return torch.cat(train), torch.cat(test)
