"""Backends of the compiled extension ``metakan_kernels._C``: fused C++/OpenMP ("cpu") and CUDA ("cuda") kernels.

This module defines the ``metakan::native_*`` ops from :mod:`metakan_kernels.schema`, loads the extension,
which registers their CPU and CUDA kernels, and adds the fakes and the shared autograd wiring of
:mod:`metakan_kernels.fused`.
"""

from __future__ import annotations

from typing import Optional

import torch

from . import fused, schema
from .limits import INT32_MAX, INT64_MAX

schema.define("native")
try:
    from . import _C
except ImportError as err:
    raise ImportError(
        f"the compiled extension metakan_kernels._C is not built ({err}); build it in the source tree with "
        "pip install -e . --no-build-isolation (or make install)"
    ) from err

OPS = fused.FusedOps.of("native")
fused.register_fakes(OPS)
fused.register_autograd(OPS)

# The limits come from the extension (csrc/metakan/limits.h). Index arithmetic is 64-bit throughout;
# d and H are plain ints in the C++ kernels.
CPU_BACKEND = fused.FusedBackend(
    "cpu", OPS, ("cpu",),
    fused.FusedLimits(
        dtypes=(torch.float32, torch.float64), min_spline_order=_C.min_spline_order,
        max_num_bases=_C.max_num_bases, max_embedding_dim=INT32_MAX, max_hidden_dim=INT32_MAX,
        max_elements=INT64_MAX,
        upcast=(torch.bfloat16, torch.float16),  # e.g. under torch.autocast on CPU
    ),
)

CUDA_BACKEND = fused.FusedBackend(
    "cuda", OPS, ("cuda",),
    fused.FusedLimits(
        dtypes=(torch.float32, torch.float16, torch.bfloat16), min_spline_order=_C.min_spline_order,
        max_num_bases=_C.max_num_bases, max_embedding_dim=_C.max_cuda_embedding_dim,
        max_hidden_dim=_C.max_cuda_hidden_dim, max_elements=INT64_MAX,
    ),
)


def cuda_unavailable() -> Optional[str]:
    """Why ``CUDA_BACKEND`` cannot run here (None when the extension has its CUDA kernels and a GPU is present)."""
    if not _C.with_cuda:
        return (
            "metakan_kernels._C was built without its CUDA kernels (torch without CUDA, nvcc not found, "
            "no GPU at build time, or METAKAN_SKIP_CUDA_BUILD=1)"
        )
    if not torch.cuda.is_available():
        return "no CUDA GPU is present"
    return None
