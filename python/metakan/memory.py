"""Memory of training, measured exactly on any device: what a forward keeps for backward
(``saved_tensors_hooks``) and the peak tensor memory of a whole step (a dispatch mode)."""

from __future__ import annotations

import weakref
from typing import Callable, Iterable, List, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary


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


class _StorageCounter(TorchDispatchMode):
    """Counts the bytes of the storages the ops run under it create, and their peak, until each is freed."""

    def __init__(self, known: Iterable[torch.Tensor]):
        super().__init__()
        self._seen = WeakIdKeyDictionary()
        self._refs = []
        for t in known:
            self._seen[t.untyped_storage()] = True
        self.live = 0
        self.peak = 0

    def _freed(self, nbytes: int, _ref) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                if storage not in self._seen:
                    self._seen[storage] = True
                    nbytes = storage.nbytes()
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                    self._refs.append(weakref.ref(storage, lambda ref, n=nbytes: self._freed(n, ref)))
        return out


def peak_step_bytes(step: Callable[[], object], existing: Iterable[torch.Tensor]) -> int:
    """Peak tensor memory while ``step()`` runs: the distinct storages of ``existing`` (parameters,
    buffers, optimizer state, the batch: what is there anyway) plus the most that the step's operations
    (forward, backward, optimizer update) hold at one moment. Exact and independent of the allocator;
    kernels' private scratch outside tensors (cache-sized tiles in the fused backends) is not included."""
    existing = list(existing)
    base = {_storage_key(t): t.untyped_storage().nbytes() for t in existing}
    counter = _StorageCounter(existing)
    with counter:
        step()
    return sum(base.values()) + counter.peak
