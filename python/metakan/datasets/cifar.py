"""CIFAR-10 from its standard python batches (``cifar-10-batches-py``) in a local directory."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCHES = ["test_batch"]


def _folder(root: Path) -> Path:
    for folder in (root / "cifar-10-batches-py", root):
        if (folder / TEST_BATCHES[0]).is_file() or (folder / TRAIN_BATCHES[0]).is_file():
            return folder
    raise FileNotFoundError(
        f"no CIFAR-10 python batches in {str(root)!r}: expected cifar-10-batches-py/data_batch_1..5 and test_batch"
    )


def _read_batches(folder: Path, names: List[str]) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    images, labels = [], []
    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        # The official batches are pickles (written by Python 2, hence bytes keys); only load files you trust.
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data, targets = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
        if data is None or targets is None:
            raise ValueError(f"{path}: expected a dict with 'data' and 'labels', got keys {sorted(batch)}")
        data = torch.as_tensor(data, dtype=torch.uint8)
        if data.dim() != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != len(targets):
            raise ValueError(
                f"{path}: expected data (N, 3072) uint8 and N labels, got {tuple(data.shape)} and {len(targets)}"
            )
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(torch.as_tensor(list(targets), dtype=torch.int64))
    if not images:
        return None
    return torch.cat(images).float() / 127.5 - 1.0, torch.cat(labels)


def cifar10_splits(root: Union[str, Path]) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
    """The CIFAR-10 splits found under ``root`` (or ``root/cifar-10-batches-py``).

    Returns {"train": (x, y), "test": (x, y)} for the splits present; x (N, 3, 32, 32) float32 in
    [-1, 1], y (N,) int64.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {str(root)!r} is not a directory")
    folder = _folder(root)
    found = {}
    for split, names in (("train", TRAIN_BATCHES), ("test", TEST_BATCHES)):
        pair = _read_batches(folder, names)
        if pair is not None:
            found[split] = pair
    return found
