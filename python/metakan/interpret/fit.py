"""Fitting one edge's sampled function to ``c · f(a · x + b) + d`` for each library function f, as pykan does."""

from __future__ import annotations

import math
from typing import List, NamedTuple

import torch

from .library import LIBRARY

# The inner parameters' search: a grid over [-RANGE, RANGE]² refined around its best point ZOOMS times.
RANGE = 10.0
GRID = 41
ZOOMS = 4
# How much simpler beats better fitting (pykan's weight_simple): the score is
# (1 - SIMPLE) log2(1 + 1e-5 - R²) + SIMPLE · complexity, lowest wins.
SIMPLE = 0.8


class EdgeFit(NamedTuple):
    """``c · f(a · x + b) + d`` for the library function ``name`` and its coefficient of determination."""

    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float

    @property
    def score(self) -> float:
        return (1 - SIMPLE) * math.log2(1 + 1e-5 - min(self.r2, 1.0)) + SIMPLE * LIBRARY[self.name].complexity


def _r2(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """R² of the least-squares line v ≈ c u + d for every row of u (..., N); -1 where u is not finite."""
    finite = torch.isfinite(u).all(-1)
    u = torch.where(finite.unsqueeze(-1), u, torch.zeros_like(u))
    du, dv = u - u.mean(-1, keepdim=True), v - v.mean()
    cov = (du * dv).sum(-1)
    var_u, var_v = (du * du).sum(-1), (dv * dv).sum()
    r2 = cov**2 / (var_u * var_v).clamp_min(1e-300)
    return torch.where(finite & (var_u > 1e-30 * var_v), r2, torch.full_like(r2, -1.0))


def _line(u: torch.Tensor, v: torch.Tensor) -> tuple:
    du = u - u.mean()
    var = float((du * du).sum())
    c = float((du * (v - v.mean())).sum()) / var if var > 0 else 0.0
    return c, float(v.mean()) - c * float(u.mean())


def _search(f, t: torch.Tensor, v: torch.Tensor) -> tuple:
    """The (a, b) of the best R² for f(a t + b), by a grid search refined around its best point."""
    a_lo, a_hi, b_lo, b_hi = -RANGE, RANGE, -RANGE, RANGE
    best = (1.0, 0.0)
    for _ in range(ZOOMS):
        a = torch.linspace(a_lo, a_hi, GRID, dtype=t.dtype)
        b = torch.linspace(b_lo, b_hi, GRID, dtype=t.dtype)
        with torch.no_grad():
            u = f(a[:, None, None] * t + b[None, :, None])
        r2 = _r2(u, v)
        index = int(r2.argmax())
        if float(r2.flatten()[index]) < 0:
            break
        ia, ib = divmod(index, GRID)
        best = (float(a[ia]), float(b[ib]))
        da, db = (a_hi - a_lo) / (GRID - 1), (b_hi - b_lo) / (GRID - 1)
        a_lo, a_hi = best[0] - 2 * da, best[0] + 2 * da
        b_lo, b_hi = best[1] - 2 * db, best[1] + 2 * db
    return best


def fit_edge(t: torch.Tensor, v: torch.Tensor, name: str) -> EdgeFit:
    """The best ``c · f(a t + b) + d ≈ v`` for the library function ``name``, on samples t, v (N,)."""
    t, v = t.double(), v.double()
    fn = LIBRARY[name]
    if name == "0":
        return EdgeFit(name, 1.0, 0.0, 0.0, float(v.mean()), 0.0)
    a, b = (1.0, 0.0) if fn.affine else _search(fn.torch, t, v)
    u = fn.torch(a * t + b)
    r2 = float(_r2(u, v))
    if r2 < 0:
        return EdgeFit(name, a, b, 0.0, float(v.mean()), r2)
    c, d = _line(u, v)
    return EdgeFit(name, a, b, c, d, r2)


def ranked_fits(t: torch.Tensor, v: torch.Tensor, library: tuple) -> List[EdgeFit]:
    """The fits of every library function, best score first (simplest among the good fits, see :data:`SIMPLE`)."""
    return sorted((fit_edge(t, v, name) for name in library), key=lambda fit: fit.score)


def best_fit(t: torch.Tensor, v: torch.Tensor, library: tuple) -> EdgeFit:
    """The library function whose fit scores best."""
    return ranked_fits(t, v, library)[0]
