"""The static description of a spline layer (grid size, order, range) shared by every backend."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .limits import MAX_SPLINE_ORDER, MIN_SPLINE_ORDER


@dataclass(frozen=True)
class SplineSpec:
    """Grid size ``G``, spline order ``k`` and the range ``[lo, hi]`` of the uniform grid."""

    grid_size: int
    spline_order: int
    lo: float
    hi: float

    @property
    def num_bases(self) -> int:
        """``K = G + k``: basis functions (coefficients) per edge."""
        return self.grid_size + self.spline_order

    @property
    def num_knots(self) -> int:
        """``G + 2k + 1`` knots per input feature."""
        return self.grid_size + 2 * self.spline_order + 1

    @property
    def step(self) -> float:
        """Knot spacing ``h`` of the uniform grid."""
        return (self.hi - self.lo) / self.grid_size

    @property
    def first_knot(self) -> float:
        """``t_0 = lo - k h``, the left end of the support of the first basis."""
        return self.lo - self.spline_order * self.step


def make_spec(grid_size: int, spline_order: int, grid_range: Sequence[float]) -> SplineSpec:
    """Validate the spline settings and bundle them; every error names the argument at fault."""
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(f"grid_size must be an integer >= 1, got {grid_size!r}")
    if (
        isinstance(spline_order, bool)
        or not isinstance(spline_order, int)
        or not MIN_SPLINE_ORDER <= spline_order <= MAX_SPLINE_ORDER
    ):
        raise ValueError(
            f"spline_order must be an integer in [{MIN_SPLINE_ORDER}, {MAX_SPLINE_ORDER}], got {spline_order!r}"
        )
    try:
        lo, hi = (float(v) for v in grid_range)
    except (TypeError, ValueError):
        raise ValueError(f"grid_range must be a pair of numbers (lo, hi), got {grid_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"grid_range must be finite with lo < hi, got {grid_range!r}")
    return SplineSpec(grid_size, spline_order, lo, hi)
