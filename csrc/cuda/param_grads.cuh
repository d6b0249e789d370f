// Device routines that turn a tile's coefficient gradients into parameter gradients, shared by the
// layer's parameter pass and the edge statistics' backward: plain stores for KAN, the meta-learner's
// backward into per-block partial sums for MetaKAN, and the fixed-order reduction of those sums.
#pragma once

#include "tile.cuh"

namespace metakan::cuda {

template <typename T>
__device__ void coef_tile_grads(const LayerParams<T, float>& p, int64_t o0, int64_t i0, int inputs,
                                const float* grad) {
  const int width = p.width();
  const int bases = p.spline.num_bases;
  const int used = inputs * width;
  const int outputs = static_cast<int>(p.out_features - o0 < kOuts ? p.out_features - o0 : kOuts);
  for (int idx = threadIdx.x; idx < outputs * used; idx += kThreads) {
    const int o = idx / used;
    const int c = idx % used;
    const int64_t edge = (o0 + o) * p.in_features + i0 + c / width;
    const int m = c % width;
    const T v = cast<T>(grad[o * kLdCols + c]);
    if (m < bases) {
      p.dcoef[edge * bases + m] = v;
    } else {
      p.dbase_weight[edge] = v;
    }
  }
}

// The meta-learner's backward for the tile's edges (o, ci), meta_step_edges(H) at a time; grad[o][ci*W + m]
// is dL/dw_m of the edge. act and dpre stage [edges][H + 1] floats each; `partial` is this block's
// row of partial sums (w1, b1, w2, b2), each entry owned by one thread.
template <typename T>
__device__ void meta_tile_grads(const LayerParams<T, float>& p, int64_t o0, int64_t i0, int inputs,
                                const float* grad, float* act, float* dpre, float* partial) {
  const int width = p.spline.num_bases + 1;
  const int hidden = p.hidden_dim;
  const int d = p.embedding_dim;
  const MetaMlp<T> mlp{p.w1, p.b1, p.w2, p.b2, d, hidden, width, p.activation};
  const int outputs = static_cast<int>(p.out_features - o0 < kOuts ? p.out_features - o0 : kOuts);
  const int edges = outputs * inputs;
  const int64_t count = p.meta_param_count();
  const int64_t w1_end = int64_t(hidden) * d;
  const int64_t b1_end = w1_end + hidden;
  const int64_t w2_end = b1_end + int64_t(width) * hidden;
  auto edge_index = [&](int e) { return (o0 + e / inputs) * p.in_features + i0 + e % inputs; };
  auto dout = [&](int e) { return grad + (e / inputs) * kLdCols + (e % inputs) * width; };
  const int step = meta_step_edges(hidden);
  for (int e0 = 0; e0 < edges; e0 += step) {
    const int n = edges - e0 < step ? edges - e0 : step;
    for (int idx = threadIdx.x; idx < n * hidden; idx += kThreads) {
      const int e = idx / hidden;
      const int h = idx % hidden;
      const float pre = meta_pre<float>(mlp, p.embedding + edge_index(e0 + e) * d, h);
      act[e * (hidden + 1) + h] = activate(p.activation, pre);
      dpre[e * (hidden + 1) + h] = meta_pre_grad(mlp, dout(e0 + e), h, pre);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < n * d; idx += kThreads) {
      const int e = idx / d;
      const int j = idx % d;
      p.dembedding[edge_index(e0 + e) * d + j] = cast<T>(meta_embedding_grad<float>(mlp, dpre + e * (hidden + 1), j));
    }
    for (int64_t k = threadIdx.x; k < count; k += kThreads) {
      float sum = 0.0f;
      if (k < w1_end) {
        const int h = static_cast<int>(k / d);
        const int j = static_cast<int>(k % d);
        for (int e = 0; e < n; ++e) {
          sum += dpre[e * (hidden + 1) + h] * cast<float>(p.embedding[edge_index(e0 + e) * d + j]);
        }
      } else if (k < b1_end) {
        const int h = static_cast<int>(k - w1_end);
        for (int e = 0; e < n; ++e) sum += dpre[e * (hidden + 1) + h];
      } else if (k < w2_end) {
        const int m = static_cast<int>((k - b1_end) / hidden);
        const int h = static_cast<int>((k - b1_end) % hidden);
        for (int e = 0; e < n; ++e) sum += dout(e0 + e)[m] * act[e * (hidden + 1) + h];
      } else {
        const int m = static_cast<int>(k - w2_end);
        for (int e = 0; e < n; ++e) sum += dout(e0 + e)[m];
      }
      partial[k] += sum;
    }
    __syncthreads();
  }
}

// Meta-learner gradient k = the sum of the blocks' partial sums, block by block.
template <typename T>
__global__ void __launch_bounds__(kThreads) reduce_meta_grads_kernel(const LayerParams<T, float> p,
                                                                     const float* workspace, int blocks) {
  const int64_t count = p.meta_param_count();
  const int64_t k = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (k >= count) return;
  float sum = 0.0f;
  for (int b = 0; b < blocks; ++b) sum += workspace[b * count + k];
  const int64_t w1_end = int64_t(p.hidden_dim) * p.embedding_dim;
  const int64_t b1_end = w1_end + p.hidden_dim;
  const int64_t w2_end = b1_end + int64_t(p.spline.num_bases + 1) * p.hidden_dim;
  if (k < w1_end) {
    p.dw1[k] = cast<T>(sum);
  } else if (k < b1_end) {
    p.db1[k - w1_end] = cast<T>(sum);
  } else if (k < w2_end) {
    p.dw2[k - b1_end] = cast<T>(sum);
  } else {
    p.db2[k - w2_end] = cast<T>(sum);
  }
}

}  // namespace metakan::cuda
