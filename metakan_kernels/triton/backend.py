"""The ``triton`` backend record: the fused ops with the shared autograd wiring; ImportError where the kernels cannot run."""

import torch

from .. import fused
from .configs import INTERPRET

if not INTERPRET and not torch.cuda.is_available():
    raise ImportError("no CUDA GPU found, and TRITON_INTERPRET=1 (Triton's CPU interpreter) is not set")

from . import ops  # noqa: E402,F401  (defines the torch.ops.metakan.triton_* ops)

OPS = fused.FusedOps.of("triton")
fused.register_autograd(OPS)
BACKEND = fused.FusedBackend(
    "triton",
    OPS,
    ("cuda", "cpu") if INTERPRET else ("cuda",),
    fused.FusedLimits(dtypes=(torch.float16, torch.bfloat16, torch.float32, torch.float64)),
)
