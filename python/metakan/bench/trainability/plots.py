"""Heat maps of the trainability matrix: MetaKAN (default and paper init) minus KAN per depth × width."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional

from .summary import REFERENCE, Cell, difference

COMPARED = ("metakan-default", "metakan-paper")


def plot_task(task_cells: Dict[tuple, Cell], title: str, path) -> Optional[Path]:
    """One figure for one task × optimizer: a panel per MetaKAN init, rows depth, columns width,
    each square its mean minus KAN's (accuracy points; log10 of the RMSE ratio for regression),
    blue where MetaKAN is better. None when no cell has both KAN and a MetaKAN."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("benchmark plots need matplotlib: pip install 'metakan[tasks]'") from None

    depths = sorted({key[2] for key in task_cells})
    widths = sorted({key[3] for key in task_cells})
    task, optimizer = next(iter(task_cells))[:2]
    grids = {}
    for model in COMPARED:
        grid = [[math.nan] * len(widths) for _ in depths]
        for i, depth in enumerate(depths):
            for j, width in enumerate(widths):
                cell, reference = (task_cells.get((task, optimizer, depth, width, m)) for m in (model, REFERENCE))
                if cell is not None and reference is not None:
                    grid[i][j] = difference(cell, reference)
        if any(not math.isnan(v) for row in grid for v in row):
            grids[model] = grid
    if not grids:
        return None
    classification = next(iter(task_cells.values())).classification
    finite = [abs(v) for grid in grids.values() for row in grid for v in row if math.isfinite(v)]
    limit = max(finite + [2.0 if classification else math.log10(1.5)])
    # accuracy: higher is better; log RMSE: lower is better; blue is better on both
    colormap = "RdBu" if classification else "RdBu_r"
    unit = "accuracy points" if classification else "log10(RMSE / KAN RMSE)"
    figure = Figure(figsize=(4.8 * len(grids) + 1, 0.7 * len(depths) + 2.4), layout="constrained")
    axes = figure.subplots(1, len(grids), squeeze=False)[0]
    for ax, (model, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, cmap=colormap, vmin=-limit, vmax=limit, aspect="auto")
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                label = "" if math.isnan(value) else f"{value:+.1f}" if classification else f"{value:+.2f}"
                dark = math.isfinite(value) and abs(value) > 0.6 * limit
                ax.text(j, i, label, ha="center", va="center", fontsize="small", color="white" if dark else "black")
        ax.set_xticks(range(len(widths)), [str(w) for w in widths])
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.set_xlabel("width")
        ax.set_ylabel("hidden layers")
        ax.set_title(f"{model} − {REFERENCE}")
    figure.colorbar(image, ax=list(axes), label=unit)
    figure.suptitle(title, fontsize="medium")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    return path


def plot_matrix(all_cells: Dict[tuple, Cell], out_dir, tag: str, subtitle: str) -> List[Path]:
    """``{out_dir}/{tag}-{task}-{optimizer}.png`` per task × optimizer; the paths written."""
    written = []
    for task, optimizer in dict.fromkeys(key[:2] for key in all_cells):
        task_cells = {key: cell for key, cell in all_cells.items() if key[:2] == (task, optimizer)}
        path = plot_task(task_cells, f"{task}, optimizer {optimizer}: MetaKAN minus KAN (mean over seeds)\n{subtitle}",
                         Path(out_dir) / f"{tag}-{task}-{optimizer}.png")
        if path is not None:
            written.append(path)
    return written
