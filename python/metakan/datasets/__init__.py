"""Image data sets by name: scikit-learn's digits (embedded default), MNIST-format IDX files, CIFAR-10."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Union

import torch

from .cifar import cifar10_splits
from .digits import digits
from .idx import idx_splits, read_idx
from .split import stratified_split

__all__ = [
    "DATASETS", "ImageData", "cifar10_splits", "digits", "idx_splits", "load_images", "read_idx", "stratified_split",
]

# name -> (file format, torchvision class that can download it on request)
DATASETS = {
    "digits": ("embedded", None),
    "mnist": ("idx", "MNIST"),
    "fashion-mnist": ("idx", "FashionMNIST"),
    "kmnist": ("idx", "KMNIST"),
    "cifar10": ("cifar", "CIFAR10"),
}


class ImageData(NamedTuple):
    """A classification data set: x (N, C, H, W) float32 in [-1, 1], y (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    description: str


def _download(name: str, root: Path) -> None:
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise ImportError(
            f"downloading {name} needs torchvision (pip install torchvision); "
            f"or put the files in {str(root)!r} yourself"
        ) from None
    cls = getattr(tvd, DATASETS[name][1])
    for train in (True, False):
        cls(str(root), train=train, download=True)


def load_images(
    name: str,
    root: Optional[Union[str, Path]] = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    download: bool = False,
) -> ImageData:
    """Load the data set ``name`` (see :data:`DATASETS`) from ``root``; nothing is downloaded
    unless ``download`` is true (which needs torchvision).

    When ``root`` holds only one split (e.g. the 10,000 KMNIST test images), that split is divided
    into train and test, stratified by class with ``test_fraction`` and ``seed``.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    kind = DATASETS[name][0]
    if kind == "embedded":
        x_train, y_train, x_test, y_test = digits(test_fraction, seed)
        to_images = lambda x: x.reshape(-1, 1, 8, 8)  # noqa: E731
        description = f"scikit-learn digits, stratified split (test fraction {test_fraction}, seed {seed})"
        return ImageData(to_images(x_train), y_train, to_images(x_test), y_test, 10, description)
    if root is None:
        raise ValueError(f"dataset {name!r} needs a data root (--data-root DIR); nothing is downloaded by default")
    root = Path(root)
    if download:
        root.mkdir(parents=True, exist_ok=True)
        _download(name, root)
    splits = idx_splits(root) if kind == "idx" else cifar10_splits(root)
    if "train" in splits and "test" in splits:
        (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
        description = f"{name} from {root}: train and test files"
    else:
        split, (x, y) = next(iter(splits.items()))
        train, test = stratified_split(y, test_fraction, seed)
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
        description = (
            f"{name} from {root}: its {split} split ({len(y)} images) divided {len(train)}/{len(test)}, "
            f"stratified, seed {seed}"
        )
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return ImageData(x_train, y_train, x_test, y_test, num_classes, description)
