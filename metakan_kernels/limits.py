"""Activation codes and the fused kernels' limits: the Python copy of csrc/metakan/limits.h, which ``_C`` exports.

The compiled backends read their limits from ``_C`` itself; this table serves the code that runs without
it (the reference and Triton backends, argument checks), and a test checks that the two agree.
"""

from __future__ import annotations

# The meta-learner's hidden activations; an activation's code is its position.
ACTIVATIONS = ("relu", "silu", "gelu", "tanh", "identity")
ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}

MIN_SPLINE_ORDER = 0  # piecewise-constant bases
MAX_SPLINE_ORDER = 5  # the orders the basis recursions are unrolled for
MAX_NUM_BASES = 64  # G + k: one edge's bases live in registers
MAX_EMBEDDING_DIM = 16  # the fused GPU meta-learners' tiles (CUDA and Triton)
MAX_HIDDEN_DIM = 128

TRITON_MIN_SPLINE_ORDER = 1  # the Triton kernels' recursions start from order 1

INT32_MAX = 2**31 - 1  # largest tensor 32-bit index arithmetic can address
INT64_MAX = 2**63 - 1
