"""Trainability rows gathered per cell (task, optimizer, depth, width, model): mean, std, runs at chance."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..report import Row, to_number
from .matrix import MODELS, TASKS

# MetaKAN with the default init matches KAN when its mean is within this many accuracy points
# (classification) or this factor of KAN's RMSE (regression).
ACCURACY_POINTS = 2.0
RMSE_FACTOR = 1.5
CHECKED, REFERENCE = "metakan-default", "kan"

CellKey = Tuple[str, str, int, int, str]  # task, optimizer, depth, width, model


@dataclass(frozen=True)
class Cell:
    """The runs of one cell: their metrics (NaN for a run that diverged) and how many were at chance."""

    task: str
    metrics: Tuple[float, ...]
    at_chance: int

    @property
    def runs(self) -> int:
        return len(self.metrics)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.metrics)

    @property
    def std(self) -> Optional[float]:
        return statistics.stdev(self.metrics) if self.runs > 1 else None

    @property
    def classification(self) -> bool:
        return TASKS[self.task].kind == "classification"


def cells(rows: Sequence[Row]) -> Dict[CellKey, Cell]:
    """The cells of the rows that ended well, in the order first seen."""
    grouped: Dict[CellKey, List[Row]] = {}
    for row in rows:
        if row["status"] == "ok":
            key = (row["task"], row["optimizer"], int(row["depth"]), int(row["width"]), row["model"])
            grouped.setdefault(key, []).append(row)
    out = {}
    for key, group in grouped.items():
        metrics = tuple(_number(r["metric"]) for r in group)
        out[key] = Cell(key[0], metrics, sum(str(r["at_chance"]) == "True" for r in group))
    return out


def _number(value) -> float:
    number = to_number(value)
    return math.nan if number is None else number


def format_metric(cell: Cell) -> str:
    """Accuracy in percent, RMSE in 3 significant digits: ``mean ± std`` (``mean`` for one run),
    and how many runs were at chance."""
    scale, spec = (100.0, ".1f") if cell.classification else (1.0, ".2e")
    text = format(cell.mean * scale, spec)
    if cell.std is not None:
        text += " ± " + format(cell.std * scale, spec)
    if cell.at_chance:
        text += f" ⚠ {cell.at_chance}/{cell.runs} at chance"
    return text


def difference(cell: Cell, reference: Cell) -> float:
    """``cell`` against ``reference``: accuracy points above it, or log10 of the RMSE ratio."""
    if cell.classification:
        return 100.0 * (cell.mean - reference.mean)
    if cell.mean > 0 and reference.mean > 0:
        return math.log10(cell.mean / reference.mean)
    return math.nan


def matches(cell: Cell, reference: Cell) -> bool:
    """Within :data:`ACCURACY_POINTS` of the reference's mean accuracy, or within a factor
    :data:`RMSE_FACTOR` of its mean RMSE (either way)."""
    gap = difference(cell, reference)
    limit = ACCURACY_POINTS if cell.classification else math.log10(RMSE_FACTOR)
    return abs(gap) <= limit


def verdict(cell: Cell, reference: Cell) -> str:
    """E.g. ``+0.4 pts``, ``-3.1 pts ✗ worse``, ``2.40× KAN ✗ worse``, ``0.50× KAN ✗ better``."""
    gap = difference(cell, reference)
    if cell.classification:
        text = f"{gap:+.1f} pts"
    else:
        ratio = cell.mean / reference.mean if reference.mean > 0 else math.nan
        text = f"{ratio:.2f}× KAN"
    if matches(cell, reference):
        return text
    better = gap > 0 if cell.classification else gap < 0
    return text + (" ✗ better" if better else " ✗ worse")


def model_order(names) -> List[str]:
    return [name for name in MODELS if name in set(names)]
