"""Process-wide switches of the kernels."""

from __future__ import annotations

import torch

_deterministic = False


def use_deterministic(enabled: bool = True) -> None:
    """Require bit-identical results from run to run on every backend.

    The default kernels already reduce across programs and threads in a fixed order; this switch (or
    ``torch.use_deterministic_algorithms(True)``) also forbids any opt-in fast path whose result
    depends on scheduling, such as float atomics.
    """
    global _deterministic
    _deterministic = bool(enabled)


def deterministic() -> bool:
    """Whether results must be reproducible bit for bit (this module's switch or PyTorch's)."""
    return _deterministic or torch.are_deterministic_algorithms_enabled()
