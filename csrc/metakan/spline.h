// B-spline bases and their derivatives on a uniform grid or on per-feature knots, written once for
// the C++ and the CUDA kernels. Semantics are the reference's (metakan_kernels/reference.py):
// Cox–de Boor on half-open intervals [t_j, t_{j+1}), every basis zero outside [t_0, t_{G+2k}),
// all bases NaN for a NaN input.
#pragma once

#include <cmath>

#include "limits.h"
#include "macros.h"
#include "numeric.h"

namespace metakan {

// A product rounded on its own: the uniform knots must equal the reference's bit for bit
// (`arange * step + lo` in the knot dtype), so no fused multiply-add may absorb it.
MK_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

MK_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// Knots as seen from a span s (the x with t_s <= x < t_{s+1}): knot(j) = t_{s+j} and
// inv_gap(j, q) = 1 / (t_{s+j+q} - t_{s+j}).

// The uniform grid in units of its step, with the span starting at 0.
template <typename A>
struct UnitKnots {
  MK_HD A knot(int j) const { return A(j); }
  MK_HD A inv_gap(int, int q) const { return A(1) / A(q); }
};

// One row of loaded knots t_0 .. t_last. Indices are clamped into the row: only bases that are not
// bases of the layer (index < 0 or > K - 1) ever reach past its ends.
template <typename A, typename K>
struct RowKnots {
  const K* row;
  int span;
  int last;
  MK_HD A knot(int j) const {
    int i = span + j;
    i = i < 0 ? 0 : (i > last ? last : i);
    return A(row[i]);
  }
  MK_HD A inv_gap(int j, int q) const { return A(1) / (knot(j + q) - knot(j)); }
};

// The uniform grid t_j = lo + (j - k) * step, j = 0 .. G + 2k, computed as reference.uniform_knots does.
template <typename A>
struct UniformGrid {
  A lo;
  A step;
  A inv_step;
  int order;
  int intervals;  // G + 2k
  A first;        // t_0
  A end;          // t_{G+2k}

  MK_HD UniformGrid(double lo_, double step_, int grid_size, int order_)
      : lo(A(lo_)), step(A(step_)), inv_step(A(1.0 / step_)), order(order_), intervals(grid_size + 2 * order_),
        first(knot(0)), end(knot(intervals)) {}

  MK_HD A knot(int j) const { return mul_rn(A(j - order), step) + lo; }

  // The span of x, or -1 when x is outside [t_0, t_{G+2k}) (or NaN).
  MK_HD int locate(A x) const {
    if (!(x >= first && x < end)) return -1;
    int s = int((x - first) * inv_step);  // x >= t_0, so truncation is floor (and cheaper)
    s = s < 0 ? 0 : (s >= intervals ? intervals - 1 : s);
    // The division above may land one interval off next to a knot; the knots themselves decide.
    if (x < knot(s)) {
      --s;
    } else if (x >= knot(s + 1)) {
      ++s;
    }
    return s;
  }
  MK_HD UnitKnots<A> around(int) const { return {}; }
  MK_HD A local(A x, int s) const { return (x - knot(s)) * inv_step; }
  MK_HD A deriv_scale() const { return inv_step; }
};

// One input feature's knots t_0 .. t_{G+2k}, strictly increasing.
template <typename A, typename K>
struct KnotRow {
  const K* row;
  int last;  // G + 2k

  MK_HD int locate(A x) const {
    if (!(x >= A(row[0]) && x < A(row[last]))) return -1;
    int lo = 0;
    int hi = last;  // invariant: t_lo <= x < t_hi
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (x >= A(row[mid])) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  MK_HD RowKnots<A, K> around(int s) const { return {row, s, last}; }
  MK_HD A local(A x, int) const { return x; }
  MK_HD A deriv_scale() const { return A(1); }
};

// Cox–de Boor step from order Q - 1 to Q on span s, in place: on entry N[a] = B_{s-Q+1+a, Q-1}(x)
// (a = 0 .. Q-1), on exit N[a] = B_{s-Q+a, Q}(x) (a = 0 .. Q). Right to left, so that every entry
// still reads the lower order.
template <int Q, typename A, typename Knots>
MK_HD void raise_order(const Knots& t, A x, A* N) {
  N[Q] = (x - t.knot(0)) * t.inv_gap(0, Q) * N[Q - 1];
  MK_UNROLL
  for (int a = Q - 1; a >= 1; --a) {
    const int i = a - Q;
    N[a] = (x - t.knot(i)) * t.inv_gap(i, Q) * N[a - 1] + (t.knot(i + Q + 1) - x) * t.inv_gap(i + 1, Q) * N[a];
  }
  N[0] = (t.knot(1) - x) * t.inv_gap(1 - Q, Q) * N[0];
}

template <int Q, int P, typename A, typename Knots>
MK_HD void raise_to(const Knots& t, A x, A* N) {
  if constexpr (Q <= P) {
    raise_order<Q>(t, x, N);
    raise_to<Q + 1, P>(t, x, N);
  }
}

// The P + 1 bases of order P that can be nonzero on span s: N[a] = B_{s-P+a, P}(x); with
// derivatives dN[a] = d/dx B_{s-P+a, P}(x) when dN is given (in the knots' units).
template <int P, typename A, typename Knots>
MK_HD void span_bases(const Knots& t, A x, A* N, A* dN) {
  N[0] = A(1);
  if constexpr (P == 0) {
    if (dN) dN[0] = A(0);
  } else {
    raise_to<1, P - 1>(t, x, N);
    if (dN) {
      // dB_{i,P} = P (B_{i,P-1} / (t_{i+P} - t_i) - B_{i+1,P-1} / (t_{i+P+1} - t_{i+1}))
      dN[P] = A(P) * N[P - 1] * t.inv_gap(0, P);
      MK_UNROLL
      for (int a = P - 1; a >= 1; --a) {
        const int i = a - P;
        dN[a] = A(P) * (N[a - 1] * t.inv_gap(i, P) - N[a] * t.inv_gap(i + 1, P));
      }
      dN[0] = -A(P) * N[0] * t.inv_gap(1 - P, P);
    }
    raise_order<P>(t, x, N);
  }
}

enum BasisRegion : int { kInside = 0, kOutside = 1, kNotANumber = 2 };

// Where x falls and, inside the grid, the bases that can be nonzero there: N[a] = B_{first+a}(x)
// for a = 0 .. P (only 0 <= first + a < K are bases of the layer), and their derivatives in dN
// when it is given. Outside the grid every basis is 0; for a NaN x every basis is NaN.
template <int P, typename A, typename Grid>
MK_HD BasisRegion nonzero_bases(const Grid& grid, A x, int* first, A* N, A* dN) {
  if (x != x) return kNotANumber;
  const int s = grid.locate(x);
  if (s < 0) return kOutside;
  span_bases<P>(grid.around(s), grid.local(x, s), N, dN);
  if (dN) {
    MK_UNROLL
    for (int a = 0; a <= P; ++a) dN[a] *= grid.deriv_scale();
  }
  *first = s - P;
  return kInside;
}

// All K bases of x, densely: out[m] = B_m(x), m = 0 .. K-1.
template <int P, typename A, typename Grid, typename Out>
MK_HD void dense_bases(const Grid& grid, A x, int num_bases, Out* out) {
  A N[P + 1] = {};
  int first = 0;
  const BasisRegion region = nonzero_bases<P>(grid, x, &first, N, static_cast<A*>(nullptr));
  const Out fill = cast<Out>(region == kNotANumber ? x : A(0));
  for (int m = 0; m < num_bases; ++m) out[m] = fill;
  if (region != kInside) return;
  MK_UNROLL
  for (int a = 0; a <= P; ++a) {
    const int m = first + a;
    if (m >= 0 && m < num_bases) out[m] = cast<Out>(N[a]);
  }
}

// sum_m g[m] * B'_m(x) over the K bases (NaN for a NaN x): the input gradient of the spline term
// when g[m] is the gradient with respect to basis m.
template <int P, typename A, typename Grid, typename G>
MK_HD A basis_grad_dot(const Grid& grid, A x, int num_bases, const G* g) {
  A N[P + 1] = {};
  A dN[P + 1] = {};
  int first = 0;
  const BasisRegion region = nonzero_bases<P>(grid, x, &first, N, dN);
  if (region != kInside) return region == kNotANumber ? x : A(0);
  A sum = A(0);
  MK_UNROLL
  for (int a = 0; a <= P; ++a) {
    const int m = first + a;
    if (m >= 0 && m < num_bases) sum += cast<A>(g[m]) * dN[a];
  }
  return sum;
}

// with_order(order, f) calls f(Order<order>{}) for the runtime spline order, so that the basis loops
// are unrolled for each order 0 .. kMaxOrder.
template <int P>
struct Order {
  static constexpr int value = P;
};

#if defined(__CUDACC__)
#pragma nv_exec_check_disable  // f may be a device lambda
#endif
template <typename F>
MK_HD void with_order(int order, F&& f) {
  switch (order) {
    case 0: f(Order<0>{}); break;
    case 1: f(Order<1>{}); break;
    case 2: f(Order<2>{}); break;
    case 3: f(Order<3>{}); break;
    case 4: f(Order<4>{}); break;
    default: f(Order<5>{}); break;
  }
}

}  // namespace metakan
