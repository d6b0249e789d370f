// What one layer call hands to the kernels: raw pointers, sizes and strides in elements (no torch).
#pragma once

#include <cstdint>

#include "limits.h"
#include "macros.h"

namespace metakan {


// The knots: per-feature rows when `knots` is set, else the uniform grid t_j = lo + (j - k) * step.
// K is the knot type: float, or double for float64 inputs.
template <typename K>
struct SplineParams {
  int grid_size;    // G
  int order;        // k
  int num_bases;    // G + k
  double lo;        // uniform grid: lower end of the range
  double step;      // uniform grid: (hi - lo) / G
  const K* knots;   // (I, G + 2k + 1) per-feature knots, or nullptr for the uniform grid
  int64_t knots_stride;  // elements between two knot rows
};

// One call of kan_linear / metakan_linear or of their backward. T is the tensor dtype, K the knot type.
// A layer has plain weights (coef, base_weight) or, when `embedding` is set, a meta-learner
// (embedding, w1, b1, w2, b2). Gradient pointers that are null are not wanted.
template <typename T, typename K>
struct LayerParams {
  int64_t batch;          // B
  int64_t in_features;    // I
  int64_t out_features;   // O
  SplineParams<K> spline;

  const T* x;             // (B, I), row stride x_stride, unit column stride
  int64_t x_stride;
  T* y;                   // (B, O), row stride y_stride
  int64_t y_stride;
  const T* dy;            // (B, O), row stride dy_stride
  int64_t dy_stride;
  T* dx;                  // (B, I), row stride dx_stride
  int64_t dx_stride;
  T* edge_l1;             // (O, I) contiguous: each edge's batch mean |phi_oi(x_i)|
  const T* dedge_l1;      // (O, I) contiguous: the gradient of edge_l1

  const T* coef;          // (O, I, K) contiguous
  const T* base_weight;   // (O, I) contiguous, or nullptr (no base term)
  const T* embedding;     // (O, I, d) contiguous
  const T* w1;            // (H, d)
  const T* b1;            // (H,)
  const T* w2;            // (K + 1, H)
  const T* b2;            // (K + 1,)
  int embedding_dim;      // d
  int hidden_dim;         // H
  int activation;         // an Activation code

  T* dcoef;
  T* dbase_weight;
  T* dembedding;
  T* dw1;
  T* db1;
  T* dw2;
  T* db2;

  MK_HD bool is_meta() const { return embedding != nullptr; }
  MK_HD bool has_base() const { return is_meta() || base_weight != nullptr; }
  // Features per input: the K bases, then silu(x) when there is a base term. A coefficient row
  // [o, i, :] holds the matching weights (the meta-learner's K + 1 outputs are in this order).
  MK_HD int width() const { return spline.num_bases + (has_base() ? 1 : 0); }
  // Numbers of the meta-learner's parameters, in the order w1, b1, w2, b2.
  MK_HD int64_t meta_param_count() const {
    return int64_t(hidden_dim) * embedding_dim + hidden_dim + int64_t(spline.num_bases + 1) * hidden_dim +
           spline.num_bases + 1;
  }
};

}  // namespace metakan
