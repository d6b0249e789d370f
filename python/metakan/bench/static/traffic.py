"""Bytes and matmul FLOPs of eager PyTorch code, counted op by op on meta tensors (full size, no memory, no GPU).

Each ATen operator that is not a view reads its tensor inputs and writes its outputs once: in eager
mode on a GPU each is a kernel, so this is the memory traffic of the materializing reference (an
input broadcast by a stride-0 view counts at the size of its storage). Matrix products also count
their FLOPs, 2 m n k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

_FREE = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "detach", "alias",
         "lift_fresh", "_to_copy_meta_noop"}
_MATMUL = {"mm", "addmm", "bmm", "baddbmm"}


@dataclass
class Traffic:
    """Bytes read and written, matmul FLOPs, and the bytes by operator name."""

    read: int = 0
    written: int = 0
    matmul_flops: float = 0.0
    by_op: Dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.read + self.written


def _nbytes(t: torch.Tensor) -> int:
    logical = t.numel() * t.element_size()
    try:
        return min(logical, t.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):
        return logical


class _Counter(TorchDispatchMode):
    def __init__(self, traffic: Traffic):
        super().__init__()
        self.traffic = traffic

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if func.is_view or name in _FREE:
            return out
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        read = sum(_nbytes(t) for t in inputs)
        written = sum(_nbytes(t) for t in outputs)
        self.traffic.read += read
        self.traffic.written += written
        self.traffic.by_op[name] = self.traffic.by_op.get(name, 0) + read + written
        if name in _MATMUL:
            a, b = (args[1], args[2]) if name in ("addmm", "baddbmm") else (args[0], args[1])
            self.traffic.matmul_flops += 2.0 * a.numel() * b.shape[-1]
        return out


def count(fn: Callable[[], object]) -> Traffic:
    """The traffic of running ``fn`` (which builds its meta tensors and runs forward and/or backward)."""
    traffic = Traffic()
    with _Counter(traffic):
        fn()
    return traffic
