"""MNIST-format IDX files (MNIST, FashionMNIST, KMNIST), plain or gzipped, from a directory the user gives."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch

# IDX type codes -> (big-endian struct format of one element, torch dtype)
_IDX_TYPES = {
    0x08: ("B", torch.uint8),
    0x09: ("b", torch.int8),
    0x0B: (">h", torch.int16),
    0x0C: (">i", torch.int32),
    0x0D: (">f", torch.float32),
    0x0E: (">d", torch.float64),
}
_GZIP_MAGIC = b"\x1f\x8b"
# file stems of the two splits, as MNIST, FashionMNIST and KMNIST ship them
_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Union[str, Path]) -> torch.Tensor:
    """The array in one IDX file (gzipped or not), with the shape and dtype its header gives."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file: expected the magic 0x0000 <type> <ndim>, got {raw[:4].hex()}")
    fmt, dtype = _IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: the header announces {ndim} dimensions but the file ends after {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    itemsize = struct.calcsize(fmt)
    count = 1
    for size in shape:
        count *= size
    expected = header + count * itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: shape {tuple(shape)} needs {expected} bytes, the file has {len(raw)}")
    data = torch.frombuffer(bytearray(raw[header:]), dtype=dtype) if count else torch.empty(0, dtype=dtype)
    if itemsize > 1:  # IDX is big-endian
        data = data.view(torch.uint8).view(-1, itemsize).flip(1).contiguous().view(dtype).flatten()
    return data.reshape(shape)


def _find(root: Path, stem: str) -> Optional[Path]:
    # the files themselves, or torchvision's layout root/<Name>/raw/
    for folder in (root, *sorted(root.glob("*/raw"))):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _images_and_labels(images: Path, labels: Path) -> Tuple[torch.Tensor, torch.Tensor]:
    x, y = read_idx(images), read_idx(labels)
    if x.dim() != 3 or x.dtype != torch.uint8:
        raise ValueError(f"{images}: expected uint8 images (N, H, W), got {x.dtype} {tuple(x.shape)}")
    if y.dim() != 1 or len(y) != len(x):
        raise ValueError(f"{labels}: expected {len(x)} labels (N,) for {images.name}, got {tuple(y.shape)}")
    # (N, 1, H, W) in [-1, 1], as torchvision's ToTensor + Normalize(0.5, 0.5)
    return x.unsqueeze(1).float() / 127.5 - 1.0, y.long()


def idx_splits(root: Union[str, Path]) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
    """Every split (``"train"``, ``"test"``) whose image and label files are in ``root``.

    Returns {split: (x (N, 1, H, W) float32 in [-1, 1], y (N,) int64)}.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {str(root)!r} is not a directory")
    found = {}
    for split, (image_stem, label_stem) in _SPLITS.items():
        images, labels = _find(root, image_stem), _find(root, label_stem)
        if images is not None and labels is not None:
            found[split] = _images_and_labels(images, labels)
    if not found:
        wanted = ", ".join(f"{stem}[.gz]" for stems in _SPLITS.values() for stem in stems)
        raise FileNotFoundError(f"no MNIST-format IDX files in {str(root)!r}: expected {wanted}")
    return found
