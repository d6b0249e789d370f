"""The learned edge functions φ_{o,i}(x) of KAN and MetaKAN layers, evaluated and drawn as a PNG grid."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple, Union

import torch

from .kan_layer import KANLinear
from .metakan_layer import MetaKANLinear


@torch.no_grad()
def edge_functions(layer: Union[KANLinear, MetaKANLinear], points: int = 101) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every edge's function ``φ_{o,i}(x) = wb[o,i] b(x) + Σ_m c[o,i,m] B_m(x)`` on its grid's span.

    Returns (x (in_features, points), phi (out_features, in_features, points)).
    """
    kan = layer.to_kan() if isinstance(layer, MetaKANLinear) else layer
    k = kan.spline_order
    lo, hi = kan.grid[:, k], kan.grid[:, -k - 1]  # the interval [lo, hi] the grid covers
    steps = torch.linspace(0, 1, points, dtype=kan.grid.dtype, device=kan.grid.device)
    x = lo[:, None] + (hi - lo)[:, None] * steps  # (I, P)
    return x, kan.edge_values(x.T.contiguous()).permute(1, 2, 0)


def kan_layers(model: torch.nn.Module) -> List[Union[KANLinear, MetaKANLinear]]:
    """The model's KAN and MetaKAN layers, in module order."""
    return [m for m in model.modules() if isinstance(m, (KANLinear, MetaKANLinear))]


def plot_edges(model: torch.nn.Module, path: Union[str, Path], max_inputs: int = 8, max_outputs: int = 8,
               points: int = 101) -> Path:
    """Draw φ_{o,i} for every KAN layer of ``model`` (at most ``max_outputs`` x ``max_inputs``
    edges per layer) as one grid of small plots: a block of rows per layer, a row per output,
    a column per input. Writes a PNG to ``path`` and returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = kan_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no KAN or MetaKAN layers to plot")
    shown = [(min(l.out_features, max_outputs), min(l.in_features, max_inputs)) for l in layers]
    rows, cols = sum(o for o, _ in shown), max(i for _, i in shown)
    figure = Figure(figsize=(1.6 * cols, 1.3 * rows))
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, cols)
    row = 0
    for number, (layer, (outs, ins)) in enumerate(zip(layers, shown)):
        x, phi = edge_functions(layer, points)
        for o in range(outs):
            for i in range(ins):
                axes = figure.add_subplot(grid[row + o, i])
                axes.plot(x[i].cpu().numpy(), phi[o, i].cpu().numpy(), linewidth=1.2)
                axes.set_xticks([])
                axes.set_yticks([])
                axes.set_title(f"L{number} φ[{o},{i}]", fontsize=7)
        row += outs
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
