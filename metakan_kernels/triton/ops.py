"""The Triton backend's ops ``metakan::triton_*``, as ``torch.library.triton_op`` so torch.compile traces into them."""

from __future__ import annotations

from torch.library import triton_op

from ..schema import KAN, METAKAN
from . import launch

# Each launcher takes its op's arguments in the schema's order.
for _op, _fwd, _bwd in (
    (KAN, launch.kan_fwd_triton, launch.kan_bwd_triton),
    (METAKAN, launch.metakan_fwd_triton, launch.metakan_bwd_triton),
):
    triton_op(_op.qualname("triton", "fwd"), _fwd, mutates_args=(), schema=_op.forward_schema())
    triton_op(_op.qualname("triton", "bwd"), _bwd, mutates_args=(), schema=_op.backward_schema())
