"""What a forward pass keeps for backward, measured with ``torch.autograd.graph.saved_tensors_hooks``."""

from __future__ import annotations

from typing import Callable, Iterable, List, Tuple

import torch


def saved_tensors(fn: Callable[[], torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """Run ``fn()`` and return its output and every tensor autograd saved for the backward pass."""
    saved: List[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, saved


def _storage_key(t: torch.Tensor) -> tuple:
    return (t.device.type, t.untyped_storage().data_ptr())


def saved_bytes(fn: Callable[[], torch.Tensor], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the distinct storages ``fn()`` saves for backward, leaving out those of ``exclude``
    (e.g. the parameters and the input, which exist anyway)."""
    _, saved = saved_tensors(fn)
    skip = {_storage_key(t) for t in exclude}
    storages = {}
    for t in saved:
        key = _storage_key(t)
        if key not in skip:
            storages[key] = t.untyped_storage().nbytes()
    return sum(storages.values())
