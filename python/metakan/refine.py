"""Grid extension: a KAN or MetaKAN layer on a finer grid that computes the function of the old one."""

from __future__ import annotations

import copy
import math
from typing import Tuple

import torch

import metakan_kernels as mk
from metakan_kernels.checks import check_knots
from metakan_kernels.reference import b_spline_bases

# Sample points per interval of the new grid on which the old bases are fitted, as a multiple of
# spline_order + 1 (a spline of order k on an interval is a polynomial of degree k: k + 1 points fix it).
POINTS_PER_DEGREE = 2
# Features whose least-squares systems are solved at once (their matrices' memory).
SOLVE_ELEMENTS = 1 << 25


def refined_knots(grid: torch.Tensor, spline_order: int, new_grid_size: int) -> torch.Tensor:
    """Knots for ``new_grid_size`` intervals over the same range, feature by feature: grid (I, G + 2k + 1)
    -> (I, G' + 2k + 1). The new interior knots sit at fractions j G / G' of the old knot index,
    linearly between the old knots, so that a uniform grid stays uniform and every old knot is a new
    one when G' is a multiple of G; k knots on each side extend it at the spacing of its end intervals."""
    k, old = spline_order, (grid.shape[1] - 1 - 2 * spline_order)
    core = grid[:, k: grid.shape[1] - k].double()  # (I, G + 1)
    position = torch.arange(new_grid_size + 1, dtype=torch.float64, device=grid.device) * (old / new_grid_size)
    left = position.floor().long().clamp(max=old - 1)
    fraction = position - left
    new_core = core[:, left] + fraction * (core[:, left + 1] - core[:, left])
    new_core[:, -1] = core[:, -1]
    ramp = torch.arange(1, k + 1, dtype=torch.float64, device=grid.device)
    first, last = new_core[:, 1:2] - new_core[:, :1], new_core[:, -1:] - new_core[:, -2:-1]
    knots = torch.cat([new_core[:, :1] - first * ramp.flip(0), new_core, new_core[:, -1:] + last * ramp], dim=1)
    return knots.to(grid.dtype)


def _sample_points(knots: torch.Tensor, spline_order: int) -> torch.Tensor:
    """Points inside every interval of the knots' span (I, G' + 2k + 1) -> (I, n): Chebyshev nodes
    of each interval, so that each polynomial piece is determined well."""
    k = spline_order
    core = knots[:, k: knots.shape[1] - k].double()
    per = POINTS_PER_DEGREE * (k + 1)
    m = torch.arange(per, dtype=torch.float64, device=knots.device)
    nodes = 0.5 - 0.5 * torch.cos(math.pi * (2 * m + 1) / (2 * per))  # in (0, 1)
    lo, width = core[:, :-1].unsqueeze(-1), (core[:, 1:] - core[:, :-1]).unsqueeze(-1)
    return (lo + width * nodes).reshape(knots.shape[0], -1)


def refinement(old_knots: torch.Tensor, new_knots: torch.Tensor, spline_order: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The matrices that carry spline coefficients from the old knots to the new ones, feature by
    feature: ``T`` (I, G' + k, G + k) with ``Σ_m B'_j(x) T[i, j, m] = B_m(x)`` in least squares over
    the span of the old grid's range, and the residual bases ``R = B' T - B`` at the sample points
    (I, n, G + k). Where every old knot in the range is a new knot, the old spline space is a subspace
    of the new one there, so R is zero up to rounding and the refined function equals the old one on
    the grid's range (outside it, where the bases of the extension knots fade out, it may differ)."""
    old_knots, new_knots = old_knots.double(), new_knots.double()
    points = _sample_points(new_knots, spline_order)  # (I, n)
    features = old_knots.shape[0]
    matrices, residuals = [], []
    width = new_knots.shape[1] - 1 - spline_order
    chunk = max(1, SOLVE_ELEMENTS // (points.shape[1] * width))
    for start in range(0, features, chunk):
        rows = slice(start, start + chunk)
        x = points[rows].T  # (n, chunk)
        new_bases = b_spline_bases(x, new_knots[rows], spline_order).transpose(0, 1)  # (chunk, n, K')
        old_bases = b_spline_bases(x, old_knots[rows], spline_order).transpose(0, 1)  # (chunk, n, K)
        # normal equations: B-spline collocation is well conditioned (each basis is a partition-of-unity
        # term with its own k + 1 intervals of points), and B'^T B' is a BLAS-3 product, far faster than
        # a QR of the tall matrix at large G'
        solution = torch.linalg.solve(new_bases.mT @ new_bases, new_bases.mT @ old_bases)  # (chunk, K', K)
        matrices.append(solution)
        residuals.append(new_bases @ solution - old_bases)
    return torch.cat(matrices), torch.cat(residuals)


def uniform_refinement(layer, new_grid_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`refinement` between the uniform grids of ``layer`` and of ``new_grid_size`` intervals (one
    feature's: all features share them), in float64."""
    old, new = (mk.uniform_knots(1, size, layer.spline_order, layer.grid_range, dtype=torch.float64)
                for size in (layer.grid_size, new_grid_size))
    return refinement(old, new, layer.spline_order)


def _error(residual: torch.Tensor, coef: torch.Tensor) -> float:
    """The largest change of any edge's function at the sample points: max |R c| over (o, i, n), for
    R (I or 1, n, K) and coefficients (O, I, K), a few outputs at a time."""
    if coef.numel() == 0:
        return 0.0
    residual = residual.to(coef.device).expand(coef.shape[1], -1, -1)
    chunk = max(1, SOLVE_ELEMENTS // (residual.shape[0] * residual.shape[1]))
    return max(float(torch.einsum("ink,oik->oin", residual, coef[o: o + chunk].double()).abs().max())
               for o in range(0, coef.shape[0], chunk))


def _check_grid_size(layer, new_grid_size: int) -> None:
    mk.make_spec(new_grid_size, layer.spline_order, layer.grid_range)
    if new_grid_size < layer.grid_size:
        raise ValueError(f"new_grid_size must be at least the layer's grid_size {layer.grid_size}, got {new_grid_size}")


@torch.no_grad()
def refine_kan_layer(layer, new_grid_size: int):
    """A copy of the :class:`~metakan.KANLinear` ``layer`` on ``new_grid_size`` intervals (uniform knots
    stay uniform; per-feature knots from ``update_grid`` are subdivided), with ``refine_error`` set."""
    _check_grid_size(layer, new_grid_size)
    if layer.grid_is_uniform:
        # the ops compute uniform knots from grid_range in the input's precision: so does the matrix
        new_grid = mk.uniform_knots(layer.in_features, new_grid_size, layer.spline_order, layer.grid_range,
                                    dtype=layer.grid.dtype, device=layer.grid.device)
        matrix, residual = uniform_refinement(layer, new_grid_size)
    else:
        new_grid = refined_knots(layer.grid, layer.spline_order, new_grid_size)
        check_knots(new_grid)
        matrix, residual = refinement(layer.grid, new_grid, layer.spline_order)
    matrix = matrix.to(layer.spline_weight.device).expand(layer.in_features, -1, -1)
    weight = torch.einsum("ijm,oim->oij", matrix, layer.spline_weight.double()).to(layer.spline_weight.dtype)
    weight = torch.nn.Parameter(weight.contiguous(), requires_grad=layer.spline_weight.requires_grad)
    # a copy of everything but the knots and the spline weights, which are the new ones
    refined = copy.deepcopy(layer, memo={id(layer.grid): new_grid.contiguous().clone(), id(layer.spline_weight): weight})
    refined.grid_size = new_grid_size
    refined.refine_error = _error(residual, layer.scaled_spline_weight)
    return refined


@torch.no_grad()
def refine_meta_learner(learner, matrix: torch.Tensor):
    """A copy of the :class:`~metakan.MetaLearner` ``learner`` whose spline outputs are refined by
    ``matrix`` (K', K) (from :func:`uniform_refinement`): its last layer's spline rows (weights and
    biases) times the matrix, the base weight's row as it was. The generated coefficients are linear in
    that layer, so every edge of every layer it serves gets exactly the refined coefficients of its old ones."""
    matrix = matrix.to(learner.fc2.weight.device)
    k_old = matrix.shape[1]
    weight, bias = learner.fc2.weight.double(), learner.fc2.bias.double()
    fc2 = torch.nn.Linear(learner.fc2.in_features, matrix.shape[0] + 1, device=weight.device,
                          dtype=learner.fc2.weight.dtype)
    fc2.weight.copy_(torch.cat([matrix @ weight[:k_old], weight[k_old:]]))
    fc2.bias.copy_(torch.cat([matrix @ bias[:k_old], bias[k_old:]]))
    refined = copy.deepcopy(learner, memo={id(learner.fc2): fc2})
    refined.num_bases = matrix.shape[0]
    return refined


@torch.no_grad()
def refine_metakan_layer(layer, new_grid_size: int, meta_learner=None):
    """A copy of the :class:`~metakan.MetaKANLinear` ``layer`` on ``new_grid_size`` intervals, with its
    embeddings unchanged and ``meta_learner`` (already refined, to keep it shared) or a refined copy
    of its own; ``refine_error`` set."""
    from .meta_learner import MetaLearner

    _check_grid_size(layer, new_grid_size)
    if not isinstance(layer.meta_learner, MetaLearner):
        raise TypeError("refine needs the layer's meta-learner to be a metakan.MetaLearner (its last layer is "
                        f"what refining changes), got {type(layer.meta_learner).__name__}")
    matrix, residual = uniform_refinement(layer, new_grid_size)
    if meta_learner is None:
        meta_learner = refine_meta_learner(layer.meta_learner, matrix[0])
    # a copy of everything but the meta-learner, which is the refined one
    refined = copy.deepcopy(layer, memo={id(layer.meta_learner): meta_learner})
    refined.grid_size = new_grid_size
    refined.refine_error = _error(residual, layer.generated_weights()[..., : layer.num_bases])
    return refined
