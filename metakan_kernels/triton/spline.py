"""B-spline bases and their derivatives as Triton helpers: closed form on uniform grids, Cox–de Boor on loaded knots.

Both grids first find each input's knot interval (its cell) and the ``k + 1`` bases that are
non-zero there, ``a_r = B_{cell-k+r}(x)``, on ``[BLOCK_B, BLOCK_I]`` tiles; :func:`feature_tile` then
spreads them into a dense ``[BLOCK_B, BLOCK_I, KC]`` tile for a chunk of slots m: ``B_m(x)`` (or
``dB_m/dx``) for ``m < K``, the SiLU term at ``m = K``, zero elsewhere, so that one ``tl.dot`` with a
weight tile of the same slots gives the layer; :func:`feature_rows` builds the same values (not
derivatives) one input per thread, for the half-precision forward. Orders 1..5 are unrolled with named variables
``a0..a5`` under compile-time guards (Triton has no register arrays).
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
def _degree_zero(zero):
    """The local bases of degree 0: the cell's own is 1, the others 0."""
    return zero + 1.0, zero, zero, zero, zero, zero


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
    a0, a1, a2, a3, a4, a5 = _degree_zero(zero)
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
    lies in [0, ORDER], else 0."""
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
def uniform_local_bases(x, ORDER: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr, NUM_KNOTS: tl.constexpr,
                        DERIV: tl.constexpr):
    """For x [BLOCK_B, BLOCK_I] on the grid ``t_j = T0 + j / INV_H``: the knot interval ``cell``
    and the ORDER+1 non-zero bases ``a_r = B_{cell-ORDER+r}(x)`` (or their derivatives in x).
    Outside the span the cell is -1 or NUM_KNOTS - 1, where no basis index of the layer meets it."""
    u = (x - T0) * INV_H
    cell = tl.floor(tl.minimum(tl.maximum(u, -1.0), NUM_KNOTS - 1.0))
    a0, a1, a2, a3, a4, a5 = _local_cardinal(u - cell, ORDER, DERIV)
    if DERIV:
        a0, a1, a2, a3, a4, a5 = a0 * INV_H, a1 * INV_H, a2 * INV_H, a3 * INV_H, a4 * INV_H, a5 * INV_H
    return cell.to(tl.int32), a0, a1, a2, a3, a4, a5


@triton.jit
def _q(N: tl.constexpr, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11):
    """The local knot ``q_N = t[i, cell - ORDER + N]`` among the gathered ones (N known at compile time)."""
    out = q0
    if N == 1:
        out = q1
    if N == 2:
        out = q2
    if N == 3:
        out = q3
    if N == 4:
        out = q4
    if N == 5:
        out = q5
    if N == 6:
        out = q6
    if N == 7:
        out = q7
    if N == 8:
        out = q8
    if N == 9:
        out = q9
    if N == 10:
        out = q10
    if N == 11:
        out = q11
    return out


@triton.jit
def _knot_step(x, lower, upper, ORDER: tl.constexpr, J: tl.constexpr, R: tl.constexpr, DERIV: tl.constexpr,
               q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11):
    """Cox–de Boor on loaded knots: local basis R of degree J (``B_{cell-J+R}``) from its two
    degree-(J-1) neighbours; with DERIV its derivative ``J (lower / (kb - ka) - upper / (kd - kc))``."""
    ka = _q(ORDER - J + R, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
    kb = _q(ORDER + R, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
    kc = _q(ORDER - J + R + 1, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
    kd = _q(ORDER + R + 1, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
    if DERIV:
        out = J * (lower / (kb - ka) - upper / (kd - kc))
    else:
        out = (x - ka) / (kb - ka) * lower + (kd - x) / (kd - kc) * upper
    return out


@triton.jit
def _gather_knot(row, cell, first, last, N: tl.constexpr, ORDER: tl.constexpr, NUM_KNOTS: tl.constexpr):
    """``t[i, cell - ORDER + N]`` per element; past either end the knots go on at unit steps, so
    that no interval is empty (only bases masked out later read those)."""
    j = cell + (N - ORDER)
    inner = tl.load(row[None, :] + tl.minimum(tl.maximum(j, 0), NUM_KNOTS - 1))
    below = first[None, :] + j.to(first.dtype)
    above = last[None, :] + (j - (NUM_KNOTS - 1)).to(last.dtype)
    return tl.where(j < 0, below, tl.where(j > NUM_KNOTS - 1, above, inner))


@triton.jit
def knot_local_bases(x, knots_ptr, i_idx, i_ok, ORDER: tl.constexpr, NUM_KNOTS: tl.constexpr,
                     DERIV: tl.constexpr):
    """For x [BLOCK_B, BLOCK_I] on per-feature knots ``knots[i, :NUM_KNOTS]``: the knot interval
    ``cell`` (``t_cell <= x < t_cell+1``), whether x lies inside the span, and the ORDER+1
    non-zero bases ``a_r = B_{cell-ORDER+r}(x)`` (or their derivatives), by Cox–de Boor on the
    2 ORDER + 2 knots around the cell."""
    row = knots_ptr + tl.where(i_ok, i_idx, 0) * NUM_KNOTS
    first = tl.load(row)
    last = tl.load(row + (NUM_KNOTS - 1))
    inside = (x >= first[None, :]) & (x < last[None, :])
    # Outside the span every basis is zero; evaluating there at the first knot keeps inf * 0 out.
    xs = tl.where(inside, x, first[None, :])
    cell = tl.zeros(x.shape, tl.int32)
    for j in range(1, NUM_KNOTS - 1):
        cell += (xs >= tl.load(row + j)[None, :]).to(tl.int32)
    q0 = _gather_knot(row, cell, first, last, 0, ORDER, NUM_KNOTS)
    q1 = _gather_knot(row, cell, first, last, 1, ORDER, NUM_KNOTS)
    q2 = _gather_knot(row, cell, first, last, 2, ORDER, NUM_KNOTS)
    q3 = _gather_knot(row, cell, first, last, 3, ORDER, NUM_KNOTS)
    q4 = q3
    q5 = q3
    q6 = q3
    q7 = q3
    q8 = q3
    q9 = q3
    q10 = q3
    q11 = q3
    if ORDER >= 2:
        q4 = _gather_knot(row, cell, first, last, 4, ORDER, NUM_KNOTS)
        q5 = _gather_knot(row, cell, first, last, 5, ORDER, NUM_KNOTS)
    if ORDER >= 3:
        q6 = _gather_knot(row, cell, first, last, 6, ORDER, NUM_KNOTS)
        q7 = _gather_knot(row, cell, first, last, 7, ORDER, NUM_KNOTS)
    if ORDER >= 4:
        q8 = _gather_knot(row, cell, first, last, 8, ORDER, NUM_KNOTS)
        q9 = _gather_knot(row, cell, first, last, 9, ORDER, NUM_KNOTS)
    if ORDER >= 5:
        q10 = _gather_knot(row, cell, first, last, 10, ORDER, NUM_KNOTS)
        q11 = _gather_knot(row, cell, first, last, 11, ORDER, NUM_KNOTS)
    zero = tl.zeros_like(xs)
    a0, a1, a2, a3, a4, a5 = _degree_zero(zero)
    for j in tl.static_range(1, ORDER + 1):
        step_deriv = DERIV and j == ORDER
        # Descending, so that each line still reads the degree-(j-1) values it needs.
        if j >= 5:
            a5 = _knot_step(xs, a4, a5, ORDER, j, 5, step_deriv, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
        if j >= 4:
            a4 = _knot_step(xs, a3, a4, ORDER, j, 4, step_deriv, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
        if j >= 3:
            a3 = _knot_step(xs, a2, a3, ORDER, j, 3, step_deriv, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
        if j >= 2:
            a2 = _knot_step(xs, a1, a2, ORDER, j, 2, step_deriv, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
        a1 = _knot_step(xs, a0, a1, ORDER, j, 1, step_deriv, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
        a0 = _knot_step(xs, zero, a0, ORDER, j, 0, step_deriv, q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11)
    return cell, inside, a0, a1, a2, a3, a4, a5


@triton.jit
def _masked_local_bases(x, i_idx, i_ok, knots_ptr, ORDER: tl.constexpr, UNIFORM: tl.constexpr, T0: tl.constexpr,
                       INV_H: tl.constexpr, NUM_KNOTS: tl.constexpr, DERIV: tl.constexpr):
    """The cell and local bases of x [BLOCK_B, BLOCK_I] on either grid, zero outside the span and for
    features past the end (i_ok false). Masks and NaN go into these local values, not a wide tile: a NaN
    x gets cell 0 and NaN bases."""
    if UNIFORM:
        cell, a0, a1, a2, a3, a4, a5 = uniform_local_bases(x, ORDER, T0, INV_H, NUM_KNOTS, DERIV)
        ok = i_ok[None, :]
    else:
        cell, inside, a0, a1, a2, a3, a4, a5 = knot_local_bases(x, knots_ptr, i_idx, i_ok, ORDER, NUM_KNOTS, DERIV)
        ok = inside & i_ok[None, :]
    nan = x != x
    cell = tl.where(nan, 0, cell)
    a0 = tl.where(nan, x, tl.where(ok, a0, 0.0))
    a1 = tl.where(nan, x, tl.where(ok, a1, 0.0))
    a2 = tl.where(nan, x, tl.where(ok, a2, 0.0))
    a3 = tl.where(nan, x, tl.where(ok, a3, 0.0))
    a4 = tl.where(nan, x, tl.where(ok, a4, 0.0))
    a5 = tl.where(nan, x, tl.where(ok, a5, 0.0))
    return cell, a0, a1, a2, a3, a4, a5


@triton.jit
def feature_tile(x, i_idx, i_ok, m, knots_ptr, ORDER: tl.constexpr, NUM_BASES: tl.constexpr,
                 UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr, NUM_KNOTS: tl.constexpr,
                 HAS_BASE: tl.constexpr, DERIV: tl.constexpr):
    """[BLOCK_B, BLOCK_I, KC]: at slots m, the K bases of x (or their derivatives) for m < K, SiLU (or its
    derivative) at m = K when HAS_BASE, zero elsewhere and for the bases of features past the end
    (i_ok false). x is [BLOCK_B, BLOCK_I] in the accumulation dtype; a NaN x gives NaN bases."""
    cell, a0, a1, a2, a3, a4, a5 = _masked_local_bases(x, i_idx, i_ok, knots_ptr, ORDER, UNIFORM, T0, INV_H, NUM_KNOTS,
                                                      DERIV)
    slot = m[None, None, :]
    out = tl.where(slot < NUM_BASES, _spread(cell[:, :, None] - slot, a0, a1, a2, a3, a4, a5, ORDER), 0.0)
    if HAS_BASE:
        # features past the end have x = 0 there: silu(0) = 0 (silu'(0) only reaches dx not stored)
        if DERIV:
            base = silu_grad(x)
        else:
            base = silu(x)
        out = tl.where(slot == NUM_BASES, base[:, :, None], out)
    return out


@triton.jit
def _slot_value(cell, a0, a1, a2, a3, a4, a5, base, slot, ORDER: tl.constexpr, NUM_BASES: tl.constexpr,
                HAS_BASE: tl.constexpr):
    """[BLOCK_B, BLOCK_I]: the feature at slot ``slot`` (a scalar) of each input, as in feature_tile.
    The 2-D form of ``_spread`` and feature_tile's masks: sharing one helper changes the order of
    feature_tile's operations, and kernels that sit at 255 registers with it then spill (measured)."""
    piece = cell - slot
    out = tl.where(piece == ORDER, a0, 0.0)
    out = tl.where(piece == ORDER - 1, a1, out)
    if ORDER >= 2:
        out = tl.where(piece == ORDER - 2, a2, out)
    if ORDER >= 3:
        out = tl.where(piece == ORDER - 3, a3, out)
    if ORDER >= 4:
        out = tl.where(piece == ORDER - 4, a4, out)
    if ORDER >= 5:
        out = tl.where(piece == ORDER - 5, a5, out)
    out = tl.where(slot < NUM_BASES, out, 0.0)
    if HAS_BASE:
        out = tl.where(slot == NUM_BASES, base, out)
    return out


@triton.jit
def _sixteen_slots(cell, a0, a1, a2, a3, a4, a5, base, m0, ORDER: tl.constexpr, NUM_BASES: tl.constexpr,
                   HAS_BASE: tl.constexpr):
    """Slots m0 .. m0 + 15 of each input as [BLOCK_B, BLOCK_I, 2, 2, 2, 2], the slot's bits from the
    highest: nested tl.join of the 16 values, evens then odds at every level, so that the last new
    dimension is the lowest bit."""
    v0 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 0, ORDER, NUM_BASES, HAS_BASE)
    v1 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 1, ORDER, NUM_BASES, HAS_BASE)
    v2 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 2, ORDER, NUM_BASES, HAS_BASE)
    v3 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 3, ORDER, NUM_BASES, HAS_BASE)
    v4 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 4, ORDER, NUM_BASES, HAS_BASE)
    v5 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 5, ORDER, NUM_BASES, HAS_BASE)
    v6 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 6, ORDER, NUM_BASES, HAS_BASE)
    v7 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 7, ORDER, NUM_BASES, HAS_BASE)
    v8 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 8, ORDER, NUM_BASES, HAS_BASE)
    v9 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 9, ORDER, NUM_BASES, HAS_BASE)
    v10 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 10, ORDER, NUM_BASES, HAS_BASE)
    v11 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 11, ORDER, NUM_BASES, HAS_BASE)
    v12 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 12, ORDER, NUM_BASES, HAS_BASE)
    v13 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 13, ORDER, NUM_BASES, HAS_BASE)
    v14 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 14, ORDER, NUM_BASES, HAS_BASE)
    v15 = _slot_value(cell, a0, a1, a2, a3, a4, a5, base, m0 + 15, ORDER, NUM_BASES, HAS_BASE)
    q0, q1, q2, q3 = tl.join(v0, v8), tl.join(v1, v9), tl.join(v2, v10), tl.join(v3, v11)
    q4, q5, q6, q7 = tl.join(v4, v12), tl.join(v5, v13), tl.join(v6, v14), tl.join(v7, v15)
    r0, r1, r2, r3 = tl.join(q0, q4), tl.join(q1, q5), tl.join(q2, q6), tl.join(q3, q7)
    return tl.join(tl.join(r0, r2), tl.join(r1, r3))


@triton.jit
def feature_rows(x, i_idx, i_ok, m0, knots_ptr, ORDER: tl.constexpr, NUM_BASES: tl.constexpr,
                 UNIFORM: tl.constexpr, T0: tl.constexpr, INV_H: tl.constexpr, NUM_KNOTS: tl.constexpr,
                 HAS_BASE: tl.constexpr, KC: tl.constexpr):
    """feature_tile's values (not derivatives) at slots m0 .. m0 + KC - 1 (KC 16 or 32), as
    [BLOCK_B, BLOCK_I * KC]. Each input's bases are computed once, by one thread, and its KC slots
    assembled in that thread's registers (tl.join). feature_tile's broadcast over a slot axis instead
    lets the compiler compute them in the product operand's layout, which repeats every input's bases
    across the 16 lanes that hold its slots."""
    tl.static_assert(KC == 16 or KC == 32)
    cell, a0, a1, a2, a3, a4, a5 = _masked_local_bases(x, i_idx, i_ok, knots_ptr, ORDER, UNIFORM, T0, INV_H, NUM_KNOTS,
                                                      False)
    base = silu(x)
    tile = _sixteen_slots(cell, a0, a1, a2, a3, a4, a5, base, m0, ORDER, NUM_BASES, HAS_BASE)
    if KC == 32:
        upper = _sixteen_slots(cell, a0, a1, a2, a3, a4, a5, base, m0 + 16, ORDER, NUM_BASES, HAS_BASE)
        tile = tl.permute(tl.join(tile, upper), (0, 1, 6, 2, 3, 4, 5))  # the half's bit first
    return tl.reshape(tile, (x.shape[0], x.shape[1] * KC))
