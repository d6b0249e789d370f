"""Tile sizes and autotune configurations of the Triton kernels, shared by the launchers and the AOT compile check.

Tiles depend on the precision class of the inputs: float16/bfloat16 ("half") take the widest
tiles; float32 ("single", three TF32 products per tile for float32 accuracy) and float64
("double") need narrower ones to stay within 255 registers without spilling (see ``aot.py``).
"""

from __future__ import annotations

import os
from typing import Dict, List, NamedTuple, Optional

import triton

# Read when the kernels are decorated: the interpreter runs one configuration (it cannot benchmark),
# and its tiles are small so that the tests' few-row shapes still cross tile boundaries.
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

HALF, SINGLE, DOUBLE = "half", "single", "double"
PRECISIONS = (HALF, SINGLE, DOUBLE)

MIN_DOT = 16  # smallest tl.dot dimension the compiler accepts
# The MetaKAN parameter pass back-propagates a tile's per-edge gradients through the meta-MLP this many
# outputs at a time (its [META_BLOCK_O * BLOCK_I, BLOCK_H] tiles spill when wider), whatever BLOCK_O.
META_BLOCK_O = 16
PARAMS_BLOCK_H = 16  # hidden units per chunk of that backward (wider chunks spill)
# The MetaKAN forward generates its weights at most this many outputs at a time (the meta-MLP's
# [64 * BLOCK_I, BLOCK_H] tiles are the widest that do not spill): a 128-output tile is two halves, each
# with its own product and accumulator. The interpreter's 16-output tiles are halves of 8, so that the
# CPU tests run the split.
GENERATE_BLOCK_O = 8 if INTERPRET else 64
MAX_PARTIAL_ROWS = 1024  # programs of the MetaKAN parameter pass: bounds its partial sums of the meta-MLP gradients


class Tiles(NamedTuple):
    """Padded sizes fixed by a layer's shape and precision (constexprs of every kernel), not autotuned.

    Each input feature has KP slots (K bases, the SiLU slot, zero padding); a step of a kernel
    covers BLOCK_I features times KC <= 32 of their slots, ``BLOCK_I * KC`` columns in all (64 for half
    precision up to K + 1 = 32, else 32); a layer with K + 1 > 32 has its slots taken in chunks.
    """

    kp: int  # slots per feature: a power of two >= 16
    kc: int  # slots per step
    block_i: int  # features per step
    dp: int  # embedding_dim padded for tl.dot
    block_h: int  # hidden units per chunk of the meta-MLP

    @property
    def slot_chunks(self) -> int:
        return self.kp // self.kc


def tiles(num_bases: int, embedding_dim: int = 1, hidden_dim: int = 1, precision: str = HALF,
          heavy_bases: bool = False) -> Tiles:
    """Tiles of a layer; ``heavy_bases``: Cox–de Boor on loaded knots at order >= 4 (2k + 2 knots and
    k + 1 bases live per input), which takes the narrow steps."""
    kp = max(MIN_DOT, triton.next_power_of_2(num_bases + 1))
    kc = min(kp, 32)  # wider chunks of slots spill
    width = 64 if precision == HALF and kp <= 32 and not heavy_bases else 32
    dp = max(MIN_DOT, triton.next_power_of_2(embedding_dim))
    block_h = 2 * MIN_DOT if precision == HALF and hidden_dim > MIN_DOT else MIN_DOT
    return Tiles(kp, kc, width // kc, dp, block_h)


def _config(num_warps: int = 4, num_stages: int = 2, **blocks) -> triton.Config:
    # ptxas (12.9) may hold a kernel to 128 registers and spill unless told the full 255 are allowed.
    return triton.Config(blocks, num_warps=num_warps, num_stages=num_stages, maxnreg=255)


def _per_precision(interpreted: triton.Config, compiled: Dict[str, List[triton.Config]]):
    return {p: [interpreted] for p in PRECISIONS} if INTERPRET else compiled


# Forward and dx pass: BLOCK_B rows of the batch, BLOCK_O outputs per tile (forward) or loop step (dx).
KAN_ROW_CONFIGS = _per_precision(_config(BLOCK_B=16, BLOCK_O=16), {
    HALF: [_config(8, 2, BLOCK_B=64, BLOCK_O=64), _config(8, 2, BLOCK_B=64, BLOCK_O=128),
           _config(8, 2, BLOCK_B=128, BLOCK_O=64)],
    SINGLE: [_config(4, 1, BLOCK_B=32, BLOCK_O=32), _config(8, 2, BLOCK_B=64, BLOCK_O=32)],
    DOUBLE: [_config(8, 2, BLOCK_B=32, BLOCK_O=32)],
})
# The KAN forward: its features serve BLOCK_O outputs, so half precision also takes 256-output tiles
# (the dx pass spills with them).
KAN_FWD_CONFIGS = {**KAN_ROW_CONFIGS, HALF: KAN_ROW_CONFIGS[HALF] if INTERPRET else
                   [*KAN_ROW_CONFIGS[HALF], _config(8, 2, BLOCK_B=64, BLOCK_O=256)]}
# The MetaKAN dx pass regenerates the weights of BLOCK_O * BLOCK_I edges at every step for its BLOCK_B
# rows, so that generation, its main cost, falls with BLOCK_B: half precision takes 128 rows.
META_DX_CONFIGS = _per_precision(_config(BLOCK_B=16, BLOCK_O=16), {
    HALF: [_config(8, 2, BLOCK_B=64, BLOCK_O=64), _config(8, 3, BLOCK_B=64, BLOCK_O=64),
           _config(8, 2, BLOCK_B=128, BLOCK_O=64)],
    SINGLE: KAN_ROW_CONFIGS[SINGLE],
    DOUBLE: KAN_ROW_CONFIGS[DOUBLE],
})
# The MetaKAN forward: features serve BLOCK_O outputs and generated weights BLOCK_B rows, so half
# precision also takes 128-output tiles (two generated halves), and 128 x 128 ones (one pipeline stage:
# two spill on the d = 16, H = 128, order-5 layer).
META_FWD_CONFIGS = {**META_DX_CONFIGS, HALF: META_DX_CONFIGS[HALF] if INTERPRET else
                    [_config(8, 2, BLOCK_B=64, BLOCK_O=64), _config(8, 3, BLOCK_B=64, BLOCK_O=64),
                     _config(8, 2, BLOCK_B=64, BLOCK_O=2 * GENERATE_BLOCK_O),
                     _config(8, 1, BLOCK_B=128, BLOCK_O=128)]}

# Parameter pass: BLOCK_O outputs per tile, BLOCK_B rows per step of its loop over the batch. Each step
# evaluates the features of BLOCK_B x BLOCK_I inputs once for all BLOCK_O outputs, so wide tiles cost
# fewer feature instructions per output (64 outputs: one wgmma of M = 64 per step). The MetaKAN tile
# is BLOCK_O // META_BLOCK_O chunks for its meta-MLP backward (8 at 128 outputs). The interpreter's
# tile has two chunks, so that the CPU tests run the split.
KAN_PARAMS_CONFIGS = _per_precision(_config(BLOCK_B=16, BLOCK_O=32), {
    HALF: [_config(8, 2, BLOCK_B=64, BLOCK_O=64), _config(8, 2, BLOCK_B=64, BLOCK_O=128),
           _config(8, 1, BLOCK_B=128, BLOCK_O=64)],
    SINGLE: [_config(8, 2, BLOCK_B=32, BLOCK_O=64), _config(8, 2, BLOCK_B=64, BLOCK_O=64)],
    DOUBLE: [_config(4, 2, BLOCK_B=32, BLOCK_O=32)],
})
META_PARAMS_CONFIGS = _per_precision(_config(BLOCK_B=16, BLOCK_O=2 * META_BLOCK_O), {
    HALF: [_config(8, 2, BLOCK_B=64, BLOCK_O=64), _config(8, 2, BLOCK_B=64, BLOCK_O=128)],
    SINGLE: [_config(8, 1, BLOCK_B=32, BLOCK_O=64), _config(8, 2, BLOCK_B=32, BLOCK_O=32)],
    DOUBLE: [_config(4, 2, BLOCK_B=32, BLOCK_O=32)],
})

# Edge statistics: one configuration (no timing runs on the caller's buffers), BLOCK_B rows per step and
# BLOCK_O outputs per tile of one input's edges (also the rows of its meta-MLP backward).
# Eight warps over [32, KP] feature tiles and 16 outputs (the meta-MLP backward's META_BLOCK_O rows) keep
# the backward, which holds the features, their slopes and gradients and the tile's weight gradients,
# within the registers up to K + 1 = 65 slots (KP = 128).
_EDGE_L1 = _config(8, 2, BLOCK_B=32, BLOCK_O=META_BLOCK_O)
EDGE_L1_CONFIGS = _per_precision(_config(BLOCK_B=16, BLOCK_O=16), {p: [_EDGE_L1] for p in PRECISIONS})


def smallest_block_o(configs: Dict[str, List[triton.Config]]) -> int:
    """The narrowest BLOCK_O of any configuration: the most tiles, and programs, a launch can have."""
    return min(c.kwargs["BLOCK_O"] for per_precision in configs.values() for c in per_precision)


def autotuned(kernel, configs: Dict[str, List[triton.Config]], key: List[str],
              reset_to_zero: Optional[List[str]] = None) -> Dict[str, object]:
    """One autotuner per precision class around the same jitted kernel.

    ``reset_to_zero`` names the outputs the kernel adds into (zeroed by the caller): the autotuner
    zeroes them before each timing run and after the last, so that the launch that counts starts from zero.
    """
    return {precision: triton.autotune(configs=configs[precision], key=key, reset_to_zero=reset_to_zero)(kernel)
            for precision in PRECISIONS}
