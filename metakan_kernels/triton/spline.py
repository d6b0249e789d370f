"""B-spline bases and their derivatives as Triton helpers: closed form on uniform grids, Cox–de Boor on loaded knots.

Every helper returns a dense ``[BLOCK_B, BLOCK_I, KP]`` tile: slot ``m < K`` holds ``B_m(x)`` (or
``dB_m/dx``), slot ``K`` the SiLU term, the rest zero, so that one ``tl.dot`` with a weight tile of
the same slots gives the whole layer. Orders 1..5 are unrolled with named variables ``a0..a5``
(``a_r`` is the r-th of the ``k + 1`` bases that are non-zero at ``x``) under compile-time guards.
"""

import triton
import triton.language as tl


@triton.jit
def silu(x):
    return x * tl.sigmoid(x)


@triton.jit
def silu_grad(x):
    s = tl.sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


@triton.jit
def _raise_degree(t, lower, upper, J: tl.constexpr, R: tl.constexpr):
    """Cox–de Boor step on unit-spaced knots: local basis R of degree J from bases R-1, R of degree J-1."""
    return ((t + (J - R)) * lower + ((R + 1) - t) * upper) * (1.0 / J)


@triton.jit
def _local_cardinal(t, ORDER: tl.constexpr, DERIV: tl.constexpr):
    """The ORDER+1 cardinal B-spline pieces that are non-zero on a unit cell, at ``t`` in [0, 1):
    ``a_r = N(t + ORDER - r)``; with DERIV their derivatives in t (``N'_k = N_{k-1}(.) - N_{k-1}(. - 1)``).
    Unused entries are zero."""
    zero = tl.zeros_like(t)
    a0 = zero + 1.0
    a1 = zero
    a2 = zero
    a3 = zero
    a4 = zero
    a5 = zero
    for j in tl.static_range(1, ORDER + 1):
        if DERIV and j == ORDER:
            # Descending, so that each line still reads the degree-(k-1) values it needs.
            if j >= 5:
                a5 = a4 - a5
            if j >= 4:
                a4 = a3 - a4
            if j >= 3:
                a3 = a2 - a3
            if j >= 2:
                a2 = a1 - a2
            a1 = a0 - a1
            a0 = -a0
        else:
            if j >= 5:
                a5 = _raise_degree(t, a4, a5, j, 5)
            if j >= 4:
                a4 = _raise_degree(t, a3, a4, j, 4)
            if j >= 3:
                a3 = _raise_degree(t, a2, a3, j, 3)
            if j >= 2:
                a2 = _raise_degree(t, a1, a2, j, 2)
            a1 = _raise_degree(t, a0, a1, j, 1)
            a0 = _raise_degree(t, zero, a0, j, 0)
    return a0, a1, a2, a3, a4, a5


@triton.jit
def _spread(piece, a0, a1, a2, a3, a4, a5, ORDER: tl.constexpr):
    """Dense tile from the local values: ``out[..., m] = a_{ORDER - piece}`` where ``piece = cell - m``
    lies in [0, ORDER], else 0 (which also zeroes x outside the grid: no piece matches there)."""
    out = tl.where(piece == ORDER, a0[:, :, None], 0.0)
    out = tl.where(piece == ORDER - 1, a1[:, :, None], out)
    if ORDER >= 2:
        out = tl.where(piece == ORDER - 2, a2[:, :, None], out)
    if ORDER >= 3:
        out = tl.where(piece == ORDER - 3, a3[:, :, None], out)
    if ORDER >= 4:
        out = tl.where(piece == ORDER - 4, a4[:, :, None], out)
    if ORDER >= 5:
        out = tl.where(piece == ORDER - 5, a5[:, :, None], out)
    return out


@triton.jit
def uniform_bases(x, m, ORDER: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr, DERIV: tl.constexpr):
    """Bases (or d/dx) of x [BLOCK_B, BLOCK_I] on the grid ``t_j = T0 + j / INV_H``, as [.., .., KP]."""
    u = (x - T0) * INV_H
    cell = tl.floor(u)
    a0, a1, a2, a3, a4, a5 = _local_cardinal(u - cell, ORDER, DERIV)
    out = _spread(cell[:, :, None] - m[None, None, :].to(x.dtype), a0, a1, a2, a3, a4, a5, ORDER)
    if DERIV:
        out = out * INV_H
    return out


@triton.jit
def _knot_at(S: tl.constexpr, k0, k1, k2, k3, k4, k5, k6):
    """The knot tile ``t_{m+S}`` among the loaded ones (S known at compile time)."""
    out = k0
    if S == 1:
        out = k1
    if S == 2:
        out = k2
    if S == 3:
        out = k3
    if S == 4:
        out = k4
    if S == 5:
        out = k5
    if S == 6:
        out = k6
    return out


@triton.jit
def _load_knots(row, i_ok, last, m, S: tl.constexpr, NUM_KNOTS: tl.constexpr):
    """Knots ``t[i, m + S]`` as a [1, BLOCK_I, KP] tile. Past the end (read by padding slots only) the
    knots go on at unit steps from the last one, so that no knot interval is empty."""
    j = m[None, :] + S
    beyond = last + (j - (NUM_KNOTS - 1)).to(last.dtype)
    return tl.load(row[:, None] + j, mask=i_ok[:, None] & (j < NUM_KNOTS), other=beyond)[None, :, :]


@triton.jit
def _cox_de_boor(x, lower, upper, ka, kb, kc, kd):
    """``(x - ka)/(kb - ka) * lower + (kd - x)/(kd - kc) * upper``; reciprocals on the knot-sized tiles."""
    return (x - ka) * (1.0 / (kb - ka)) * lower + (kd - x) * (1.0 / (kd - kc)) * upper


@triton.jit
def knot_bases(x, knots_ptr, i_idx, i_ok, m, ORDER: tl.constexpr, NUM_KNOTS: tl.constexpr, DERIV: tl.constexpr):
    """Bases (or d/dx) of x [BLOCK_B, BLOCK_I] on per-feature knots ``knots[i, :NUM_KNOTS]``, by the
    Cox–de Boor recursion run densely: slot m evaluates its own triangle on knots m..m+ORDER+1."""
    row = knots_ptr + i_idx * NUM_KNOTS
    first = tl.load(row, mask=i_ok, other=0.0)
    last = tl.load(row + (NUM_KNOTS - 1), mask=i_ok, other=1.0)
    inside = (x >= first[None, :]) & (x < last[None, :])
    # Outside the span every basis is zero; evaluating there at the first knot keeps inf * 0 out.
    xs = tl.where(inside, x, first[None, :])[:, :, None]
    k0 = _load_knots(row, i_ok, last[:, None], m, 0, NUM_KNOTS)
    k1 = _load_knots(row, i_ok, last[:, None], m, 1, NUM_KNOTS)
    k2 = k1
    k3 = k1
    k4 = k1
    k5 = k1
    k6 = k1
    if ORDER >= 1:
        k2 = _load_knots(row, i_ok, last[:, None], m, 2, NUM_KNOTS)
    if ORDER >= 2:
        k3 = _load_knots(row, i_ok, last[:, None], m, 3, NUM_KNOTS)
    if ORDER >= 3:
        k4 = _load_knots(row, i_ok, last[:, None], m, 4, NUM_KNOTS)
    if ORDER >= 4:
        k5 = _load_knots(row, i_ok, last[:, None], m, 5, NUM_KNOTS)
    if ORDER >= 5:
        k6 = _load_knots(row, i_ok, last[:, None], m, 6, NUM_KNOTS)
    a0 = ((xs >= k0) & (xs < k1)).to(x.dtype)
    a1 = ((xs >= k1) & (xs < k2)).to(x.dtype)
    a2 = a1
    a3 = a1
    a4 = a1
    a5 = a1
    if ORDER >= 2:
        a2 = ((xs >= k2) & (xs < k3)).to(x.dtype)
    if ORDER >= 3:
        a3 = ((xs >= k3) & (xs < k4)).to(x.dtype)
    if ORDER >= 4:
        a4 = ((xs >= k4) & (xs < k5)).to(x.dtype)
    if ORDER >= 5:
        a5 = ((xs >= k5) & (xs < k6)).to(x.dtype)
    out = a0
    for j in tl.static_range(1, ORDER + 1):
        if DERIV and j == ORDER:
            kj = _knot_at(j, k0, k1, k2, k3, k4, k5, k6)
            kj1 = _knot_at(j + 1, k0, k1, k2, k3, k4, k5, k6)
            out = ORDER * (a0 * (1.0 / (kj - k0)) - a1 * (1.0 / (kj1 - k1)))
        else:
            # Ascending, so that each line still reads the degree-(j-1) value a_{r+1}.
            a0 = _cox_de_boor(xs, a0, a1, k0, _knot_at(j, k0, k1, k2, k3, k4, k5, k6), k1,
                              _knot_at(j + 1, k0, k1, k2, k3, k4, k5, k6))
            if ORDER - j >= 1:
                a1 = _cox_de_boor(xs, a1, a2, k1, _knot_at(j + 1, k0, k1, k2, k3, k4, k5, k6), k2,
                                  _knot_at(j + 2, k0, k1, k2, k3, k4, k5, k6))
            if ORDER - j >= 2:
                a2 = _cox_de_boor(xs, a2, a3, k2, _knot_at(j + 2, k0, k1, k2, k3, k4, k5, k6), k3,
                                  _knot_at(j + 3, k0, k1, k2, k3, k4, k5, k6))
            if ORDER - j >= 3:
                a3 = _cox_de_boor(xs, a3, a4, k3, _knot_at(j + 3, k0, k1, k2, k3, k4, k5, k6), k4,
                                  _knot_at(j + 4, k0, k1, k2, k3, k4, k5, k6))
            if ORDER - j >= 4:
                a4 = _cox_de_boor(xs, a4, a5, k4, _knot_at(j + 4, k0, k1, k2, k3, k4, k5, k6), k5,
                                  _knot_at(j + 5, k0, k1, k2, k3, k4, k5, k6))
            out = a0
    return tl.where(inside[:, :, None], out, 0.0)


@triton.jit
def feature_tile(x, i_idx, i_ok, m, knots_ptr, ORDER: tl.constexpr, NUM_BASES: tl.constexpr,
                 UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr, NUM_KNOTS: tl.constexpr,
                 HAS_BASE: tl.constexpr, DERIV: tl.constexpr):
    """[BLOCK_B, BLOCK_I, KP]: the K bases of x (or their derivatives) in slots m < K, SiLU (or its
    derivative) in slot K when HAS_BASE, zero elsewhere and for features past the end (i_ok false).
    x is [BLOCK_B, BLOCK_I] in the accumulation dtype; a NaN x gives NaN bases."""
    if UNIFORM:
        out = uniform_bases(x, m, ORDER, T0, INV_H, DERIV)
    else:
        out = knot_bases(x, knots_ptr, i_idx, i_ok, m, ORDER, NUM_KNOTS, DERIV)
    slot = m[None, None, :]
    xe = x[:, :, None]
    out = tl.where(slot < NUM_BASES, tl.where(xe != xe, xe, out), 0.0)
    if HAS_BASE:
        if DERIV:
            base = silu_grad(x)
        else:
            base = silu(x)
        out = tl.where(slot == NUM_BASES, base[:, :, None], out)
    return tl.where(i_ok[None, :, None], out, 0.0)
