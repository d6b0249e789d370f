"""Fused Triton kernels behind ``backend="triton"``: CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``.

Importing the package needs only Triton (the kernels compile ahead of time without a GPU); importing
:mod:`metakan_kernels.triton.backend` builds the backend record, and raises ImportError where the kernels cannot run.
"""

try:
    import triton  # noqa: F401
except ImportError as err:
    raise ImportError("the triton backend needs Triton: pip install triton (or pip install 'metakan[triton]')") from err

