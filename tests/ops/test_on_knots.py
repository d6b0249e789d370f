"""Inputs exactly on knots, where the half-open intervals [t_j, t_{j+1}) decide which bases are on:
every interior knot, both ends of the grid (lo and hi) and the outermost knots, on uniform and
per-feature grids. Every backend matches the reference there, output and every gradient."""

import pytest
import torch

import metakan_kernels as mk

from op_cases import (
    METAKAN_NAMES,
    SCALED_KAN_NAMES,
    check_against_reference,
    coef_scale,
    kan_params,
    meta_params,
    nonuniform_knots,
    target_params,
)

# A uniform grid whose knots and (x - lo) / step are exact in binary floating point (step 0.5), so
# that an input typed as a knot is that knot in every backend's arithmetic too.
GRID_SIZE, GRID_RANGE = 4, (-1.0, 1.0)
IN_FEATURES, OUT_FEATURES = 3, 2


def _knots_and_inputs(knots, spline_order, dtype, device):
    """grid (None for uniform) and x: one row per knot, each feature on its own knot of that index;
    then rows half-way between neighbouring knots (so that every basis is also seen inside)."""
    if knots == "uniform":
        grid = None
        rows = mk.uniform_knots(IN_FEATURES, GRID_SIZE, spline_order, GRID_RANGE, dtype=torch.float64)
    else:
        grid = nonuniform_knots(IN_FEATURES, GRID_SIZE, spline_order, dtype, device)
        rows = grid.double().cpu()
    on = rows.T
    between = (on[1:] + on[:-1]) / 2
    return grid, torch.cat([on, between]).to(device, dtype).requires_grad_()


def _skip_unless_supported(target, dtype, spline_order):
    try:
        mk.resolve_backend(target.backend, target.device, dtype, grid_size=GRID_SIZE, spline_order=spline_order,
                           grid_range=GRID_RANGE)
    except ValueError as err:
        pytest.skip(str(err))


def _dtype(target):
    return torch.float32 if target.backend == "cuda" else torch.float64


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("spline_order", [0, 1, 2, 3])
@pytest.mark.parametrize("target", target_params(reference=False))
def test_kan_on_knots_matches_reference(target, spline_order, knots):
    dtype = _dtype(target)
    _skip_unless_supported(target, dtype, spline_order)
    grid, x = _knots_and_inputs(knots, spline_order, dtype, target.device)
    coef, base_weight = kan_params(OUT_FEATURES, IN_FEATURES, GRID_SIZE + spline_order, True, dtype, target.device)
    scale = coef_scale(OUT_FEATURES, IN_FEATURES, dtype, target.device)

    def fn(x, c, s, w, backend):
        return mk.kan_linear(x, c, w, grid_size=GRID_SIZE, spline_order=spline_order, grid_range=GRID_RANGE,
                             grid=grid, coef_scale=s, backend=backend)

    check_against_reference(fn, [x, coef, scale, base_weight], SCALED_KAN_NAMES, target.backend)


@pytest.mark.parametrize("knots", ["uniform", "per-feature"])
@pytest.mark.parametrize("spline_order", [0, 1, 2, 3])
@pytest.mark.parametrize("target", target_params(reference=False))
def test_metakan_on_knots_matches_reference(target, spline_order, knots):
    dtype = _dtype(target)
    _skip_unless_supported(target, dtype, spline_order)
    grid, x = _knots_and_inputs(knots, spline_order, dtype, target.device)
    params = meta_params(OUT_FEATURES, IN_FEATURES, GRID_SIZE + spline_order, 2, 4, dtype, target.device)

    def fn(*tensors, backend):
        return mk.metakan_linear(*tensors, grid_size=GRID_SIZE, spline_order=spline_order, grid_range=GRID_RANGE,
                                 grid=grid, meta_activation="silu", backend=backend)

    check_against_reference(fn, [x, *params], METAKAN_NAMES, target.backend)
