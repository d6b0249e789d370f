"""The Triton backend's ops ``metakan::triton_*``, as ``torch.library.triton_op`` so torch.compile traces into them."""

from __future__ import annotations

from typing import Callable

from torch.library import triton_op

from ..schema import KAN, KAN_EDGE_L1, METAKAN, METAKAN_EDGE_L1, OpSchema
from . import launch


def _define(op: OpSchema, direction: str, launcher: Callable) -> None:
    # triton_op infers the op's schema from the function's signature: the schema table's, as annotations
    # (the launchers take their op's arguments in that order).
    def run(*args, **kwargs):
        return launcher(*args, **kwargs)

    run.__signature__ = op.signature(direction)
    run.__name__ = launcher.__name__
    triton_op(op.qualname("triton", direction), run, mutates_args=())


for _op, _fwd, _bwd in (
    (KAN, launch.kan_fwd_triton, launch.kan_bwd_triton),
    (METAKAN, launch.metakan_fwd_triton, launch.metakan_bwd_triton),
    (KAN_EDGE_L1, launch.kan_edge_l1_fwd_triton, launch.kan_edge_l1_bwd_triton),
    (METAKAN_EDGE_L1, launch.metakan_edge_l1_fwd_triton, launch.metakan_edge_l1_bwd_triton),
):
    _define(_op, "fwd", _fwd)
    _define(_op, "bwd", _bwd)
