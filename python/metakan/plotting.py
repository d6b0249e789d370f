"""The learned edge functions φ_{o,i}(x) of KAN and MetaKAN layers, evaluated and drawn as a PNG grid."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

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


class EdgeMarks:
    """What an interpretation (the ``interpretation`` section of a ``metakan train symbolic --prune
    --symbolic`` result) says of each edge of the network it came from: pruned or not, and the
    symbolic function fitted to it with its R² and constants ``[a, b, c, d]`` (``c f(a x + b) + d``)."""

    def __init__(self, interpretation: dict, widths: List[int]):
        kept = interpretation.get("kept_nodes") or [list(range(w)) for w in widths]
        if len(kept) != len(widths) or any(not all(isinstance(n, int) and 0 <= n < w for n in k)
                                           for k, w in zip(kept, widths)):
            raise ValueError(f"the interpretation's kept nodes {kept} do not fit a network of widths {widths}")
        self._position = [{node: j for j, node in enumerate(k)} for k in kept]
        self._symbolic: Dict[tuple, dict] = {(e["layer"], e["output"], e["input"]): e
                                             for e in interpretation.get("edges", ())}

    def pruned(self, layer: int, o: int, i: int) -> bool:
        return o not in self._position[layer + 1] or i not in self._position[layer]

    def symbolic(self, layer: int, o: int, i: int) -> Optional[dict]:
        """The symbolic fit of edge (o, i) of ``layer`` (original indices), None when pruned or not fitted."""
        if self.pruned(layer, o, i):
            return None
        return self._symbolic.get((layer, self._position[layer + 1][o], self._position[layer][i]))


def _symbolic_curve(fit: dict, x: torch.Tensor) -> torch.Tensor:
    from .interpret.library import LIBRARY

    a, b, c, d = fit["constants"]
    with torch.no_grad():
        return c * LIBRARY[fit["function"]].torch(a * x.double() + b) + d


def plot_edges(model: torch.nn.Module, path: Union[str, Path], max_inputs: int = 8, max_outputs: int = 8,
               points: int = 101, interpretation: Optional[dict] = None) -> Path:
    """Draw φ_{o,i} for every KAN layer of ``model`` (at most ``max_outputs`` x ``max_inputs``
    edges per layer) as one grid of small plots: a block of rows per layer, a row per output,
    a column per input. With ``interpretation`` (see :class:`EdgeMarks`) pruned edges are drawn grey
    and titled "pruned", and each fitted edge's title names its function and R², its symbolic curve
    dashed over the spline. Writes a PNG to ``path`` and returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = kan_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no KAN or MetaKAN layers to plot")
    marks = None
    if interpretation is not None:
        marks = EdgeMarks(interpretation, [layers[0].in_features] + [layer.out_features for layer in layers])
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
                title = f"L{number} φ[{o},{i}]"
                pruned = marks is not None and marks.pruned(number, o, i)
                axes.plot(x[i].cpu().numpy(), phi[o, i].cpu().numpy(), linewidth=1.2,
                          color="0.75" if pruned else None)
                fit = marks.symbolic(number, o, i) if marks is not None else None
                if pruned:
                    title += " pruned"
                elif fit is not None:
                    title += f" {fit['function']} R²={fit['r2']:.4f}"
                    if fit["function"] != "0":
                        axes.plot(x[i].cpu().numpy(), _symbolic_curve(fit, x[i].cpu()).numpy(), "--",
                                  linewidth=1.0, color="tab:red")
                axes.set_xticks([])
                axes.set_yticks([])
                axes.set_title(title, fontsize=6)
        row += outs
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
